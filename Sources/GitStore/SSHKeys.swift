import CGit2
import Crypto
import Foundation
import Platform

// SSH keys as OpenSSH writes them: the deploy key a fetch authenticates with, and the key an
// SSH signature names. Only public facts (key type, `SHA256:` fingerprint) ever leave here.

/// The OpenSSH fingerprint of a public key blob (its SSH wire encoding): `SHA256:` and the
/// base64 of its SHA-256 digest without padding, as `ssh-keygen -l` prints it.
public func sshFingerprint(_ blob: [UInt8]) -> String {
    "SHA256:" + base64Encode(Array(Crypto.SHA256.hash(data: blob)), padding: false)
}

/// Reads the SSH wire encoding (RFC 4251): big-endian `uint32`s and length-prefixed strings.
struct SSHWireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether the next bytes are `prefix`; if so, they are consumed.
    mutating func skip(_ prefix: [UInt8]) -> Bool {
        guard bytes[offset...].starts(with: prefix) else { return false }
        offset += prefix.count
        return true
    }

    mutating func uint32() -> UInt32? {
        guard bytes.count - offset >= 4 else { return nil }
        let value = bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        offset += 4
        return value
    }

    /// A string: a `uint32` length and that many bytes.
    mutating func string() -> [UInt8]? {
        guard let length = uint32().map(Int.init), bytes.count - offset >= length else { return nil }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }
}

/// The body of an ASCII-armored block (`-----BEGIN <label>-----` ... `-----END <label>-----`),
/// decoded from base64; nil when `text` does not hold exactly that armor. Header lines
/// (`Name: value`) are skipped.
func armoredBody(_ text: String, label: String) -> [UInt8]? {
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let begin = lines.firstIndex(of: "-----BEGIN \(label)-----"),
          let end = lines.firstIndex(of: "-----END \(label)-----"), begin < end else { return nil }
    return base64Decode(lines[(begin + 1)..<end].filter { !$0.contains(":") }.joined())
}

// MARK: - Signatures

/// The public key an SSH signature (`ssh-keygen -Y sign`, as git writes it into `gpgsig`)
/// was made with, as its type and fingerprint, such as ("ssh-ed25519", "SHA256:…"); nil when
/// `armored` is not an SSH signature (the SSHSIG format of OpenSSH's PROTOCOL.sshsig).
///
/// This names the signer's key; it does not verify anything.
public func sshSignatureKey(_ armored: String) -> (type: String, fingerprint: String)? {
    guard let blob = armoredBody(armored, label: "SSH SIGNATURE") else { return nil }
    var reader = SSHWireReader(blob)
    guard reader.skip(Array("SSHSIG".utf8)), reader.uint32() == 1, let key = reader.string(),
          let type = sshKeyType(key) else { return nil }
    return (type, sshFingerprint(key))
}

// MARK: - Deploy key files

/// A private key file checked before a fetch offers it to an SSH server: what it is, never
/// what it holds.
struct SSHKeyFile: Equatable {
    /// The path the key is read from, by libgit2 too.
    let path: String
    /// The key type and fingerprint of its public half, such as "ssh-ed25519 SHA256:…", when
    /// the file is in OpenSSH's format (which stores it in the clear); nil otherwise.
    let publicKey: String?

    /// The largest key file read: an RSA key of 16384 bits is under 13 KiB.
    static let sizeLimit = 64 << 10

    /// Checks the private key file at `path`, as ssh does before it uses one: a regular file
    /// (not a link), that nobody but its owner can read, holding a private key without a
    /// passphrase.
    ///
    /// - throws: A ``GitError`` (class ssh, `GIT_EAUTH`) whose message names the file and says
    ///   what to do; the key material is never part of it.
    static func check(path: String, operation: String) throws(GitError) -> SSHKeyFile {
        func refuse(_ problem: String) -> GitError {
            GitError(code: GIT_EAUTH.rawValue, errorClass: Int32(GIT_ERROR_SSH.rawValue),
                     message: "the SSH key file \(path) \(problem)", operation: operation)
        }
        let file: OpenFile
        do {
            file = try OpenFile(path: path, access: .read, nonBlocking: true)
        } catch {
            if error.errno == .tooManySymbolicLinks, (try? FileInfo(path: path, followLinks: false))?.kind == .symbolicLink {
                throw refuse("is a symbolic link: name the key file itself (`ssh_key_file`)")
            }
            if error.errno == .noSuchFile {
                throw refuse("does not exist: check `ssh_key_file`, and that the service loads the credential "
                    + "(LoadCredential=git_deploy_key:...)")
            }
            throw refuse("cannot be read: \(error.reason); it must be readable by the account that runs accessctl")
        }
        let info: FileInfo
        do { info = try file.info() } catch { throw refuse("cannot be read: \(error.reason)") }
        guard info.kind == .regular else { throw refuse("is \(info.kind), not a regular file") }
        guard info.size <= Int64(sizeLimit) else { throw refuse("is larger than \(sizeLimit) bytes: it is not a private key") }
        let bytes: [UInt8]
        do { bytes = try file.read(upTo: sizeLimit) } catch { throw refuse("cannot be read: \(error.reason)") }
        // As ssh: a key its owner lets others read is refused. Others never; the group only
        // when the file is this account's own (a credential of root's may be shared with the
        // service through its group or an ACL, which shows as group bits).
        let exposed = info.permissions & 0o007 != 0
            || (info.userID == OS.effectiveUserID && info.permissions & 0o070 != 0)
        if exposed {
            let mode = "0" + String(info.permissions & 0o777, radix: 8)
            throw refuse("can be read by other users (mode \(mode)); ssh refuses such a key, and so does accessctl: "
                + "make it readable by its owner only (`chmod 600 \(path)`), or load it as a systemd credential")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if let body = armoredBody(text, label: "OPENSSH PRIVATE KEY") {
            var reader = SSHWireReader(body)
            guard reader.skip(Array("openssh-key-v1\0".utf8)), let cipher = reader.string(),
                  reader.string() != nil, reader.string() != nil, reader.uint32() == 1, let key = reader.string()
            else { throw refuse("is not a valid OpenSSH private key") }
            guard cipher == Array("none".utf8) else { throw passphrase(refuse) }
            return SSHKeyFile(path: path, publicKey: "\(sshKeyType(key) ?? "key") \(sshFingerprint(key))")
        }
        for label in ["RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"] {
            guard armoredBody(text, label: label) != nil else { continue }
            if label == "ENCRYPTED PRIVATE KEY" || text.contains("Proc-Type: 4,ENCRYPTED") { throw passphrase(refuse) }
            return SSHKeyFile(path: path, publicKey: nil)
        }
        if text.hasPrefix("ssh-") || text.hasPrefix("ecdsa-") || text.hasPrefix("sk-") {
            throw refuse("holds a public key, not a private one: name the private half (the file without .pub)")
        }
        throw refuse("is not an SSH private key (no -----BEGIN OPENSSH PRIVATE KEY----- or PEM private key block)")
    }

    private static func passphrase(_ refuse: (String) -> GitError) -> GitError {
        refuse("is protected by a passphrase, which accessctl cannot type: use a deploy key without one "
            + "(`ssh-keygen -p -N '' -f FILE` removes it from a copy)")
    }
}
