#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol
import Testing
import TestSupport

/// Running the real `install-service-env` over a `HomesTree` (which TestSupport builds).
extension HomesTree {
    static var helperPath: String { Project.products + "/install-service-env" }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
        var elapsed: Double
        var response: HelperResponse?

        /// The report for `user` (the first with that name).
        func report(_ user: String) -> UserReport? { response?.users.first { $0.user == user } }
    }

    /// Runs the helper with the tree's passwd file and homes root, feeding `input` on stdin.
    /// Every run is checked: it finished within `timeout`, and no registered secret appears in
    /// its stdout or stderr.
    @discardableResult
    func run(_ arguments: [String], input: [UInt8], environment: [String: String] = [:], testOptions: Bool = true,
             timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let options = testOptions ? ["--passwd-file", passwdPath, "--homes-root", root] : []
        var env = ProcessInfo.processInfo.environment
        env["SUDO_UID"] = nil // the test may itself run under sudo; the helper refuses test options then
        env.merge(environment) { _, new in new }
        let result = try runProcess(Self.helperPath, arguments + options, input: input, environment: env, timeout: timeout)
        var run = Run(status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self),
                      stderr: String(decoding: result.stderr, as: UTF8.self), timedOut: result.timedOut,
                      elapsed: result.elapsed)
        run.response = try? JSONDecoder().decode(HelperResponse.self, from: result.stdout)
        #expect(!run.timedOut, "the helper did not finish within \(timeout) s", sourceLocation: sourceLocation)
        for secret in secrets {
            #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret),
                    "helper output contains a file content (secret \(secret))", sourceLocation: sourceLocation)
        }
        return run
    }

    @discardableResult
    func run(_ verb: String, json: String, environment: [String: String] = [:], timeout: Double = 20,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        try run([verb], input: Array(json.utf8), environment: environment, timeout: timeout, sourceLocation: sourceLocation)
    }

    @discardableResult
    func apply(_ request: ApplyRequest, timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let run = try run(["apply"], input: Array(try JSONEncoder().encode(request)), timeout: timeout,
                          sourceLocation: sourceLocation)
        #expect(run.response != nil, "undecodable response: \(run.stdout) \(run.stderr)", sourceLocation: sourceLocation)
        return run
    }

    @discardableResult
    func inspect(_ users: [String], timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let run = try run(["inspect"], input: Array(try JSONEncoder().encode(InspectRequest(users: users))),
                          timeout: timeout, sourceLocation: sourceLocation)
        #expect(run.response != nil, "undecodable response: \(run.stdout) \(run.stderr)", sourceLocation: sourceLocation)
        return run
    }

    /// Expects two snapshots to be equal, listing the differing paths.
    func expectUnchanged(_ before: [String: String], _ after: [String: String], _ what: String = "tree outside the home",
                         sourceLocation: SourceLocation = #_sourceLocation) {
        let differing = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        let details = differing.prefix(20).map { "\($0)\n    before: \(before[$0] ?? "absent")\n    after:  \(after[$0] ?? "absent")" }
        #expect(differing.isEmpty, "\(what) changed:\n\(details.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }
}

/// `text` as a JSON string literal.
func jsonQuoted(_ text: String) -> String {
    String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}

func digest(_ text: String) -> String { SHA256.hex(Array(text.utf8)) }

/// Runs a program with stdin from a (deleted) temp file, collecting stdout and stderr, and
/// killing it after `timeout` seconds.
func runProcess(_ executable: String, _ arguments: [String], input: [UInt8], environment: [String: String],
                timeout: Double) throws -> (status: Int32, stdout: Data, stderr: Data, timedOut: Bool, elapsed: Double) {
    // stdin from a file rather than a pipe: no SIGPIPE when the program exits without reading.
    var template = Array("/tmp/accessctl-helpertest-stdin-XXXXXX".utf8CString)
    let inputFD = mkstemp(&template)
    guard inputFD >= 0 else { throw FixtureError("mkstemp: \(String(cString: strerror(errno)))") }
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    var offset = 0
    while offset < input.count {
        let n = input.withUnsafeBytes { write(inputFD, $0.baseAddress! + offset, $0.count - offset) }
        guard n > 0 else { close(inputFD); throw FixtureError("write stdin: \(String(cString: strerror(errno)))") }
        offset += n
    }
    lseek(inputFD, 0, SEEK_SET)
    let stdinHandle = FileHandle(fileDescriptor: inputFD, closeOnDealloc: true)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardInput = stdinHandle
    process.standardOutput = output
    process.standardError = errors
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    let started = Date()
    try process.run()

    let box = OutputBox()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { box.stdout = output.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { box.stderr = errors.fileHandleForReading.readDataToEndOfFile() }
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
        finished.wait()
    }
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, box.stdout, box.stderr, timedOut, Date().timeIntervalSince(started))
}

private final class OutputBox: @unchecked Sendable {
    var stdout = Data()
    var stderr = Data()
}
