import TestSupport
import Foundation
@testable import GitStore
import Testing

/// A host key made by ssh-keygen: its public line, wire-encoded blob and OpenSSH fingerprint.
private struct HostKey {
    let type: String
    let base64: String
    let blob: [UInt8]
    /// `SHA256:...` as `ssh-keygen -lf` prints it.
    let fingerprint: String

    init(_ scratch: Scratch, _ name: String, type: String = "ed25519") throws {
        let path = scratch.path(name)
        let made = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-C", name, "-f", path])
        guard made.status == 0 else { throw HelperFailure(description: "ssh-keygen for \(name) exited \(made.status)") }
        let fields = try String(contentsOfFile: path + ".pub", encoding: .utf8).split(separator: " ")
        self.type = String(fields[0])
        base64 = String(fields[1])
        blob = try #require(Data(base64Encoded: base64)).map { $0 }
        let listed = try Command.run("/usr/bin/ssh-keygen", ["-lf", path + ".pub"]).stdout.split(separator: " ")
        fingerprint = String(listed[1])
    }

    /// The SHA-256 digest libgit2 hands the callback, decoded from ssh-keygen's fingerprint.
    var sha256: [UInt8] {
        let text = String(fingerprint.dropFirst("SHA256:".count))
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: padded).map { Array($0) } ?? []
    }

    func line(_ names: String) -> String { "\(names) \(type) \(base64) comment\n" }
}

@Suite("SSH host keys against known_hosts", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")))
struct KnownHostsTests {
    @Test("hashed host names (HMAC-SHA1) and base64 as OpenSSH writes them")
    func digests() {
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        // RFC 2202, test case 2.
        #expect(hex(hmacSHA1(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
            == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        #expect(base64Encode([1, 2, 3, 4]) == "AQIDBA==")
        #expect(base64Encode([1, 2, 3, 4], padding: false) == "AQIDBA")
        #expect(base64Decode("AQIDBA==") == [1, 2, 3, 4])
        #expect(base64Decode("AQIDBA") == [1, 2, 3, 4])
        #expect(base64Decode("not base64!") == nil)
    }

    @Test("a known key, an unknown host and a changed key, in plain and hashed files")
    func verdicts() throws {
        try Scratch.with { scratch in
            let key = try HostKey(scratch, "host")
            let other = try HostKey(scratch, "impostor")
            #expect(sshKeyType(key.blob) == "ssh-ed25519")

            try scratch.write("plain", "# comment\n\n" + key.line("git.example.com,10.0.0.5") + other.line("other.example.com"))
            let plain = try #require(KnownHosts.read(path: scratch.path("plain")))
            #expect(plain.verdict(host: "git.example.com", port: 22, key: key.blob) == .known)
            #expect(plain.verdict(host: "10.0.0.5", port: 22, key: key.blob) == .known)
            #expect(plain.verdict(host: "new.example.com", port: 22, key: key.blob) == .unknownHost)
            #expect(plain.verdict(host: "git.example.com", port: 22, key: other.blob)
                == .changed(lines: [3], types: ["ssh-ed25519"]))

            // ssh-keygen -H hashes the names (HMAC-SHA1), as HashKnownHosts does.
            try scratch.write("hashed", key.line("git.example.com") + key.line("[git.example.com]:2222"))
            let hashing = try Command.run("/usr/bin/ssh-keygen", ["-H", "-f", scratch.path("hashed")])
            #expect(hashing.status == 0)
            let text = try String(contentsOfFile: scratch.path("hashed"), encoding: .utf8)
            #expect(!text.contains("git.example.com") && text.hasPrefix("|1|"))
            let hashed = try #require(KnownHosts.read(path: scratch.path("hashed")))
            #expect(hashed.verdict(host: "git.example.com", port: 22, key: key.blob) == .known)
            #expect(hashed.verdict(host: "git.example.com", port: 2222, key: key.blob) == .known)
            #expect(hashed.verdict(host: "git.example.org", port: 22, key: key.blob) == .unknownHost)
            #expect(hashed.verdict(host: "git.example.com", port: 22, key: other.blob)
                == .changed(lines: [1], types: ["ssh-ed25519"]))
            #expect(hashed.verdict(host: "git.example.com", port: 2222, key: other.blob)
                == .changed(lines: [2, 1], types: ["ssh-ed25519", "ssh-ed25519"]) || hashed.verdict(host: "git.example.com", port: 2222, key: other.blob)
                == .changed(lines: [1, 2], types: ["ssh-ed25519", "ssh-ed25519"]))
        }
    }

    @Test("a non-default port: the [host]:port form, and a plain host line, as libssh2 reads them")
    func ports() throws {
        try Scratch.with { scratch in
            let key = try HostKey(scratch, "host")
            let other = try HostKey(scratch, "impostor", type: "rsa")
            try scratch.write("known_hosts", key.line("[git.example.com]:2222"))
            let file = try #require(KnownHosts.read(path: scratch.path("known_hosts")))
            #expect(file.verdict(host: "git.example.com", port: 2222, key: key.blob) == .known)
            #expect(file.verdict(host: "git.example.com", port: 22, key: key.blob) == .unknownHost)
            #expect(file.verdict(host: "git.example.com", port: 2222, key: other.blob)
                == .changed(lines: [1], types: ["ssh-ed25519"]))
            // libssh2 also accepts a plain host line for any port.
            try scratch.write("plain", key.line("git.example.com"))
            let plain = try #require(KnownHosts.read(path: scratch.path("plain")))
            #expect(plain.verdict(host: "git.example.com", port: 2222, key: key.blob) == .known)
        }
    }

    @Test("the messages: unknown host, missing file and changed key name the file, the host and the fingerprint")
    func messages() throws {
        try Scratch.with { scratch in
            let key = try HostKey(scratch, "host")
            let other = try HostKey(scratch, "impostor")
            let path = scratch.path("known_hosts")
            try scratch.write("known_hosts", other.line("git.example.com") + other.line("[git.example.com]:2222"))

            let unknown = try #require(hostKeyRefusal(host: "new.example.com", port: 22, key: key.blob,
                                                      sha256: key.sha256, knownHostsPath: path))
            #expect(unknown.hasPrefix("the SSH host key of new.example.com is unknown: \(path) has no line for new.example.com."))
            #expect(unknown.contains("The server presented ssh-ed25519 \(key.fingerprint);"), "\(unknown)")
            #expect(unknown.contains("`ssh-keyscan -t ed25519 new.example.com >> \(path)`"), "\(unknown)")

            let unknownPort = try #require(hostKeyRefusal(host: "new.example.com", port: 2200, key: key.blob,
                                                          sha256: key.sha256, knownHostsPath: path))
            #expect(unknownPort.contains("has no line for [new.example.com]:2200"), "\(unknownPort)")
            #expect(unknownPort.contains("`ssh-keyscan -p 2200 -t ed25519 new.example.com >> \(path)`"), "\(unknownPort)")

            let noFile = try #require(hostKeyRefusal(host: "git.example.com", port: 22, key: key.blob,
                                                     sha256: key.sha256, knownHostsPath: scratch.path("missing")))
            #expect(noFile.contains("\(scratch.path("missing")) does not exist"), "\(noFile)")

            let changed = try #require(hostKeyRefusal(host: "git.example.com", port: 22, key: key.blob,
                                                      sha256: key.sha256, knownHostsPath: path))
            #expect(changed.hasPrefix("WARNING: the SSH host key of git.example.com has CHANGED: \(path) (line 1) holds a different ssh-ed25519 key"),
                    "\(changed)")
            #expect(changed.contains("the server presented ssh-ed25519 \(key.fingerprint)."), "\(changed)")
            #expect(changed.contains("man-in-the-middle"))
            #expect(changed.contains("`ssh-keygen -R git.example.com -f \(path)`"))

            let changedPort = try #require(hostKeyRefusal(host: "git.example.com", port: 2222, key: key.blob,
                                                          sha256: key.sha256, knownHostsPath: path))
            #expect(changedPort.contains("[git.example.com]:2222 has CHANGED"), "\(changedPort)")
            #expect(changedPort.contains("(lines 1, 2)"), "\(changedPort)")

            // A key the file has: libgit2's own verdict stands.
            #expect(hostKeyRefusal(host: "git.example.com", port: 22, key: other.blob, sha256: other.sha256,
                                   knownHostsPath: path) == nil)
        }
    }

    @Test("the port of an SSH URL is the one libgit2 connects to")
    func urlPorts() {
        let state = CredentialState(username: nil, password: nil, hasAgent: false)
        #expect(FetchContext(url: "ssh://git@git.example.com:2222/r.git", credentials: state).sshPort(of: "git.example.com") == 2222)
        #expect(FetchContext(url: "ssh://git.example.com/r.git", credentials: state).sshPort(of: "git.example.com") == 22)
        #expect(FetchContext(url: "git@git.example.com:team/r.git", credentials: state).sshPort(of: "git.example.com") == 22)
        #expect(FetchContext(url: "ssh://git@[::1]:2200/r.git", credentials: state).sshPort(of: "::1") == 2200)
        // A host rewritten by url.<base>.insteadOf is not the URL's: the default port.
        #expect(FetchContext(url: "ssh://git@a.example.com:2222/r.git", credentials: state).sshPort(of: "b.example.com") == 22)
    }
}

/// A test helper that could not start or failed.
struct HelperFailure: Error, CustomStringConvertible {
    let description: String
}
