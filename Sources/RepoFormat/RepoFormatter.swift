#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AccessModel
import StrictYAML
import DesiredRepo

/// A file whose bytes are not in canonical layout.
public struct FormattedFile: Sendable, Hashable {
    /// Repository-relative, `/`-separated.
    public var path: String
    public var original: [UInt8]
    public var formatted: [UInt8]
    /// Whether the canonical bytes were written (always false when checking).
    public var written: Bool
}

/// The outcome of `accessctl fmt` over a working directory.
public struct FormatReport: Sendable {
    /// Files that are not canonical, sorted by path (in write mode: those rewritten, and those
    /// whose write failed, with a diagnostic).
    public var changed: [FormattedFile] = []
    /// Files that could not be formatted (syntax errors, refused comments, symbolic links,
    /// failed writes), sorted by path and position.
    public var diagnostics: [Diagnostic] = []
    /// How many YAML files were examined.
    public var fileCount = 0
}

/// `accessctl fmt`: canonical layout for every YAML file of a working directory (the files
/// the directory loader reads: accessctl.yaml, services/, users/, groups/ and catalogs/ `*.yaml`; never
/// dot-paths or other files).
///
/// Each file is formatted on its own (``FileFormatter``); one that fails is reported and
/// left untouched while the others go on. Writes replace a file atomically (a temporary file
/// in the same directory, renamed over it), keep its permission bits, never follow a
/// symbolic link, and happen only when the bytes change.
public enum RepoFormatter {
    /// Formats the repository in `directory`; with `write` false nothing is written (`--check`).
    /// Throws only when the directory itself cannot be read.
    public static func format(directory: String, write: Bool) throws(RepoReadError) -> FormatReport {
        let source = try DirectorySource(path: directory)
        let listing = try source.entries()
        var report = FormatReport()
        var files: [RepoEntry] = []
        for entry in listing {
            guard case .entity = DesiredStateLoader.classify(entry.path) else { continue }
            switch entry.kind {
            case .regular:
                files.append(entry)
            case .symlink:
                report.diagnostics.append(error(entry.path, "cannot format: a symbolic link; fmt formats only regular files and never follows links"))
            case .special, .submodule:
                report.diagnostics.append(error(entry.path, "cannot format: not a regular file"))
            case .invalidName:
                report.diagnostics.append(error(entry.path, "cannot format: the file name is not valid UTF-8"))
            }
        }
        report.fileCount = files.count + report.diagnostics.count

        let tree = DirectoryHandles(root: directory)
        defer { tree.close() }
        var contents: [String: (bytes: [UInt8], info: stat)] = [:]
        func load(_ entry: RepoEntry) -> (bytes: [UInt8], info: stat)? {
            if let cached = contents.removeValue(forKey: entry.path) { return cached }
            do {
                return try tree.read(entry.path, limit: FileFormatter.maxBytes)
            } catch {
                report.diagnostics.append(self.error(entry.path, error.message))
                return nil
            }
        }
        // Grant types are ordered as accessctl.yaml lists them.
        var resourceTypes: [String]?
        if let config = files.first(where: { $0.path == "accessctl.yaml" }), let loaded = load(config) {
            contents[config.path] = loaded
            resourceTypes = Self.resourceTypes(loaded.bytes)
        }

        for entry in files {
            guard let loaded = load(entry) else { continue }
            let bytes = loaded.bytes, info = loaded.info
            switch FileFormatter.format(bytes, path: entry.path, resourceTypes: resourceTypes) {
            case .leftAsIs:
                continue
            case .failed(let diagnostics):
                report.diagnostics += diagnostics
            case .formatted(let output):
                guard output != bytes else { continue }
                var file = FormattedFile(path: entry.path, original: bytes, formatted: output, written: false)
                if write {
                    do {
                        try tree.replace(entry.path, with: output, expecting: info)
                        file.written = true
                    } catch {
                        report.diagnostics.append(self.error(entry.path, error.message))
                    }
                }
                report.changed.append(file)
            }
        }
        report.diagnostics.sort()
        return report
    }

    /// `resource_types` of accessctl.yaml: its list when readable, `[service]` (the default)
    /// when absent, nil when the file or the key cannot be read (grant types then sort).
    static func resourceTypes(_ bytes: [UInt8]) -> [String]? {
        let document = StrictYAML.parse(bytes, limits: Limits(maxBytes: FileFormatter.maxBytes))
        guard document.problems.isEmpty, case .mapping(let root)? = document.root else { return nil }
        guard let entry = root.entry("resource_types") else { return ["service"] }
        guard case .sequence(let list) = entry.value else { return nil }
        var types: [String] = []
        for item in list.items {
            guard case .scalar(let s) = item, case .string(let text) = s.value else { return nil }
            if !types.contains(text) { types.append(text) }
        }
        return types
    }

    private static func error(_ path: String, _ message: String) -> Diagnostic {
        Diagnostic(path: path, severity: .error, message: message)
    }
}

/// Reads and replaces files below a root directory through directory descriptors opened
/// with `O_NOFOLLOW`, so neither a directory nor the file itself may be a symbolic link.
private final class DirectoryHandles {
    struct Failure: Error { var message: String }

    let root: String
    private var descriptors: [String: Int32] = [:]

    init(root: String) { self.root = root }

    func close() {
        for fd in descriptors.values { _ = Glibc.close(fd) }
        descriptors = [:]
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }

    /// The descriptor of the directory holding `path`, and the file's name in it.
    private func directory(of path: String) throws(Failure) -> (fd: Int32, name: String) {
        var parts = path.split(separator: "/").map(String.init)
        let name = parts.removeLast()
        var key = ""
        var fd: Int32
        if let cached = descriptors[key] {
            fd = cached
        } else {
            fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(message: "cannot open \(root): \(Self.errorText())") }
            descriptors[key] = fd
        }
        for part in parts {
            key += "/" + part
            if let cached = descriptors[key] { fd = cached; continue }
            let child = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw Failure(message: "cannot open directory \(key.dropFirst()): \(Self.errorText())") }
            descriptors[key] = child
            fd = child
        }
        return (fd, name)
    }

    func read(_ path: String, limit: Int) throws(Failure) -> (bytes: [UInt8], info: stat) {
        let (dir, name) = try directory(of: path)
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw Failure(message: "cannot format: a symbolic link; fmt formats only regular files and never follows links") }
            throw Failure(message: "cannot read: \(Self.errorText())")
        }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw Failure(message: "cannot format: not a regular file")
        }
        guard Int(info.st_size) <= limit else {
            throw Failure(message: "file is \(info.st_size) bytes; the limit is \(limit) bytes (1 MiB)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress! + filled, raw.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        guard filled == bytes.count else { throw Failure(message: "cannot read: the file changed size while being read") }
        return (bytes, info)
    }

    /// Replaces `path` with `bytes`: a temporary file beside it with the same permission bits
    /// (and owner, when allowed), renamed over it. Refused when the path is no longer the
    /// regular file that was read (replaced, or modified since).
    ///
    /// The rename makes the change atomic for readers. There is no fsync: these are working-tree
    /// files that `fmt` can produce again (and git holds the originals), and syncing every one
    /// would make formatting a large repository take seconds instead of a fraction of one.
    func replace(_ path: String, with bytes: [UInt8], expecting original: stat) throws(Failure) {
        let (dir, name) = try directory(of: path)
        var temporary = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            temporary = ".\(name).fmt-\(getpid())-\(attempt)"
            fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw Failure(message: "cannot write: cannot create a temporary file: \(Self.errorText())") }
        var ok = false
        defer {
            if !ok { unlinkat(dir, temporary, 0) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + written, raw.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let message = Self.errorText()
                _ = Glibc.close(fd)
                throw Failure(message: "cannot write: \(message)")
            }
            written += n
        }
        if original.st_uid != geteuid() || original.st_gid != getegid() {
            _ = fchown(fd, original.st_uid, original.st_gid)
        }
        let moded = fchmod(fd, original.st_mode & 0o7777) == 0
        let message = Self.errorText()
        _ = Glibc.close(fd)
        guard moded else { throw Failure(message: "cannot write: \(message)") }
        // The file must still be the one that was read: same inode, size and modification time.
        var now = stat()
        guard fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0, now.st_mode & S_IFMT == S_IFREG,
              now.st_ino == original.st_ino, now.st_dev == original.st_dev, now.st_size == original.st_size,
              now.st_mtim.tv_sec == original.st_mtim.tv_sec, now.st_mtim.tv_nsec == original.st_mtim.tv_nsec else {
            throw Failure(message: "cannot write: the file changed while it was being formatted; run fmt again")
        }
        guard renameat(dir, temporary, dir, name) == 0 else { throw Failure(message: "cannot write: \(Self.errorText())") }
        ok = true
    }
}
