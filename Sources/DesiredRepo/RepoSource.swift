import GitStore
import Platform

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
        let info: FileInfo
        do { info = try FileInfo(path: path) } catch { throw RepoReadError("cannot read \(path): \(error.reason)") }
        guard info.kind == .directory else { throw RepoReadError("\(path) is not a directory") }
        // A bare repository read as a directory would look empty; say what to do instead.
        func exists(_ name: String) -> Bool { (try? FileInfo(path: path + "/" + name)) != nil }
        if exists("HEAD"), exists("objects"), exists("refs"), !exists("accessctl.yaml") {
            throw RepoReadError("\(path) is a bare git repository; name the commit to read with --ref (for example --ref HEAD)")
        }
        root = path
        origin = .directory(path: path)
    }

    public func entries() throws(RepoReadError) -> [RepoEntry] {
        let top: Directory
        do { top = try Directory(path: root) } catch { throw RepoReadError("cannot read directory \(root): \(error.reason)") }
        var result: [RepoEntry] = []
        try walk(top, relative: "", depth: 0, into: &result)
        result.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return result
    }

    /// Lists `directory`, recursing into subdirectories. Names are used as raw bytes
    /// relative to the open directory, so a name that is not valid UTF-8 is still examined
    /// correctly, and no link is followed.
    private func walk(_ directory: Directory, relative: String, depth: Int, into result: inout [RepoEntry]) throws(RepoReadError) {
        let names: Directory.Listing
        do { names = try directory.names() } catch {
            throw RepoReadError("cannot read directory \(relative): \(error.reason)")
        }
        guard depth <= maxDirectoryDepth else {
            throw RepoReadError("\(relative): directories nested deeper than \(maxDirectoryDepth) levels")
        }
        var subdirectories: [(name: String, path: String)] = []
        for raw in names {
            if raw.first == UInt8(ascii: ".") { continue }
            let text = String(validating: raw, as: UTF8.self)
            let name = text ?? String(decoding: raw, as: UTF8.self)
            let path = relative.isEmpty ? name : relative + "/" + name
            let info: FileInfo
            do { info = try directory.info(of: raw) } catch {
                throw RepoReadError("cannot examine \(path): \(error.reason)")
            }
            if text == nil {
                result.append(RepoEntry(path: path, kind: .invalidName, size: 0))
                continue
            }
            switch info.kind {
            case .directory:
                // A nested checkout (a submodule's work tree) has a `.git` file or directory.
                if (try? directory.info(of: (name + "/.git").utf8)) != nil {
                    result.append(RepoEntry(path: path, kind: .submodule, size: 0))
                } else {
                    subdirectories.append((name, path))
                }
            case .regular: result.append(RepoEntry(path: path, kind: .regular, size: Int(info.size)))
            case .symbolicLink: result.append(RepoEntry(path: path, kind: .symlink, size: 0))
            default: result.append(RepoEntry(path: path, kind: .special, size: 0))
            }
            if result.count > maxRepoEntries {
                throw RepoReadError("the directory has more than \(maxRepoEntries) files")
            }
        }
        for subdirectory in subdirectories {
            let child: Directory
            do { child = try directory.openDirectory(named: subdirectory.name.utf8) } catch {
                throw RepoReadError("cannot read directory \(subdirectory.path): \(error.reason)")
            }
            try walk(child, relative: subdirectory.path, depth: depth + 1, into: &result)
        }
    }

    public func size(of entry: RepoEntry) throws(RepoReadError) -> Int { entry.size ?? 0 }

    public func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        try Self.readFile(at: root + "/" + entry.path, shown: entry.path)
    }

    /// Reads a regular file without following a final symbolic link, up to 64 MiB.
    public static func readFile(at path: String, shown: String? = nil) throws(RepoReadError) -> [UInt8] {
        let name = shown ?? path
        let file: OpenFile
        do { file = try OpenFile(path: path, access: .read, nonBlocking: true) } catch {
            var failure = RepoReadError("cannot open \(name): \(error.reason)")
            failure.isMissing = error.errno == .noSuchFile
            throw failure
        }
        guard let info = try? file.info(), info.kind == .regular else {
            throw RepoReadError("\(name) is not a regular file")
        }
        guard info.size <= 64 << 20 else { throw RepoReadError("\(name) is larger than 64 MiB") }
        do { return try file.read(upTo: Int(info.size)) } catch {
            throw RepoReadError("cannot read \(name): \(error.reason)")
        }
    }
}
