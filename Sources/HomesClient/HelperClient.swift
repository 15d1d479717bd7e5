import AccessModel
import Foundation
import HelperProtocol

/// Runs the root helper (`install-service-env`, normally through `sudo -n`) with one JSON
/// request on stdin and decodes its JSON response.
public struct HelperClient: Sendable {
    /// The command and its leading arguments; the verb is appended.
    public var command: [String]

    public init(command: [String]) {
        self.command = command
    }

    /// The managed files of each Unix account, keyed by account name.
    public func inspect(accounts: [String]) throws(HelperClientError) -> HomeObservations {
        if accounts.isEmpty { return HomeObservations() }
        let response: HelperResponse = try run("inspect", InspectRequest(users: accounts))
        var observations = HomeObservations()
        for report in response.users {
            if report.ok {
                observations.homes[report.user] = HelperClient.home(report)
            } else {
                observations.failures[report.user] = report.error ?? "failed"
            }
        }
        return observations
    }

    /// Writes the given files; returns the helper's per-user reports.
    public func apply(_ request: ApplyRequest) throws(HelperClientError) -> HelperResponse {
        try run("apply", request)
    }

    static func home(_ report: UserReport) -> HomeState {
        HomeState(serviceEnv: observation(report.serviceEnv), claudeRules: observation(report.claudeRules),
                  skills: (report.skills ?? [:]).mapValues(observation))
    }

    package static func observation(_ state: FileState?) -> FileObservation {
        guard let state else { return .absent }
        switch state.state {
        case .absent: return .absent
        case .present: return .present(sha256: state.sha256, mode: state.mode ?? "")
        case .unsafe: return .unsafe(state.reason ?? "unsafe")
        }
    }

    private func run<Request: Encodable>(_ verb: String, _ request: Request) throws(HelperClientError) -> HelperResponse {
        guard let executable = command.first else { throw HelperClientError("no helper command configured") }
        let input: Data
        do { input = try JSONEncoder().encode(request) } catch { throw HelperClientError("cannot encode the helper request") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = (executable.hasPrefix("/") ? [] : [executable]) + command.dropFirst() + [verb]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do { try process.run() } catch {
            throw HelperClientError("cannot run the helper \(command.joined(separator: " ")): \(error.localizedDescription)")
        }
        // Feed stdin from another thread so a large request cannot deadlock against a full stdout pipe.
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let errors = ErrorBox()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errors.data = stderr.fileHandleForReading.readDataToEndOfFile() }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        let status = process.terminationStatus
        let response = ResponseReader.read([UInt8](output)) ?? (try? JSONDecoder().decode(HelperResponse.self, from: output))
        let stderrText = String(decoding: errors.data.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        switch (status, response) {
        case (0, let response?), (3, let response?):
            return response
        case (_, let response?) where response.error != nil:
            throw HelperClientError("the helper refused the request: \(response.error!)")
        default:
            let detail = stderrText.isEmpty ? "no usable response" : stderrText
            throw HelperClientError("the helper \(command.joined(separator: " ")) \(verb) failed (exit \(status)): \(detail)")
        }
    }
}

private final class ErrorBox: @unchecked Sendable {
    var data = Data()
}

/// The helper could not be run or answered nonsense.
public struct HelperClientError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
