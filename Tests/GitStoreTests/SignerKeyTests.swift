import TestSupport
import Foundation
import GitStore
import Testing

/// The key an SSH signature names, read from the signature itself (PROTOCOL.sshsig), so that a
/// refused signer can be named by its fingerprint.
@Suite("The signer's key of an SSH signature", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")))
struct SignerKeyTests {
    @Test("type and fingerprint match ssh-keygen -l and -Y check-novalidate", arguments: ["ed25519", "ecdsa", "rsa"])
    func matchesSSHKeygen(type: String) throws {
        try Scratch.with { scratch in
            let made = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "signer", "-f", scratch.path("key")])
            try #require(made.status == 0, "\(made.stderr)")
            try scratch.write("payload", "tree 0000\n\nsigned\n")
            let signed = try Command.run("/usr/bin/ssh-keygen", ["-q", "-Y", "sign", "-n", "git", "-f", scratch.path("key"),
                                                                 scratch.path("payload")])
            try #require(signed.status == 0, "\(signed.stderr)")
            let signature = try String(contentsOfFile: scratch.path("payload.sig"), encoding: .utf8)

            let key = try #require(sshSignatureKey(signature))
            let listed = try Command.run("/usr/bin/ssh-keygen", ["-lf", scratch.path("key.pub")]).stdout.split(separator: " ")
            try #require(listed.count > 2)
            #expect(key.fingerprint == String(listed[1]))
            let publicKey = try String(contentsOfFile: scratch.path("key.pub"), encoding: .utf8)
            #expect(key.type == String(publicKey.prefix { $0 != " " }))
            // check-novalidate reads the same key out of the signature.
            let check = try Command.run("/usr/bin/ssh-keygen", ["-Y", "check-novalidate", "-n", "git", "-s", scratch.path("payload.sig")],
                                        stdin: "tree 0000\n\nsigned\n")
            #expect(check.status == 0, "\(check.stderr)")
            #expect((check.stdout + check.stderr).contains(key.fingerprint), "\(check.stdout)\(check.stderr)")
        }
    }

    @Test("anything but an SSH signature names no key", arguments: [
        "", "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\nnot base64!\n-----END SSH SIGNATURE-----\n",
        // "SSHSIG", version 2.
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAg==\n-----END SSH SIGNATURE-----\n",
        // "SSHSIG", version 1, a public key string cut short.
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAAFAAAAA=\n-----END SSH SIGNATURE-----\n",
    ])
    func notSSH(text: String) {
        #expect(sshSignatureKey(text) == nil)
    }
}
