import AccessModel
import StrictYAML
import DesiredRepo
import TokenExchange
import TokenProtocol

/// The server configuration (`/etc/accessctl/config.yaml`): where the repository, the
/// database and the helper are. It lives outside the repository, so a pull request cannot
/// change it. Command-line flags override it.
public struct ServerConfig: Sendable, Equatable {
    public static let defaultPath = "/etc/accessctl/config.yaml"
    public static let defaultHelper = ["sudo", "-n", "/usr/local/sbin/install-service-env"]

    /// The desired-state repository (a bare clone is enough).
    public var repository: String?
    public var remote: String?
    /// `ssh_key_file`: the private deploy key an SSH `remote` is fetched with, as written: an
    /// absolute path, or `$CREDENTIALS_DIRECTORY/<name>` (see ``sshKeyFilePath(credentialsDirectory:)``).
    /// Not read with the configuration: a systemd credential exists only while the service runs.
    public var sshKeyFile: String?
    public var branch: String?
    public var database: String?
    /// The helper command; the verb is appended.
    public var helper: [String] = ServerConfig.defaultHelper
    public var allowedSigners: String?
    /// Refuse a plan that removes more than max(minRemoval, maxRemovalPercent %) of the live
    /// memberships, grants or connections.
    public var maxRemovalPercent = 25
    public var minRemoval = 5
    /// Token-exchange client settings.
    public var concurrency = 32
    public var connectTimeoutSeconds = 5
    public var timeoutSeconds = 30
    /// Where each shared secret may be sent; nil when the file does not restrict it.
    public var secretOrigins: SecretOrigins?
    /// `http.ca_file`: the trust roots for the services' TLS certificates, instead of the
    /// system trust store; read and checked with the configuration.
    public var caFile: TrustRoots?
    /// `key_file`: the master key that seals the API keys in the database (32 bytes, a
    /// systemd credential); read when a command needs the keys, not with the configuration.
    public var keyFile: String?
    /// `encryption`: `aes-256-gcm` (the default, which needs `key_file`) or `none`.
    public var encryption: Encryption = .aes256GCM

    /// How the database stores API keys.
    public enum Encryption: String, Sendable, Equatable, CaseIterable {
        case aes256GCM = "aes-256-gcm"
        /// Plain text, chosen explicitly (the database file's mode 0600 is the only protection).
        case none
    }

    public init() {}

    static let keys = ["repository", "remote", "ssh_key_file", "branch", "database", "helper", "allowed_signers", "guards", "http",
                       "secret_origins", "key_file", "encryption"]
    static let guardKeys = ["max_removal_percent", "min_removal"]
    static let httpKeys = ["concurrency", "connect_timeout_seconds", "timeout_seconds", "ca_file"]

    /// Reads a configuration file. A missing file at the default path is an empty
    /// configuration; a missing file named explicitly is an error.
    public static func load(path: String?) throws(ConfigError) -> ServerConfig {
        let file = path ?? defaultPath
        let bytes: [UInt8]
        do {
            bytes = try DirectorySource.readFile(at: file)
        } catch {
            if path == nil && error.isMissing { return ServerConfig() }
            throw ConfigError(diagnostics: [Diagnostic(path: file, severity: .error, message: error.message)])
        }
        return try parse(bytes, path: file)
    }

    /// Parses configuration text; every problem is reported, with its position.
    public static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> ServerConfig {
        let document = StrictYAML.parse(bytes)
        var d = FileDiagnostics(path: path)
        for problem in document.problems { d.error(problem.mark, problem.message) }
        var config = ServerConfig()
        if document.problems.isEmpty, let f = Fields(document.root, context: "the server configuration", known: keys, into: &d) {
            func path(_ key: String, in fields: Fields? = nil) -> Located<String>? {
                guard let value = (fields ?? f).string(key, into: &d) else { return nil }
                guard value.value.hasPrefix("/"), !value.value.split(separator: "/").contains("..") else {
                    d.error(value.mark, "'\(key)' must be an absolute path without '..', not '\(value.value.escapingControlCharacters)'")
                    return nil
                }
                return value
            }
            config.repository = path("repository")?.value
            config.remote = f.string("remote", into: &d)?.value
            config.sshKeyFile = credentialFile("ssh_key_file", example: "git_deploy_key", f, into: &d)
            config.branch = f.string("branch", into: &d)?.value
            config.database = path("database")?.value
            config.allowedSigners = path("allowed_signers")?.value
            config.keyFile = credentialFile("key_file", example: "master-key", f, into: &d)
            if let value = f.string("encryption", into: &d) {
                if let encryption = Encryption(rawValue: value.value) {
                    config.encryption = encryption
                } else {
                    d.error(value.mark, "'encryption' must be aes-256-gcm (with key_file) or none, not '\(value.value.escapingControlCharacters)'")
                }
            }
            if config.encryption == .none, let entry = f.entry("key_file") {
                d.error(entry.value.mark, "'key_file' and 'encryption: none' contradict each other: remove one of them")
            }
            if let branch = config.branch, !branch.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3A && $0 != 0x5C }) || branch.hasPrefix("-") {
                d.error(f.entry("branch")!.value.mark, "'branch' is not a valid branch name")
                config.branch = nil
            }
            if let repository = config.repository, let signers = config.allowedSigners,
               signers == repository || signers.hasPrefix(repository.hasSuffix("/") ? repository : repository + "/") {
                d.error(f.entry("allowed_signers")!.value.mark, "'allowed_signers' must live outside the repository, or a pull request could change who may sign")
            }
            if let helper = f.stringList("helper", pattern: nil, itemName: "argument", into: &d) {
                if helper.items.isEmpty {
                    d.error(helper.mark, "'helper' must name a command")
                } else {
                    config.helper = helper.items.map(\.value)
                }
            }
            if let entry = f.entry("guards"), let guards = Fields(entry.value, context: "'guards'", known: guardKeys, into: &d) {
                if let v = guards.int("max_removal_percent", in: 0...100, into: &d) { config.maxRemovalPercent = v.value }
                if let v = guards.int("min_removal", in: 0...Int(Int32.max), into: &d) { config.minRemoval = v.value }
            }
            if let entry = f.entry("http"), let http = Fields(entry.value, context: "'http'", known: httpKeys, into: &d) {
                if let v = http.int("concurrency", in: 1...256, into: &d) { config.concurrency = v.value }
                if let v = http.int("connect_timeout_seconds", in: 1...600, into: &d) { config.connectTimeoutSeconds = v.value }
                if let v = http.int("timeout_seconds", in: 1...3600, into: &d) { config.timeoutSeconds = v.value }
                if let file = path("ca_file", in: http) {
                    do {
                        config.caFile = try TrustRoots.load(path: file.value)
                    } catch {
                        d.error(file.mark, "'ca_file': \(error.message.escapingControlCharacters)")
                    }
                }
            }
            if let entry = f.entry("secret_origins") { config.secretOrigins = secretOrigins(entry.value, into: &d) }
        }
        if !d.items.isEmpty { throw ConfigError(diagnostics: d.items.sorted()) }
        return config
    }
}

extension ServerConfig {
    /// How `ssh_key_file` and `key_file` name a file of the service's systemd credentials
    /// directory.
    public static let credentialsDirectoryPrefix = "$CREDENTIALS_DIRECTORY/"

    /// A credential file key (`ssh_key_file`, `key_file`): an absolute path without `..`, or
    /// `$CREDENTIALS_DIRECTORY/` and a file name (a credential's name, as in `example`).
    static func credentialFile(_ key: String, example: String, _ f: Fields, into d: inout FileDiagnostics) -> String? {
        guard let value = f.string(key, into: &d) else { return nil }
        let text = value.value
        if text.hasPrefix(credentialsDirectoryPrefix) {
            let name = text.dropFirst(credentialsDirectoryPrefix.count)
            guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
                d.error(value.mark, "'\(key)' must name a credential after $CREDENTIALS_DIRECTORY/, as in "
                    + "$CREDENTIALS_DIRECTORY/\(example), not '\(text.escapingControlCharacters)'")
                return nil
            }
            return text
        }
        guard text.hasPrefix("/"), !text.split(separator: "/").contains("..") else {
            d.error(value.mark, "'\(key)' must be an absolute path without '..' or $CREDENTIALS_DIRECTORY/<name>, "
                + "not '\(text.escapingControlCharacters)'")
            return nil
        }
        return text
    }

    /// The path of a credential file key's `value`, with `$CREDENTIALS_DIRECTORY` replaced by
    /// `credentialsDirectory` (the variable systemd sets for a service with credentials).
    ///
    /// - throws: The message, when the file is in the credentials directory but there is none.
    static func credentialFilePath(_ value: String, key: String, credentialsDirectory: String?) -> Result<String, CredentialPathError> {
        guard value.hasPrefix(credentialsDirectoryPrefix) else { return .success(value) }
        let name = value.dropFirst(credentialsDirectoryPrefix.count)
        guard let directory = credentialsDirectory, directory.hasPrefix("/") else {
            return .failure(CredentialPathError(message: "'\(key)' is \(value), but CREDENTIALS_DIRECTORY is not set: run the "
                + "command from the systemd unit, which loads the credential (LoadCredential=\(name):... or "
                + "LoadCredentialEncrypted=\(name):...), or as docs/operations.md shows for a run by hand"))
        }
        return .success((directory.hasSuffix("/") ? directory : directory + "/") + name)
    }

    /// The path of `ssh_key_file` (see ``credentialFilePath(_:key:credentialsDirectory:)``);
    /// nil when no key file is configured.
    public func sshKeyFilePath(credentialsDirectory: String?) throws(RepoReadError) -> String? {
        guard let sshKeyFile else { return nil }
        switch Self.credentialFilePath(sshKeyFile, key: "ssh_key_file", credentialsDirectory: credentialsDirectory) {
        case .success(let path): return path
        case .failure(let error): throw RepoReadError(error.message)
        }
    }

    /// The path of `key_file` (the master key), resolved the same way; nil when none is configured.
    public func keyFilePath(credentialsDirectory: String?) throws(CredentialPathError) -> String? {
        guard let keyFile else { return nil }
        return try Self.credentialFilePath(keyFile, key: "key_file", credentialsDirectory: credentialsDirectory).get()
    }

    /// `secret_origins`: a mapping from secret names to lists of origins
    /// (`https://host[:port]`, or `http://` to a loopback host).
    static func secretOrigins(_ node: Node, into d: inout FileDiagnostics) -> SecretOrigins? {
        guard case .mapping(let mapping) = node else {
            d.error(node.mark, "'secret_origins' must be a mapping from secret names to lists of origins, not \(node.typeName)")
            return nil
        }
        var allowed: [String: Set<String>] = [:]
        for entry in mapping.entries {
            let name = entry.key.text
            guard Rules.envVar.matches(name) else {
                d.error(entry.key.mark, "'\(name.escapingControlCharacters)' is not a secret name: must match \(Rules.envVar.source)")
                continue
            }
            guard let list = Fields.stringList(entry.value, name: "'secret_origins.\(name)'", pattern: nil, itemName: "origin", into: &d) else {
                continue
            }
            var origins: Set<String> = []
            for item in list.items {
                let text = item.value.hasSuffix("/") ? String(item.value.dropLast()) : item.value
                let authority = text.drop { $0 != ":" }.dropFirst(3)
                if let problem = Rules.urlProblem(text) {
                    d.error(item.mark, "'\(item.value.escapingControlCharacters)' is not an origin: \(problem)")
                } else if authority.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
                    d.error(item.mark, "'\(item.value)' is not an origin: write only the scheme, host and port, as in https://crm.example.com:8443")
                } else if let origin = SecretOrigins.origin(of: text) {
                    origins.insert(origin)
                }
            }
            allowed[name] = origins
        }
        return SecretOrigins(allowed)
    }
}

/// A credential file named after `$CREDENTIALS_DIRECTORY/` outside a systemd unit.
public struct CredentialPathError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A configuration file that could not be read or is invalid.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
