import FlyingFox
import FlyingSocks
import Foundation
import Synchronization

/// Things learnt once the socket is bound, and counters reported by `/_ledger`.
final class ServerInfo: Sendable {
    private struct State {
        var authority = "127.0.0.1:0"
        var redirectsFollowed = 0
    }

    private let state = Mutex(State())

    var authority: String {
        get { state.withLock { $0.authority } }
        set { state.withLock { $0.authority = newValue } }
    }

    var redirectsFollowed: Int { state.withLock { $0.redirectsFollowed } }
    func countRedirectFollowed() { state.withLock { $0.redirectsFollowed += 1 } }
}

/// The whole HTTP surface of the mock.
struct MockService: HTTPHandler {
    let ledger: Ledger
    let faults: FaultState
    let secrets: [String: String]
    let defaultSecret: String?
    let keyPrefixes: [String: String]
    let info: ServerInfo
    let verbose: Bool

    static let maxBody = 64 * 1024

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        let parts = request.path.split(separator: "/")
        let method = request.method
        switch parts.count {
        case 1 where parts[0] == "_ledger":
            guard method == .GET else { return notAllowed("GET") }
            return ledgerSnapshot()
        case 1 where parts[0] == "_faults":
            if method == .GET { return json(.ok, faults.current.json.data) }
            guard method == .POST else { return notAllowed("GET, POST") }
            guard let body = try await readBody(request) else { return tooLarge() }
            do {
                let (new, seed) = try Faults.update(faults.current, with: body)
                faults.set(new, seed: seed)
                return json(.ok, new.json.data)
            } catch {
                return json(.badRequest, errorBody("\(error)"))
            }
        case 1 where parts[0] == "elsewhere":
            // Where the redirect fault points. A client that follows redirects lands here and
            // gets a plausible token that was never issued (and /_ledger counts the visit).
            _ = try await readBody(request)
            info.countRedirectFollowed()
            var o = JSONObject()
            o.add("status", "ok")
            o.add("api_key", "redirected_key_never_issued_000000")
            o.add("token_id", "tok_" + String(repeating: "0", count: 24))
            o.add("expires_at", rfc3339(nowSeconds() + 86_400))
            return json(.ok, o.data)
        case 2 where parts[1] == "healthz" && Options.isServiceName(parts[0]):
            guard method == .GET || method == .HEAD else { return notAllowed("GET") }
            return json(.ok, Data(#"{"status":"ok"}"#.utf8))
        case 4 where parts[1] == "api" && parts[2] == "internal" && Options.isServiceName(parts[0]):
            let service = String(parts[0])
            switch parts[3] {
            case "token-exchange":
                guard method == .POST else { return notAllowed("POST") }
                return try await exchange(service: service, request: request)
            case "token-revoke":
                guard method == .POST else { return notAllowed("POST") }
                return try await revoke(service: service, request: request)
            default:
                break
            }
        default:
            break
        }
        _ = try? await readBody(request)
        return json(.notFound, errorBody("not found"))
    }

    // MARK: exchange and revoke

    private func exchange(service: String, request: HTTPRequest) async throws -> HTTPResponse {
        guard let body = try await readBody(request) else { return tooLarge() }
        guard authorized(service: service, request: request) else {
            log("exchange \(service) -> 401")
            return json(.unauthorized, errorBody("unauthorized"))
        }
        let parsed: ExchangeBody
        switch ExchangeBody.parse(body) {
        case .success(let p): parsed = p
        case .failure(let e):
            log("exchange \(service) -> 400 \(e.message)")
            return json(.badRequest, errorBody(e.message))
        }
        let prefix = keyPrefixes[service] ?? service + "_"
        let (decision, latency) = faults.decide(revoke: false)
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        if let response = injected(decision.before, prefix: prefix) {
            log("exchange \(service) request_id=\(parsed.requestID) -> injected \(decision.before)")
            return response
        }
        let outcome = await ledger.exchange(service: service, userEmail: parsed.userEmail, ttlDays: parsed.ttlDays,
                                            requestID: parsed.requestID, keyPrefix: prefix)
        switch outcome {
        case .conflict(let message):
            log("exchange \(service) request_id=\(parsed.requestID) -> 409 \(message)")
            return json(.conflict, errorBody(message))
        case .issued(let token, let new):
            let what = "\(new ? "issued" : "replayed") \(token.tokenID) \(fingerprint(token.apiKey))"
            if decision.lostResponse {
                log("exchange \(service) request_id=\(parsed.requestID) -> 503 after commit (\(what))")
                return unavailable("response lost (injected fault)")
            }
            var o = JSONObject()
            o.add("status", "ok")
            o.add("api_key", token.apiKey)
            o.add("token_id", token.tokenID)
            o.add("expires_at", token.expiresAt)
            log("exchange \(service) request_id=\(parsed.requestID) -> 200 \(what)\(decision.trickle ? " (trickled)" : "")")
            return decision.trickle ? trickled(o.data) : json(.ok, o.data, noStore: true)
        }
    }

    private func revoke(service: String, request: HTTPRequest) async throws -> HTTPResponse {
        guard let body = try await readBody(request) else { return tooLarge() }
        guard authorized(service: service, request: request) else {
            log("revoke \(service) -> 401")
            return json(.unauthorized, errorBody("unauthorized"))
        }
        let parsed: RevokeBody
        switch RevokeBody.parse(body) {
        case .success(let p): parsed = p
        case .failure(let e):
            log("revoke \(service) -> 400 \(e.message)")
            return json(.badRequest, errorBody(e.message))
        }
        let (decision, latency) = faults.decide(revoke: true)
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        if let response = injected(decision.before, prefix: "") {
            log("revoke \(service) \(parsed.tokenID) -> injected \(decision.before)")
            return response
        }
        switch await ledger.revoke(service: service, tokenID: parsed.tokenID) {
        case .notFound:
            log("revoke \(service) \(parsed.tokenID) -> 404")
            return json(.notFound, errorBody("not found"))
        case .revoked:
            if decision.lostResponse {
                log("revoke \(service) \(parsed.tokenID) -> 503 after commit (revoked)")
                return unavailable("response lost (injected fault)")
            }
            log("revoke \(service) \(parsed.tokenID) -> 200\(decision.trickle ? " (trickled)" : "")")
            let ok = Data(#"{"status":"ok"}"#.utf8)
            return decision.trickle ? trickled(ok) : json(.ok, ok)
        }
    }

    /// The answer of a fault that replaces the real work, if any. Nothing is recorded.
    private func injected(_ fault: FaultDecision.Before, prefix: String) -> HTTPResponse? {
        switch fault {
        case .none:
            return nil
        case .error:
            return unavailable("service unavailable (injected fault)")
        case .redirect:
            return HTTPResponse(statusCode: .found,
                                headers: [.location: "http://\(info.authority)/elsewhere", .contentType: "text/plain"],
                                body: Data("moved\n".utf8))
        case .html:
            let page = """
                <!DOCTYPE html>
                <html><head><title>Sign in</title></head>
                <body><h1>Sign in to continue</h1><form method="post" action="/login">
                <input name="user"><input name="password" type="password"><button>Sign in</button></form></body></html>

                """
            return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: Data(page.utf8))
        case .malformed(let variant):
            let bodies = [
                #"{"status":"ok","api_key":"#,                      // cut short
                "OK\n",                                              // plain text
                #"{"status":"ok"} {"status":"ok"}"#,                 // trailing garbage
            ]
            return json(.ok, Data(bodies[variant % bodies.count].utf8))
        case .oversized:
            var o = JSONObject()
            o.add("status", "ok")
            o.add("api_key", (prefix.isEmpty ? "x_" : prefix) + RandomID.base62(count: 40))
            o.add("token_id", RandomID.tokenID())
            o.add("expires_at", rfc3339(nowSeconds() + 86_400))
            o.add("padding", String(repeating: "A", count: 1 << 20))
            return json(.ok, o.data)
        case .badKey(let variant):
            var o = JSONObject()
            o.add("status", "ok")
            o.add("api_key", prefix + BadKey.variants[variant % BadKey.variants.count])
            o.add("token_id", RandomID.tokenID())
            o.add("expires_at", rfc3339(nowSeconds() + 86_400))
            return json(.ok, o.data)
        }
    }

    // MARK: /_ledger

    private func ledgerSnapshot() -> HTTPResponse {
        let (live, issued, revoked, syncs) = ledger.snapshot()
        let rows = live.map { t -> String in
            var o = JSONObject()
            o.add("token_id", t.tokenID)
            o.add("service", t.service)
            o.add("user_email", t.userEmail)
            o.add("request_id", t.requestID)
            o.add("key_fingerprint", fingerprint(t.apiKey))
            o.add("issued_at", t.issuedAt)
            o.add("expires_at", t.expiresAt)
            return o.text
        }
        var o = JSONObject()
        o.add("live", raw: "[" + rows.joined(separator: ",") + "]")
        o.add("issued", issued)
        o.add("revoked", revoked)
        o.add("redirects_followed", info.redirectsFollowed)
        o.add("ledger_syncs", syncs)
        return json(.ok, o.data)
    }

    // MARK: helpers

    private func authorized(service: String, request: HTTPRequest) -> Bool {
        guard let expected = secrets[service] ?? defaultSecret,
              let header = request.headers[.authorization] else { return false }
        let scheme = "bearer "
        guard header.utf8.count > scheme.utf8.count,
              header.prefix(scheme.count).lowercased() == scheme else { return false }
        let given = Array(header.utf8.dropFirst(scheme.utf8.count))
        let want = Array(expected.utf8)
        // Compare without an early exit, as a real service should.
        var diff = given.count ^ want.count
        for i in 0..<max(given.count, want.count) {
            diff |= Int((i < given.count ? given[i] : 0) ^ (i < want.count ? want[i] : 0))
        }
        return diff == 0
    }

    /// The request body, or nil when it is larger than `maxBody`.
    private func readBody(_ request: HTTPRequest) async throws -> Data? {
        if let count = request.bodySequence.count {
            guard count <= Self.maxBody else { return nil }
            return try await request.bodyData
        }
        var data = Data()
        for try await chunk in request.bodySequence {
            data.append(chunk)
            if data.count > Self.maxBody { return nil }
        }
        return data
    }

    private func json(_ status: HTTPStatusCode, _ body: Data, noStore: Bool = false) -> HTTPResponse {
        var headers: HTTPHeaders = [.contentType: "application/json"]
        if noStore { headers[.cacheControl] = "no-store" }
        return HTTPResponse(statusCode: status, headers: headers, body: body)
    }

    private func unavailable(_ message: String) -> HTTPResponse {
        json(.serviceUnavailable, errorBody(message))
    }

    private func notAllowed(_ allow: String) -> HTTPResponse {
        HTTPResponse(statusCode: .methodNotAllowed, headers: [.contentType: "application/json", HTTPHeader("Allow"): allow],
                     body: errorBody("method not allowed"))
    }

    private func tooLarge() -> HTTPResponse {
        HTTPResponse(statusCode: .payloadTooLarge, headers: [.contentType: "application/json", .connection: "close"],
                     body: errorBody("body larger than 64 KiB"))
    }

    /// A 200 whose body goes out one byte every 100 ms (headers at once), ~30 s at most.
    private func trickled(_ body: Data) -> HTTPResponse {
        HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                     body: HTTPBodySequence(from: TrickleBytes(bytes: Array(body)), count: body.count, suggestedBufferSize: 1))
    }

    private func log(_ line: @autoclosure () -> String) {
        if verbose { logError(line()) }
    }
}

/// Bytes handed out one at a time, 100 ms apart; after 300 of them (30 s) the rest at once.
struct TrickleBytes: AsyncBufferedSequence {
    typealias Element = UInt8
    let bytes: [UInt8]

    func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let bytes: [UInt8]
        var index = 0

        mutating func next() async throws -> UInt8? {
            try await nextBuffer(suggested: 1)?.first
        }

        mutating func nextBuffer(suggested count: Int) async throws -> ArraySlice<UInt8>? {
            guard index < bytes.count else { return nil }
            if index >= 300 {
                defer { index = bytes.count }
                return bytes[index...]
            }
            try await Task.sleep(for: .milliseconds(100))
            defer { index += 1 }
            return bytes[index...index]
        }
    }
}

/// The default socket pool, but every socket it waits on gets TCP_NODELAY. FlyingFox writes a
/// response's head and body separately; with Nagle's algorithm on, the body waits for the
/// client's delayed ACK of the head (~40 ms on Linux), which caps a keep-alive client at ~25
/// requests per second. The listening socket is among the sockets waited on, and on Linux
/// the sockets it accepts inherit the option.
struct NoDelayPool: AsyncSocketPool {
    let base: any AsyncSocketPool

    func prepare() async throws { try await base.prepare() }

    func run() async throws { try await base.run() }

    func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        var one: Int32 = 1
        _ = setsockopt(socket.file.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        try await base.suspendSocket(socket, untilReadyFor: events)
    }
}
