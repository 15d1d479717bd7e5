#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GitStore

/// What kind of entry a repository path is.
public enum RepoEntryKind: Sendable, Hashable {
    case regular
    case symlink
    case submodule
    /// A FIFO, socket or device (only possible in a directory source).
    case special
    /// A name that is not valid UTF-8 (`path` shows it with U+FFFD); never read.
    case invalidName
}

/// One file of a repository revision, listed without its contents.
public struct RepoEntry: Sendable, Hashable {
    /// Repository-relative, `/`-separated.
    public var path: String
    public var kind: RepoEntryKind
    /// Size in bytes when the listing knows it for free (a directory); nil for git, where
    /// ``RepoSource/size(of:)`` reads it from the object header on demand.
    public var size: Int?

    public init(path: String, kind: RepoEntryKind, size: Int? = nil) {
        self.path = path
        self.kind = kind
        self.size = size
    }
}

/// Where a repository revision is read from.
public enum RepoOrigin: Sendable, Hashable {
    /// A commit of a git repository.
    case git(path: String, ref: String, commit: String)
    /// A plain directory (for example an admin's working tree).
    case directory(path: String)

    /// The commit id, for a git origin.
    public var commit: String? {
        if case .git(_, _, let commit) = self { return commit }
        return nil
    }
}

/// An error reading the repository itself (not a finding about its files).
public struct RepoReadError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether the error is that the file or directory does not exist.
    public var isMissing = false
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A source of repository files: a git commit or a directory. Dot-paths are never listed.
public protocol RepoSource {
    var origin: RepoOrigin { get }
    /// Every entry, sorted by path, except those with a component starting with `.`.
    func entries() throws(RepoReadError) -> [RepoEntry]
    /// The size of a regular file in bytes.
    func size(of entry: RepoEntry) throws(RepoReadError) -> Int
    /// The bytes of a regular file.
    func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8]
}

/// Largest number of entries listed from one source; a larger tree is refused as soon as
/// the listing passes it, before it costs more time or memory.
let maxRepoEntries = 250_000
/// Deepest directory nesting walked in a directory source.
let maxDirectoryDepth = 64

/// Reads a commit straight from a git object database (no checkout).
public final class GitTreeSource: RepoSource {
    public let origin: RepoOrigin
    private let repository: GitRepository
    private let commit: ObjectID
    private var ids: [String: ObjectID] = [:]

    /// Opens `path` (bare or not) and resolves `ref` to a commit.
    public init(path: String, ref: String) throws(RepoReadError) {
        do {
            repository = try GitRepository(path: path)
            commit = try repository.resolveCommit(ref)
        } catch {
            throw RepoReadError(error.description)
        }
        origin = .git(path: path, ref: ref, commit: commit.hex)
    }

    /// Whether this source's commit is `ancestor` or descends from it. An ancestor that is not
    /// in the repository (a history rewritten upstream) counts as not descended from.
    public func descends(from ancestor: String) -> Bool {
        guard let base = ObjectID(hex: ancestor) else { return false }
        if base == commit { return true }
        return (try? repository.isDescendant(commit, of: base)) ?? false
    }

    /// The commit's signature and the payload it signs, or nil when the commit is unsigned.
    public func signature() -> (signature: String, payload: [UInt8])? {
        (try? repository.signature(of: commit)) ?? nil
    }

    /// The commit's author, "Name <email>", for audit rows.
    public var author: String? {
        guard let info = try? repository.commit(commit) else { return nil }
        return "\(info.author.name) <\(info.author.email)>"
    }

    public func entries() throws(RepoReadError) -> [RepoEntry] {
        let files: [TreeFile]
        do {
            files = try repository.files(in: commit, skipHidden: true, limit: maxRepoEntries)
        } catch {
            throw RepoReadError(error.description)
        }
        var result: [RepoEntry] = []
        result.reserveCapacity(files.count)
        for file in files {
            let kind: RepoEntryKind
            switch file.kind {
            case _ where !file.isValidUTF8: kind = .invalidName
            case .regular, .executable: kind = .regular
            case .symlink: kind = .symlink
            case .submodule: kind = .submodule
            }
            if kind == .regular { ids[file.path] = file.id }
            result.append(RepoEntry(path: file.path, kind: kind, size: nil))
        }
        return result
    }

    public func size(of entry: RepoEntry) throws(RepoReadError) -> Int {
        guard let id = ids[entry.path] else { throw RepoReadError("\(entry.path): not a file of the commit") }
        do { return try repository.blobSize(id) } catch { throw RepoReadError(error.description) }
    }

    public func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        guard let id = ids[entry.path] else { throw RepoReadError("\(entry.path): not a file of the commit") }
        do { return try repository.blob(id) } catch { throw RepoReadError(error.description) }
    }
}

/// Reads a plain directory without following symbolic links.
public final class DirectorySource: RepoSource {
    public let origin: RepoOrigin
    private let root: String

    public init(path: String) throws(RepoReadError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw RepoReadError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw RepoReadError("\(path) is not a directory") }
        // A bare repository read as a directory would look empty; say what to do instead.
        var probe = stat()
        if stat(path + "/HEAD", &probe) == 0, stat(path + "/objects", &probe) == 0, stat(path + "/refs", &probe) == 0,
           stat(path + "/accessctl.yaml", &probe) != 0 {
            throw RepoReadError("\(path) is a bare git repository; name the commit to read with --ref (for example --ref HEAD)")
        }
        root = path
        origin = .directory(path: path)
    }

    public func entries() throws(RepoReadError) -> [RepoEntry] {
        let top = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard top >= 0 else { throw RepoReadError("cannot read directory \(root): \(String(cString: strerror(errno)))") }
        var result: [RepoEntry] = []
        try walk(fd: top, relative: "", depth: 0, into: &result)
        result.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return result
    }

    /// Lists the directory open at `fd` (and closes it), recursing into subdirectories.
    /// Names are used as raw bytes relative to the directory descriptor, so a name that is
    /// not valid UTF-8 is still examined correctly.
    private func walk(fd: Int32, relative: String, depth: Int, into result: inout [RepoEntry]) throws(RepoReadError) {
        guard let handle = fdopendir(fd) else {
            close(fd)
            throw RepoReadError("cannot read directory \(relative): \(String(cString: strerror(errno)))")
        }
        defer { closedir(handle) }
        guard depth <= maxDirectoryDepth else {
            throw RepoReadError("\(relative): directories nested deeper than \(maxDirectoryDepth) levels")
        }
        var subdirectories: [(name: [CChar], path: String)] = []
        while let item = readdir(handle) {
            let raw = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if raw.first == UInt8(ascii: ".") { continue }
            let text = String(validating: raw, as: UTF8.self)
            let name = text ?? String(decoding: raw, as: UTF8.self)
            let path = relative.isEmpty ? name : relative + "/" + name
            let cName = raw.map { CChar(bitPattern: $0) } + [0]
            var info = stat()
            guard fstatat(dirfd(handle), cName, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw RepoReadError("cannot examine \(path): \(String(cString: strerror(errno)))")
            }
            if text == nil {
                result.append(RepoEntry(path: path, kind: .invalidName, size: 0))
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                // A nested checkout (a submodule's work tree) has a `.git` file or directory.
                var gitInfo = stat()
                if fstatat(dirfd(handle), name + "/.git", &gitInfo, AT_SYMLINK_NOFOLLOW) == 0 {
                    result.append(RepoEntry(path: path, kind: .submodule, size: 0))
                } else {
                    subdirectories.append((cName, path))
                }
            case S_IFREG: result.append(RepoEntry(path: path, kind: .regular, size: Int(info.st_size)))
            case S_IFLNK: result.append(RepoEntry(path: path, kind: .symlink, size: 0))
            default: result.append(RepoEntry(path: path, kind: .special, size: 0))
            }
            if result.count > maxRepoEntries {
                throw RepoReadError("the directory has more than \(maxRepoEntries) files")
            }
        }
        for subdirectory in subdirectories {
            let child = openat(dirfd(handle), subdirectory.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else {
                throw RepoReadError("cannot read directory \(subdirectory.path): \(String(cString: strerror(errno)))")
            }
            try walk(fd: child, relative: subdirectory.path, depth: depth + 1, into: &result)
        }
    }

    public func size(of entry: RepoEntry) throws(RepoReadError) -> Int { entry.size ?? 0 }

    public func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        try Self.readFile(at: root + "/" + entry.path, shown: entry.path)
    }

    /// Reads a regular file without following a final symbolic link, up to 64 MiB.
    public static func readFile(at path: String, shown: String? = nil) throws(RepoReadError) -> [UInt8] {
        let name = shown ?? path
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            var error = RepoReadError("cannot open \(name): \(String(cString: strerror(code)))")
            error.isMissing = code == ENOENT
            throw error
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw RepoReadError("\(name) is not a regular file")
        }
        guard info.st_size <= 64 << 20 else { throw RepoReadError("\(name) is larger than 64 MiB") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        if filled < bytes.count { bytes.removeSubrange(filled...) }
        return bytes
    }
}
