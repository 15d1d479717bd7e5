import Platform

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
        let file: OpenFile
        do {
            file = try OpenFile(path: path, access: .write, creating: .exclusive(permissions: 0o600))
            created = true
        } catch {
            guard error.errno == .exists else { throw openError(path, error, creating: true) }
            try checkNotSymlinkOrSpecial(path)
            file = try openForReading(path)
        }
        let info = try regularInfo(file, path)
        if created {
            // The umask may have removed owner bits; make the mode exactly 0600.
            try restrict(file, path)
        } else if info.permissions & 0o077 != 0 {
            try restrict(file, path)
            notices.append("database \(path) had mode \(octal(info.permissions)); restricted it to 0600 "
                + "(the API keys in it may have been readable by other users)")
        }
        for suffix in ["-wal", "-shm"] {
            try prepareCompanion(path + suffix, notices: &notices)
        }
        return Identity(info)
    }

    /// Looks at `path` for reading: `.missing` when nothing is there (the directory must
    /// exist), the file's identity when it is a regular file; an error otherwise. Changes
    /// nothing.
    static func lookupForReading(_ path: String) throws(LiveStoreError) -> Lookup {
        do {
            _ = try FileInfo(path: path, followLinks: false)
        } catch {
            guard error.errno == .noSuchFile else { throw openError(path, error, creating: false) }
            let dir = directory(of: path)
            guard (try? FileInfo(path: dir))?.kind == .directory else {
                throw LiveStoreError("cannot read database \(path): directory \(dir) does not exist")
            }
            return .missing
        }
        try checkNotSymlinkOrSpecial(path)
        let info = try regularInfo(openForReading(path), path)
        for suffix in ["-wal", "-shm"] {
            try checkNotSymlinkOrSpecial(path + suffix, missingOK: true)
        }
        return .present(Identity(info))
    }

    /// After SQLite opened `path`: the path must still name the file that was checked.
    static func verify(_ path: String, is identity: Identity) throws(LiveStoreError) {
        guard let info = try? FileInfo(path: path, followLinks: false), info.kind == .regular, Identity(info) == identity else {
            throw LiveStoreError("database \(path) was replaced while it was being opened; refusing to use it")
        }
    }

    // MARK: - Helpers

    private static func prepareCompanion(_ path: String, notices: inout [String]) throws(LiveStoreError) {
        guard try checkNotSymlinkOrSpecial(path, missingOK: true) else { return }
        let file = try openForReading(path)
        let info = try regularInfo(file, path)
        if info.permissions & 0o077 != 0 {
            try restrict(file, path)
            notices.append("database file \(path) had mode \(octal(info.permissions)); restricted it to 0600")
        }
    }

    /// Opens `path` read-only, never following a link and never waiting (a FIFO).
    private static func openForReading(_ path: String) throws(LiveStoreError) -> OpenFile {
        do { return try OpenFile(path: path, access: .read, nonBlocking: true) } catch {
            throw openError(path, error, creating: false)
        }
    }

    /// The facts about the open `file`, which must be a regular file.
    private static func regularInfo(_ file: OpenFile, _ path: String) throws(LiveStoreError) -> FileInfo {
        let info: FileInfo
        do { info = try file.info() } catch { throw openError(path, error, creating: false) }
        guard info.kind == .regular else { throw notRegular(path) }
        return info
    }

    /// Sets the mode of the open `file` to exactly 0600.
    private static func restrict(_ file: OpenFile, _ path: String) throws(LiveStoreError) {
        do { try file.setPermissions(0o600) } catch {
            throw LiveStoreError("cannot restrict the mode of database \(path) to 0600: \(error.reason)")
        }
    }

    /// Refuses a symbolic link or a non-regular file at `path`. Returns whether something
    /// exists there (only when `missingOK`; otherwise a missing file is an error).
    @discardableResult
    private static func checkNotSymlinkOrSpecial(_ path: String, missingOK: Bool = false) throws(LiveStoreError) -> Bool {
        let info: FileInfo
        do { info = try FileInfo(path: path, followLinks: false) } catch {
            if error.errno == .noSuchFile && missingOK { return false }
            throw openError(path, error, creating: false)
        }
        switch info.kind {
        case .regular: return true
        case .symbolicLink:
            throw LiveStoreError("database \(path) is a symbolic link; refusing to follow it (use the real path)")
        default: throw notRegular(path)
        }
    }

    private static func notRegular(_ path: String) -> LiveStoreError {
        LiveStoreError("database \(path) is not a regular file")
    }

    private static func openError(_ path: String, _ error: PlatformError, creating: Bool) -> LiveStoreError {
        switch error.errno {
        case .noSuchFile?, .notDirectory?:
            let dir = directory(of: path)
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): directory \(dir) does not exist")
        case .tooManySymbolicLinks?:
            return LiveStoreError("database \(path) is a symbolic link; refusing to follow it (use the real path)")
        case .permissionDenied?, .notPermitted?:
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): permission denied")
        default:
            return LiveStoreError("cannot \(creating ? "create" : "open") database \(path): \(error.reason)")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    private static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension DatabaseFile.Identity {
    init(_ info: FileInfo) { self.init(device: info.device, inode: info.inode) }
}
