#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What kind of file a path names.
public enum FileKind: Sendable, Equatable, CustomStringConvertible {
    case regular, directory, symbolicLink, characterDevice, blockDevice, fifo, socket, unknown

    /// The kind with its article, such as "a directory".
    public var description: String {
        switch self {
        case .regular: return "a regular file"
        case .directory: return "a directory"
        case .symbolicLink: return "a symbolic link"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .fifo: return "a FIFO"
        case .socket: return "a socket"
        case .unknown: return "a special file"
        }
    }
}

/// The facts `stat` tells about a file, in Swift types.
public struct FileInfo: Equatable, Sendable {
    /// What kind of file it is.
    public let kind: FileKind
    /// The permission bits with set-user-ID, set-group-ID and sticky (`st_mode & 0o7777`).
    public let permissions: UInt32
    /// The owner's user id.
    public let userID: UInt32
    /// The owner's group id.
    public let groupID: UInt32
    /// How many hard links name the file.
    public let linkCount: UInt64
    /// The size in bytes.
    public let size: Int64
    /// The last modification of the contents, since 1970-01-01 UTC, to the nanosecond.
    public let modified: Duration
    /// The device the file is on; with ``inode``, the file's identity while it exists.
    public let device: UInt64
    /// The file's number on its device.
    public let inode: UInt64

    /// The facts about `path`: `stat`, or `lstat` (the link itself, not its target) when
    /// `followLinks` is false.
    ///
    /// - throws: `.system` with the errno, such as ``Errno/noSuchFile``.
    public init(path: String, followLinks: Bool = true) throws(PlatformError) {
        var info = stat()
        guard (followLinks ? stat(path, &info) : lstat(path, &info)) == 0 else { throw .current("examine", path) }
        self.init(info)
    }

    /// The facts about the open file `descriptor` (`fstat`); `path` names it in errors.
    init(descriptor: Int32, path: String) throws(PlatformError) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .current("examine", path) }
        self.init(info)
    }

    init(_ info: stat) {
        let mode = UInt32(info.st_mode)
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): kind = .regular
        case UInt32(S_IFDIR): kind = .directory
        case UInt32(S_IFLNK): kind = .symbolicLink
        case UInt32(S_IFCHR): kind = .characterDevice
        case UInt32(S_IFBLK): kind = .blockDevice
        case UInt32(S_IFIFO): kind = .fifo
        case UInt32(S_IFSOCK): kind = .socket
        default: kind = .unknown
        }
        permissions = mode & 0o7777
        userID = UInt32(info.st_uid)
        groupID = UInt32(info.st_gid)
        linkCount = UInt64(info.st_nlink)
        size = Int64(info.st_size)
        #if canImport(Darwin)
        let time = info.st_mtimespec
        #else
        let time = info.st_mtim
        #endif
        modified = .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
