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
}

/// One file of a repository revision, listed without its contents.
public struct RepoEntry: Sendable, Hashable {
    /// Repository-relative, `/`-separated.
    public var path: String
    public var kind: RepoEntryKind
    /// Size in bytes, when known without reading the file.
    public var size: Int
}

/// Where a repository revision is read from.
public enum RepoOrigin: Sendable, Hashable {
    /// A commit of a git repository.
    case git(path: String, ref: String, commit: String)
    /// A plain directory (for example an admin's working tree).
    case directory(path: String)
}

/// An error reading the repository itself (not a finding about its files).
public struct RepoReadError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A source of repository files: a git commit or a directory. Dot-paths are never listed.
public protocol RepoSource {
    var origin: RepoOrigin { get }
    /// Every entry, sorted by path, except those with a component starting with `.`.
    func entries() throws(RepoReadError) -> [RepoEntry]
    /// The bytes of a regular file.
    func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8]
}

/// Largest number of entries listed from one source; a larger tree is refused, not read.
let maxRepoEntries = 1_000_000
/// Deepest directory nesting walked in a directory source.
let maxDirectoryDepth = 64

func isDotPath(_ path: String) -> Bool {
    path.hasPrefix(".") || path.contains("/.")
}

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

    public func entries() throws(RepoReadError) -> [RepoEntry] {
        let files: [TreeFile]
        do { files = try repository.files(in: commit) } catch { throw RepoReadError(error.description) }
        if files.count > maxRepoEntries {
            throw RepoReadError("the commit has \(files.count) files; the limit is \(maxRepoEntries)")
        }
        var result: [RepoEntry] = []
        result.reserveCapacity(files.count)
        for file in files where !isDotPath(file.path) {
            let kind: RepoEntryKind
            var size = 0
            switch file.kind {
            case .regular, .executable:
                kind = .regular
                do { size = try repository.blobSize(file.id) } catch { throw RepoReadError(error.description) }
            case .symlink: kind = .symlink
            case .submodule: kind = .submodule
            }
            ids[file.path] = file.id
            result.append(RepoEntry(path: file.path, kind: kind, size: size))
        }
        return result
    }

    public func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        guard let id = ids[entry.path] else { throw RepoReadError("\(entry.path): not in the commit") }
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
        root = path
        origin = .directory(path: path)
    }

    public func entries() throws(RepoReadError) -> [RepoEntry] {
        var result: [RepoEntry] = []
        try walk(relative: "", depth: 0, into: &result)
        result.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return result
    }

    private func walk(relative: String, depth: Int, into result: inout [RepoEntry]) throws(RepoReadError) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard depth <= maxDirectoryDepth else {
            throw RepoReadError("\(relative): directories nested deeper than \(maxDirectoryDepth) levels")
        }
        guard let handle = opendir(directory) else {
            throw RepoReadError("cannot read directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(handle) }
        var subdirectories: [String] = []
        while let item = readdir(handle) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            let path = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + path, &info) == 0 else {
                throw RepoReadError("cannot stat \(path): \(String(cString: strerror(errno)))")
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                // A nested checkout (a submodule's work tree) has a `.git` file or directory.
                var gitInfo = stat()
                if lstat(root + "/" + path + "/.git", &gitInfo) == 0 {
                    result.append(RepoEntry(path: path, kind: .submodule, size: 0))
                } else {
                    subdirectories.append(path)
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
            try walk(relative: subdirectory, depth: depth + 1, into: &result)
        }
    }

    public func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        let fd = open(root + "/" + entry.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw RepoReadError("cannot open \(entry.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw RepoReadError("\(entry.path) is no longer a regular file")
        }
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
