import AccessModel
import Foundation
import HelperProtocol
import ProcessRunner

/// Runs the root helper (`install-service-env`, normally through `sudo -n`) with one JSON
/// request on stdin and decodes its JSON response.
public struct HelperClient: Sendable {
    /// The command and its leading arguments; the verb is appended.
    public var command: [String]
    /// How long one helper run may take before it is stopped.
    public var timeout: Duration
    /// The most the helper may write as its answer (a home's report is a few hundred bytes).
    public var outputLimit: Int

    public init(command: [String], timeout: Duration = .seconds(900), outputLimit: Int = 512 << 20) {
        self.command = command
        self.timeout = timeout
        self.outputLimit = outputLimit
    }

    /// The managed files of each Unix account, keyed by account name.
    public func inspect(accounts: [String]) async throws(HelperClientError) -> HomeObservations {
        if accounts.isEmpty { return HomeObservations() }
        let response: HelperResponse = try await run("inspect", InspectRequest(users: accounts))
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
    public func apply(_ request: ApplyRequest) async throws(HelperClientError) -> HelperResponse {
        try await run("apply", request)
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

    private func run<Request: Encodable>(_ verb: String, _ request: Request) async throws(HelperClientError) -> HelperResponse {
        let input: Data
        do { input = try JSONEncoder().encode(request) } catch { throw HelperClientError("cannot encode the helper request") }
        let outcome: ProcessOutcome
        do {
            outcome = try await ProcessRunner.run(command + [verb], input: [UInt8](input), outputLimit: outputLimit,
                                                  timeout: timeout)
        } catch {
            switch error {
            case .noCommand: throw HelperClientError("no helper command configured")
            case .cannotStart(_, let reason): throw HelperClientError("cannot run the helper \(command.joined(separator: " ")): \(reason)")
            case .timedOut, .outputTooLarge: break
            }
            throw HelperClientError("the helper \(command.joined(separator: " ")) \(verb) failed: \(error)")
        }
        let output = outcome.standardOutput
        let response = ResponseReader.read(output) ?? (try? JSONDecoder().decode(HelperResponse.self, from: Data(output)))
        let stderrText = String(decoding: outcome.standardError.prefix(2000), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        switch (outcome.exitCode, response) {
        case (0, let response?), (3, let response?):
            return response
        case (_, let response?) where response.error != nil:
            throw HelperClientError("the helper refused the request: \(response.error!)")
        default:
            let detail = stderrText.isEmpty ? "no usable response" : stderrText
            throw HelperClientError("the helper \(command.joined(separator: " ")) \(verb) failed (\(outcome.statusText)): \(detail)")
        }
    }
}

/// The helper could not be run or answered nonsense.
public struct HelperClientError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
