import AccessModel
import StrictYAML

/// The outcome of loading a repository revision.
public struct LoadResult: Sendable {
    /// Where the files came from.
    public var origin: RepoOrigin
    /// The validated desired state; nil when any error was found.
    public var state: DesiredState?
    /// Every error and warning, sorted by path and position.
    public var diagnostics: [Diagnostic]
    /// How many entity files (YAML) were read.
    public var fileCount: Int

    public var isValid: Bool { state != nil }
}

/// Loads and validates the desired state from a repository source.
///
/// Everything that can be reported is reported in one run: syntax and strictness problems
/// of each file, type and shape errors of each key, then cross-file rules (references,
/// uniqueness, system groups, policy), so an admin sees every problem of a pull request at once.
public enum DesiredStateLoader {
    /// Largest accepted YAML file.
    public static let maxFileBytes = 1 << 20
    /// Largest accepted skill file.
    public static let maxSkillBytes = 256 << 10

    static let entityDirectories = ["services", "users", "groups", "catalogs"]

    package enum FileKind {
        case config
        case service(String)
        case user(String)
        case group(String)
        /// `catalogs/<type>.yaml`: the known ids of one resource type (see Catalogs.swift).
        case catalog(String)
    }

    /// Reads, parses and validates every file of `source`.
    /// Throws only when the source itself cannot be read (missing repository, unknown ref).
    public static func load(from source: RepoSource) throws(RepoReadError) -> LoadResult {
        let entries = try source.entries()
        var diagnostics: [Diagnostic] = []
        var files: [String: RepoEntry] = [:]
        var yaml: [(RepoEntry, FileKind)] = []
        var unknownYAML: [String] = []
        for entry in entries {
            switch entry.kind {
            case .symlink:
                diagnostics.append(fileError(entry.path, "symbolic links are not allowed in the repository; commit the file itself"))
                continue
            case .submodule:
                diagnostics.append(fileError(entry.path, "submodules are not allowed in the repository"))
                continue
            case .special:
                diagnostics.append(fileError(entry.path, "not a regular file (FIFO, socket or device)"))
                continue
            case .invalidName:
                diagnostics.append(fileError(entry.path, "file name is not valid UTF-8; rename it"))
                continue
            case .regular:
                files[entry.path] = entry
            }
            switch classify(entry.path) {
            case .ignored: break
            case .unknown(let message):
                diagnostics.append(fileError(entry.path, message))
                let lowered = entry.path.lowercased()
                if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") { unknownYAML.append(entry.path) }
            case .entity(let kind): yaml.append((entry, kind))
            }
        }

        var validator = Validator()
        var catalogs = Catalogs()
        var sawConfig = false
        // Services first: their key prefixes are looked for in every file (the order of
        // decoding changes nothing else; diagnostics are sorted at the end).
        let services = yaml.filter { if case .service = $0.1 { true } else { false } }
        let others = yaml.filter { if case .service = $0.1 { false } else { true } }
        var serviceBytes: [(String, [UInt8])] = []
        for (entry, kind) in services {
            if let bytes = try decode(entry, kind, source: source, validator: &validator, catalogs: &catalogs,
                                      into: &diagnostics) {
                serviceBytes.append((entry.path, bytes))
            }
        }
        validator.keyPrefixes = validator.services.compactMap { service in
            service.keyPrefix.map { SecretScan.KeyPrefix(prefix: Array($0.utf8), service: service.id) }
        }
        for (path, bytes) in serviceBytes {
            diagnostics += SecretScan.diagnostics(path: path, bytes: bytes, markdown: false, prefixes: validator.keyPrefixes,
                                                  values: &validator.secretValues)
        }
        for (entry, kind) in others {
            if case .config = kind { sawConfig = true }
            if let bytes = try decode(entry, kind, source: source, validator: &validator, catalogs: &catalogs,
                                      into: &diagnostics) {
                diagnostics += SecretScan.diagnostics(path: entry.path, bytes: bytes, markdown: false,
                                                      prefixes: validator.keyPrefixes, values: &validator.secretValues)
            }
        }
        // Unknown YAML files are errors already; a key in one is named too, since it is in
        // the pull request (and so in the history) all the same.
        for path in unknownYAML {
            guard let entry = files[path], try source.size(of: entry) <= maxFileBytes else { continue }
            diagnostics += SecretScan.diagnostics(path: path, bytes: try source.read(entry), markdown: false,
                                                  prefixes: validator.keyPrefixes, values: &validator.secretValues)
        }
        if !sawConfig {
            diagnostics.append(fileError("accessctl.yaml", "required file is missing: it sets the format version (version: 1) and repository policy"))
        }

        var state: DesiredState?
        if validator.config.versionOK {
            // Cross-file rules only make sense once the format version is known.
            state = validator.validate(files: files, source: source, into: &diagnostics)
            let known = catalogs.check(config: validator.config, groups: validator.groups, into: &diagnostics)
            state?.catalogs = known
        }
        if !validator.secretValues.isEmpty { mask(validator.secretValues, in: &diagnostics) }
        diagnostics.sort()
        if diagnostics.contains(where: { $0.severity == .error }) { state = nil }
        return LoadResult(origin: source.origin, state: state, diagnostics: diagnostics, fileCount: yaml.count)
    }

    /// Reads, parses and decodes one entity file into `validator`; returns its bytes when
    /// they were read (for the secret scan).
    ///
    /// A file that is too large, or whose YAML has any problem, is not decoded: its YAML
    /// problems are reported, and the entity counts as present but unreadable so that
    /// references to it and rules that need it do not add follow-on errors.
    private static func decode(_ entry: RepoEntry, _ kind: FileKind, source: RepoSource, validator: inout Validator,
                               catalogs: inout Catalogs, into diagnostics: inout [Diagnostic]) throws(RepoReadError) -> [UInt8]? {
        var root: Node?
        var readable = false
        var bytes: [UInt8]?
        let size = try source.size(of: entry)
        if size > maxFileBytes {
            diagnostics.append(fileError(entry.path, "file is \(size) bytes; the limit is \(maxFileBytes) bytes (1 MiB)"))
        } else {
            let read = try source.read(entry)
            let document = StrictYAML.parse(read, limits: Limits(maxBytes: maxFileBytes))
            for problem in document.problems {
                diagnostics.append(Diagnostic(path: entry.path, line: problem.mark.line, column: problem.mark.column,
                                              severity: .error, message: problem.message))
            }
            root = document.root
            readable = document.problems.isEmpty
            bytes = read
        }
        var d = FileDiagnostics(path: entry.path)
        switch kind {
        case .config:
            if readable { validator.config = Decoders.config(root, into: &d) }
        case .service(let id):
            if readable, let service = Decoders.service(id: id, path: entry.path, root, into: &d) {
                validator.services.append(service)
            } else {
                validator.unreadable.services.insert(id)
            }
        case .user(let id):
            if readable, let user = Decoders.user(id: id, path: entry.path, root, into: &d) {
                validator.users.append(user)
            } else {
                validator.unreadable.users.insert(id)
            }
        case .group(let id):
            if readable, let group = Decoders.group(id: id, path: entry.path, root, into: &d) {
                validator.groups.append(group)
            } else {
                validator.unreadable.groups.insert(id)
            }
        case .catalog(let type):
            catalogs.decode(type: type, path: entry.path, readable ? root : nil, readable: readable, into: &d)
        }
        diagnostics += d.items
        return bytes
    }

    /// Masks every found secret in the other messages (an unknown service named by a key
    /// that matched the id pattern, say), so no message repeats one.
    private static func mask(_ secrets: Set<String>, in diagnostics: inout [Diagnostic]) {
        let masks = secrets.sorted { $0.utf8.count > $1.utf8.count }.map { ($0, Masked.describe($0)) }
        for index in diagnostics.indices {
            var message = diagnostics[index].message
            for (secret, masked) in masks where message.contains(secret) {
                message = message.replacing("'\(secret)'", with: masked).replacing(secret, with: masked)
            }
            diagnostics[index].message = message
        }
    }

    static func fileError(_ path: String, _ message: String) -> Diagnostic {
        Diagnostic(path: path, severity: .error, message: message)
    }

    package enum Classification {
        case ignored
        case unknown(String)
        case entity(FileKind)
    }

    /// Decides what a path is: an entity file, a file to ignore, or an unknown YAML file.
    package static func classify(_ path: String) -> Classification {
        // Extensions are compared ignoring case: `x.YAML` is a YAML file with a wrong name,
        // not a file to ignore.
        let lowered = path.lowercased()
        guard lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") else { return .ignored }
        let isYAML = path.hasSuffix(".yaml")
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let fileName = parts[parts.count - 1]
        let stem = String(fileName.dropLast(lowered.hasSuffix(".yaml") ? 5 : 4))
        if parts.count == 1 {
            if isYAML && stem == "accessctl" { return .entity(.config) }
            if Suggest.closest(to: stem, in: ["accessctl"]) != nil {
                return .unknown("unknown file; did you mean 'accessctl.yaml'?")
            }
            return .unknown("unknown file: entity files belong in services/, users/, groups/ or catalogs/ (one per file); other YAML files are not allowed outside dot-directories")
        }
        let directory = parts[0]
        if entityDirectories.contains(directory) {
            if parts.count > 2 {
                return .unknown("unknown file: files in \(directory)/ sit directly in it, not in subdirectories; did you mean '\(directory)/\(stem).yaml'?")
            }
            if !isYAML {
                return .unknown("unknown file: use the .yaml extension; did you mean '\(directory)/\(stem).yaml'?")
            }
            return entity(directory: directory, stem: stem)
        }
        if let suggestion = Suggest.closest(to: directory, in: entityDirectories) {
            return .unknown("unknown file; did you mean '\(suggestion)/\(stem).yaml'?")
        }
        return .unknown("unknown file: entity files belong in services/, users/, groups/ or catalogs/ (one per file); other YAML files are not allowed outside dot-directories")
    }

    private static func entity(directory: String, stem: String) -> Classification {
        let (pattern, noun, kind): (Rules.Pattern, String, FileKind) = switch directory {
        case "services": (Rules.serviceID, "service id", .service(stem))
        case "users": (Rules.userID, "user id", .user(stem))
        case "catalogs": (Rules.resourceType, "resource type", .catalog(stem))
        default: (Rules.groupID, "group name", .group(stem))
        }
        guard pattern.matches(stem) else {
            return .unknown("the file name gives the \(noun) '\(stem)', which must match \(pattern.source)\(Rules.nonASCIINote(stem)); rename the file")
        }
        return .entity(kind)
    }
}
