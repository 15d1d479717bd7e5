import Crypto
import Foundation

/// What a known_hosts file says about the host key an SSH server presented.
enum HostKeyVerdict: Equatable {
    /// A line names the host with this key.
    case known
    /// The file does not exist.
    case noFile
    /// No line names the host.
    case unknownHost
    /// Lines name the host, each with another key: the key changed, or someone is in between.
    /// `lines` are their 1-based line numbers, `types` their key types.
    case changed(lines: [Int], types: [String])
}

/// A known_hosts file as libgit2 (libssh2) reads it: one `names keytype base64-key [comment]`
/// per line; names are a comma-separated list of host names and `[host]:port` forms, or one
/// hashed name `|1|salt|hash` (HMAC-SHA1, as `ssh-keygen -H` writes). For a connection to
/// port P, lines naming `[host]:P` or `host` count; lines with a marker (`@revoked`,
/// `@cert-authority`) are not read.
struct KnownHosts {
    struct Entry {
        let line: Int
        let names: [String]
        let hashed: (salt: [UInt8], hash: [UInt8])?
        let type: String
        let key: [UInt8]
    }

    let path: String
    let entries: [Entry]

    /// Reads `path` (following a link, as libssh2 does), up to its first 16 MiB and 64 KiB;
    /// nil if it cannot be opened.
    static func read(path: String) -> KnownHosts? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        let bytes = (try? file.read(upToCount: (16 << 20) + 65536)) ?? Data()
        return KnownHosts(path: path, text: String(decoding: bytes, as: UTF8.self))
    }

    init(path: String, text: String) {
        self.path = path
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard fields.count >= 3, !fields[0].hasPrefix("#"), !fields[0].hasPrefix("@"),
                  let key = base64Decode(fields[2]) else { continue }
            let names = String(fields[0])
            var hashed: (salt: [UInt8], hash: [UInt8])?
            if names.hasPrefix("|1|") {
                let parts = names.split(separator: "|")
                guard parts.count == 3, let salt = base64Decode(parts[1]), let hash = base64Decode(parts[2])
                else { continue }
                hashed = (salt, hash)
            }
            entries.append(Entry(line: index + 1, names: hashed == nil ? names.split(separator: ",").map(String.init) : [],
                                 hashed: hashed, type: String(fields[1]), key: key))
        }
        self.entries = entries
    }

    /// What the file says about `key` (the SSH wire encoding of a public key) from `host` on `port`.
    func verdict(host: String, port: Int, key: [UInt8]) -> HostKeyVerdict {
        let candidates = ["[\(host)]:\(port)", host]
        var others: [Entry] = []
        for entry in entries where entry.names(any: candidates) {
            if entry.key == key { return .known }
            others.append(entry)
        }
        return others.isEmpty ? .unknownHost : .changed(lines: others.map(\.line), types: others.map(\.type))
    }
}

extension KnownHosts.Entry {
    func names(any candidates: [String]) -> Bool {
        if let hashed {
            return candidates.contains { hmacSHA1(key: hashed.salt, message: Array($0.utf8)) == hashed.hash }
        }
        return candidates.contains { names.contains($0) }
    }
}

/// The plain-words message for a host key that libgit2 did not find in `knownHostsPath`, or
/// nil when that file has it after all (libgit2's own message then stands).
///
/// - parameters:
///   - host: The host connected to, as in the URL.
///   - port: The port connected to.
///   - key: The SSH wire encoding of the key the server presented.
///   - sha256: The SHA-256 digest of `key`.
///   - knownHostsPath: The known_hosts file libgit2 reads (`$HOME/.ssh/known_hosts`).
func hostKeyRefusal(host: String, port: Int, key: [UInt8], sha256: [UInt8], knownHostsPath: String) -> String? {
    let type = sshKeyType(key) ?? "key"
    let presented = "\(type) SHA256:\(base64Encode(sha256, padding: false))"
    let name = port == 22 ? host : "[\(host)]:\(port)"
    let keyscan = "ssh-keyscan \(port == 22 ? "" : "-p \(port) ")-t \(type.hasPrefix("ssh-") ? String(type.dropFirst(4)) : type) \(host)"
    let add = "compare it with the fingerprint your git host publishes (`\(keyscan) | ssh-keygen -lf -` prints it), "
        + "and if they match, add the key: `\(keyscan) >> \(knownHostsPath)`"
    switch KnownHosts.read(path: knownHostsPath)?.verdict(host: host, port: port, key: key) ?? .noFile {
    case .known:
        return nil
    case .noFile:
        return "the SSH host key of \(name) is unknown: \(knownHostsPath) does not exist. The server presented "
            + "\(presented); \(add)"
    case .unknownHost:
        return "the SSH host key of \(name) is unknown: \(knownHostsPath) has no line for \(name). The server "
            + "presented \(presented); \(add)"
    case .changed(let lines, let types):
        let lineList = lines.count == 1 ? "line \(lines[0])" : "lines " + lines.map(String.init).joined(separator: ", ")
        let known = Array(Set(types)).sorted().joined(separator: ", ")
        return "WARNING: the SSH host key of \(name) has CHANGED: \(knownHostsPath) (\(lineList)) holds a different "
            + "\(known) key for it, but the server presented \(presented). Someone may be intercepting the "
            + "connection (a man-in-the-middle attack), or the git host replaced its key. Nothing was fetched. "
            + "Do not change \(knownHostsPath) until the git host's administrators have confirmed the new "
            + "fingerprint; then replace the old line (`ssh-keygen -R \(name) -f \(knownHostsPath)` removes it)"
    }
}

/// The key type at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, ...).
func sshKeyType(_ blob: [UInt8]) -> String? {
    guard blob.count >= 4 else { return nil }
    let length = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
    guard length > 0, length <= 64, blob.count >= 4 + length else { return nil }
    return String(validating: blob[4..<(4 + length)], as: UTF8.self)
}

// MARK: - Base64 and HMAC-SHA1 (for hashed known_hosts names)

/// Standard base64, optionally without the `=` padding (OpenSSH's `SHA256:` form).
func base64Encode(_ bytes: [UInt8], padding: Bool = true) -> String {
    let text = Data(bytes).base64EncodedString()
    return padding ? text : String(text.prefix { $0 != "=" })
}

/// Standard base64 with or without padding; nil when it is not base64.
func base64Decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
    var padded = String(text)
    while padded.utf8.count % 4 != 0 { padded += "=" }
    return Data(base64Encoded: padded).map { Array($0) }
}

/// HMAC-SHA1, as `ssh-keygen -H` hashes host names (swift-crypto).
func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
    Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: key)))
}
