#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file (a descriptor), for work that must happen on the file that was checked:
/// examined, read, written, locked and given permissions through the descriptor, never
/// through its path again. Closed by ``close()``, or when the value is deinitialised.
///
/// Opening never follows a symbolic link as the last component of the path (`O_NOFOLLOW`:
/// a link there fails with ``Errno/tooManySymbolicLinks``), and programs this process
/// starts do not inherit the descriptor (`O_CLOEXEC`).
public final class OpenFile {
    /// What the file is opened for.
    public enum Access: Sendable {
        case read, write, readWrite
    }

    /// Whether opening may create the file.
    public enum Creation: Sendable, Equatable {
        /// Only an existing file is opened.
        case never
        /// A missing file is created (`O_CREAT`) with `permissions` less the umask.
        case ifMissing(permissions: UInt32)
        /// The file is created (`O_CREAT | O_EXCL`) with `permissions` less the umask; when
        /// anything is at the path already, even a link, opening fails with ``Errno/exists``.
        case exclusive(permissions: UInt32)
    }

    /// An advisory `flock` lock: many may hold a shared one, one an exclusive one.
    public enum LockKind: Sendable {
        case shared, exclusive
    }

    /// The path the file was opened by (joined to the directory's, for a file opened in a
    /// ``Directory``); failures name it.
    public let path: String
    private var descriptor: Int32

    /// Opens `path`, never following a symbolic link at its end.
    ///
    /// - parameter nonBlocking: Open with `O_NONBLOCK`, so that opening a FIFO or a device
    ///   where a regular file is expected does not wait; check ``info()`` before reading.
    /// - throws: `.system` with the errno of `open`: ``Errno/noSuchFile``,
    ///   ``Errno/tooManySymbolicLinks`` (a link), ``Errno/exists`` (``Creation/exclusive``), ...
    public convenience init(path: String, access: Access, creating: Creation = .never, nonBlocking: Bool = false)
        throws(PlatformError) {
        try self.init(at: AT_FDCWD, name: Array(path.utf8CString), shown: path, access: access, creating: creating, nonBlocking: nonBlocking)
    }

    /// Opens `name` in the directory open at `directory` (`openat`).
    init(at directory: Int32, name: [CChar], shown: String, access: Access, creating: Creation, nonBlocking: Bool)
        throws(PlatformError) {
        var flags = O_NOFOLLOW | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
        switch access {
        case .read: flags |= O_RDONLY
        case .write: flags |= O_WRONLY
        case .readWrite: flags |= O_RDWR
        }
        var permissions: UInt32 = 0
        switch creating {
        case .never: break
        case .ifMissing(let bits): flags |= O_CREAT; permissions = bits
        case .exclusive(let bits): flags |= O_CREAT | O_EXCL; permissions = bits
        }
        let descriptor = openat(directory, name, flags, mode_t(permissions))
        guard descriptor >= 0 else { throw .current("open", shown) }
        self.path = shown
        self.descriptor = descriptor
    }

    deinit { if descriptor >= 0 { _ = systemClose(descriptor) } }

    /// Closes the file; closing it again does nothing. Other calls fail once it is closed.
    ///
    /// - throws: `.system` when the close reports an error (on some file systems, a write
    ///   that did not reach the disk); the descriptor is closed all the same.
    public func close() throws(PlatformError) {
        guard descriptor >= 0 else { return }
        let result = systemClose(descriptor)
        descriptor = -1
        guard result == 0 else { throw .current("close", path) }
    }

    /// The facts about the open file (`fstat`).
    public func info() throws(PlatformError) -> FileInfo {
        try FileInfo(descriptor: descriptor, path: path)
    }

    /// Reads up to `count` bytes from the current position: fewer only at the end of the
    /// file. Repeats reads that a signal interrupted.
    public func read(upTo count: Int) throws(PlatformError) -> [UInt8] {
        try read(upTo: count, at: nil)
    }

    /// Reads up to `count` bytes from `offset` (`pread`), leaving the position where it is.
    public func read(upTo count: Int, atOffset offset: Int64) throws(PlatformError) -> [UInt8] {
        try read(upTo: count, at: offset)
    }

    private func read(upTo count: Int, at offset: Int64?) throws(PlatformError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        var total = 0
        while total < bytes.count {
            let done = bytes.withUnsafeMutableBytes { raw in
                systemRead(descriptor, raw.baseAddress! + total, raw.count - total, offset.map { $0 + Int64(total) })
            }
            if done < 0 {
                if Errno.current == .interrupted { continue }
                throw .current("read", path)
            }
            if done == 0 { break }
            total += done
        }
        bytes.removeSubrange(total...)
        return bytes
    }

    /// Writes all of `bytes` at the current position. Repeats writes that a signal
    /// interrupted or that wrote only a part.
    public func write(_ bytes: [UInt8]) throws(PlatformError) {
        try write(bytes, at: nil)
    }

    /// Writes all of `bytes` at `offset` (`pwrite`), leaving the position where it is.
    public func write(_ bytes: [UInt8], atOffset offset: Int64) throws(PlatformError) {
        try write(bytes, at: offset)
    }

    private func write(_ bytes: [UInt8], at offset: Int64?) throws(PlatformError) {
        var total = 0
        while total < bytes.count {
            let done = bytes.withUnsafeBytes { raw in
                systemWrite(descriptor, raw.baseAddress! + total, raw.count - total, offset.map { $0 + Int64(total) })
            }
            if done < 0 && Errno.current == .interrupted { continue }
            guard done > 0 else { throw .current("write", path) }
            total += done
        }
    }

    /// Cuts the file to `size` bytes, or extends it with zeros (`ftruncate`).
    public func truncate(toSize size: Int64) throws(PlatformError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw .current("truncate", path) }
    }

    /// Sets the permission bits, such as `0o600` (`fchmod`; the umask does not apply).
    public func setPermissions(_ permissions: UInt32) throws(PlatformError) {
        guard fchmod(descriptor, mode_t(permissions)) == 0 else { throw .current("set the permissions of", path) }
    }

    /// Gives the file to `userID` and `groupID` (`fchown`); only root may give it away,
    /// an owner may change the group to one of its own.
    public func setOwner(userID: UInt32, groupID: UInt32) throws(PlatformError) {
        guard fchown(descriptor, uid_t(userID), gid_t(groupID)) == 0 else { throw .current("set the owner of", path) }
    }

    /// Waits until what was written is on the disk (`fsync`).
    public func sync() throws(PlatformError) {
        guard fsync(descriptor) == 0 else { throw .current("sync", path) }
    }

    /// Takes a lock of `kind` on the file without waiting (`flock` with `LOCK_NB`).
    ///
    /// The lock belongs to this open file: another open file of the same file, in this
    /// process or another, cannot take a conflicting lock until this one is unlocked or
    /// closed, or the process ends, however it ends. Taking a lock this file already holds
    /// changes it to `kind`.
    ///
    /// - returns: Whether the lock was taken; false when a conflicting lock is held.
    /// - throws: `.system` when the file cannot be locked at all.
    public func tryLock(_ kind: LockKind) throws(PlatformError) -> Bool {
        while flock(descriptor, (kind == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            let number = Errno.current
            if number == .interrupted { continue }
            if number == .wouldBlock { return false }
            throw .system(operation: "lock", path: path, errno: number)
        }
        return true
    }

    /// Releases this file's lock, if it holds one.
    public func unlock() {
        _ = flock(descriptor, LOCK_UN)
    }
}

// The C calls under the names of OpenFile's methods, which hide them inside the class.

private func systemClose(_ descriptor: Int32) -> Int32 { close(descriptor) }

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64?) -> Int {
    offset.map { pread(descriptor, buffer, count, off_t($0)) } ?? read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64?) -> Int {
    offset.map { pwrite(descriptor, buffer, count, off_t($0)) } ?? write(descriptor, buffer, count)
}
