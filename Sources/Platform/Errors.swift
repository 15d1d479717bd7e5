#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX error number (`errno`), with the C library's words for it.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The number, as the C library of this platform defines it.
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `ENOENT`: there is no such file or directory.
    public static let noSuchFile = Errno(rawValue: ENOENT)
    /// `ENOTDIR`: a component of the path is not a directory.
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    /// `EACCES`: the permissions do not allow it.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EPERM`: the operation is not permitted (for example, signalling another user's process).
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `EEXIST`: something is already there.
    public static let exists = Errno(rawValue: EEXIST)
    /// `ENOTEMPTY`: the directory is not empty.
    public static let notEmpty = Errno(rawValue: ENOTEMPTY)
    /// `ELOOP`: too many symbolic links, or a link where none may be followed.
    public static let tooManySymbolicLinks = Errno(rawValue: ELOOP)
    /// `EINTR`: a signal interrupted the call; it can be repeated.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EWOULDBLOCK`: the call would have to wait (a lock held by another).
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)

    /// The C library's words for the number (`strerror`), such as "No such file or directory".
    public var message: String { String(cString: strerror(rawValue)) }

    public var description: String { message }

    /// The calling thread's `errno`, right after a failed call.
    static var current: Errno { Errno(rawValue: errno) }
}

/// Why a call into the operating system failed, with the path it was about.
public enum PlatformError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `operation` (a verb phrase, such as "read" or "lock") on `path` failed with `errno`.
    case system(operation: String, path: String, errno: Errno)
    /// `path` is a symbolic link, and the call follows none.
    case symbolicLink(path: String)
    /// `path` is `kind`, not a regular file.
    case notRegularFile(path: String, kind: FileKind)
    /// The file at `path` holds more than `limit` bytes.
    case tooLarge(path: String, limit: Int)

    /// The path the failed call was about.
    public var path: String {
        switch self {
        case .system(_, let path, _), .symbolicLink(let path), .notRegularFile(let path, _), .tooLarge(let path, _):
            return path
        }
    }

    /// The error number of a failed system call; nil for the refusals of this module.
    public var errno: Errno? {
        guard case .system(_, _, let number) = self else { return nil }
        return number
    }

    /// The failure without its path: the errno's words (`strerror`) for `.system`, such as
    /// "Permission denied"; else what is wrong with the file, such as "is a symbolic link".
    public var reason: String {
        switch self {
        case .system(_, _, let number): return number.message
        case .symbolicLink: return "is a symbolic link"
        case .notRegularFile(_, let kind): return "is \(kind), not a regular file"
        case .tooLarge(_, let limit): return "is larger than \(limit) bytes"
        }
    }

    /// The failure in plain words, such as "cannot read /etc/x: Permission denied" or
    /// "/etc/x is a symbolic link".
    public var description: String {
        guard case .system(let operation, let path, _) = self else { return "\(path) \(reason)" }
        return "cannot \(operation) \(path): \(reason)"
    }

    /// `.system` with the calling thread's `errno`.
    static func current(_ operation: String, _ path: String) -> PlatformError {
        .system(operation: operation, path: path, errno: .current)
    }
}
