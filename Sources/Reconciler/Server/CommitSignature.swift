import AccessModel
import Foundation
import DesiredRepo
import GitStore
import ProcessRunner

/// Verification of a commit's SSH signature against an allowed-signers file that lives
/// outside the repository (so a pull request cannot add its own key), with `ssh-keygen -Y`.
public enum CommitSignature {
    /// Who signed the commit; throws with the reason when it is not acceptable.
    public static func verify(_ source: GitTreeSource, allowedSigners: String) async throws(SignatureError) -> String {
        guard case .git(_, _, let commit) = source.origin else { throw SignatureError("not a git commit") }
        let short = String(commit.prefix(12))
        guard FileManager.default.isReadableFile(atPath: allowedSigners) else {
            throw SignatureError("allowed signers file \(allowedSigners) cannot be read")
        }
        guard let signed = source.signature() else { throw SignatureError("commit \(short) is not signed") }
        guard signed.signature.hasPrefix("-----BEGIN SSH SIGNATURE-----") else {
            throw SignatureError("commit \(short) is signed, but not with an SSH key (only SSH signatures are accepted)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("accessctl-sig-\(UUID().uuidString)")
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false) } catch {
            throw SignatureError("cannot create a temporary directory")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let sigFile = directory.appendingPathComponent("commit.sig").path
        guard FileManager.default.createFile(atPath: sigFile, contents: Data(signed.signature.utf8)) else {
            throw SignatureError("cannot write the signature to a temporary file")
        }
        let find = await run(["-Y", "find-principals", "-s", sigFile, "-f", allowedSigners], stdin: Data())
        let principal = find.output.split(separator: "\n").first.map(String.init)?.trimmingCharacters(in: .whitespaces)
        guard find.status == 0, let principal, !principal.isEmpty else {
            // The signer named by its public key's fingerprint, as `ssh-keygen -l` prints it.
            let key = sshSignatureKey(signed.signature).map { "the \($0.type) key \($0.fingerprint)" } ?? "a key"
            throw SignatureError("commit \(short) is signed by \(key), which is not in \(allowedSigners): "
                + "add it there if this signer may change access")
        }
        let check = await run(["-Y", "verify", "-f", allowedSigners, "-I", principal, "-n", "git", "-s", sigFile], stdin: Data(signed.payload))
        guard check.status == 0 else {
            throw SignatureError("commit \(short): the signature of \(principal) does not verify for namespace git (\(check.error.trimmingCharacters(in: .whitespacesAndNewlines).escapingControlCharacters))")
        }
        return principal
    }

    private static func run(_ arguments: [String], stdin: Data) async -> (status: Int32, output: String, error: String) {
        let outcome: ProcessOutcome
        do {
            outcome = try await ProcessRunner.run(["/usr/bin/ssh-keygen"] + arguments, input: [UInt8](stdin),
                                                  outputLimit: 64 << 10, timeout: .seconds(60))
        } catch {
            if case .cannotStart = error { return (127, "", "cannot run /usr/bin/ssh-keygen (install openssh-client)") }
            return (1, "", error.description)
        }
        return (outcome.exitCode ?? 128 + (outcome.signal ?? 0), String(decoding: outcome.standardOutput, as: UTF8.self),
                String(decoding: outcome.standardError.prefix(500), as: UTF8.self))
    }
}

/// Why a commit's signature is not accepted.
public struct SignatureError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
