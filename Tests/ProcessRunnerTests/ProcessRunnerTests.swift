import Foundation
import ProcessRunner
import Testing

/// The one spawner, on real processes: input in, output out, exit codes and signals, the
/// output cap and the time limit.
@Suite("Process runner")
struct ProcessRunnerTests {
    @Test("standard input reaches the process; standard output and error come back apart")
    func roundTrip() async throws {
        let outcome = try await ProcessRunner.run(["/bin/sh", "-c", "cat; echo oops >&2; exit 3"],
                                                  input: Array("hello".utf8), outputLimit: 1 << 20, timeout: .seconds(30))
        #expect(String(decoding: outcome.standardOutput, as: UTF8.self) == "hello")
        #expect(String(decoding: outcome.standardError, as: UTF8.self) == "oops\n")
        #expect(outcome.exitCode == 3)
        #expect(outcome.signal == nil)
        #expect(outcome.statusText == "exit 3")
    }

    @Test("a name is looked up in PATH; a large input does not deadlock against a full output pipe")
    func largeInput() async throws {
        let input = [UInt8](repeating: 0x61, count: 4 << 20)
        let outcome = try await ProcessRunner.run(["cat"], input: input, outputLimit: 8 << 20, timeout: .seconds(60))
        #expect(outcome.standardOutput.count == input.count)
        #expect(outcome.exitCode == 0)
    }

    @Test("a process killed by a signal reports the signal")
    func signal() async throws {
        let outcome = try await ProcessRunner.run(["/bin/sh", "-c", "kill -9 $$"], outputLimit: 1024, timeout: .seconds(30))
        #expect(outcome.exitCode == nil)
        #expect(outcome.signal == 9)
        #expect(outcome.statusText == "signal 9")
    }

    @Test("more output than the cap is an error, not a truncated answer")
    func outputCap() async throws {
        await #expect(throws: ProcessRunnerError.outputTooLarge(command: "/bin/sh -c head -c 100000 /dev/zero", limit: 1000)) {
            _ = try await ProcessRunner.run(["/bin/sh", "-c", "head -c 100000 /dev/zero"], outputLimit: 1000, timeout: .seconds(30))
        }
    }

    @Test("a process past its time limit is killed and the run says so")
    func timeout() async throws {
        // An hour-long sleep with a 1 s limit: the run can only return in time if the child
        // was killed. The bound is loose because the rest of the suite can keep the shared
        // thread pool busy for a minute or more (seen: 80 s) before the timer's task runs.
        let start = ContinuousClock.now
        await #expect(throws: ProcessRunnerError.timedOut(command: "/bin/sleep 3600", seconds: 1)) {
            _ = try await ProcessRunner.run(["/bin/sleep", "3600"], outputLimit: 1024, timeout: .seconds(1))
        }
        #expect(ContinuousClock.now - start < .seconds(900))
    }

    @Test("a missing executable and an empty command are refused in words")
    func cannotStart() async throws {
        await #expect(throws: ProcessRunnerError.noCommand) {
            _ = try await ProcessRunner.run([], outputLimit: 1024, timeout: .seconds(5))
        }
        do {
            _ = try await ProcessRunner.run(["/nonexistent/helper", "inspect"], outputLimit: 1024, timeout: .seconds(5))
            Issue.record("a missing executable ran")
        } catch {
            guard case .cannotStart(let command, _) = error else { Issue.record("\(error)"); return }
            #expect(command == "/nonexistent/helper inspect")
            #expect(error.description.hasPrefix("cannot run /nonexistent/helper inspect: "))
        }
    }
}
