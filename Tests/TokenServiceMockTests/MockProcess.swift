import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport

/// A running token-service-mock, started from the built products on a free loopback port.
/// Its stdout and stderr go to files (a pipe nobody drains could stall it).
final class MockProcess: @unchecked Sendable {
    let directory: String
    let ledger: String
    let process: Process
    let port: Int
    let stdoutPath: String
    let stderrPath: String

    static var executable: String { Project.products + "/token-service-mock" }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts the mock with `arguments` (besides --port 0, --ledger, --port-file) and waits
    /// until it prints that it is listening.
    init(directory: String, ledger: String? = nil, arguments: [String], tag: String = UUID().uuidString) throws {
        self.directory = directory
        self.ledger = ledger ?? directory + "/ledger.jsonl"
        let portFile = directory + "/port-\(tag)"
        stdoutPath = directory + "/stdout-\(tag)"
        stderrPath = directory + "/stderr-\(tag)"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["--port", "0", "--ledger", self.ledger, "--port-file", portFile] + arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        var found: Int?
        while Date() < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               (try? String(contentsOfFile: stdoutPath, encoding: .utf8))?.contains("listening on http://127.0.0.1:\(p)") == true {
                found = p
                break
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw MockError("the mock did not start: \((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")")
        }
        port = found
    }

    /// Sends SIGTERM and waits; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }

    var output: String {
        ((try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    // MARK: HTTP

    func exchange(_ service: String = "po", secret: String? = "s3cret", email: String = "john@example.com", ttl: Int = 90,
                  requestID: String, timeout: TimeInterval = 10) async throws -> HTTPResult {
        try await post("/\(service)/api/internal/token-exchange", secret: secret,
                       json: ["user_email": email, "ttl_days": ttl, "request_id": requestID], timeout: timeout)
    }

    func revoke(_ service: String = "po", secret: String? = "s3cret", tokenID: String) async throws -> HTTPResult {
        try await post("/\(service)/api/internal/token-revoke", secret: secret, json: ["token_id": tokenID])
    }

    func post(_ path: String, secret: String?, json: [String: Any], timeout: TimeInterval = 10) async throws -> HTTPResult {
        try await post(path, secret: secret, body: try JSONSerialization.data(withJSONObject: json), timeout: timeout)
    }

    func post(_ path: String, secret: String?, body: Data, timeout: TimeInterval = 10) async throws -> HTTPResult {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let secret { request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization") }
        return try await HTTP.send(request, timeout: timeout)
    }

    func get(_ path: String) async throws -> HTTPResult {
        try await HTTP.send(URLRequest(url: URL(string: base + path)!), timeout: 10)
    }

    func setFaults(_ faults: [String: Any]) async throws {
        let result = try await post("/_faults", secret: nil, json: faults)
        guard result.status == 200 else { throw MockError("/_faults answered \(result.status): \(result.text)") }
    }

    func ledgerState() async throws -> LedgerState {
        let result = try await get("/_ledger")
        return try JSONDecoder().decode(LedgerState.self, from: result.body)
    }
}

struct LedgerState: Decodable {
    struct Live: Decodable, Equatable {
        let token_id: String
        let service: String
        let user_email: String
        let request_id: String
        let key_fingerprint: String
        let expires_at: String
    }

    let live: [Live]
    let issued: Int
    let revoked: Int
    let redirects_followed: Int
}

struct MockError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct HTTPResult: Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }

    func string(_ key: String) -> String? { json?[key] as? String }

    func header(_ name: String) -> String? {
        headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// URLSession without redirects, as accessctl's client must behave.
enum HTTP {
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    /// Sends `request`; the task is cancelled after `timeout` seconds in all (a trickled
    /// answer keeps an idle timeout from ever firing).
    static func send(_ request: URLRequest, timeout: TimeInterval) async throws -> HTTPResult {
        var request = request
        request.timeoutInterval = timeout
        return try await withCheckedThrowingContinuation { continuation in
            let task = session.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else if let http = response as? HTTPURLResponse {
                    var headers: [String: String] = [:]
                    for (k, v) in http.allHeaderFields { headers["\(k)"] = "\(v)" }
                    continuation.resume(returning: HTTPResult(status: http.statusCode, headers: headers, body: data ?? Data()))
                } else {
                    continuation.resume(throwing: MockError("no HTTP response"))
                }
            }
            task.resume()
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [weak task] in task?.cancel() }
        }
    }
}

/// A fresh temporary directory, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("token-service-mock-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    return try await body(root)
}

/// `sha256:` and the first 12 hex digits of the SHA-256 of `key`, computed by sha256sum.
func fingerprint(_ key: String) throws -> String {
    let result = try Command.run("/usr/bin/env", ["sha256sum"], stdin: key)
    return "sha256:" + result.stdout.prefix(12)
}
