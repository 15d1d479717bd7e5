import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Hostile token services end to end (issue 9): crm points at a service that misbehaves in
/// one exact way, purchase_orders and invoicing at the real token-service-mock. Every case
/// checks that the run ends partly applied (exit 3), crm's connections are `error` with a
/// clear message that stderr names, the other services' connections are active and written,
/// no key or shared secret shows in any output, the database or a home file, and that crm
/// pointed back at the mock converges.
@Suite("hostile token services (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"))
struct HostileServiceTests {
    static let exchangePath = "/crm/api/internal/token-exchange"
    static let revokePath = "/crm/api/internal/token-revoke"

    /// An acme server whose crm service points at `crmBase`, with the keys the hostile
    /// service handed out, for the no-secret checks.
    struct Setup {
        let acme: ApplyCommandTests.Setup
        /// Values that must never show anywhere: the shared secret and unique parts of every
        /// key a hostile service handed out.
        let hostileSecrets: [String]
        var server: AcmeServer { acme.server }

        init(_ scratch: Scratch, firstUID: Int, crmBase: String, timeout: Int = 5, caFile: String? = nil,
             hostileKeyParts: [String] = []) throws {
            let trust = caFile.map { ", ca_file: \($0)" } ?? ""
            acme = try ApplyCommandTests.Setup(scratch, firstUID: firstUID,
                                               extraConfig: "http: {timeout_seconds: \(timeout), connect_timeout_seconds: 2\(trust)}")
            hostileSecrets = [AcmeServer.secret] + hostileKeyParts
            try pointCRM(at: crmBase)
        }

        /// Commits crm's exchange and revoke URLs under `base` (scheme, host and port).
        func pointCRM(at base: String) throws {
            let paths = ["token_exchange_url": HostileServiceTests.exchangePath, "token_revoke_url": HostileServiceTests.revokePath]
            try server.commit("crm at \(base)") { repo in
                let file = repo + "/services/crm.yaml"
                let text = try String(contentsOfFile: file, encoding: .utf8).components(separatedBy: "\n").map { line in
                    guard let key = paths.keys.first(where: { line.hasPrefix($0 + ":") }) else { return line }
                    return "\(key): \(base)\(paths[key] ?? "")"
                }
                try text.joined(separator: "\n").write(toFile: file, atomically: false, encoding: .utf8)
            }
        }

        /// The active users connected to crm, by email.
        func crmUsers() -> [User] {
            let effective = server.desired.effectiveConnections()
            return server.desired.users.filter { $0.active && effective[$0.id]?.contains("crm") == true }
                .sorted { $0.email < $1.email }
        }

        /// The same expected last error for every crm connection.
        func everyCRMUser(_ message: String) -> [String: String] {
            Dictionary(uniqueKeysWithValues: crmUsers().map { ($0.id, message) })
        }

        /// `text` with every known secret replaced, fit for an assertion message.
        func redacted(_ text: String) -> String {
            (hostileSecrets + ((try? server.keys()) ?? [])).reduce(text) { $0.replacingOccurrences(of: $1, with: "[secret]") }
        }

        /// Where a secret shows: `<place>: <fingerprint>` for each hit, never the value. The
        /// outputs must hold no secret at all; the database and the homes none of a hostile
        /// service's (they hold the healthy keys by design).
        func leaks(_ outputs: [String: String]) throws -> [String] {
            let everything = hostileSecrets + (try server.keys())
            var places = outputs.mapValues { (Data($0.utf8), everything) }
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: server.database + suffix) {
                places["live.db\(suffix)"] = (try Data(contentsOf: URL(fileURLWithPath: server.database + suffix)), hostileSecrets)
            }
            let homes = server.scratch.path("homes")
            for file in FileManager.default.enumerator(atPath: homes)?.compactMap({ $0 as? String }) ?? [] {
                if let data = FileManager.default.contents(atPath: homes + "/" + file) {
                    places["homes/\(file)"] = (data, hostileSecrets)
                }
            }
            return places.sorted { $0.key < $1.key }.flatMap { place, content in
                content.1.filter { content.0.range(of: Data($0.utf8)) != nil }.map { "\(place): \(Secret($0).fingerprint)" }
            }
        }

        /// The checks after a run against the hostile crm: exit 3, each crm connection `error`
        /// with `messages[user]` as its last error, named on stderr; everything else active
        /// and written; no secret in the output, `accessctl log`, the database or the homes.
        func expectPartlyApplied(_ run: CommandResult, messages: [String: String]) throws {
            let stderr = redacted(run.stderr)
            #expect(run.status == 3, "\(redacted(run.stdout))\(stderr)")
            let state = try LiveStore.snapshot(path: server.database, sealing: server.sealing)
            let crm = state.connections.filter { $0.service == "crm" }
            #expect(Set(crm.map(\.user)) == Set(messages.keys))
            for row in crm {
                #expect(row.status == .error && row.apiKey == nil && row.tokenID == nil, "\(row.user)")
                let lastError = redacted(row.lastError ?? "")
                #expect(lastError == messages[row.user], "\(row.user)")
                let named = stderr.contains("failed: connection.\(row.user).crm: \(lastError)\n")
                #expect(named, "stderr does not name connection.\(row.user).crm: \(stderr)")
            }
            let others = state.connections.filter { $0.service != "crm" }
            #expect(!others.isEmpty && others.allSatisfy { $0.status == .active && $0.apiKey != nil })
            let accounts = Dictionary(server.desired.users.map { ($0.id, $0.unixUser) }, uniquingKeysWith: { a, _ in a })
            for row in others {
                let path = server.home(accounts[row.user] ?? "?") + "/.service_env"
                let env = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                let written = row.apiKey.map { env.contains($0.revealed) } ?? false
                #expect(written, "connection.\(row.user).\(row.service): key not in .service_env")
            }
            for user in crmUsers() {
                let home = server.home(user.unixUser)
                let env = (try? String(contentsOfFile: home + "/.service_env", encoding: .utf8)) ?? ""
                let skill = FileManager.default.fileExists(atPath: home + "/.claude_rules/sc_crm.md")
                let clean = !env.contains("CRM_API_KEY") && !skill
                #expect(clean, "\(user.id) has crm files")
            }
            let log = try server.accessctl(["log", "--config", server.config, "--format", "json"])
            let logged = log.status == 0 && log.stdout.contains("partly applied")
            #expect(logged, "accessctl log: \(redacted(log.stdout + log.stderr))")
            #expect(try leaks(["apply stdout": run.stdout, "apply stderr": run.stderr, "log": log.stdout]) == [])
        }

        /// Points crm back at the mock: the next run converges and still shows no secret.
        func expectConvergesWithMock() throws {
            try pointCRM(at: "http://127.0.0.1:\(acme.mock.port)")
            let run = try acme.apply()
            #expect(run.status == 0, "\(redacted(run.stdout + run.stderr))")
            #expect(try LiveStore.snapshot(path: server.database, sealing: server.sealing).connections.allSatisfy { $0.status == .active })
            try acme.expectConverged()
            let log = try server.accessctl(["log", "--config", server.config, "--format", "json"])
            #expect(try leaks(["apply stdout": run.stdout, "apply stderr": run.stderr, "log": log.stdout]) == [])
        }
    }

    /// A unique run of hex digits, the recognisable part of a hostile key.
    static func marker() -> String { "x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// A well-formed success body.
    static func okBody(key: String, token: String) -> [String: Any] {
        ["status": "ok", "api_key": key, "token_id": token, "expires_at": "2999-01-01T00:00:00Z"]
    }

    @Test("a 50 MB body: refused at the 64 KiB cap, in bounded time and memory",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time"), "needs GNU time for the peak RSS"))
    func oversizedBody() throws {
        let hostile = try HostileService { _ in .stream(bytes: 50 << 20) }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41000, crmBase: hostile.url())
            // Five 50 MB bodies at loopback speed: reading stops at the cap, and memory stays
            // bounded whatever the service sends.
            let start = Date()
            let run = try Command.run("/usr/bin/time", ["-f", "%M", "-o", scratch.path("maxrss"), Project.accessctl,
                                                        "apply", "--config", setup.server.config, "--auto-approve"],
                                      environment: AcmeServer.secretEnvironment.merging(["NO_COLOR": "1"]) { a, _ in a })
            let elapsed = Date().timeIntervalSince(start)
            #expect(elapsed < 30, "apply took \(elapsed) s")
            // The last line (GNU time puts "Command exited with non-zero status 3" before it).
            let peakKB = try String(contentsOfFile: scratch.path("maxrss"), encoding: .utf8)
                .split(separator: "\n").last.flatMap { Int($0) } ?? .max
            #expect(peakKB < 150 * 1024, "peak RSS \(peakKB) KB")
            let message = "crm: response larger than 65536 bytes"
            try setup.expectPartlyApplied(run, messages: setup.everyCRMUser(message))
            #expect(hostile.requests.count == setup.crmUsers().count)  // not retried
            try setup.expectConvergesWithMock()
        }
    }

    @Test("one byte per second: the 2 s total timeout ends it, in seconds")
    func trickle() throws {
        let key = "crm_" + Self.marker()
        let body = try JSONSerialization.data(withJSONObject: Self.okBody(key: key, token: "tok-trickle"))
        let hostile = try HostileService { _ in .trickle(body: Array(body), interval: 1) }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41100, crmBase: hostile.url(), timeout: 2, hostileKeyParts: [key])
            let start = Date()
            let run = try setup.acme.apply()
            let elapsed = Date().timeIntervalSince(start)
            #expect(elapsed < 20, "apply took \(elapsed) s")
            try setup.expectPartlyApplied(run, messages: setup.everyCRMUser("crm: timed out after 2 s"))
            try setup.expectConvergesWithMock()
        }
    }

    @Test("redirects to another host (301, 302, 303, 307, 308) are refused; the other host is never called")
    func redirect() throws {
        let key = "crm_" + Self.marker()
        let elsewhere = try HostileService(host: "127.0.0.2") { _ in .json(Self.okBody(key: key, token: "tok-elsewhere")) }
        defer { elsewhere.stop() }
        let statuses = [301, 302, 303, 307, 308]
        let assigned = Assignments()
        let hostile = try HostileService { request in
            let status = statuses[assigned.index(of: request.fields["user_email"] ?? "") % statuses.count]
            return .response(status: status, contentType: "text/html", body: Array("<a href=elsewhere>moved</a>".utf8),
                             headers: ["Location: \(elsewhere.url(Self.exchangePath))"])
        }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41200, crmBase: hostile.url(), hostileKeyParts: [key])
            let users = setup.crmUsers()
            assigned.set(users.map(\.email))
            var messages: [String: String] = [:]
            for (index, user) in users.enumerated() {
                messages[user.id] = "crm: redirect (HTTP \(statuses[index % statuses.count])) to "
                    + "\(elsewhere.url(Self.exchangePath)) refused"
            }
            try setup.expectPartlyApplied(try setup.acme.apply(), messages: messages)
            #expect(elsewhere.requests.isEmpty)
            try setup.expectConvergesWithMock()
        }
    }

    @Test("an HTML login page with status 200 (echoing the bearer secret) is refused as not JSON")
    func htmlLoginPage() throws {
        let page = "<!doctype html><html><body><form action=/login>Sign in. Session: \(AcmeServer.secret)</form></body></html>"
        let hostile = try HostileService { _ in
            .response(status: 200, contentType: "text/html; charset=utf-8", body: Array(page.utf8))
        }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41300, crmBase: hostile.url())
            let message = #"crm: response is not JSON (content type "text/html; charset=utf-8")"#
            try setup.expectPartlyApplied(try setup.acme.apply(), messages: setup.everyCRMUser(message))
            try setup.expectConvergesWithMock()
        }
    }

    @Test("api_key with a newline, a quote or ${HOME}, the shared secret as a key, a 10 KB token_id: refused, never written, issued keys revoked")
    func refusedAnswers() throws {
        let parts = (0..<7).map { _ in Self.marker() }
        let tenKB = String(repeating: "t", count: 10 * 1024)
        // By crm user in email order: the answer, the expected message, the token to revoke.
        let alphabet = "[A-Za-z0-9._~+/=:@%-]"
        let cases: [(answer: HostileService.Answer, message: String, revoked: String?)] = [
            (.json(Self.okBody(key: "crm_\(parts[0])\n\(parts[1])", token: "tok-newline")),
             "crm: api_key has characters outside \(alphabet) (newline); the key it issued (token \"tok-newline\") was revoked",
             "tok-newline"),
            (.json(Self.okBody(key: "crm_\(parts[2])'\(parts[3])", token: "tok-quote")),
             "crm: api_key has characters outside \(alphabet) (single quote); the key it issued (token \"tok-quote\") was revoked",
             "tok-quote"),
            (.json(Self.okBody(key: "crm_\(parts[4])${HOME}\(parts[5])", token: "tok-home")),
             "crm: api_key has characters outside \(alphabet) (dollar sign); the key it issued (token \"tok-home\") was revoked",
             "tok-home"),
            (.json(Self.okBody(key: "crm_\(parts[6])", token: tenKB)),
             "crm: token_id is 10240 characters long; expected 1 to 256", nil),
            (.json(Self.okBody(key: AcmeServer.secret, token: "tok-secret")),
             "crm: api_key does not start with the service's key_prefix \"crm_\"; "
                + "the key it issued (token \"tok-secret\") was revoked", "tok-secret"),
        ]
        let assigned = Assignments()
        let hostile = try HostileService { request in
            if request.path == Self.revokePath { return .json(["status": "ok"]) }
            return cases[assigned.index(of: request.fields["user_email"] ?? "") % cases.count].answer
        }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41400, crmBase: hostile.url(), hostileKeyParts: parts)
            let users = setup.crmUsers()
            try #require(users.count == cases.count)
            assigned.set(users.map(\.email))
            try setup.expectPartlyApplied(try setup.acme.apply(),
                                          messages: Dictionary(uniqueKeysWithValues: zip(users.map(\.id), cases.map(\.message))))
            // Every key the service issued and accessctl refused is revoked, once, with the secret.
            let revokes = hostile.requests.filter { $0.path == Self.revokePath }
            #expect(revokes.compactMap { $0.fields["token_id"] }.sorted() == cases.compactMap(\.revoked).sorted())
            let authorized = revokes.allSatisfy { String(decoding: $0.raw, as: UTF8.self).contains("Bearer \(AcmeServer.secret)") }
            #expect(authorized, "a revoke without the shared secret")
            try setup.expectConvergesWithMock()
        }
    }

    @Test("a refused key is revoked; its request id is asked again (the service may still hold a key for it) and, refused with 409, replaced: the run after converges")
    func refusedKeyFreshRequestID() throws {
        // A service that keeps the protocol: a request id it has answered is never answered
        // again with a new key (409); each user's first answer carries a key with a newline.
        let seen = Assignments()
        let hostile = try HostileService { request in
            if request.path == Self.revokePath { return .json(["status": "ok"]) }
            let email = request.fields["user_email"] ?? "", id = request.fields["request_id"] ?? ""
            switch seen.record(email: email, requestID: id) {
            case .replayed: return .response(status: 409, contentType: "application/json", body: Array(#"{"status":"error"}"#.utf8))
            case .first: return .json(Self.okBody(key: "crm_bad\nEVIL=1", token: "tok-bad-\(id)"))
            case .again: return .json(Self.okBody(key: "crm_" + Self.marker(), token: "tok-good-\(id)"))
            }
        }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41700, crmBase: hostile.url())
            let first = try setup.acme.apply()
            #expect(first.status == 3, "\(setup.redacted(first.stdout + first.stderr))")
            // The same request ids again: a service that lost an answer would return the key it
            // issued; this one revoked it, and says 409.
            let second = try setup.acme.apply()
            #expect(second.status == 3 && second.stderr.contains("HTTP 409"), "\(setup.redacted(second.stdout + second.stderr))")
            #expect(seen.replays == setup.crmUsers().count)
            let third = try setup.acme.apply()
            #expect(third.status == 0, "\(setup.redacted(third.stdout + third.stderr))")
            let crm = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).connections.filter { $0.service == "crm" }
            #expect(crm.count == setup.crmUsers().count && crm.allSatisfy { $0.status == .active && $0.tokenID?.hasPrefix("tok-good-") == true })
            #expect(seen.replays == setup.crmUsers().count, "a request id refused with 409 was sent again")
            let plan = try setup.acme.plan("--detailed-exitcode")
            #expect(plan.status == 0, "\(setup.redacted(plan.stdout))")
        }
    }

    @Test("https:// at a plain HTTP listener: TLS handshake failed; the secret never goes out in clear")
    func tlsHandshake() throws {
        let hostile = try HostileService { _ in .json(["status": "ok"]) }
        defer { hostile.stop() }
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 41500, crmBase: hostile.url(scheme: "https"))
            let message = "crm: TLS handshake failed (the server did not answer in TLS)"
            try setup.expectPartlyApplied(try setup.acme.apply(), messages: setup.everyCRMUser(message))
            // Handshakes only, each tried once: no HTTP request, the secret never sent in clear.
            let requests = hostile.requests
            let handshakes = requests.count == setup.crmUsers().count && requests.allSatisfy { $0.path == nil }
            let clear = requests.contains { Data($0.raw).range(of: Data(AcmeServer.secret.utf8)) != nil }
            #expect(handshakes && !clear, "\(requests.count) connections, secret in clear: \(clear)")
            try setup.expectConvergesWithMock()
        }
    }

    @Test("a self-signed certificate (openssl s_server): TLS certificate refused",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl"))
    func untrustedCertificate() throws {
        try Scratch.with { scratch in
            let tls = try SelfSignedServer(scratch)
            defer { tls.stop() }
            let setup = try Setup(scratch, firstUID: 41600, crmBase: "https://127.0.0.1:\(tls.port)")
            let message = "crm: TLS certificate refused (not verified by the system trust store)"
            try setup.expectPartlyApplied(try setup.acme.apply(), messages: setup.everyCRMUser(message))
            try setup.expectConvergesWithMock()
        }
    }
}

extension HostileServiceTests {
    @Test("http.ca_file: a certificate for another host or from another CA is refused (naming the host, the file); the company CA's certificate works",
          .enabled(if: TestCA.isAvailable, "needs openssl"))
    func privateCA() throws {
        try Scratch.with { scratch in
            let ca = try TestCA(directory: scratch.root)
            let other = try TestCA(directory: scratch.root, file: "other-ca", name: "another test CA")
            let setup = try Setup(scratch, firstUID: 41800, crmBase: "https://127.0.0.1:1", caFile: ca.certificate)
            // TLS fronts for the mock: its crm service answers behind each of them.
            func front(_ file: String, by signer: TestCA, names: [String]) throws -> TLSProxy {
                let certificate = try signer.serverCertificate(file, names: names)
                return try TLSProxy(certificate: certificate.certificate, key: certificate.key, backendPort: setup.acme.mock.port)
            }
            let wrongName = try front("wrong-name", by: ca, names: ["crm.internal.example.com"])
            defer { wrongName.stop() }
            try setup.pointCRM(at: wrongName.origin)
            try setup.expectPartlyApplied(try setup.acme.apply(),
                                          messages: setup.everyCRMUser("crm: TLS certificate refused (not issued for 127.0.0.1)"))

            let untrusted = try front("untrusted", by: other, names: ["127.0.0.1"])
            defer { untrusted.stop() }
            try setup.pointCRM(at: untrusted.origin)
            try setup.expectPartlyApplied(try setup.acme.apply(), messages: setup.everyCRMUser(
                "crm: TLS certificate refused (not verified by the trust roots of \(ca.certificate))"))

            let trusted = try front("trusted", by: ca, names: ["127.0.0.1"])
            defer { trusted.stop() }
            try setup.pointCRM(at: trusted.origin)
            let run = try setup.acme.apply()
            #expect(run.status == 0, "\(setup.redacted(run.stdout + run.stderr))")
            let crm = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).connections.filter { $0.service == "crm" }
            #expect(crm.count == setup.crmUsers().count && crm.allSatisfy { $0.status == .active && $0.apiKey != nil })
            try setup.acme.expectConverged()
        }
    }

    @Test("http.ca_file that is missing, a directory or not PEM: a config error at its path:line:column, nothing runs")
    func caFileConfigErrors() throws {
        try Scratch.with { scratch in
            try scratch.write("not.pem", "hello\n")
            try FileManager.default.createDirectory(atPath: scratch.path("dir.pem"), withIntermediateDirectories: true)
            let cases = [
                (scratch.path("missing.pem"), "cannot open \(scratch.path("missing.pem")): No such file or directory"),
                (scratch.path("dir.pem"), "\(scratch.path("dir.pem")) is not a regular file"),
                (scratch.path("not.pem"), "\(scratch.path("not.pem")) is not a PEM file of certificates "
                    + "(-----BEGIN CERTIFICATE----- blocks), or one of them is damaged"),
            ]
            for (file, problem) in cases {
                try scratch.write("config.yaml", "database: \(scratch.path("live.db"))\nhttp:\n  timeout_seconds: 5\n  ca_file: \(file)\n")
                let run = try Command.run(Project.accessctl, ["plan", "--config", scratch.path("config.yaml"),
                                                             "--repo", scratch.path("nowhere")])
                #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
                #expect(run.stderr.contains("\(scratch.path("config.yaml")):4:12: error: 'ca_file': \(problem)"), "\(run.stderr)")
                #expect(!FileManager.default.fileExists(atPath: scratch.path("live.db")))
            }
        }
    }
}

/// What a hostile service remembers of its callers: which answer each user gets (the index
/// of their email in a list set once the users are known, since the server starts before
/// the repository that names them exists), and which request ids it has answered.
private final class Assignments: @unchecked Sendable {
    private let lock = NSLock()
    private var emails: [String] = []
    private var requestIDs: Set<String> = []
    private var answered: Set<String> = []
    private var replayCount = 0

    /// How many requests came with a request id already answered.
    var replays: Int { lock.withLock { replayCount } }

    func set(_ emails: [String]) { lock.withLock { self.emails = emails } }
    func index(of email: String) -> Int { lock.withLock { emails.firstIndex(of: email) ?? 0 } }

    enum Seen { case first, again, replayed }

    /// Records an exchange: the user's first, a later one under a new request id, or a
    /// request id already answered.
    func record(email: String, requestID: String) -> Seen {
        lock.withLock {
            if !requestIDs.insert(requestID).inserted {
                replayCount += 1
                return .replayed
            }
            return answered.insert(email).inserted ? .first : .again
        }
    }
}

/// `openssl s_server` on 127.0.0.1 with a fresh self-signed certificate, which no trust
/// store accepts.
private final class SelfSignedServer {
    let port: Int
    private let process = Process()

    init(_ scratch: Scratch) throws {
        let made = try Command.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
            "-keyout", scratch.path("tls.key"), "-out", scratch.path("tls.crt"),
        ])
        try #require(made.status == 0, "openssl req failed")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", scratch.path("tls.crt"),
                             "-key", scratch.path("tls.key"), "-www"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = Pipe()
        try process.run()
        // "ACCEPT 127.0.0.1:PORT" once listening (after a line about DH parameters).
        var text = ""
        while !(text.contains("ACCEPT ") && text.hasSuffix("\n")) {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        let line = text.split(separator: "\n").first { $0.hasPrefix("ACCEPT ") }
        guard let found = line?.split(separator: ":").last.flatMap({ Int($0) }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ServerDidNotStart()
        }
        port = found
    }

    /// Kills the server (SIGKILL: s_server started from the test process outlived a SIGTERM).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

private struct ServerDidNotStart: Error {}
