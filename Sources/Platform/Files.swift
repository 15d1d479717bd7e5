#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading, writing and listing files where Foundation cannot say exactly what happened:
/// links never followed, the errno kept, writes atomic and durable.
public enum Files {
    /// Reads the whole regular file at `path`, never following a symbolic link.
    ///
    /// The file is opened with `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` (so a FIFO does not
    /// block) and examined through the open descriptor, so what is read is what was checked.
    ///
    /// - parameter limit: The most bytes the file may hold; a file that grows past it while
    ///   it is read is refused too.
    /// - throws: `.symbolicLink`, `.notRegularFile`, `.tooLarge`, or `.system` with the
    ///   errno (``Errno/noSuchFile`` when there is nothing at `path`).
    public static func readRegularFile(atPath path: String, limit: Int) throws(PlatformError) -> [UInt8] {
        let file: OpenFile
        do {
            file = try OpenFile(path: path, access: .read, nonBlocking: true)
        } catch {
            if error.errno == .tooManySymbolicLinks, (try? FileInfo(path: path, followLinks: false))?.kind == .symbolicLink {
                throw .symbolicLink(path: path)
            }
            throw error
        }
        let info = try file.info()
        guard info.kind == .regular else { throw .notRegularFile(path: path, kind: info.kind) }
        guard info.size <= Int64(limit) else { throw .tooLarge(path: path, limit: limit) }
        // One byte more than the file holds shows the end; a file that grew is read on
        // only up to one byte past the limit.
        var bytes = try file.read(upTo: Int(info.size) + 1)
        if bytes.count == Int(info.size) + 1 && bytes.count <= limit {
            bytes += try file.read(upTo: limit + 1 - bytes.count)
        }
        guard bytes.count <= limit else { throw .tooLarge(path: path, limit: limit) }
        return bytes
    }

    /// Replaces the file at `path` with `bytes` at once: readers see the old contents or the
    /// new, never a part, and after a crash the file holds one of them.
    ///
    /// The bytes go to a new temporary file in the same directory (`O_EXCL`, never following
    /// a link), which gets `permissions` (`fchmod`), is synced (`fsync`) and renamed over
    /// `path`; then the directory is synced, so the rename lasts. A failure before the rename
    /// removes the temporary file and leaves `path` as it was.
    ///
    /// - parameter permissions: The new file's permission bits, such as `0o640`.
    /// - throws: `.system` with the step that failed and its errno. When syncing the
    ///   directory fails, the new contents are in place but might not survive a crash.
    public static func writeAtomically(_ bytes: [UInt8], toPath path: String, permissions: UInt32) throws(PlatformError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let (file, temporary) = try createTemporary(in: directory, for: name, path: path)
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        try file.write(bytes)
        try file.setPermissions(permissions)
        try file.sync()
        try file.close()
        guard systemRename(temporary, path) == 0 else { throw .current("replace", path) }
        renamed = true
        let parent: Directory
        do { parent = try Directory(path: directory) } catch {
            throw .system(operation: "sync the directory", path: directory, errno: error.errno ?? .noSuchFile)
        }
        try parent.sync()
    }

    /// A new file `.<name>.tmp-<pid>-<n>` in `directory`, opened for writing, mode 0600.
    private static func createTemporary(in directory: String, for name: String, path: String)
        throws(PlatformError) -> (OpenFile, String) {
        var attempt = 0
        while true {
            let temporary = (directory == "/" ? "/" : directory + "/") + ".\(name).tmp-\(getpid())-\(attempt)"
            do {
                return (try OpenFile(path: temporary, access: .write, creating: .exclusive(permissions: 0o600)), temporary)
            } catch {
                attempt += 1
                guard error.errno == .exists, attempt < 100 else {
                    throw .system(operation: "create a temporary file for", path: path, errno: error.errno ?? .exists)
                }
            }
        }
    }

    /// Creates the directory `path` (`mkdir`) with `permissions` less the umask, such as
    /// `0o777` for what the umask allows.
    ///
    /// - throws: `.system` with the errno: ``Errno/exists`` when anything is at `path`
    ///   already, ``Errno/noSuchFile`` when its parent is missing, ...
    public static func createDirectory(atPath path: String, permissions: UInt32) throws(PlatformError) {
        guard mkdir(path, mode_t(permissions)) == 0 else { throw .current("create the directory", path) }
    }

    /// Renames `path` to `newPath` at once (`rename`): a file at `newPath` is replaced, as
    /// is an empty directory when `path` is a directory.
    ///
    /// - throws: `.system` with the errno: ``Errno/notEmpty`` or ``Errno/exists`` when
    ///   `newPath` is a directory that is not empty, ``Errno/noSuchFile``, ...
    public static func rename(_ path: String, to newPath: String) throws(PlatformError) {
        guard systemRename(path, newPath) == 0 else { throw .current("rename", path) }
    }

    /// The absolute path of `path` with every symbolic link, `.` and `..` resolved
    /// (`realpath`); nil when some component does not exist or cannot be read.
    public static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The names in the directory at `path` (following a link to it), without `.` and `..`,
    /// in no particular order.
    ///
    /// - throws: `.system` with the errno of `opendir`: ``Errno/noSuchFile``,
    ///   ``Errno/notDirectory``, ``Errno/permissionDenied``, ...
    public static func directoryEntries(atPath path: String) throws(PlatformError) -> [String] {
        guard let directory = opendir(path) else { throw .current("list", path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// An exclusive advisory lock (`flock`) on a file, held until ``release()``, until the lock
/// is deinitialised, or until the process exits, however it exits.
///
/// The lock belongs to the open file: another ``FileLock`` on the same file, in this process
/// or another, is refused while this one is held.
public final class FileLock {
    /// The locked file.
    public let path: String
    private let file: OpenFile

    private init(path: String, file: OpenFile) {
        self.path = path
        self.file = file
    }

    /// Opens `path` (creating it with permissions 0600, never following a link) and takes
    /// the lock without waiting.
    ///
    /// - returns: The lock, or nil when someone else holds it.
    /// - throws: `.system` when the file cannot be opened or locked.
    public static func tryLock(path: String) throws(PlatformError) -> FileLock? {
        let file = try OpenFile(path: path, access: .readWrite, creating: .ifMissing(permissions: 0o600))
        guard try file.tryLock(.exclusive) else { return nil }
        return FileLock(path: path, file: file)
    }

    /// Releases the lock; releasing it again does nothing.
    public func release() {
        file.unlock()
        try? file.close()
    }

    deinit { release() }
}

private func systemRename(_ path: String, _ newPath: String) -> Int32 { rename(path, newPath) }
