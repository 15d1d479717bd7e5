import TestSupport
import Foundation
@testable import GitStore
import Testing

/// The deploy key file of a fetch: checked before anything connects, then offered once per URL
/// instead of the agent. (Fetching from a real sshd with it: AccessctlEndToEndTests.)
@Suite("SSH key files", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")))
struct SSHKeyFileTests {
    /// Makes a key pair at `name` in the scratch directory; returns the private key's path.
    func key(_ scratch: Scratch, _ name: String, type: String = "ed25519", passphrase: String = "") throws -> String {
        let path = scratch.path(name)
        let made = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", name, "-f", path])
        try #require(made.status == 0, "\(made.stderr)")
        return path
    }

    /// The message of the fetch's refusal with `keyFile`; nothing is listening on port 9.
    func refusal(_ scratch: Scratch, keyFile: String) throws -> String? {
        try scratch.git("init", "-q", "--bare", "local.git")
        let repository = try GitRepository(path: scratch.path("local.git"))
        let error = #expect(throws: GitError.self) {
            try repository.fetch(remote: "ssh://git@127.0.0.1:9/r.git", branch: "main",
                                 credentials: GitCredentials(sshKeyFile: keyFile))
        }
        return error?.message
    }

    @Test("an OpenSSH key passes, with its public half's fingerprint as ssh-keygen -l prints it", arguments: ["ed25519", "ecdsa", "rsa"])
    func validKey(type: String) throws {
        try Scratch.with { scratch in
            let path = try key(scratch, "deploy", type: type)
            let checked = try SSHKeyFile.check(path: path, operation: "test")
            let listed = try Command.run("/usr/bin/ssh-keygen", ["-lf", path + ".pub"]).stdout.split(separator: " ")
            let publicType = try String(contentsOfFile: path + ".pub", encoding: .utf8).prefix { $0 != " " }
            #expect(checked == SSHKeyFile(path: path, publicKey: "\(publicType) \(listed[1])"))
            // A PEM key (ssh-keygen -m PEM) passes too, without a fingerprint.
            let pem = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "rsa", "-m", "PEM", "-N", "", "-f", scratch.path("pem")])
            try #require(pem.status == 0)
            #expect(try SSHKeyFile.check(path: scratch.path("pem"), operation: "test") == SSHKeyFile(path: scratch.path("pem"), publicKey: nil))
        }
    }

    @Test("unfit key files are refused before connecting, named, without their contents", arguments: [
        "missing", "symlink", "mode 0644", "mode 0640", "directory", "public key", "not a key", "passphrase", "empty",
    ])
    func refused(_ kind: String) throws {
        try Scratch.with { scratch in
            let path = try key(scratch, "deploy", passphrase: kind == "passphrase" ? "correct horse" : "")
            let file = scratch.path("keyfile")
            switch kind {
            case "missing": break
            case "symlink": try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: path)
            case "mode 0644", "mode 0640":
                try FileManager.default.copyItem(atPath: path, toPath: file)
                try FileManager.default.setAttributes([.posixPermissions: kind == "mode 0644" ? 0o644 : 0o640], ofItemAtPath: file)
            case "directory": try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
            case "public key": try FileManager.default.copyItem(atPath: path + ".pub", toPath: file)
            case "not a key": try scratch.write("keyfile", "hunter2\n")
            case "passphrase": try FileManager.default.copyItem(atPath: path, toPath: file)
            default: try scratch.write("keyfile", "")
            }
            if ["public key", "not a key", "empty"].contains(kind) {
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            }
            let expected = [
                "missing": "does not exist", "symlink": "is a symbolic link",
                "mode 0644": "can be read by other users (mode 0644)", "mode 0640": "can be read by other users (mode 0640)",
                "directory": "is a directory, not a regular file", "public key": "holds a public key, not a private one",
                "not a key": "is not an SSH private key", "passphrase": "is protected by a passphrase",
                "empty": "is not an SSH private key",
            ][kind]!
            let message = try #require(try refusal(scratch, keyFile: file))
            #expect(message.hasPrefix("the SSH key file \(file) \(expected)"), "\(message)")
            let secret = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }
            for line in secret { #expect(!message.contains(line)) }
            #expect(!message.contains("hunter2"))
        }
    }

    @Test("a key file is offered once per URL instead of the agent; a refused one says which key")
    func offeredOnce() {
        let keyFile = SSHKeyFile(path: "/run/credentials/accessctl-apply.service/git_deploy_key", publicKey: "ssh-ed25519 SHA256:abc")
        let state = CredentialState(username: nil, password: nil, hasAgent: true, keyFile: keyFile)
        let url = "ssh://deploy@git.example.com/access.git"
        #expect(state.next(url: url, usernameFromURL: nil, allowed: .username) == .username("git"))
        #expect(state.next(url: url, usernameFromURL: "deploy", allowed: .sshKey) == .sshKeyFile(user: "deploy", path: keyFile.path))
        #expect(state.next(url: url, usernameFromURL: "deploy", allowed: .sshKey)
            == .refuse("authentication to \(url) failed: the server refused the SSH key in \(keyFile.path) (ssh-ed25519 SHA256:abc); "
                + "register its public half (`ssh-keygen -y -f \(keyFile.path)` prints it) as a read-only deploy key of the "
                + "repository, as the user named in `remote` (deploy)"))
        #expect(state.next(url: "git@other:r.git", usernameFromURL: "git", allowed: .sshKey) == .sshKeyFile(user: "git", path: keyFile.path))
        #expect(GitCredentials(sshKeyFile: "/k").description.contains("sshKeyFile: /k"))
    }
}
