#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open directory (a descriptor), for working below it without following links: every
/// name is looked up in this directory itself (`openat`, `fstatat`, `renameat`,
/// `unlinkat`), so a directory or file swapped for a symbolic link on the way is refused,
/// never followed. Closed when the value is deinitialised.
///
/// Names are one component (no `/`) given as bytes, so a name that is not valid UTF-8 can
/// be examined too: pass `name.utf8` for a `String`.
public final class Directory {
    /// The path the directory was opened by (joined to its parent's, for a subdirectory);
    /// failures name it.
    public let path: String
    private let descriptor: Int32

    /// Opens the directory at `path`, following a symbolic link to it.
    ///
    /// - throws: `.system` with the errno of `open`: ``Errno/noSuchFile``,
    ///   ``Errno/notDirectory``, ``Errno/permissionDenied``, ...
    public convenience init(path: String) throws(PlatformError) {
        try self.init(at: AT_FDCWD, name: Array(path.utf8CString), shown: path, followLink: true)
    }

    private init(at parent: Int32, name: [CChar], shown: String, followLink: Bool) throws(PlatformError) {
        let descriptor = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followLink ? 0 : O_NOFOLLOW))
        guard descriptor >= 0 else { throw .current("open", shown) }
        self.path = shown
        self.descriptor = descriptor
    }

    deinit { _ = close(descriptor) }

    /// Opens the subdirectory `name`; a symbolic link there fails with
    /// ``Errno/tooManySymbolicLinks`` (or ``Errno/notDirectory``), never followed.
    public func openDirectory(named name: some Collection<UInt8>) throws(PlatformError) -> Directory {
        try Directory(at: descriptor, name: cName(name), shown: child(name), followLink: false)
    }

    /// Opens the file `name` in this directory, like ``OpenFile/init(path:access:creating:nonBlocking:)``
    /// (never following a link there).
    public func openFile(named name: some Collection<UInt8>, access: OpenFile.Access,
                         creating: OpenFile.Creation = .never, nonBlocking: Bool = false) throws(PlatformError) -> OpenFile {
        try OpenFile(at: descriptor, name: cName(name), shown: child(name), access: access, creating: creating,
                     nonBlocking: nonBlocking)
    }

    /// The facts about `name` in this directory, about a link itself rather than its
    /// target (`fstatat` with `AT_SYMLINK_NOFOLLOW`). `name` may be a relative path with
    /// `/`, such as `sub/.git`; then only its last component is not followed.
    public func info(of name: some Collection<UInt8>) throws(PlatformError) -> FileInfo {
        var info = stat()
        guard fstatat(descriptor, cName(name), &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw .current("examine", child(name)) }
        return FileInfo(info)
    }

    /// Renames `name` to `newName` in this directory (`renameat`), replacing a file that
    /// `newName` names, at once: a reader sees the old file or the new.
    public func rename(_ name: some Collection<UInt8>, to newName: some Collection<UInt8>) throws(PlatformError) {
        guard renameat(descriptor, cName(name), descriptor, cName(newName)) == 0 else { throw .current("rename", child(name)) }
    }

    /// Removes the file (not a directory) `name` from this directory (`unlinkat`).
    public func remove(_ name: some Collection<UInt8>) throws(PlatformError) {
        guard unlinkat(descriptor, cName(name), 0) == 0 else { throw .current("remove", child(name)) }
    }

    /// Waits until the directory's entries (creations, renames) are on the disk (`fsync`).
    public func sync() throws(PlatformError) {
        guard fsync(descriptor) == 0 else { throw .current("sync the directory", path) }
    }

    /// The names in the directory, without `.` and `..`, in no particular order, read from
    /// the system as they are iterated (a large directory is never held in memory at once).
    ///
    /// - throws: `.system` when the directory cannot be listed.
    public func names() throws(PlatformError) -> Listing {
        let copy = dup(descriptor)
        guard copy >= 0 else { throw .current("list", path) }
        guard let stream = fdopendir(copy) else {
            let failure = PlatformError.current("list", path)
            _ = close(copy)
            throw failure
        }
        rewinddir(stream)
        return Listing(stream)
    }

    /// The names of a directory as raw bytes, one at a time (`readdir`).
    public final class Listing: Sequence, IteratorProtocol {
        #if canImport(Darwin)
        fileprivate typealias Stream = UnsafeMutablePointer<DIR>
        #else
        fileprivate typealias Stream = OpaquePointer
        #endif

        private let stream: Stream

        fileprivate init(_ stream: Stream) { self.stream = stream }

        deinit { closedir(stream) }

        /// The next name, or nil after the last.
        public func next() -> [UInt8]? {
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                if name != [0x2E] && name != [0x2E, 0x2E] { return name }
            }
            return nil
        }
    }

    private func child(_ name: some Collection<UInt8>) -> String {
        (path == "/" ? "/" : path + "/") + String(decoding: name, as: UTF8.self)
    }
}

/// `name` as the C string a system call takes: its bytes as they are (a `String` would
/// replace those that are not UTF-8) and a NUL.
private func cName(_ name: some Collection<UInt8>) -> [CChar] {
    name.map { CChar(bitPattern: $0) } + [0]
}
