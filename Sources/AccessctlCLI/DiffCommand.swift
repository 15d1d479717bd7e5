import Render
import Reconciler
import AccessModel
import ArgumentParser

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what changes between two commits, and who gains or loses access.",
        discussion: """
            For pull requests: needs only the repository, no database or homes. The head \
            commit is validated first; an invalid head prints its diagnostics and exits 1. \
            The change is shown as the plan actions that take a server converged to the base \
            to the head, and per user as the effective access gained and lost (through \
            groups, Everyone and connect: lists) and the keys to issue and revoke. An invalid \
            base is reported and the diff is made against an empty base.

            Exit codes: 0 ok (or changes, without --detailed-exitcode), 1 invalid head, \
            unreadable repository or ref, 2 changes present (with --detailed-exitcode), \
            64 usage error.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The git repository (default: the current directory).", valueName: "dir"))
    var repo: String = "."

    @Option(name: .long, help: ArgumentHelp("The commit to compare from (branch, tag, commit id), e.g. the merge base.", valueName: "ref"))
    var base: String

    @Option(name: .long, help: ArgumentHelp("The commit to compare to.", valueName: "ref"))
    var head: String = "HEAD"

    @Option(name: .long, help: "Output format: text, json or markdown.")
    var format: PlanFormat = .text

    @Flag(name: .long, help: "Exit with 2 when anything changes, 0 when nothing does.")
    var detailedExitcode = false

    func run() throws {
        let outcome: Diffing.Outcome
        do {
            outcome = try Diffing.diff(repository: repo, base: base, head: head, now: clock())
        } catch {
            switch error {
            case .invalid(let load): print(ValidationReport.text(load, color: useColor(fd: 1)), terminator: "")
            case .unavailable(let message): printError(message)
            }
            throw ExitCode(1)
        }
        for warning in outcome.head.diagnostics { printWarning(warning.description) }
        if !outcome.base.isValid {
            printWarning("warning: the base \(base.escapingControlCharacters) does not validate "
                + "(\(outcome.base.diagnostics.errorCount) errors); the diff is against an empty state")
        }
        switch format {
        case .text: print(DiffRenderer.text(outcome.diff, color: useColor(fd: 1)), terminator: "")
        case .json: print(DiffRenderer.json(outcome.diff), terminator: "")
        case .markdown: printParts(DiffRenderer.markdown(outcome.diff))
        }
        if detailedExitcode && outcome.diff.hasChanges { throw ExitCode(2) }
    }
}
