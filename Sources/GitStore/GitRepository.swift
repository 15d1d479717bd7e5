import Foundation
import CGit2
import Platform

/// The result of `git_libgit2_init()`, called once per process on first use.
private let libgit2InitCode: Int32 = git_libgit2_init()

/// A git repository on disk, read straight from its object database.
///
/// ``GitRepository`` never checks out files: it resolves revisions, reads
/// commit metadata, lists a commit's tree and reads blobs.
///
/// ```swift
/// let repository = try GitRepository(path: "/srv/access.git")
/// let head = try repository.resolveCommit("origin/main")
/// for file in try repository.files(in: head) where file.kind == .regular {
///     let bytes = try repository.blob(file.id)
/// }
/// ```
///
/// A repository is not thread-safe: use each instance from one thread at a time.
public final class GitRepository {
    /// The libgit2 repository (`git_repository *`), for the other files of this module.
    let repo: OpaquePointer
    /// The repository's object database (`git_odb *`).
    let odb: OpaquePointer

    /// The path the repository was opened with.
    public let path: String

    /// Opens the repository at exactly `path`, bare or not.
    ///
    /// `path` is either a working directory containing `.git`, or a git
    /// directory (such as a bare repository). Parent directories are not
    /// searched. The repository's HEAD is read, so that a corrupt repository
    /// fails here rather than later.
    ///
    /// - parameter path: The repository's directory.
    /// - throws: A ``GitError`` if the directory is missing, is not a
    ///   repository, or the repository is corrupt.
    public convenience init(path: String) throws(GitError) {
        try self.init(path: path, flags: GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue)
    }

    /// Opens the repository at `path` with `git_repository_open_flag_t` flags.
    private init(path: String, flags: UInt32) throws(GitError) {
        let operation = "open repository at \(path)"
        try check(libgit2InitCode, operation)
        var repo: OpaquePointer?
        let opened = git_repository_open_ext(&repo, path, flags, nil)
        if opened < 0 { throw explainOpenFailure(GitError.last(code: opened, operation: operation), path: path) }
        guard let repo else { throw .noResult(operation) }
        var odb: OpaquePointer?
        let code = git_repository_odb(&odb, repo)
        guard code == 0, let odb else {
            let error = code < 0 ? GitError.last(code: code, operation: operation) : .noResult(operation)
            git_repository_free(repo)
            throw error
        }
        // git_repository_head_unborn parses HEAD: 1 (unborn), 0 (born), < 0 (corrupt).
        let head = git_repository_head_unborn(repo)
        guard head >= 0 else {
            let last = GitError.last(code: head, operation: operation)
            let error = last.reworded("the repository is damaged: its HEAD cannot be read (\(last.message)); "
                + "if it is a clone made by `apply --fetch`, remove it and fetch again")
            git_odb_free(odb)
            git_repository_free(repo)
            throw error
        }
        self.repo = repo
        self.odb = odb
        self.path = path
    }

    deinit {
        git_odb_free(odb)
        git_repository_free(repo)
    }

    /// Opens the bare repository at `path`, creating it first if there is none.
    ///
    /// Use it for a clone that is only ever updated with
    /// ``fetch(remote:branch:into:)``:
    ///
    /// ```swift
    /// let clone = try GitRepository.initBare(path: "/var/lib/accessctl/desired.git")
    /// let head = try clone.fetch(remote: "ssh://git@git.example.com/access.git", branch: "main")
    /// ```
    ///
    /// Only `path` itself is considered: parent directories are not searched,
    /// and a `.git` directory or gitlink file inside `path` is not followed.
    /// When `path` does not exist, it is created, but not its parent
    /// directory; an existing empty directory is initialised in place. HEAD
    /// of a new repository is unborn, and nothing else is written.
    ///
    /// - parameter path: The repository's directory (the git directory itself).
    /// - returns: The opened repository; ``isBare`` is true.
    /// - throws: A ``GitError`` if `path` holds a repository that is not bare
    ///   or anything else that is not an empty directory (code `GIT_EEXISTS`),
    ///   if its parent directory is missing (`GIT_ENOTFOUND`), or if the
    ///   repository cannot be created or opened.
    public static func initBare(path: String) throws(GitError) -> GitRepository {
        try openOrCreateBare(path: path).repository
    }

    /// What ``openOrCreateBare(path:)`` found at its path.
    public enum BareOrigin: Sendable, Equatable {
        /// A bare repository, opened.
        case existing
        /// Nothing: the directory was created, with a new repository in it.
        case createdDirectory
        /// An empty directory, in which a new repository was created.
        case initialisedEmptyDirectory
    }

    /// ``initBare(path:)``, saying whether the repository was there or is new, so that a
    /// caller whose first use of a new repository fails can undo it
    /// (``removeNewBare(path:origin:)``).
    public static func openOrCreateBare(path: String) throws(GitError) -> (repository: GitRepository, origin: BareOrigin) {
        let operation = "create bare repository at \(path)"
        try check(libgit2InitCode, operation)
        if let repository = try openBare(path, operation) { return (repository, .existing) }
        let existed = try expectNothingAt(path, operation)
        try expectParentDirectory(of: path, operation)
        var options = git_repository_init_options()
        try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)), operation)
        options.flags = GIT_REPOSITORY_INIT_BARE.rawValue | GIT_REPOSITORY_INIT_MKDIR.rawValue
            | GIT_REPOSITORY_INIT_NO_REINIT.rawValue
        var repo: OpaquePointer?
        let code = git_repository_init_ext(&repo, path, &options)
        git_repository_free(repo)
        // GIT_EEXISTS: another process created it meanwhile; open that one.
        if code < 0 && code != GIT_EEXISTS.rawValue { throw GitError.last(code: code, operation: operation) }
        guard let repository = try openBare(path, operation) else { throw .noResult(operation) }
        // GIT_EEXISTS: another process made it; it is that one's to undo.
        if code == GIT_EEXISTS.rawValue { return (repository, .existing) }
        return (repository, existed ? .initialisedEmptyDirectory : .createdDirectory)
    }

    /// Undoes ``openOrCreateBare(path:)``: removes the directory it created, or empties the
    /// empty directory it initialised; does nothing for an existing repository. Call it only
    /// when nothing else has used the new repository, after releasing it.
    ///
    /// - returns: False if something could not be removed.
    @discardableResult
    public static func removeNewBare(path: String, origin: BareOrigin) -> Bool {
        switch origin {
        case .existing: return true
        case .createdDirectory: return removeTree(path)
        case .initialisedEmptyDirectory:
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return false }
            return names.allSatisfy { removeTree(path + "/" + $0) }
        }
    }

    /// Opens the bare repository at exactly `path`; nil if there is no repository there.
    private static func openBare(_ path: String, _ operation: String) throws(GitError) -> GitRepository? {
        let repository: GitRepository
        do {
            let flags = GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue | GIT_REPOSITORY_OPEN_NO_DOTGIT.rawValue
            repository = try GitRepository(path: path, flags: flags)
        } catch where error.code == GIT_ENOTFOUND.rawValue {
            return nil
        }
        guard repository.isBare else {
            throw GitError(code: GIT_EEXISTS.rawValue, errorClass: Int32(GIT_ERROR_REPOSITORY.rawValue),
                           message: "'\(path)' is a repository with a working directory, not a bare repository",
                           operation: operation)
        }
        return repository
    }

    /// Whether the repository is bare (has no working directory).
    public var isBare: Bool { git_repository_is_bare(repo) == 1 }

    /// Resolves a revision to the id of a commit.
    ///
    /// `spec` is anything `git rev-parse` accepts: a branch (`main`), a
    /// remote branch (`origin/main`), a tag (lightweight or annotated; tags
    /// are peeled), `HEAD`, a full or abbreviated commit id, `main~1`, ...
    ///
    /// - parameter spec: A revision.
    /// - returns: The commit's id.
    /// - throws: A ``GitError`` if `spec` does not resolve (code
    ///   `GIT_ENOTFOUND`), is ambiguous (`GIT_EAMBIGUOUS`), or names an
    ///   object that is not a commit.
    public func resolveCommit(_ spec: String) throws(GitError) -> ObjectID {
        let operation = "resolve '\(spec)'"
        var object: OpaquePointer?
        let parsed = git_revparse_single(&object, repo, spec)
        if parsed < 0 { throw explainResolveFailure(GitError.last(code: parsed, operation: operation), spec: spec, repository: path) }
        guard let object else { throw .noResult(operation) }
        defer { git_object_free(object) }

        var commit: OpaquePointer?
        let code = git_object_peel(&commit, object, GIT_OBJECT_COMMIT)
        guard code == 0, let commit else {
            let type = git_object_type2string(git_object_type(object)).map { String(cString: $0) } ?? "object"
            throw GitError(code: code < 0 ? code : GIT_EPEEL.rawValue,
                           errorClass: Int32(GIT_ERROR_OBJECT.rawValue),
                           message: "'\(spec)' names a \(type), not a commit", operation: operation)
        }
        defer { git_object_free(commit) }
        return try objectID(git_object_id(commit), operation)
    }

    /// Reads the metadata of a commit.
    ///
    /// - parameter id: A commit id.
    /// - throws: A ``GitError`` if the object is missing or not a commit.
    public func commit(_ id: ObjectID) throws(GitError) -> CommitInfo {
        let operation = "read commit \(id)"
        let commit = try lookupCommit(id, operation)
        defer { git_commit_free(commit) }

        var parents: [ObjectID] = []
        for index in 0..<git_commit_parentcount(commit) {
            parents.append(try objectID(git_commit_parent_id(commit, index), operation))
        }
        return CommitInfo(
            id: id,
            tree: try objectID(git_commit_tree_id(commit), operation),
            parents: parents,
            author: try gitSignature(git_commit_author(commit), operation),
            committer: try gitSignature(git_commit_committer(commit), operation),
            message: git_commit_message(commit).map { String(cString: $0) } ?? "")
    }

    /// Lists the files of a commit's tree, recursively.
    ///
    /// Subtrees are expanded and not listed themselves. Symbolic links and
    /// submodules are listed with their ``EntryKind``. A malformed tree (an entry
    /// named "", ".", ".." or containing "/", or two entries with one name), which
    /// git itself never writes, is an error.
    ///
    /// - parameters:
    ///   - commit: A commit id.
    ///   - skipHidden: Leave out entries whose name starts with "." (and never
    ///     descend into such trees).
    ///   - limit: Stop with an error as soon as more than this many files are found,
    ///     so a tree built to explode ("git bomb") costs bounded time and memory.
    /// - returns: The leaf entries, sorted by path in byte order.
    /// - throws: A ``GitError`` if the commit or one of its trees cannot be read.
    public func files(in commit: ObjectID, skipHidden: Bool = false, limit: Int = .max) throws(GitError) -> [TreeFile] {
        let operation = "list files of commit \(commit)"
        let commitObject = try lookupCommit(commit, operation)
        defer { git_commit_free(commitObject) }
        var root: OpaquePointer?
        try checkRead(git_commit_tree(&root, commitObject), operation, repository: self.path)
        guard let root else { throw .noResult(operation) }

        // Depth-first walk with an explicit stack: deep trees cannot overflow
        // the call stack. `path` holds the current directory prefix.
        struct Frame { let tree: OpaquePointer; var next: Int; let prefixLength: Int }
        var stack = [Frame(tree: root, next: 0, prefixLength: 0)]
        defer { for frame in stack { git_tree_free(frame.tree) } }
        var path: [UInt8] = []
        path.reserveCapacity(256)
        var files: [TreeFile] = []

        while let frame = stack.last {
            guard frame.next < git_tree_entrycount(frame.tree) else {
                git_tree_free(frame.tree)
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            guard let entry = git_tree_entry_byindex(frame.tree, frame.next),
                  let name = git_tree_entry_name(entry)
            else { throw .noResult(operation) }
            path.removeSubrange(frame.prefixLength...)
            var byte = UnsafeRawPointer(name)
            while case let c = byte.load(as: UInt8.self), c != 0 {
                path.append(c)
                byte += 1
            }
            let nameBytes = path[frame.prefixLength...]
            if nameBytes.isEmpty || nameBytes.contains(UInt8(ascii: "/"))
                || nameBytes.elementsEqual([46]) || nameBytes.elementsEqual([46, 46]) {
                throw GitError(code: -1, errorClass: 0, message: "malformed tree: an entry is named \"\(String(decoding: nameBytes, as: UTF8.self))\"", operation: operation)
            }
            if skipHidden && nameBytes.first == UInt8(ascii: ".") { continue }

            let mode = git_tree_entry_filemode(entry).rawValue
            if mode == GIT_FILEMODE_TREE.rawValue {
                var subtree: OpaquePointer?
                try checkRead(git_tree_lookup(&subtree, repo, git_tree_entry_id(entry)), operation, repository: self.path)
                guard let subtree else { throw .noResult(operation) }
                path.append(UInt8(ascii: "/"))
                stack.append(Frame(tree: subtree, next: 0, prefixLength: path.count))
                continue
            }
            // libgit2 normalises modes, so anything else is a regular blob.
            let kind: EntryKind = switch mode {
            case GIT_FILEMODE_BLOB_EXECUTABLE.rawValue: .executable
            case GIT_FILEMODE_LINK.rawValue: .symlink
            case GIT_FILEMODE_COMMIT.rawValue: .submodule
            default: .regular
            }
            if files.count >= limit {
                throw GitError(code: -1, errorClass: 0, message: "the tree has more than \(limit) files", operation: operation)
            }
            let text = String(validating: path, as: UTF8.self)
            files.append(TreeFile(path: text ?? String(decoding: path, as: UTF8.self), kind: kind, mode: mode,
                                  id: try objectID(git_tree_entry_id(entry), operation), isValidUTF8: text != nil))
        }

        // Git's tree order already yields byte-ordered paths for well-formed
        // trees; sort only if a malformed tree broke that.
        let precedes = { (a: TreeFile, b: TreeFile) in a.path.utf8.lexicographicallyPrecedes(b.path.utf8) }
        if zip(files, files.dropFirst()).contains(where: { !precedes($0, $1) }) {
            files.sort(by: precedes)
            if let duplicate = zip(files, files.dropFirst()).first(where: { $0.path == $1.path }) {
                throw GitError(code: -1, errorClass: 0, message: "malformed tree: two entries are named \(duplicate.0.path)", operation: operation)
            }
        }
        return files
    }

    /// The size in bytes of a blob, read from the object header without
    /// loading the content.
    ///
    /// - parameter id: A blob id.
    /// - throws: A ``GitError`` if the object is missing or not a blob.
    public func blobSize(_ id: ObjectID) throws(GitError) -> Int {
        let operation = "read size of blob \(id)"
        var oid = id.oid
        var size = 0
        var type = GIT_OBJECT_INVALID
        try checkRead(git_odb_read_header(&size, &type, odb, &oid), operation, repository: path)
        try expectBlob(type, id, operation)
        return size
    }

    /// Reads the content of a blob.
    ///
    /// - parameter id: A blob id.
    /// - throws: A ``GitError`` if the object is missing or not a blob.
    public func blob(_ id: ObjectID) throws(GitError) -> [UInt8] {
        let operation = "read blob \(id)"
        var oid = id.oid
        var object: OpaquePointer?
        try checkRead(git_odb_read(&object, odb, &oid), operation, repository: path)
        guard let object else { throw .noResult(operation) }
        defer { git_odb_object_free(object) }
        try expectBlob(git_odb_object_type(object), id, operation)
        let size = git_odb_object_size(object)
        guard size > 0 else { return [] }
        guard let data = git_odb_object_data(object) else { throw .noResult(operation) }
        return Array(UnsafeRawBufferPointer(start: data, count: size))
    }

    /// Whether `commit` descends from `ancestor`.
    ///
    /// A commit is not its own descendant.
    ///
    /// - throws: A ``GitError`` if either commit cannot be read.
    public func isDescendant(_ commit: ObjectID, of ancestor: ObjectID) throws(GitError) -> Bool {
        var commitOID = commit.oid
        var ancestorOID = ancestor.oid
        let result = git_graph_descendant_of(repo, &commitOID, &ancestorOID)
        try check(result, "check whether \(commit) descends from \(ancestor)")
        return result == 1
    }

    /// The id a reference points at, if the reference exists.
    ///
    /// Symbolic references (such as `HEAD`) are followed; annotated tags are
    /// not peeled, so `refs/tags/v1` may name a tag object rather than a commit.
    ///
    /// ```swift
    /// if let previous = repository.reference("refs/remotes/origin/main") { ... }
    /// ```
    ///
    /// - parameter name: A full reference name, such as `refs/heads/main` or `HEAD`.
    /// - returns: The id, or nil if the reference does not exist, is unborn,
    ///   or `name` is not a valid reference name.
    public func reference(_ name: String) -> ObjectID? {
        var oid = git_oid()
        guard git_reference_name_to_id(&oid, repo, name) == 0 else { return nil }
        return withUnsafePointer(to: &oid) { ObjectID($0) }
    }

    /// The signature of a signed commit, and the bytes it signs.
    ///
    /// The signature is the commit's `gpgsig` header: an OpenPGP, X.509 or
    /// SSH signature in ASCII armor, such as `-----BEGIN SSH SIGNATURE-----`.
    /// The payload is the commit object without that header, which is what
    /// `gpg --verify` or `ssh-keygen -Y verify -n git` check the signature
    /// against. GitStore does not verify anything itself.
    ///
    /// ```swift
    /// if let (signature, payload) = try repository.signature(of: head) { ... }
    /// ```
    ///
    /// - parameter commit: A commit id.
    /// - returns: The signature and its payload, or nil if the commit is not signed.
    /// - throws: A ``GitError`` if the object is missing or not a commit.
    public func signature(of commit: ObjectID) throws(GitError) -> (signature: String, payload: [UInt8])? {
        let operation = "extract signature of commit \(commit)"
        // Look the commit up first: git_commit_extract_signature reports a
        // missing object with the same GIT_ENOTFOUND as a missing signature.
        git_commit_free(try lookupCommit(commit, operation))
        var oid = commit.oid
        var signature = git_buf()
        var payload = git_buf()
        defer {
            git_buf_dispose(&signature)
            git_buf_dispose(&payload)
        }
        let code = git_commit_extract_signature(&signature, &payload, repo, &oid, "gpgsig")
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, operation)
        return (String(decoding: bytes(of: signature), as: UTF8.self), bytes(of: payload))
    }

    // MARK: - Helpers

    private func lookupCommit(_ id: ObjectID, _ operation: String) throws(GitError) -> OpaquePointer {
        var oid = id.oid
        var commit: OpaquePointer?
        try checkRead(git_commit_lookup(&commit, repo, &oid), operation, repository: path)
        guard let commit else { throw .noResult(operation) }
        return commit
    }

    private func expectBlob(_ type: git_object_t, _ id: ObjectID, _ operation: String) throws(GitError) {
        guard type != GIT_OBJECT_BLOB else { return }
        let name = git_object_type2string(type).map { String(cString: $0) } ?? "object"
        throw GitError(code: GIT_EINVALID.rawValue, errorClass: Int32(GIT_ERROR_OBJECT.rawValue),
                       message: "object \(id) is a \(name), not a blob", operation: operation)
    }
}

@available(*, unavailable, message: "use a GitRepository from one thread at a time")
extension GitRepository: Sendable {}

private func objectID(_ oid: UnsafePointer<git_oid>?, _ operation: String) throws(GitError) -> ObjectID {
    guard let id = ObjectID(oid) else { throw .noResult(operation) }
    return id
}

/// Removes `path` and, if it is a directory (not a link to one), everything in it; a
/// missing path counts as removed.
private func removeTree(_ path: String) -> Bool {
    do {
        _ = try FileInfo(path: path, followLinks: false)
    } catch {
        return error.errno == .noSuchFile
    }
    return (try? FileManager.default.removeItem(atPath: path)) != nil
}

/// Throws `GIT_EEXISTS` unless `path` is missing or an empty directory; true if it is an
/// empty directory.
@discardableResult
private func expectNothingAt(_ path: String, _ operation: String) throws(GitError) -> Bool {
    let exists = { (what: String) in
        GitError(code: GIT_EEXISTS.rawValue, errorClass: Int32(GIT_ERROR_REPOSITORY.rawValue),
                 message: "'\(path)' \(what)", operation: operation)
    }
    let names: [String]
    do {
        names = try Files.directoryEntries(atPath: path)
    } catch {
        switch error.errno {
        case .noSuchFile?: return false
        case .notDirectory?: throw exists("exists and is not a directory")
        default: throw exists("exists and cannot be read: \(error.reason)")
        }
    }
    guard names.isEmpty else { throw exists("is neither a bare repository nor an empty directory") }
    return true
}

/// Throws `GIT_ENOTFOUND` unless the directory that would hold `path` exists
/// (libgit2 sometimes creates missing parents even without `GIT_REPOSITORY_INIT_MKPATH`).
private func expectParentDirectory(of path: String, _ operation: String) throws(GitError) {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    let parent = trimmed.lastIndex(of: "/").map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? "."
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw GitError(code: GIT_ENOTFOUND.rawValue, errorClass: Int32(GIT_ERROR_OS.rawValue),
                       message: "the parent directory '\(parent)' does not exist", operation: operation)
    }
}

/// The bytes of a libgit2 buffer.
private func bytes(of buffer: git_buf) -> [UInt8] {
    guard let pointer = buffer.ptr, buffer.size > 0 else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: buffer.size))
}

private func gitSignature(_ pointer: UnsafePointer<git_signature>?, _ operation: String) throws(GitError) -> GitSignature {
    guard let signature = pointer?.pointee else { throw .noResult(operation) }
    return GitSignature(
        name: signature.name.map { String(cString: $0) } ?? "",
        email: signature.email.map { String(cString: $0) } ?? "",
        time: signature.when.time,
        offsetMinutes: signature.when.offset)
}
