import TokenExchange
import TokenProtocol
import AccessModel
import FlyingFox
import FlyingSocks
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: - An in-process token service on 127.0.0.1

/// What the test server saw.
final class Recorder: @unchecked Sendable {
    struct Call: Sendable {
        var method: String
        var path: String
        var authorization: String?
        var contentType: String?
        var body: [String: String]
        var ttlDays: Int?
    }

    private let lock = NSLock()
    private var _calls: [Call] = []
    private var inFlight = 0
    private var _maxInFlight = 0
    private var _produced = 0

    var calls: [Call] { lock.withLock { _calls } }
    var count: Int { lock.withLock { _calls.count } }
    var maxInFlight: Int { lock.withLock { _maxInFlight } }
    /// Bytes a streaming handler produced.
    var produced: Int { lock.withLock { _produced } }

    /// Records a call; returns how many calls came before it with the same path.
    func record(_ call: Call) -> Int {
        lock.withLock {
            _calls.append(call)
            return _calls.filter { $0.path == call.path }.count - 1
        }
    }

    func enter() {
        lock.withLock {
            inFlight += 1
            _maxInFlight = max(_maxInFlight, inFlight)
        }
    }

    func leave() { lock.withLock { inFlight -= 1 } }
    func produce(_ n: Int) { lock.withLock { _produced += n } }
}

typealias Reply = @Sendable (HTTPRequest, Recorder.Call, Int) async throws -> HTTPResponse

/// A FlyingFox server on 127.0.0.1 with an ephemeral port, calling `reply` for every
/// request with the decoded call and how many earlier calls had the same path.
final class TestService: Sendable {
    let server: HTTPServer
    let task: Task<Void, any Error>
    let port: UInt16
    let recorder: Recorder

    static func start(_ reply: @escaping Reply) async throws -> TestService {
        let recorder = Recorder()
        let handler = ClosureHTTPHandler { request in
            recorder.enter()
            defer { recorder.leave() }
            let data = try await request.bodyData
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            var fields: [String: String] = [:]
            for (k, v) in object { if let s = v as? String { fields[k] = s } }
            let call = Recorder.Call(method: request.method.rawValue, path: request.path,
                                     authorization: request.headers[.authorization],
                                     contentType: request.headers[.contentType], body: fields,
                                     ttlDays: object["ttl_days"] as? Int)
            let earlier = recorder.record(call)
            return try await reply(request, call, earlier)
        }
        let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: 0), timeout: 30, logger: .disabled,
                                handler: handler)
        let task = Task { try await server.run() }
        try await server.waitUntilListening(timeout: 60)
        guard case .ip4(_, let port)? = await server.listeningAddress else {
            throw CancellationError()
        }
        disableNagle(listeningOn: port)
        return TestService(server: server, task: task, port: port, recorder: recorder)
    }

    private init(server: HTTPServer, task: Task<Void, any Error>, port: UInt16, recorder: Recorder) {
        self.server = server
        self.task = task
        self.port = port
        self.recorder = recorder
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    func stop() { task.cancel() }

    func service(id: String = "crm", prefix: String? = nil, secretEnv: String = "SC_SECRET_CRM",
                 exchangePath: String = "/exchange") -> Service {
        Service(id: id, name: id.uppercased(), tokenExchangeURL: url(exchangePath), tokenRevokeURL: url("/revoke"),
                healthURL: url("/health"), envVar: "CRM_API_KEY", secretEnv: secretEnv, skillPath: "skills/\(id).md",
                skill: "# \(id)\n", ttlDays: 90, keyPrefix: prefix)
    }
}

/// FlyingFox writes a response's head and body in separate writes without TCP_NODELAY,
/// so every keep-alive response waits ~40 ms for the client's delayed ACK (Nagle). Setting
/// TCP_NODELAY on the listening socket (found by its port; accepted sockets inherit it on
/// Linux) keeps the tests fast. Test-only; a no-op if the socket is not found.
private func disableNagle(listeningOn port: UInt16) {
    #if os(Linux)
    for fd in Int32(3)..<4096 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0, address.sin_family == sa_family_t(AF_INET),
              UInt16(bigEndian: address.sin_port) == port else { continue }
        var listening: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening == 1 else { continue }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return
    }
    #endif
}

/// A chunked body that yields `chunks` with `delay` seconds before each, counting what it produced.
private struct SlowBody: AsyncBufferedSequence, Sendable {
    typealias Element = UInt8
    let chunks: [[UInt8]]
    let delay: Double
    let recorder: Recorder

    func makeAsyncIterator() -> Iterator { Iterator(chunks: chunks, delay: delay, recorder: recorder) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let chunks: [[UInt8]]
        let delay: Double
        let recorder: Recorder
        var index = 0
        var pending: [UInt8] = []

        mutating func next() async throws -> UInt8? {
            if pending.isEmpty {
                guard let buffer = try await nextBuffer(suggested: 1) else { return nil }
                pending = Array(buffer)
            }
            return pending.removeFirst()
        }

        mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
            guard index < chunks.count else { return nil }
            if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            defer { index += 1 }
            recorder.produce(chunks[index].count)
            return chunks[index]
        }
    }
}

// MARK: - Helpers

let sharedSecret = "shh-SHARED-s3cret-value-0042"
let secrets = SecretStore(environment: ["SC_SECRET_CRM": sharedSecret])

func json(_ object: [String: Any], status: HTTPStatusCode = .ok) -> HTTPResponse {
    let data = try! JSONSerialization.data(withJSONObject: object)
    return HTTPResponse(statusCode: status, headers: [.contentType: "application/json"], body: data)
}

func future(_ days: Double = 90) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: Date().addingTimeInterval(days * 86_400))
}

func okBody(key: String = "crm_live_0123456789abcdef", token: String = "tok-1",
                    expires: String? = nil) -> [String: Any] {
    ["status": "ok", "api_key": key, "token_id": token, "expires_at": expires ?? future()]
}

/// Short backoff; generous timeouts (the suite runs beside every other suite on a loaded
/// 2-core CI machine: a 5 s deadline was missed there once). Tests of the timeouts set
/// their own, much shorter, values.
func fast(_ change: (inout ExchangeSettings) -> Void = { _ in }) -> ExchangeSettings {
    var settings = ExchangeSettings()
    settings.backoff = 0.01
    settings.connectTimeout = 10
    settings.totalTimeout = 30
    change(&settings)
    return settings
}

func request(_ service: Service, _ n: Int = 0) -> ExchangeRequest {
    ExchangeRequest(service: service, userEmail: "user\(n)@example.com", requestID: "req-\(n)-\(UUID().uuidString)")
}

func failed<T>(_ result: Result<T, ExchangeError>) -> ExchangeError? {
    if case .failure(let error) = result { return error }
    return nil
}

func succeeded<T>(_ result: Result<T, ExchangeError>) -> T? {
    if case .success(let value) = result { return value }
    return nil
}

/// Every rendering of an error a caller might print or log.
private func renderings(_ error: ExchangeError) -> [String] {
    var dumped = ""
    dump(error, to: &dumped)
    return [error.message, error.description, String(describing: error), String(reflecting: error),
            "\(error)", error.localizedDescription, dumped]
}

// MARK: - Tests

@Suite("Token client", .serialized)
struct TokenClientTests {
    @Test("issues a key: request shape, headers, parsed answer")
    func issuesKey() async throws {
        let service = try await TestService.start { _, _, _ in json(okBody(expires: "2099-01-02T03:04:05Z")) }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let req = ExchangeRequest(service: service.service(prefix: "crm_"), userEmail: "john@example.com",
                                  requestID: "3f1c-uuid")
        let results = await client.exchange([req])
        let key = try #require(succeeded(results[0]))
        #expect(key.apiKey.revealed == "crm_live_0123456789abcdef")
        #expect(key.tokenID == "tok-1")
        #expect(key.expiresAt == 4_071_006_245)
        let call = try #require(service.recorder.calls.first)
        #expect(call.method == "POST")
        #expect(call.path == "/exchange")
        #expect(call.authorization == "Bearer \(sharedSecret)")
        #expect(call.contentType == "application/json")
        #expect(call.body == ["user_email": "john@example.com", "request_id": "3f1c-uuid"])
        #expect(call.ttlDays == 90)
    }

    @Test("retries 503 with the same request_id, then succeeds")
    func idempotentRetries() async throws {
        let service = try await TestService.start { _, _, earlier in
            earlier < 2 ? json(["error": "busy"], status: .serviceUnavailable) : json(okBody())
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let req = request(service.service())
        let results = await client.exchange([req])
        #expect(succeeded(results[0]) != nil)
        let calls = service.recorder.calls
        #expect(calls.count == 3)
        #expect(Set(calls.map { $0.body["request_id"] ?? "" }) == [req.requestID])
    }

    @Test("4xx is not retried")
    func clientErrorNotRetried() async throws {
        let service = try await TestService.start { _, _, _ in
            json(["error": "unknown user\nx"], status: .forbidden)
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let error = try #require(failed(await client.exchange([request(service.service())])[0]))
        #expect(service.recorder.count == 1)
        #expect(error.kind == .httpStatus)
        #expect(error.httpStatus == 403)
        #expect(error.message == #"crm: HTTP 403 ("unknown user\nx")"#)
    }

    @Test("30% 5xx over many requests: most succeed, failures are clear")
    func flakyService() async throws {
        let service = try await TestService.start { _, _, _ in
            Double.random(in: 0..<1) < 0.3 ? json([:], status: .internalServerError) : json(okBody())
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast { $0.backoff = 0.001 }, secrets: secrets)
        let results = await client.exchange((0..<150).map { request(service.service(), $0) })
        let failures = results.compactMap(failed)
        #expect(failures.count < 20)  // expected ~4 (0.3^3 of 150)
        for error in failures {
            #expect(error.message == "crm: HTTP 500 after 3 attempts")
            #expect(error.attempts == 3)
        }
        #expect(service.recorder.count < 150 * 3)
    }

    @Test("a handler slower than the total timeout: timed out")
    func timeout() async throws {
        let service = try await TestService.start { _, _, _ in
            try await Task.sleep(nanoseconds: 3_000_000_000)
            return json(okBody())
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast { $0.totalTimeout = 0.25 }, secrets: secrets)
        let start = Date()
        let error = try #require(failed(await client.exchange([request(service.service())])[0]))
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(error.kind == .timeout)
        #expect(error.message == "crm: timed out after 0.25 s")
    }

    @Test("an answer slower than the connect timeout but within the total timeout is fine")
    func slowButConnected() async throws {
        let service = try await TestService.start { _, _, _ in
            try await Task.sleep(nanoseconds: 250_000_000)
            return json(okBody())
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast { $0.connectTimeout = 0.05 }, secrets: secrets)
        let results = await client.exchange([request(service.service())])
        #expect(succeeded(results[0]) != nil)
        #expect(service.recorder.count == 1)
    }

    @Test("a listener that never accepts: connect timeout, retried, then a clear error")
    func connectTimeout() async throws {
        // A listening socket with a full accept queue: the kernel drops further SYNs.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(listener, $0, length) == 0, listen(listener, 0) == 0,
                      getsockname(listener, $0, &length) == 0 else { throw CancellationError() }
            }
        }
        var fillers: [Int32] = []
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
            fillers.append(fd)
        }
        defer { for fd in fillers + [listener] { close(fd) } }
        try await Task.sleep(nanoseconds: 50_000_000)
        let port = UInt16(bigEndian: address.sin_port)
        var service = Service(id: "crm", name: "CRM", tokenExchangeURL: "http://127.0.0.1:\(port)/exchange",
                              tokenRevokeURL: "http://127.0.0.1:\(port)/revoke", envVar: "CRM_API_KEY",
                              secretEnv: "SC_SECRET_CRM", skillPath: "skills/crm.md", skill: "", ttlDays: 90)
        service.keyPrefix = nil
        let client = TokenClient(settings: fast { $0.connectTimeout = 0.15; $0.attempts = 2 }, secrets: secrets)
        let start = Date()
        let error = try #require(failed(await client.exchange([request(service)])[0]))
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.3 && elapsed < 3)
        #expect(error.kind == .network)
        #expect(error.message == "crm: could not connect within 0.15 s after 2 attempts")
    }

    @Test("a body trickling in past the deadline: timed out")
    func slowTrickle() async throws {
        let service = try await TestService.start { _, _, _ in
            let text = Array(#"{"status":"ok","api_key":"crm_live_0123456789abcdef","token_id":"t"}"#.utf8)
            let body = SlowBody(chunks: text.map { [$0] }, delay: 0.05, recorder: Recorder())
            return HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"],
                                body: HTTPBodySequence(from: body))
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast { $0.totalTimeout = 0.3 }, secrets: secrets)
        let start = Date()
        let error = try #require(failed(await client.exchange([request(service.service())])[0]))
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(error.kind == .timeout)
        #expect(error.message == "crm: timed out after 0.3 s")
    }

    @Test("malformed JSON and HTML with 200 are refused")
    func malformed() async throws {
        let service = try await TestService.start { request, _, _ in
            switch request.path {
            case "/broken":
                return HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"],
                                    body: Data(#"{"status":"ok","api_key":"#.utf8))
            case "/html":
                return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/html"],
                                    body: Data("<html><body>Login \(sharedSecret)</body></html>".utf8))
            case "/array":
                return json(["status": "ok"]).withBody(Data("[1,2]".utf8))
            case "/notok":
                return json(["status": "error", "error": "quota exceeded", "api_key": "crm_live_leakleakleak"])
            default:
                return json(["status": "ok", "api_key": "crm_live_0123456789", "token_id": 42, "expires_at": future()])
            }
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let paths = ["/broken", "/html", "/array", "/notok", "/types"]
        let results = await client.exchange(paths.map { request(service.service(exchangePath: $0)) })
        let messages = results.map { failed($0)?.message }
        #expect(messages == [
            #"crm: response is not JSON (content type "application/json")"#,
            #"crm: response is not JSON (content type "text/html")"#,
            "crm: response is not a JSON object",
            #"crm: response status is not "ok" (status "error": "quota exceeded")"#,
            #"crm: response has no string "token_id""#,
        ])
        #expect(results.allSatisfy { failed($0)?.kind == .malformedResponse })
        #expect(service.recorder.count == paths.count)  // none retried
    }

    @Test("a 1 MiB body is refused without reading it all")
    func oversized() async throws {
        let producer = Recorder()
        let service = try await TestService.start { request, _, _ in
            if request.path == "/length" {
                return HTTPResponse(statusCode: .ok, body: Data(repeating: 0x41, count: 1 << 20))
            }
            // 1 MiB chunked (no length) at about 8 MB/s, a network's pace: the client must
            // hang up soon after 64 KiB (it stops reading at the cap).
            let chunk = [UInt8](repeating: 0x41, count: 16 * 1024)
            let body = SlowBody(chunks: Array(repeating: chunk, count: 64), delay: 0.002, recorder: producer)
            return HTTPResponse(statusCode: .ok, body: HTTPBodySequence(from: body))
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let start = Date()
        let results = await client.exchange(["/length", "/stream"].map { request(service.service(exchangePath: $0)) })
        #expect(Date().timeIntervalSince(start) < 3)
        for result in results {
            let error = try #require(failed(result))
            #expect(error.kind == .responseTooLarge)
            #expect(error.message == "crm: response larger than 65536 bytes")
        }
        #expect(producer.produced < 512 * 1024)
        #expect(service.recorder.count == 2)  // not retried
    }

    @Test("redirects are refused, not followed", arguments: [301, 302, 303, 307, 308])
    func redirect(status: Int) async throws {
        let service = try await TestService.start { request, _, _ in
            if request.path == "/moved" { return json(okBody()) }
            return HTTPResponse(statusCode: HTTPStatusCode(status, phrase: "Redirect"),
                                headers: HTTPHeaders([.location: "/moved?token=abc"]), body: Data("see other".utf8))
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let error = try #require(failed(await client.exchange([request(service.service())])[0]))
        #expect(error.kind == .redirect)
        #expect(error.message == "crm: redirect (HTTP \(status)) to \(service.url("/moved"))?… refused")
        #expect(service.recorder.calls.map(\.path) == ["/exchange"])
    }

    @Test("bad keys, token ids and expiries are refused without showing the key; an issued key is revoked")
    func badKeys() async throws {
        let keys: [String: String] = [
            "/newline": "crm_live_0123\n456789", "/quote": "crm_live_01\"23456789", "/home": "crm_${HOME}_456789",
            "/prefix": "xyz_live_0123456789", "/short": "crm_1", "/space": "crm_live 0123456789",
            "/unicode": "crm_live_0123456789é", "/long": "crm_" + String(repeating: "a", count: 5000),
        ]
        let service = try await TestService.start { request, _, _ in
            switch request.path {
            case "/tokenid": return json(okBody(token: String(repeating: "t", count: 10_000)))
            case "/tokenspace": return json(okBody(token: "tok 1"))
            case "/past": return json(okBody(expires: "2001-01-01T00:00:00Z"))
            case "/baddate": return json(okBody(expires: "next tuesday"))
            case "/revoke": return json(["status": "ok"])
            default: return json(okBody(key: keys[request.path]!))
            }
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let paths = keys.keys.sorted() + ["/tokenid", "/tokenspace", "/past", "/baddate"]
        let results = await client.exchange(paths.map { request(service.service(prefix: "crm_", exchangePath: $0)) })
        var messages: [String: String] = [:]
        for (path, result) in zip(paths, results) {
            let error = try #require(failed(result), "\(path) accepted")
            #expect(error.kind == .invalidKey)
            messages[path] = error.message
            for text in renderings(error) {
                for key in keys.values { #expect(!text.contains(key)) }
                #expect(!text.contains(String(repeating: "t", count: 300)))
            }
        }
        let alphabet = "[A-Za-z0-9._~+/=:@%-]"
        // With a usable token_id the service issued a key: it is revoked at once.
        let revoked = #"; the key it issued (token "tok-1") was revoked"#
        #expect(messages["/newline"] == "crm: api_key has characters outside \(alphabet) (newline)" + revoked)
        #expect(messages["/quote"] == "crm: api_key has characters outside \(alphabet) (double quote)" + revoked)
        #expect(messages["/home"] == "crm: api_key has characters outside \(alphabet) (dollar sign)" + revoked)
        #expect(messages["/space"] == "crm: api_key has characters outside \(alphabet) (space)" + revoked)
        #expect(messages["/unicode"] == "crm: api_key has characters outside \(alphabet) (non-ASCII character)" + revoked)
        #expect(messages["/prefix"] == #"crm: api_key does not start with the service's key_prefix "crm_""# + revoked)
        #expect(messages["/short"] == "crm: api_key is 5 characters long; expected 8 to 4096" + revoked)
        #expect(messages["/long"] == "crm: api_key is 5004 characters long; expected 8 to 4096" + revoked)
        #expect(messages["/tokenid"] == "crm: token_id is 10000 characters long; expected 1 to 256")
        #expect(messages["/tokenspace"] == "crm: token_id has characters outside printable ASCII (space)")
        #expect(messages["/past"] == #"crm: expires_at "2001-01-01T00:00:00Z" is not in the future"# + revoked)
        #expect(messages["/baddate"] == "crm: expires_at is not an RFC 3339 date-time" + revoked)
        let revokes = service.recorder.calls.filter { $0.path == "/revoke" }
        #expect(service.recorder.count - revokes.count == paths.count)  // none retried
        #expect(revokes.count == paths.count - 2 && revokes.allSatisfy { $0.body["token_id"] == "tok-1" })
    }

    @Test("missing secret: clear error, no HTTP call; other services go on")
    func missingSecret() async throws {
        let service = try await TestService.start { _, _, _ in json(okBody()) }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let missing = service.service(id: "po", secretEnv: "SC_SECRET_PO")
        let results = await client.exchange([request(missing, 1), request(service.service(), 2), request(missing, 3)])
        #expect(failed(results[0])?.message == "po: no shared secret: set SC_SECRET_PO or provide the credential SC_SECRET_PO")
        #expect(failed(results[0])?.kind == .missingSecret)
        #expect(failed(results[0])?.attempts == 0)
        #expect(succeeded(results[1]) != nil)
        #expect(failed(results[2])?.kind == .missingSecret)
        #expect(service.recorder.count == 1)
        #expect(service.recorder.calls.allSatisfy { $0.body["user_email"] == "user2@example.com" })
    }

    @Test("secrets from CREDENTIALS_DIRECTORY files")
    func credentialsDirectory() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("from-file-secret\n".utf8).write(to: URL(fileURLWithPath: dir + "/SC_SECRET_CRM"))
        try Data(repeating: 0x41, count: 70_000).write(to: URL(fileURLWithPath: dir + "/BIG"))
        try FileManager.default.createDirectory(atPath: dir + "/ADIR", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/LINK", withDestinationPath: dir + "/SC_SECRET_CRM")
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/../NOTME"))
        defer { try? FileManager.default.removeItem(atPath: dir + "/../NOTME") }

        let store = SecretStore(environment: ["CREDENTIALS_DIRECTORY": dir, "ENVFIRST": "env-value"])
        #expect(store.secret(named: "SC_SECRET_CRM")?.revealed == "from-file-secret")
        #expect(store.secret(named: "ENVFIRST")?.revealed == "env-value")
        #expect(store.secret(named: "BIG") == nil)
        #expect(store.secret(named: "ADIR") == nil)
        #expect(store.secret(named: "LINK") == nil)
        #expect(store.secret(named: "../NOTME") == nil)
        #expect(store.secret(named: "NOPE") == nil)
        #expect(SecretStore(environment: [:]).secret(named: "SC_SECRET_CRM") == nil)
        // The environment wins over the file.
        let both = SecretStore(environment: ["CREDENTIALS_DIRECTORY": dir, "SC_SECRET_CRM": "env-wins"])
        #expect(both.secret(named: "SC_SECRET_CRM")?.revealed == "env-wins")

        let service = try await TestService.start { _, _, _ in json(okBody()) }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: store)
        let big = service.service(id: "big", secretEnv: "BIG")
        let results = await client.exchange([request(service.service()), request(big)])
        #expect(succeeded(results[0]) != nil)
        #expect(service.recorder.calls.first?.authorization == "Bearer from-file-secret")
        #expect(failed(results[1])?.message == "big: no shared secret: the credential file BIG is larger than 65536 bytes")
    }

    @Test("revoke: 200 and 404 succeed, 500 is retried then fails")
    func revoke() async throws {
        let service = try await TestService.start { _, call, _ in
            switch call.body["token_id"] {
            case "gone": return json(["error": "no such token"], status: .notFound)
            case "boom": return json(["error": "db down"], status: .internalServerError)
            case "bad": return json(["status": "nope"])
            default: return json(["status": "ok"])
            }
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let requests = ["t1", "gone", "boom", "bad"].map { RevokeRequest(service: service.service(), tokenID: $0) }
        let results = await client.revoke(requests)
        #expect(failed(results[0]) == nil)
        #expect(failed(results[1]) == nil)
        #expect(failed(results[2])?.message == #"crm: HTTP 500 after 3 attempts ("db down")"#)
        #expect(failed(results[3])?.message == #"crm: revoke: response status is not "ok" (status "nope")"#)
        let calls = service.recorder.calls
        #expect(calls.filter { $0.body["token_id"] == "boom" }.count == 3)
        #expect(calls.filter { $0.body["token_id"] == "gone" }.count == 1)
        #expect(calls.allSatisfy { $0.path == "/revoke" && $0.authorization == "Bearer \(sharedSecret)" })
    }

    @Test("health: 2xx healthy, other statuses and refused connections are not")
    func health() async throws {
        let service = try await TestService.start { request, _, _ in
            request.path == "/health" ? HTTPResponse(statusCode: .noContent) : json([:], status: .serviceUnavailable)
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        #expect(failed(await client.health(service.url("/health"))) == nil)
        #expect(failed(await client.health(service.url("/down"), service: "crm"))?.message
            == "crm: health check answered HTTP 503")
        // A port nothing listens on (the server's, once stopped).
        let closed = try await TestService.start { _, _, _ in json([:]) }
        let closedURL = closed.url("/health")
        closed.stop()
        try await Task.sleep(nanoseconds: 100_000_000)
        let error = try #require(failed(await client.health(closedURL, service: "crm")))
        #expect(error.kind == .network)
        #expect(failed(await client.health("ftp://example.com/x"))?.kind == .invalidRequest)
    }

    @Test("at most `concurrency` requests in flight; results in order; progress reported")
    func boundedConcurrency() async throws {
        let service = try await TestService.start { _, call, _ in
            try await Task.sleep(nanoseconds: 20_000_000)
            return json(okBody(token: "tok-" + (call.body["user_email"] ?? "?")))
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast { $0.concurrency = 4 }, secrets: secrets)
        let progress = Recorder()
        let requests = (0..<40).map { request(service.service(), $0) }
        let results = await client.exchange(requests) { _, total in
            #expect(total == 40)
            progress.produce(1)
        }
        #expect(service.recorder.maxInFlight <= 4)
        #expect(service.recorder.maxInFlight >= 2)
        #expect(progress.produced == 40)
        #expect(results.map { succeeded($0)?.tokenID } == (0..<40).map { "tok-user\($0)@example.com" })
    }

    @Test("no shared secret or key in any error rendering")
    func noSecretsInErrors() async throws {
        let key = "crm_live_SUPERSECRETKEY_0123456789"
        let service = try await TestService.start { request, call, _ in
            let echo = call.authorization ?? ""
            switch request.path {
            case "/echo401": return json(["error": "bad credentials: \(echo)", "api_key": key], status: .unauthorized)
            case "/echo500": return json(["message": "\(sharedSecret) \(key)"], status: .internalServerError)
            case "/status": return json(["status": "\(key)", "error": echo, "api_key": key])
            case "/badkey": return json(okBody(key: key + "\n"))
            case "/prefix": return json(okBody(key: "zz" + key))
            case "/html": return HTTPResponse(statusCode: .ok, body: Data("<p>\(echo) \(key)</p>".utf8))
            case "/redirect":
                return HTTPResponse(statusCode: .movedPermanently,
                                    headers: HTTPHeaders([.location: "http://127.0.0.1:1/x?k=\(key)&s=\(sharedSecret)"]))
            case "/nested": return json(["error": ["message": "\(sharedSecret)"]], status: .badRequest)
            default: return json(okBody(key: key, token: "tok\n\(sharedSecret)"))
            }
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let paths = ["/echo401", "/echo500", "/status", "/badkey", "/prefix", "/html", "/redirect", "/nested", "/token"]
        let results = await client.exchange(paths.map { request(service.service(prefix: "crm_", exchangePath: $0)) })
        let revokes = await client.revoke(["/echo401", "/echo500", "/status"].map {
            RevokeRequest(serviceID: "crm", revokeURL: service.url($0), secretEnv: "SC_SECRET_CRM", tokenID: "t")
        })
        var errors = results.compactMap(failed) + revokes.compactMap(failed)
        #expect(errors.count == paths.count + 3)
        let secretless = SecretStore(environment: ["SC_SECRET_CRM": "has space \(sharedSecret)"])
        errors += await TokenClient(settings: fast(), secrets: secretless).exchange([request(service.service())])
            .compactMap(failed)
        var all = ""
        for error in errors {
            for text in renderings(error) { all += text + "\n" }
        }
        #expect(!all.contains(sharedSecret))
        #expect(!all.contains(key))
        #expect(!all.contains("SUPERSECRET"))
        #expect(all.contains("[redacted]"))
    }

    @Test("RFC 3339 forms of expires_at; user_email and request_id are JSON-escaped")
    func expiryFormsAndEscaping() async throws {
        let forms = ["2099-01-02T03:04:05Z", "2099-01-02t03:04:05z", "2099-01-02T05:04:05.123456+02:00",
                     "2099-01-01T22:34:05-04:30"]
        let service = try await TestService.start { _, call, _ in
            json(okBody(expires: forms[Int(call.body["request_id"] ?? "") ?? 0]))
        }
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        let email = "o\"brien\n\\x@example.com"
        let results = await client.exchange(forms.indices.map {
            ExchangeRequest(service: service.service(), userEmail: email, requestID: String($0))
        })
        #expect(results.map { succeeded($0)?.expiresAt } == Array(repeating: 4_071_006_245, count: forms.count))
        #expect(service.recorder.calls.allSatisfy { $0.body["user_email"] == email })

        let bad = ["2099-02-30T00:00:00Z", "2099-01-02 03:04:05Z", "2099-01-02T03:04:05", "2099-01-02T03:04Z",
                   "2099-01-02T03:04:05+2:00", "99-01-02T03:04:05Z", "2099-01-02T03:04:05.Z"]
        let refusing = try await TestService.start { _, call, _ in
            json(okBody(expires: bad[Int(call.body["request_id"] ?? "") ?? 0]))
        }
        defer { refusing.stop() }
        let refused = await client.exchange(bad.indices.map {
            ExchangeRequest(service: refusing.service(), userEmail: "a@example.com", requestID: String($0))
        })
        let message = #"crm: expires_at is not an RFC 3339 date-time; the key it issued (token "tok-1") was revoked"#
        #expect(refused.allSatisfy { failed($0)?.message == message })
    }

    @Test("an issued key shows only its fingerprint")
    func issuedKeyDescription() {
        let key = IssuedKey(apiKey: Secret("crm_live_0123456789abcdef"), tokenID: "t", expiresAt: 1)
        #expect(!"\(key)".contains("0123456789abcdef"))
        #expect(!String(reflecting: key).contains("0123456789abcdef"))
    }
}

private extension HTTPResponse {
    func withBody(_ data: Data) -> HTTPResponse {
        HTTPResponse(statusCode: statusCode, headers: headers, body: data)
    }
}
