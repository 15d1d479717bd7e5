#if canImport(Glibc)
import Glibc
#endif
import HelperProtocol

/// Descriptor-relative file work inside one user's home, done with the user's credentials.
///
/// Every path is a single name resolved from a directory descriptor with `O_NOFOLLOW`;
/// nothing is opened by a path built from the user name or `$HOME`. An existing target is
/// never opened for writing: new content goes to a fresh temp file (`O_CREAT|O_EXCL`,
/// mode 600) that is renamed over the target. Removal is `unlinkat`, which removes a
/// symbolic link itself and never follows it.
struct DirectoryHandle {
    let fd: Int32
    let device: UInt64
    let inode: UInt64
    /// The permission bits when it was opened (`HomeIO.mode(of:)` reads them again).
    let openedMode: mode_t

    func close() { _ = Glibc.close(fd) }
}

/// Permission bits as four octal digits.
func octal(_ mode: mode_t) -> String {
    let text = String(mode & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - text.count)) + text
}

func fileTypeText(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: return "is a directory"
    case S_IFLNK: return "is a symbolic link"
    case S_IFIFO: return "is a FIFO"
    case S_IFSOCK: return "is a socket"
    case S_IFCHR, S_IFBLK: return "is a device"
    default: return "is not a regular file"
    }
}

func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

enum HomeIO {
    /// Largest file the helper reads back to digest it.
    static let readLimit = 4 << 20

    /// Opens the home directory and checks it: a real directory (not a link), owned by the
    /// user, not writable by group or others.
    static func openHome(path: String, account: Account) throws(HelperError) -> DirectoryHandle {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            var info = stat()
            // With O_DIRECTORY, Linux reports a symbolic link as ENOTDIR; tell the two apart.
            if code == ELOOP || (code == ENOTDIR && lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK) {
                throw HelperError("home \(path) is a symbolic link")
            }
            if code == ENOTDIR { throw HelperError("home \(path) is not a directory") }
            throw HelperError("cannot open home \(path): \(errorText(code))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { Glibc.close(fd); throw HelperError("cannot stat home \(path): \(errorText())") }
        if info.st_uid != account.uid {
            Glibc.close(fd)
            throw HelperError("home \(path) is owned by uid \(info.st_uid), not by \(account.name) (uid \(account.uid))")
        }
        if info.st_mode & 0o022 != 0 {
            Glibc.close(fd)
            throw HelperError("home \(path) is writable by group or others (mode \(octal(info.st_mode))); refusing to write there")
        }
        return DirectoryHandle(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), openedMode: info.st_mode & 0o7777)
    }

    /// Opens a subdirectory of `parent` by name without following links.
    /// Returns nil when it does not exist.
    static func openSubdirectory(_ parent: DirectoryHandle, _ name: String, owner: uid_t) throws(HelperError) -> DirectoryHandle? {
        let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            var info = stat()
            // With O_DIRECTORY, Linux reports a symbolic link as ENOTDIR; tell the two apart.
            let isLink = fstatat(parent.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
            if code == ELOOP || (code == ENOTDIR && isLink) {
                throw HelperError("\(name) is a symbolic link; refusing to follow it")
            }
            if code == ENOTDIR { throw HelperError("\(name) is not a directory (it \(fileTypeText(info.st_mode)))") }
            throw HelperError("cannot open \(name): \(errorText(code))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { Glibc.close(fd); throw HelperError("cannot stat \(name): \(errorText())") }
        guard info.st_uid == owner else {
            Glibc.close(fd)
            throw HelperError("\(name) is owned by uid \(info.st_uid), not by the user")
        }
        return DirectoryHandle(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), openedMode: info.st_mode & 0o7777)
    }

    /// The mode bits of an open directory.
    static func mode(of directory: DirectoryHandle) -> mode_t {
        var info = stat()
        return fstat(directory.fd, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    /// What `name` in `directory` is: absent, a safe regular file (with its digest), or unsafe.
    /// `digest` false skips reading the file (used when only its presence matters).
    static func state(in directory: DirectoryHandle, _ name: String, owner: uid_t, digest: Bool = true) -> FileState {
        let fd = openat(directory.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: return .absent
            case ELOOP: return .unsafe("is a symbolic link")
            case ENXIO: return .unsafe("is a socket or device")
            case EACCES: return .unsafe("cannot be read with the user's permissions")
            default: return .unsafe("cannot be opened: \(errorText(code))")
            }
        }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .unsafe("cannot be examined: \(errorText())") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .unsafe(fileTypeText(info.st_mode)) }
        guard info.st_uid == owner else { return .unsafe("is owned by uid \(info.st_uid), not by the user") }
        guard info.st_nlink == 1 else { return .unsafe("has \(info.st_nlink) hard links") }
        guard info.st_size <= readLimit else { return .unsafe("is larger than \(readLimit) bytes") }
        let mode = octal(info.st_mode)
        guard digest else { return .present(nil, mode: mode) }
        guard let sha = digestOf(fd, size: Int(info.st_size)) else { return .unsafe("cannot be read: \(errorText())") }
        return .present(sha, mode: mode)
    }

    /// Largest read buffer: a file larger than this is read in chunks of this size.
    static let chunkSize = 1 << 16

    /// SHA-256 of an open regular file's contents, read in chunks; nil on a read error or
    /// past `readLimit`. `size` (from fstat) lets a file be read in one call: each read asks
    /// for one byte more than should remain, so a short read is the end of the file (for a
    /// regular file a read returns less than asked only there) and no extra read is needed
    /// to see it; a file that grew meanwhile is simply read on. The buffer belongs to the
    /// call and is no larger than the file needs (managed files are a few KiB): a small
    /// allocation costs less than the read, and nothing is shared between calls.
    private static func digestOf(_ fd: Int32, size: Int) -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(size, 0) + 1, chunkSize), alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var total = 0
        while true {
            let want = min(buffer.count, max(size - total, 0) + 1)
            let n = read(fd, buffer.baseAddress, want)
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            total += n
            if total > readLimit { return nil }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            if n < want { break }
        }
        return SHA256.hexString(hasher.finalize())
    }

    /// Writes `bytes` to a new file `name` (which must not exist), mode 600, not yet synced.
    static func createFile(in directory: DirectoryHandle, _ name: String, _ bytes: [UInt8]) throws(HelperError) {
        // A temp file left by a crashed run is removed first (unlinkat never follows a link).
        if unlinkat(directory.fd, name, 0) != 0 && errno != ENOENT {
            throw HelperError("cannot remove stale \(name): \(errorText())")
        }
        let fd = openat(directory.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HelperError("cannot create \(name): \(errorText())") }
        var written = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += n
            }
        }
        if failure == 0 && fchmod(fd, 0o600) != 0 { failure = errno }
        Glibc.close(fd)
        if failure != 0 {
            unlinkat(directory.fd, name, 0)
            throw HelperError("cannot write \(name): \(errorText(failure))")
        }
    }

    /// Renames `from` over `to` inside one directory.
    static func rename(in directory: DirectoryHandle, _ from: String, _ to: String) throws(HelperError) {
        guard renameat(directory.fd, from, directory.fd, to) == 0 else {
            let code = errno
            unlinkat(directory.fd, from, 0)
            throw HelperError("cannot replace \(to): \(errorText(code))")
        }
    }

    /// Removes a name (a file or a symbolic link, never a directory, never following a link).
    static func remove(in directory: DirectoryHandle, _ name: String) throws(HelperError) {
        guard unlinkat(directory.fd, name, 0) == 0 || errno == ENOENT else {
            throw HelperError("cannot remove \(name): \(errorText())")
        }
    }

    /// The names in a directory (without `.` and `..`).
    static func names(in directory: DirectoryHandle) throws(HelperError) -> [String] {
        let copy = dup(directory.fd)
        guard copy >= 0, let stream = fdopendir(copy) else {
            throw HelperError("cannot list directory: \(errorText())")
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
