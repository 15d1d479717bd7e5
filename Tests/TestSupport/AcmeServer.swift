import DesiredRepo
import KeyCustody
import LiveStore
import AccessModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scratch server for end-to-end tests: examples/acme committed to a git repository, a
/// database path, a homes tree for every acme account (test uids, owned as the helper
/// requires; needs root), and a configuration file pointing the real helper at them.
/// With a token service port, the services' URLs are rewritten to it.
public struct AcmeServer {
    public let scratch: Scratch
    public let desired: DesiredState
    public let helperCommand: [String]
    public var config: String { scratch.path("config.yaml") }
    public var database: String { scratch.path("live.db") }
    public var repo: String { scratch.path("repo") }
    /// The master key file named by `key_file:` (mode 0600), made for each server.
    public var keyFile: String { scratch.path("master.key") }
    /// The master key that seals the server's database.
    public let masterKey: MasterKey
    /// Whether the configuration names the key file (else it says `encryption: none`).
    public let encrypted: Bool
    public var sealing: KeySealing { encrypted ? .sealed(masterKey) : .plaintext }
    /// The shared secret every acme service uses with the mock.
    public static let secret = "test-shared-secret-0123456789"
    /// The environment variables holding it, for accessctl.
    public static let secretEnvironment = [
        "SC_SECRET_PURCHASE_ORDERS": secret, "INVOICING_EXCHANGE_SECRET": secret, "SC_SECRET_CRM": secret,
    ]

    /// `encrypted: false` writes `encryption: none` instead of a key file.
    public init(_ scratch: Scratch, servicePort: Int? = nil, firstUID: Int = 24000, extraConfig: String = "",
                encrypted: Bool = true) throws {
        self.scratch = scratch
        masterKey = MasterKey.generate()
        self.encrypted = encrypted
        try scratch.copyTree(Project.root + "/examples/acme", to: "repo")
        if let servicePort {
            for name in try FileManager.default.contentsOfDirectory(atPath: scratch.path("repo/services")) where name.hasSuffix(".yaml") {
                let path = scratch.path("repo/services/" + name)
                let text = try String(contentsOfFile: path, encoding: .utf8)
                try text.replacingOccurrences(of: "127.0.0.1:8710", with: "127.0.0.1:\(servicePort)")
                    .write(toFile: path, atomically: false, encoding: .utf8)
            }
        }
        try scratch.commitAll(in: "repo", message: "acme")
        guard let state = try DesiredStateLoader.load(from: DirectorySource(path: scratch.path("repo"))).state else {
            throw GitCLIError(arguments: ["load examples/acme"], status: 1)
        }
        desired = state
        chmod(scratch.root, 0o755)
        var passwd = ""
        for (index, user) in desired.users.enumerated() {
            let uid = firstUID + index
            passwd += "\(user.unixUser):x:\(uid):\(uid)::/home/\(user.unixUser):/bin/sh\n"
            let home = scratch.path("homes/home/\(user.unixUser)")
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            chown(home, uid_t(uid), gid_t(uid))
            chmod(home, 0o700)
        }
        chmod(scratch.path("homes"), 0o755)
        chmod(scratch.path("homes/home"), 0o755)
        try scratch.write("passwd", passwd)
        helperCommand = [Project.products + "/install-service-env", "--passwd-file", scratch.path("passwd"),
                         "--homes-root", scratch.path("homes")]
        let quoted = helperCommand.map { "\"\($0)\"" }.joined(separator: ", ")
        try scratch.write("config.yaml", """
            repository: \(scratch.path("repo"))
            branch: main
            database: \(scratch.path("live.db"))
            helper: [\(quoted)]
            \(encrypted ? "key_file: \(scratch.path("master.key"))" : "encryption: none")
            \(extraConfig)
            """)
        if encrypted { try masterKey.write(toNewFile: scratch.path("master.key")) }
    }

    /// The home directory of an account.
    public func home(_ account: String) -> String { scratch.path("homes/home/\(account)") }

    /// Runs the built accessctl with NO_COLOR, the acme secrets and `environment`.
    public func accessctl(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        var env = ["NO_COLOR": "1"].merging(AcmeServer.secretEnvironment) { a, _ in a }
        env.merge(environment) { _, new in new }
        return try Command.run(Project.accessctl(for: env), arguments, environment: env)
    }

    /// Commits a change to the repository: `edit` gets the repository path.
    public func commit(_ message: String, _ edit: (String) throws -> Void) throws {
        try edit(repo)
        try scratch.git("add", "-A", in: "repo")
        try scratch.git("-c", "commit.gpgsign=false", "commit", "-q", "-m", message, in: "repo")
    }

    /// Every key the database holds, for the no-secret checks.
    public func keys() throws -> [String] {
        try LiveStore.snapshot(path: database, sealing: sealing).connections.compactMap { $0.apiKey?.revealed }
    }
}
