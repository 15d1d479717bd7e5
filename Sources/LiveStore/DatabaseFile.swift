#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks on the database file made before SQLite opens it.
///
/// SQLite creates a missing file with mode 0644 (less the umask) and follows symbolic
/// links; the live database holds API keys, so accessctl creates the file itself with mode
/// 0600 and refuses anything but a regular file at the path.
enum DatabaseFile {
    /// The identity of the file that was checked, compared again once SQLite has opened it.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    enum Lookup {
        case missing
        case present(Identity)
    }

    /// Makes sure a regular file with mode 0600 exists at `path`, creating it when absent
    /// (O_CREAT|O_EXCL, never following a symbolic link). An existing file with group or
    /// other permission bits is restricted to 0600 and a notice says so. Also checks the
    /// `-wal` and `-shm` companions when they exist.
    static func prepareForWriting(_ path: String, notices: inout [String]) throws(LiveStoreError) -> Identity {
        var created = false
        var fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            created = true
        } else {
            let err = errno
            guard err == EEXIST else { throw openError(path, err, creating: true) }
            try checkNotSymlinkOrSpecial(path)
            fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { throw openError(path, errno, creating: false) }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw openError(path, errno, creating: false) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path) }
        if created {
            // The umask may have removed owner bits; make the mode exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw modeError(path, errno) }
        } else if info.st_mode & 0o077 != 0 {
            let old = info.st_mode & 0o7777
            guard fchmod(fd, 0o600) == 0 else { throw modeError(path, errno) }
            notices.append("database \(path) had mode \(octal(old)); restricted it to 0600 "
                + "(the API keys in it may have been readable by other users)")
        }
        for suffix in ["-wal", "-shm"] {
            try prepareCompanion(path + suffix, notices: &notices)
        }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Looks at `path` for reading: `.missing` when nothing is there (the directory must
    /// exist), the file's identity when it is a regular file; an error otherwise. Changes
    /// nothing.
    static func lookupForReading(_ path: String) throws(LiveStoreError) -> Lookup {
        var info = stat()
        if lstat(path, &info) != 0 {
            let err = errno
            if err == ENOENT {
                let dir = directory(of: path)
                var dirInfo = stat()
                if stat(dir, &dirInfo) != 0 || (dirInfo.st_mode & S_IFMT) != S_IFDIR {
                    throw LiveStoreError("cannot read database \(path): directory \(dir) does not exist")
                }
                return .missing
            }
            throw openError(path, err, creating: false)
        }
        try checkNotSymlinkOrSpecial(path)
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw openError(path, errno, creating: false) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { throw openError(path, errno, creating: false) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path) }
        for suffix in ["-wal", "-shm"] {
            try checkNotSymlinkOrSpecial(path + suffix, missingOK: true)
        }
        return .present(Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// After SQLite opened `path`: the path must still name the file that was checked.
    static func verify(_ path: String, is identity: Identity) throws(LiveStoreError) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) == identity
        else {
            throw LiveStoreError("database \(path) was replaced while it was being opened; refusing to use it")
        }
    }

    // MARK: - Helpers

    private static func prepareCompanion(_ path: String, notices: inout [String]) throws(LiveStoreError) {
        guard try checkNotSymlinkOrSpecial(path, missingOK: true) else { return }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw openError(path, errno, creating: false) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw openError(path, errno, creating: false) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path) }
        if info.st_mode & 0o077 != 0 {
            let old = info.st_mode & 0o7777
            guard fchmod(fd, 0o600) == 0 else { throw modeError(path, errno) }
            notices.append("database file \(path) had mode \(octal(old)); restricted it to 0600")
        }
    }

    /// Refuses a symbolic link or a non-regular file at `path`. Returns whether something
    /// exists there (only when `missingOK`; otherwise a missing file is an error).
    @discardableResult
    private static func checkNotSymlinkOrSpecial(_ path: String, missingOK: Bool = false) throws(LiveStoreError) -> Bool {
        var info = stat()
        if lstat(path, &info) != 0 {
            let err = errno
            if err == ENOENT && missingOK { return false }
            throw openError(path, err, creating: false)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return true
        case S_IFLNK:
            throw LiveStoreError("database \(path) is a symbolic link; refusing to follow it (use the real path)")
        default: throw notRegular(path)
        }
    }

    private static func notRegular(_ path: String) -> LiveStoreError {
        LiveStoreError("database \(path) is not a regular file")
    }

    private static func modeError(_ path: String, _ err: Int32) -> LiveStoreError {
        LiveStoreError("cannot restrict the mode of database \(path) to 0600: \(describe(err))")
    }

    private static func openError(_ path: String, _ err: Int32, creating: Bool) -> LiveStoreError {
        switch err {
        case ENOENT, ENOTDIR:
            let dir = directory(of: path)
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): directory \(dir) does not exist")
        case ELOOP:
            return LiveStoreError("database \(path) is a symbolic link; refusing to follow it (use the real path)")
        case EACCES, EPERM:
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): permission denied")
        default:
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): \(describe(err))")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    private static func describe(_ err: Int32) -> String {
        String(cString: strerror(err))
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
