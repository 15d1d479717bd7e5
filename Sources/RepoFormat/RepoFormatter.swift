import AccessModel
import StrictYAML
import DesiredRepo
import Platform

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
        var contents: [String: (bytes: [UInt8], info: FileInfo)] = [:]
        func load(_ entry: RepoEntry) -> (bytes: [UInt8], info: FileInfo)? {
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
    private var directories: [String: Directory] = [:]

    init(root: String) { self.root = root }

    /// The directory holding `path`, and the file's name in it.
    private func directory(of path: String) throws(Failure) -> (directory: Directory, name: String) {
        var parts = path.split(separator: "/").map(String.init)
        let name = parts.removeLast()
        var key = ""
        var directory: Directory
        if let cached = directories[key] {
            directory = cached
        } else {
            do { directory = try Directory(path: root) } catch { throw Failure(message: "cannot open \(root): \(error.reason)") }
            directories[key] = directory
        }
        for part in parts {
            key += "/" + part
            if let cached = directories[key] { directory = cached; continue }
            do { directory = try directory.openDirectory(named: part.utf8) } catch {
                throw Failure(message: "cannot open directory \(key.dropFirst()): \(error.reason)")
            }
            directories[key] = directory
        }
        return (directory, name)
    }

    func read(_ path: String, limit: Int) throws(Failure) -> (bytes: [UInt8], info: FileInfo) {
        let (directory, name) = try self.directory(of: path)
        let file: OpenFile
        do { file = try directory.openFile(named: name.utf8, access: .read, nonBlocking: true) } catch {
            if error.errno == .tooManySymbolicLinks {
                throw Failure(message: "cannot format: a symbolic link; fmt formats only regular files and never follows links")
            }
            throw Failure(message: "cannot read: \(error.reason)")
        }
        guard let info = try? file.info(), info.kind == .regular else {
            throw Failure(message: "cannot format: not a regular file")
        }
        guard info.size <= Int64(limit) else {
            throw Failure(message: "file is \(info.size) bytes; the limit is \(limit) bytes (1 MiB)")
        }
        let bytes: [UInt8]
        do { bytes = try file.read(upTo: Int(info.size)) } catch { throw Failure(message: "cannot read: \(error.reason)") }
        guard bytes.count == Int(info.size) else { throw Failure(message: "cannot read: the file changed size while being read") }
        return (bytes, info)
    }

    /// Replaces `path` with `bytes`: a temporary file beside it with the same permission bits
    /// (and owner, when allowed), renamed over it. Refused when the path is no longer the
    /// regular file that was read (replaced, or modified since).
    ///
    /// The rename makes the change atomic for readers. There is no fsync: these are working-tree
    /// files that `fmt` can produce again (and git holds the originals), and syncing every one
    /// would make formatting a large repository take seconds instead of a fraction of one.
    func replace(_ path: String, with bytes: [UInt8], expecting original: FileInfo) throws(Failure) {
        let (directory, name) = try self.directory(of: path)
        let (file, temporary) = try Self.createTemporary(in: directory, for: name)
        var ok = false
        defer {
            if !ok { try? directory.remove(temporary.utf8) }
        }
        do { try file.write(bytes) } catch { throw Failure(message: "cannot write: \(error.reason)") }
        if original.userID != OS.effectiveUserID || original.groupID != OS.effectiveGroupID {
            try? file.setOwner(userID: original.userID, groupID: original.groupID)
        }
        let moded: PlatformError?
        do { try file.setPermissions(original.permissions); moded = nil } catch { moded = error }
        try? file.close()
        if let moded { throw Failure(message: "cannot write: \(moded.reason)") }
        // The file must still be the one that was read: same inode, size and modification time.
        guard let now = try? directory.info(of: name.utf8), now.kind == .regular,
              now.inode == original.inode, now.device == original.device, now.size == original.size,
              now.modified == original.modified else {
            throw Failure(message: "cannot write: the file changed while it was being formatted; run fmt again")
        }
        do { try directory.rename(temporary.utf8, to: name.utf8) } catch { throw Failure(message: "cannot write: \(error.reason)") }
        ok = true
    }

    /// A new file `.<name>.fmt-<pid>-<n>` in `directory`, opened for writing, mode 0600.
    private static func createTemporary(in directory: Directory, for name: String) throws(Failure) -> (OpenFile, String) {
        var attempt = 0
        while true {
            let temporary = ".\(name).fmt-\(OS.processID)-\(attempt)"
            do {
                return (try directory.openFile(named: temporary.utf8, access: .write, creating: .exclusive(permissions: 0o600)), temporary)
            } catch {
                attempt += 1
                guard error.errno == .exists, attempt < 100 else {
                    throw Failure(message: "cannot write: cannot create a temporary file: \(error.reason)")
                }
            }
        }
    }
}
