import Platform
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// How a child process ended, with what it wrote.
public struct ProcessOutcome: Sendable {
    /// The exit code, or nil when the process was killed by a signal.
    public var exitCode: Int32?
    /// The signal that ended the process, if one did.
    public var signal: Int32?
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]

    /// `exit 3`, `signal 9`: for messages.
    public var statusText: String {
        if let exitCode { return "exit \(exitCode)" }
        return "signal \(signal ?? 0)"
    }
}

/// Why a child process gave no outcome.
public enum ProcessRunnerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The command is empty.
    case noCommand
    /// The executable could not be started (missing, not executable, ...).
    case cannotStart(command: String, reason: String)
    /// It did not finish within its time limit and was stopped.
    case timedOut(command: String, seconds: Int)
    /// It wrote more than its output cap.
    case outputTooLarge(command: String, limit: Int)

    public var description: String {
        switch self {
        case .noCommand: "no command configured"
        case .cannotStart(let command, let reason): "cannot run \(command): \(reason)"
        case .timedOut(let command, let seconds): "\(command) did not finish within \(seconds) s and was stopped"
        case .outputTooLarge(let command, let limit): "\(command) wrote more than \(limit) bytes of output"
        }
    }
}

/// Runs child processes (the root helper, `ssh-keygen`) through swift-subprocess: the one
/// place that spawns one, each with its input, a cap on what it may write and a time limit.
public enum ProcessRunner {
    /// Runs `command` (an absolute path, or a name looked up in `PATH`, then its arguments)
    /// with `input` on its standard input, collecting at most `outputLimit` bytes of standard
    /// output and `errorLimit` of standard error. A process still running after `timeout` is
    /// killed (SIGKILL).
    public static func run(_ command: [String], input: [UInt8] = [], outputLimit: Int, errorLimit: Int = 64 << 10,
                           timeout: Duration) async throws(ProcessRunnerError) -> ProcessOutcome {
        guard let executable = command.first, !executable.isEmpty else { throw .noCommand }
        let shown = command.joined(separator: " ")
        let program: Executable = executable.hasPrefix("/") ? .path(FilePath(executable)) : .name(executable)
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(1))]
        let configuration = Configuration(executable: program, arguments: Arguments(Array(command.dropFirst())),
                                          environment: .inherit, platformOptions: options)
        let seconds = Int(timeout.components.seconds)
        let started = StartedProcess()
        do {
            return try await withThrowingTaskGroup(of: ProcessOutcome?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(configuration, input: .array(input),
                                                          output: .bytes(limit: outputLimit), error: .bytes(limit: errorLimit)) {
                        execution in started.pid.withLock { $0 = execution.processIdentifier.value }
                    }
                    var outcome = ProcessOutcome(exitCode: nil, signal: nil, standardOutput: result.standardOutput,
                                                 standardError: result.standardError)
                    switch result.terminationStatus {
                    case .exited(let code): outcome.exitCode = Int32(truncatingIfNeeded: code)
                    case .signaled(let signal): outcome.signal = Int32(truncatingIfNeeded: signal)
                    }
                    return outcome
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // Past its time: killed here, once it is spawned (under load the spawn can
                    // come after the deadline, and cancelling the run does not reach it).
                    started.timedOut.withLock { $0 = true }
                    while true {
                        if let pid = started.pid.withLock({ $0 }) {
                            try? OS.kill(pid)
                            break
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return nil
                }
                defer { group.cancelAll() }
                let first = try await group.next()
                guard !started.timedOut.withLock({ $0 }), let first, let outcome = first else {
                    throw ProcessRunnerError.timedOut(command: shown, seconds: seconds)
                }
                return outcome
            }
        } catch let error as ProcessRunnerError {
            throw error
        } catch let error as SubprocessError {
            if error.code == .outputLimitExceeded { throw .outputTooLarge(command: shown, limit: outputLimit) }
            throw .cannotStart(command: shown, reason: error.description)
        } catch {
            throw .cannotStart(command: shown, reason: "\(error)")
        }
    }
}

/// The pid of a spawned child, for the time limit to kill.
private final class StartedProcess: Sendable {
    let pid = Mutex<Int32?>(nil)
    /// Set when the time limit is reached: the run's outcome then is a timeout.
    let timedOut = Mutex(false)
}
