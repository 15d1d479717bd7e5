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
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            if Errno.current == .tooManySymbolicLinks, (try? FileInfo(path: path, followLinks: false))?.kind == .symbolicLink {
                throw .symbolicLink(path: path)
            }
            throw .current("open", path)
        }
        defer { close(descriptor) }
        let info = try FileInfo(descriptor: descriptor, path: path)
        guard info.kind == .regular else { throw .notRegularFile(path: path, kind: info.kind) }
        guard info.size <= Int64(limit) else { throw .tooLarge(path: path, limit: limit) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + total, $0.count - total) }
            if count < 0 {
                if Errno.current == .interrupted { continue }
                throw .current("read", path)
            }
            if count == 0 { break }
            total += count
        }
        guard total <= limit else { throw .tooLarge(path: path, limit: limit) }
        return Array(bytes[0..<total])
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
        var temporary = ""
        var descriptor: Int32 = -1
        for attempt in 0..<100 {
            temporary = (directory == "/" ? "/" : directory + "/") + ".\(name).tmp-\(getpid())-\(attempt)"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if descriptor >= 0 || Errno.current != .exists { break }
        }
        guard descriptor >= 0 else { throw .current("create a temporary file for", path) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        var failure: PlatformError?
        var written = 0
        while failure == nil && written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && Errno.current == .interrupted { continue }
            if count <= 0 { failure = .current("write", temporary) } else { written += count }
        }
        if failure == nil && fchmod(descriptor, mode_t(permissions)) != 0 { failure = .current("set the permissions of", temporary) }
        if failure == nil && fsync(descriptor) != 0 { failure = .current("sync", temporary) }
        if close(descriptor) != 0 && failure == nil { failure = .current("write", temporary) }
        if let failure { throw failure }
        guard rename(temporary, path) == 0 else { throw .current("replace", path) }
        renamed = true
        let parent = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { throw .current("sync the directory", directory) }
        defer { close(parent) }
        guard fsync(parent) == 0 else { throw .current("sync the directory", directory) }
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
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Opens `path` (creating it with permissions 0600, never following a link) and takes
    /// the lock without waiting.
    ///
    /// - returns: The lock, or nil when someone else holds it.
    /// - throws: `.system` when the file cannot be opened or locked.
    public static func tryLock(path: String) throws(PlatformError) -> FileLock? {
        let descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .current("open", path) }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let number = Errno.current
            if number == .interrupted { continue }
            close(descriptor)
            if number == .wouldBlock { return nil }
            throw .system(operation: "lock", path: path, errno: number)
        }
        return FileLock(path: path, descriptor: descriptor)
    }

    /// Releases the lock; releasing it again does nothing.
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
