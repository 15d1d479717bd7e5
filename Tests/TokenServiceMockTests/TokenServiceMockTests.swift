import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

private let standardArguments = ["--secret", "s3cret", "--key-prefix", "po=po_", "--seed", "1", "--verbose"]

private func isBase62(_ s: Substring) -> Bool {
    s.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
}

private func isLowerHex(_ s: Substring) -> Bool {
    s.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
}

private func rfc3339(_ s: String) -> Date? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return s.hasSuffix("Z") ? f.date(from: s) : nil
}

@Suite("token-service-mock")
struct TokenServiceMockTests {
    @Test("exchange, idempotent retry, new request_id, revoke, /_ledger")
    func exchangeAndRevoke() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            defer { #expect(mock.stop() == 0) }

            let before = Date()
            let first = try await mock.exchange(requestID: "req-1")
            let after = Date()
            #expect(first.status == 200)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.string("status") == "ok")
            let key = try #require(first.string("api_key"))
            let tokenID = try #require(first.string("token_id"))
            let expires = try #require(first.string("expires_at"))
            #expect(key.hasPrefix("po_") && key.count == 43 && isBase62(key.dropFirst(3)))
            #expect(tokenID.hasPrefix("tok_") && tokenID.count == 28 && isLowerHex(tokenID.dropFirst(4)))
            let expiry = try #require(rfc3339(expires))
            // 90 days from when the mock answered (whole seconds), however slow the machine.
            #expect(expiry.timeIntervalSince(before) >= 90 * 86_400 - 1 && expiry.timeIntervalSince(after) <= 90 * 86_400 + 1)

            let retry = try await mock.exchange(requestID: "req-1")
            #expect(retry.status == 200)
            #expect(retry.string("api_key") == key && retry.string("token_id") == tokenID && retry.string("expires_at") == expires)

            let second = try await mock.exchange(email: "jane@example.com", ttl: 7, requestID: "req-2")
            #expect(second.status == 200)
            #expect(second.string("api_key") != key && second.string("token_id") != tokenID)

            // The same request_id on another service is another token; without a key prefix the
            // service's name and `_` lead the key.
            let other = try await mock.exchange("crm", requestID: "req-1")
            #expect(other.status == 200)
            #expect(other.string("token_id") != tokenID)
            #expect(other.string("api_key")?.hasPrefix("crm_") == true)

            // A request_id reused for another user is refused rather than answered with a key.
            #expect(try await mock.exchange(email: "eve@example.com", requestID: "req-1").status == 409)

            let revoked = try await mock.revoke(tokenID: tokenID)
            #expect(revoked.status == 200 && revoked.text == #"{"status":"ok"}"#)
            let again = try await mock.revoke(tokenID: tokenID)
            #expect(again.status == 404 && again.string("error") == "not found")
            #expect(try await mock.revoke(tokenID: "tok_000000000000000000000000").status == 404)
            // A token is only revocable through its own service.
            #expect(try await mock.revoke("crm", tokenID: try #require(second.string("token_id"))).status == 404)
            // Exchanging a revoked token's request_id does not hand out the dead key.
            #expect(try await mock.exchange(requestID: "req-1").status == 409)

            let ledger = try await mock.ledgerState()
            #expect(ledger.issued == 3 && ledger.revoked == 1)
            #expect(ledger.live.map(\.request_id) == ["req-2", "req-1"])
            let live = try #require(ledger.live.first)
            #expect(live == LedgerState.Live(token_id: try #require(second.string("token_id")), service: "po",
                                             user_email: "jane@example.com", request_id: "req-2",
                                             key_fingerprint: try fingerprint(try #require(second.string("api_key"))),
                                             expires_at: try #require(second.string("expires_at"))))
            #expect(try await mock.get("/po/healthz").text == #"{"status":"ok"}"#)
        }
    }

    @Test("401 on a wrong, missing or unconfigured secret")
    func authorization() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: ["--secret", "po=po-secret", "--secret", "crm=crm-secret"])
            defer { mock.stop() }
            for (service, secret) in [("po", "wrong"), ("po", "crm-secret"), ("po", ""), ("crm", "po-secret"), ("other", "po-secret")] {
                let result = try await mock.exchange(service, secret: secret, requestID: "r")
                #expect(result.status == 401, "\(service) with \(secret)")
                #expect(result.text == #"{"status":"error","error":"unauthorized"}"#)
            }
            #expect(try await mock.exchange("po", secret: nil, requestID: "r").status == 401)
            #expect(try await mock.revoke("po", secret: "wrong", tokenID: "tok_x").status == 401)
            #expect(try await mock.exchange("po", secret: "po-secret", requestID: "r").status == 200)
            #expect(try await mock.exchange("crm", secret: "crm-secret", requestID: "r").status == 200)
            #expect(try await mock.ledgerState().issued == 2)
        }
    }

    @Test("400 on a bad body")
    func badBodies() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            defer { mock.stop() }
            let bad: [String] = [
                "", "not json", "[]", "null",
                #"{"ttl_days":90,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":90}"#,
                #"{"user_email":"a@example.com","ttl_days":"90","request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":true,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":1.5,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":0,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":3651,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":90,"request_id":""}"#,
                #"{"user_email":"a@example.com","ttl_days":90,"request_id":7}"#,
                #"{"user_email":"a@example.com","ttl_days":90,"request_id":"\#(String(repeating: "x", count: 201))"}"#,
                #"{"user_email":"not-an-email","ttl_days":90,"request_id":"r"}"#,
                #"{"user_email":["a@example.com"],"ttl_days":90,"request_id":"r"}"#,
                #"{"user_email":"a@example.com","ttl_days":90,"request_id":"r","extra":1}"#,
            ]
            for body in bad {
                let result = try await mock.post("/po/api/internal/token-exchange", secret: "s3cret", body: Data(body.utf8))
                #expect(result.status == 400, "\(body)")
                #expect(result.string("status") == "error" && result.string("error") != nil, "\(body)")
            }
            let edge = [#"{"user_email":"a@example.com","ttl_days":1,"request_id":"r1"}"#,
                        #"{"user_email":"a@example.com","ttl_days":3650,"request_id":"\#(String(repeating: "x", count: 200))"}"#]
            for body in edge {
                #expect(try await mock.post("/po/api/internal/token-exchange", secret: "s3cret", body: Data(body.utf8)).status == 200)
            }
            for body in ["{}", #"{"token_id":5}"#, #"{"token_id":""}"#, #"{"token_id":"tok_x","extra":true}"#] {
                let result = try await mock.post("/po/api/internal/token-revoke", secret: "s3cret", body: Data(body.utf8))
                #expect(result.status == 400, "\(body)")
            }
            let tooBig = try await mock.post("/po/api/internal/token-exchange", secret: "s3cret", body: Data(count: 70_000))
            #expect(tooBig.status == 413)
            #expect(try await mock.ledgerState().issued == 2)
        }
    }

    @Test("a restart on the same ledger keeps idempotency and the live set")
    func restart() async throws {
        try await withTemporaryDirectory { dir in
            let first = try MockProcess(directory: dir, arguments: standardArguments)
            let a = try await first.exchange(requestID: "keep")
            let b = try await first.exchange(requestID: "drop")
            #expect(try await first.revoke(tokenID: try #require(b.string("token_id"))).status == 200)
            let before = try await first.ledgerState()
            #expect(first.stop() == 0)

            let second = try MockProcess(directory: dir, arguments: standardArguments)
            defer { #expect(second.stop() == 0) }
            let after = try await second.ledgerState()
            #expect(after.live == before.live)
            #expect(after.issued == 2 && after.revoked == 1)
            let replay = try await second.exchange(requestID: "keep")
            #expect(replay.status == 200)
            #expect(replay.string("api_key") == a.string("api_key") && replay.string("token_id") == a.string("token_id")
                    && replay.string("expires_at") == a.string("expires_at"))
            #expect(try await second.revoke(tokenID: try #require(b.string("token_id"))).status == 404)
            #expect(try await second.ledgerState().issued == 2)
        }
    }

    @Test("a torn last ledger line is dropped; a corrupt line elsewhere stops the start")
    func tornLedger() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            _ = try await mock.exchange(requestID: "whole")
            mock.stop()
            let ledger = dir + "/ledger.jsonl"
            let whole = try String(contentsOfFile: ledger, encoding: .utf8)
            try (whole + #"{"event":"issued","service":"po","req"#).write(toFile: ledger, atomically: true, encoding: .utf8)
            let again = try MockProcess(directory: dir, arguments: standardArguments)
            #expect(try await again.ledgerState().issued == 1)
            _ = try await again.exchange(requestID: "next")
            again.stop()
            #expect(try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").count == 2)

            try ("garbage\n" + whole).write(toFile: ledger, atomically: true, encoding: .utf8)
            let refused = try Command.run(MockProcess.executable, ["--port", "0", "--ledger", ledger])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("ledger.jsonl:1"))
        }
    }

    @Test("concurrent exchanges with one request_id mint one token")
    func concurrentIdempotency() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            defer { mock.stop() }
            let keys = try await withThrowingTaskGroup(of: String?.self) { group in
                for i in 0..<40 {
                    group.addTask { try await mock.exchange(requestID: i % 2 == 0 ? "same" : "other-\(i)").string("api_key") }
                }
                var keys: [String?] = []
                for try await key in group { keys.append(key) }
                return keys
            }
            #expect(keys.allSatisfy { $0 != nil })
            #expect(Set(keys).count == 21)
            #expect(try await mock.ledgerState().issued == 21)
        }
    }

    @Test("each fault switch")
    func faults() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            defer { mock.stop() }
            func issued() async throws -> Int { try await mock.ledgerState().issued }

            // Faults answered instead of the work record nothing.
            try await mock.setFaults(["error_rate": 1])
            let error = try await mock.exchange(requestID: "f-error")
            #expect(error.status == 503 && error.string("status") == "error")
            try await mock.setFaults(["error_rate": 0, "html_rate": 1])
            let html = try await mock.exchange(requestID: "f-html")
            #expect(html.status == 200 && html.header("Content-Type")?.hasPrefix("text/html") == true && html.json == nil)
            try await mock.setFaults(["html_rate": 0, "malformed_rate": 1])
            for i in 0..<4 {
                let malformed = try await mock.exchange(requestID: "f-malformed-\(i)")
                #expect(malformed.status == 200 && malformed.json == nil, "\(malformed.text)")
            }
            try await mock.setFaults(["malformed_rate": 0, "oversized_rate": 1])
            let oversized = try await mock.exchange(requestID: "f-oversized")
            #expect(oversized.status == 200 && oversized.body.count > 1 << 20)
            try await mock.setFaults(["oversized_rate": 0, "redirect_rate": 1])
            let redirect = try await mock.exchange(requestID: "f-redirect")
            #expect(redirect.status == 302)
            #expect(redirect.header("Location") == "http://127.0.0.1:\(mock.port)/elsewhere")
            try await mock.setFaults(["redirect_rate": 0, "bad_key_rate": 1])
            var badKeys: Set<String> = []
            for i in 0..<12 {
                let bad = try await mock.exchange(requestID: "f-bad-\(i)")
                #expect(bad.status == 200)
                let key = try #require(bad.string("api_key"))
                let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=:@%-")
                #expect(key.unicodeScalars.contains { !allowed.contains($0) }, "\(key.debugDescription)")
                badKeys.insert(key)
            }
            #expect(badKeys.contains("po_abc\nEVIL=1") || badKeys.count > 1)
            #expect(try await issued() == 0)
            #expect(try await mock.ledgerState().redirects_followed == 0)

            // A lost response: recorded, then 503; the retry with the same request_id gets it.
            try await mock.setFaults(["bad_key_rate": 0, "lost_response_rate": 1])
            #expect(try await mock.exchange(requestID: "f-lost").status == 503)
            let lost = try await mock.ledgerState().live
            #expect(lost.map(\.request_id) == ["f-lost"])
            try await mock.setFaults(["lost_response_rate": 0])
            let recovered = try await mock.exchange(requestID: "f-lost")
            #expect(recovered.status == 200 && recovered.string("token_id") == lost.first?.token_id)

            // Revoke errors leave the token live; a lost revoke response leaves it revoked.
            let tokenID = try #require(recovered.string("token_id"))
            try await mock.setFaults(["revoke_error_rate": 1])
            #expect(try await mock.exchange(requestID: "f-after-revoke-error").status == 200)
            #expect(try await mock.revoke(tokenID: tokenID).status == 503)
            #expect(try await mock.ledgerState().live.contains { $0.token_id == tokenID })
            try await mock.setFaults(["revoke_error_rate": 0, "lost_response_rate": 1])
            #expect(try await mock.revoke(tokenID: tokenID).status == 503)
            try await mock.setFaults(["lost_response_rate": 0])
            #expect(try await mock.revoke(tokenID: tokenID).status == 404)
            #expect(try await mock.ledgerState().live.contains { $0.token_id == tokenID } == false)

            // Latency.
            try await mock.setFaults(["latency_ms": 300])
            let start = Date()
            #expect(try await mock.exchange(requestID: "f-slow").status == 200)
            #expect(Date().timeIntervalSince(start) >= 0.3)
            try await mock.setFaults(["latency_ms": 0])

            // Trickle: the real answer, too slowly for a client with a total timeout; the token
            // is recorded, so the retry gets it.
            try await mock.setFaults(["trickle_rate": 1])
            let trickleStart = Date()
            await #expect(throws: (any Error).self) { try await mock.exchange(requestID: "f-trickle", timeout: 1) }
            #expect(Date().timeIntervalSince(trickleStart) < 5)
            try await mock.setFaults(["trickle_rate": 0])
            let trickled = try #require(try await mock.ledgerState().live.first { $0.request_id == "f-trickle" })
            #expect(try await mock.exchange(requestID: "f-trickle").string("token_id") == trickled.token_id)

            // Bad /_faults bodies are refused.
            for body in [#"{"error_rate":2}"#, #"{"nope":0.1}"#, #"{"latency_ms":-1}"#, #"{"latency_ms":1.5}"#, "[]"] {
                #expect(try await mock.post("/_faults", secret: nil, body: Data(body.utf8)).status == 400, "\(body)")
            }
            let whole = try await mock.post("/_faults", secret: nil, body: Data(#"{"latency-ms":0.0,"error_rate":0}"#.utf8))
            #expect(whole.status == 200 && whole.json?["latency_ms"] as? Int == 0)
        }
    }

    @Test("faults are reproducible from the seed")
    func seededFaults() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments + ["--error-rate", "0.5"])
            defer { mock.stop() }
            func pattern(_ round: Int) async throws -> [Int] {
                try await mock.setFaults(["seed": 42])
                var statuses: [Int] = []
                for i in 0..<24 { statuses.append(try await mock.exchange(requestID: "seed-\(round)-\(i)").status) }
                return statuses
            }
            let one = try await pattern(1)
            let two = try await pattern(2)
            #expect(one == two)
            #expect(one.contains(200) && one.contains(503))
        }
    }

    @Test("no key on stdout or stderr")
    func noKeysPrinted() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            var keys: [String] = []
            for i in 0..<5 {
                keys.append(try #require(try await mock.exchange(requestID: "quiet-\(i)").string("api_key")))
            }
            _ = try await mock.exchange(requestID: "quiet-0")
            _ = try await mock.exchange(secret: "wrong", requestID: "quiet-0")
            try await mock.setFaults(["lost_response_rate": 1])
            _ = try await mock.exchange(requestID: "quiet-lost")
            #expect(mock.stop() == 0)
            let output = mock.output
            #expect(output.contains("listening on http://127.0.0.1:\(mock.port)"))
            #expect(output.contains(try fingerprint(keys[0])))
            #expect(!output.contains("s3cret"))
            for key in keys { #expect(!output.contains(key)) }
            #expect(!output.contains("po_"))
            let ledgerMode = try FileManager.default.attributesOfItem(atPath: mock.ledger)[.posixPermissions] as? Int
            #expect(ledgerMode == 0o600)
        }
    }

    @Test("refuses a non-loopback address and bad usage")
    func usage() throws {
        let ledger = FileManager.default.temporaryDirectory.appendingPathComponent("unused-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: ledger) }
        for host in ["0.0.0.0", "10.1.2.3", "::", "example.com"] {
            let result = try Command.run(MockProcess.executable, ["--port", "0", "--ledger", ledger, "--host", host])
            #expect(result.status == 64, "\(host)")
            #expect(result.stderr.contains("loopback"), "\(host)")
        }
        #expect(try Command.run(MockProcess.executable, ["--port", "0"]).status == 64)
        #expect(try Command.run(MockProcess.executable, ["--port", "0", "--ledger", ledger, "--error-rate", "2"]).status == 64)
        #expect(try Command.run(MockProcess.executable, ["--port", "0", "--ledger", ledger, "--frobnicate", "1"]).status == 64)
        let help = try Command.run(MockProcess.executable, ["--help"])
        #expect(help.status == 0 && help.stdout.contains("--lost-response-rate"))
        #expect(!FileManager.default.fileExists(atPath: ledger))
    }

    @Test("a second mock on the same ledger is refused")
    func ledgerLock() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try MockProcess(directory: dir, arguments: standardArguments)
            defer { mock.stop() }
            let second = try Command.run(MockProcess.executable, ["--port", "0", "--ledger", mock.ledger])
            #expect(second.status == 1)
            #expect(second.stderr.contains("in use"))
        }
    }
}
