import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The token-service-mock executable, running on a free loopback port for one test.
public final class MockService: @unchecked Sendable {
    public let port: Int
    public let ledger: String
    private let process: Process

    /// Starts the mock with the acme key prefixes and the shared secret; extra flags follow.
    public init(scratch: Scratch, name: String = "mock", secret: String, flags: [String] = []) throws {
        ledger = scratch.path("\(name).ledger")
        let portFile = scratch.path("\(name).port")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Project.products + "/token-service-mock")
        process.arguments = ["--port", "0", "--port-file", portFile, "--ledger", ledger, "--secret", secret,
                             "--key-prefix", "po=po_", "--key-prefix", "invoicing=inv_", "--key-prefix", "crm=crm_"] + flags
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var found: Int?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
               let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                found = value
                break
            }
            usleep(25_000)
        }
        guard let found else {
            process.terminate()
            throw GitCLIError(arguments: ["token-service-mock did not start"], status: 1)
        }
        port = found
    }

    deinit { stop() }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Sends a request to the mock and returns the body.
    private func request(_ method: String, _ path: String, body: String? = nil) throws -> Data {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, _, error in
            box.data = data
            box.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = box.error { throw error }
        return box.data ?? Data()
    }

    /// Sets fault rates, e.g. `["error_rate": 0.3]`.
    public func faults(_ rates: [String: Double]) throws {
        let body = "{" + rates.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
        _ = try request("POST", "/_faults", body: body)
    }

    /// The mock's counters: tokens issued and revoked so far.
    public func ledgerCounts() throws -> (issued: Int, revoked: Int) {
        let data = try request("GET", "/_ledger")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (object?["issued"] as? Int ?? -1, object?["revoked"] as? Int ?? -1)
    }

    /// The token ids the mock considers live (issued and not revoked).
    public func liveTokens() throws -> Set<String> {
        let data = try request("GET", "/_ledger")
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let live = object["live"] as? [[String: Any]] else { return [] }
        return Set(live.compactMap { $0["token_id"] as? String })
    }
}

private final class ResultBox: @unchecked Sendable {
    var data: Data?
    var error: Error?
}
