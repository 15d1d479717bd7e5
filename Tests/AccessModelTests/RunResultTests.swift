import AccessModel
import Testing

/// The one mapping of run results to the strings stored in `runs.result`.
@Suite("run results: stored strings")
struct RunResultTests {
    @Test("every result reads back from its stored string", arguments: [
        RunResult.running, .applied, .partlyApplied, .noChanges, .failed("cannot write the database"),
        .invalid("2 errors, first users/a.yaml:1:1: error: x"), .interrupted, .unknown("something newer"),
    ] + RefusalGuard.allCases.map { RunResult.refused($0) })
    func roundTrip(result: RunResult) {
        var refusedBy: String?
        if case .refused(let refusal) = result { refusedBy = refusal?.rawValue }
        #expect(RunResult(stored: result.stored, refusedBy: refusedBy) == result)
    }

    @Test("the stored strings are the documented ones (docs/apply.md): they never change")
    func stableStrings() {
        #expect(RunResult.applied.stored == "applied")
        #expect(RunResult.partlyApplied.stored == "partly applied")
        #expect(RunResult.noChanges.stored == "no changes")
        #expect(RunResult.running.stored == "running")
        #expect(RunResult.interrupted.stored == "interrupted")
        #expect(RunResult.refused(.massRemoval).stored == "refused")
        #expect(RunResult.failed("x").stored == "failed: x")
        #expect(RunResult.invalid("1 error").stored == "invalid: 1 error")
        #expect(RefusalGuard.allCases.map(\.rawValue)
            == ["empty-desired-state", "mass-removal", "fast-forward", "signature", "stale-plan"])
    }

    @Test("only applied, partly applied and no changes bring the server to a commit")
    func reachedCommit() {
        #expect(RunResult.reachedCommit == [.applied, .partlyApplied, .noChanges])
        #expect(!RunResult.refused(.fastForward).reachedCommit && !RunResult.failed("x").reachedCommit)
        #expect(RunResult(stored: "refused", refusedBy: "no-such-guard") == .refused(nil))
    }
}
