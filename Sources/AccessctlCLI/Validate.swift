import DesiredRepo
import Render
import ArgumentParser

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a desired-state repository: syntax, types, references and policy.",
        discussion: """
            Reports every problem in one run, one per line as path:line:column: severity: message, \
            sorted by path and position.

            Exit codes: 0 valid (warnings allowed), 1 invalid or unreadable, 64 usage error.
            """
    )

    @OptionGroup var repository: RepoOptions

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let result: LoadResult
        do {
            result = try DesiredStateLoader.load(from: repository.source())
        } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        switch format {
        case .text: print(ValidationReport.text(result, color: useColor(fd: 1)), terminator: "")
        case .json: print(ValidationReport.json(result), terminator: "")
        }
        if !result.isValid { throw ExitCode(1) }
    }
}
