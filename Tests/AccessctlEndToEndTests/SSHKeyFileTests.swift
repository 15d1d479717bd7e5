import TestSupport
import Foundation
import Testing

/// `ssh_key_file`: fetching from a real sshd on the loopback interface with a deploy key file,
/// through the real binary; no SSH agent anywhere.
@Suite("accessctl: fetching over SSH with ssh_key_file", .enabled(if: SSHServer.available,
                                                                "needs openssh-server (scripts/lib.sh TEST_PACKAGES)"))
struct SSHKeyFileTests {
    /// A served repository, a deploy key the server accepts, a known_hosts file with the
    /// server's host key in the test's HOME, and a configuration naming the key.
    struct Setup {
        let scratch: Scratch
        let server: SSHServer
        let key: String
        let head: String

        init(_ scratch: Scratch) throws {
            self.scratch = scratch
            server = try SSHServer(scratch: scratch)
            try scratch.repository("work", files: ["accessctl.yaml": "version: 1\n"])
            try scratch.git("clone", "-q", "--bare", "work", "origin.git")
            head = try scratch.git("rev-parse", "HEAD", in: "work")
            try FileManager.default.createDirectory(atPath: scratch.path("credentials"), withIntermediateDirectories: true)
            key = scratch.path("credentials/git_deploy_key")
            try server.authorize(SSHServer.makeKey(at: key))
            try scratch.write("home/.ssh/known_hosts", server.knownHostsLine)
        }

        func config(keyFile: String) -> String {
            """
            repository: \(scratch.path("server.git"))
            remote: \(server.url(scratch.path("origin.git")))
            ssh_key_file: \(keyFile)
            branch: main
            database: \(scratch.path("live.db"))
            helper: ["/bin/false"]

            """
        }

        /// `plan --fetch` with `ssh_key_file: keyFile`, HOME in the scratch directory and no agent.
        func fetch(keyFile: String, environment: [String: String] = [:]) throws -> CommandResult {
            try scratch.write("config.yaml", config(keyFile: keyFile))
            return try Command.run(Project.accessctl, ["plan", "--fetch", "--config", scratch.path("config.yaml")],
                                   environment: ["HOME": scratch.path("home"), "SSH_AUTH_SOCK": ""].merging(environment) { $1 })
        }

        var cloneExists: Bool { FileManager.default.fileExists(atPath: scratch.path("server.git")) }

        /// The base64 lines of the private key, which no message may show.
        func keyMaterial(_ path: String) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
                .filter { !$0.hasPrefix("-----") }.map(String.init)
        }
    }

    @Test("the deploy key file authenticates the fetch: the branch lands in the new clone")
    func fetchWithKeyFile() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch)
            let fetched = try setup.fetch(keyFile: setup.key)
            #expect(fetched.stderr.contains("fetched main at \(setup.head.prefix(12))"), "\(fetched.stderr)\n\(setup.server.logText)")
            #expect(try scratch.git("rev-parse", "refs/remotes/origin/main", in: "server.git") == setup.head)
            #expect(setup.server.logText.contains("Accepted publickey for \(setup.server.user)"), "\(setup.server.logText)")
        }
    }

    @Test("$CREDENTIALS_DIRECTORY/NAME is the credential of the running service; without the variable, exit 1 and no fetch")
    func credentialsDirectory() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch)
            let unset = try setup.fetch(keyFile: "$CREDENTIALS_DIRECTORY/git_deploy_key", environment: ["CREDENTIALS_DIRECTORY": ""])
            #expect(unset.status == 1)
            #expect(unset.stderr.contains("'ssh_key_file' is $CREDENTIALS_DIRECTORY/git_deploy_key, but CREDENTIALS_DIRECTORY is not set"),
                    "\(unset.stderr)")
            #expect(!setup.cloneExists)

            let fetched = try setup.fetch(keyFile: "$CREDENTIALS_DIRECTORY/git_deploy_key",
                                          environment: ["CREDENTIALS_DIRECTORY": scratch.path("credentials")])
            #expect(fetched.stderr.contains("fetched main at \(setup.head.prefix(12))"), "\(fetched.stderr)\n\(setup.server.logText)")
        }
    }

    @Test("a key the server does not accept: exit 1, the file and its fingerprint named, the key never shown, no clone")
    func wrongKey() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch)
            let other = scratch.path("credentials/other_key")
            try SSHServer.makeKey(at: other)
            let refused = try setup.fetch(keyFile: other)
            #expect(refused.status == 1)
            let listed = try Command.run(SSHServer.keygen, ["-lf", other + ".pub"]).stdout.split(separator: " ")
            let fingerprint = try #require(listed.count > 2 ? String(listed[1]) : nil)
            #expect(refused.stderr.contains("authentication to \(setup.server.url(scratch.path("origin.git"))) failed: "
                + "the server refused the SSH key in \(other) (ssh-ed25519 \(fingerprint)); register its public half"),
                    "\(refused.stderr)")
            for line in try setup.keyMaterial(other) { #expect(!refused.stderr.contains(line)) }
            #expect(!setup.cloneExists)
        }
    }

    @Test("a key file others can read is refused before connecting, named with its mode")
    func exposedKey() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: setup.key)
            let refused = try setup.fetch(keyFile: setup.key)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("the SSH key file \(setup.key) can be read by other users (mode 0644)"), "\(refused.stderr)")
            #expect(refused.stderr.contains("chmod 600 \(setup.key)"), "\(refused.stderr)")
            for line in try setup.keyMaterial(setup.key) { #expect(!refused.stderr.contains(line)) }
            #expect(!setup.server.logText.contains("Connection from"), "sshd saw a connection:\n\(setup.server.logText)")
            #expect(!setup.cloneExists)
        }
    }

    @Test("a missing key file is refused before connecting, named")
    func missingKey() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch)
            let missing = scratch.path("credentials/nothing")
            let refused = try setup.fetch(keyFile: missing)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("the SSH key file \(missing) does not exist"), "\(refused.stderr)")
            #expect(!setup.server.logText.contains("Connection from"), "sshd saw a connection:\n\(setup.server.logText)")
            #expect(!setup.cloneExists)
        }
    }
}
