import TestSupport
import Foundation
import GitStore
import Testing

@Suite("Commit signatures")
struct SignatureTests {
    /// Runs a shell command in the scratch directory.
    func shell(_ scratch: Scratch, _ script: String) throws -> CommandResult {
        try Command.run("/bin/sh", ["-c", script], in: scratch.root)
    }

    @Test("an SSH-signed commit yields a signature ssh-keygen verifies over the payload")
    func sshSignedCommit() throws {
        try Scratch.with { scratch in
            let keygen = try shell(scratch, "ssh-keygen -q -t ed25519 -N '' -C signer -f key")
            try #require(keygen.status == 0, "\(keygen.stderr)")
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.write("repo/a.txt", "two\n")
            try scratch.git("-c", "gpg.format=ssh", "-c", "user.signingkey=\(scratch.path("key.pub"))",
                            "commit", "-q", "-S", "-a", "-m", "signed", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            let signed = try repository.resolveCommit("HEAD")

            let extracted = try #require(try repository.signature(of: signed))
            #expect(extracted.signature.hasPrefix("-----BEGIN SSH SIGNATURE-----"))
            #expect(extracted.signature.hasSuffix("-----END SSH SIGNATURE-----") ||
                    extracted.signature.hasSuffix("-----END SSH SIGNATURE-----\n"))
            // The payload is the commit object without its gpgsig header.
            let payload = String(decoding: extracted.payload, as: UTF8.self)
            #expect(payload.hasPrefix("tree \(try repository.commit(signed).tree)\n"))
            #expect(!payload.contains("gpgsig"))
            #expect(!payload.contains("SSH SIGNATURE"))
            #expect(payload.hasSuffix("\n\nsigned\n"))

            let publicKey = try String(contentsOfFile: scratch.path("key.pub"), encoding: .utf8)
            try scratch.write("allowed", "signer@example.com " + publicKey)
            try scratch.write("sigfile", extracted.signature)
            try scratch.write("payload", extracted.payload)
            let verify = "ssh-keygen -Y verify -f allowed -I signer@example.com -n git -s sigfile < payload"
            let accepted = try shell(scratch, verify)
            #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
            #expect(accepted.stdout.contains("Good \"git\" signature for signer@example.com"))

            // The check is real: altered bytes are rejected.
            try scratch.write("payload", extracted.payload + Array("tampered\n".utf8))
            #expect(try shell(scratch, verify).status != 0)
        }
    }

    @Test("an unsigned commit has no signature")
    func unsignedCommit() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            #expect(try repository.signature(of: repository.resolveCommit("HEAD")) == nil)
        }
    }

    @Test("a missing commit or another object is an error, not nil")
    func notACommit() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            let missing = try #require(ObjectID(hex: String(repeating: "cd", count: 20)))
            let error = #expect(throws: GitError.self) { try repository.signature(of: missing) }
            #expect(error?.code == -3)
            #expect(error?.operation == "extract signature of commit \(missing)")
            let tree = try repository.commit(try repository.resolveCommit("HEAD")).tree
            #expect(throws: GitError.self) { try repository.signature(of: tree) }
        }
    }
}
