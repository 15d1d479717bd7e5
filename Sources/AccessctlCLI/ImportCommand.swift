import RepoFormat
import Render
import AccessModel
import ArgumentParser

/// A row source, as `--source` takes it.
enum ImportSourceArgument: String, ExpressibleByArgument, CaseIterable {
    case gitops, admin
    case googleSync = "google_sync"
    case systemSeed = "system_seed"

    var rowSource: RowSource { RowSource(rawValue: rawValue)! }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write a desired-state repository from an existing live database.",
        discussion: """
            Reads the live database (read-only) and writes the repository layout of \
            docs/format.md into --out: accessctl.yaml, services/<id>.yaml and skill files, \
            users/<id>.yaml, groups/<name>.yaml. The result validates and plans no changes \
            against that database; rows owned by another source than gitops show as \
            conflicts until plan/apply --adopt takes them over. API keys are never read or \
            written: connections are exported as service ids.

            --out must not exist or be empty; nothing is ever overwritten, and a failure \
            leaves nothing half written. Skill texts come from the database (stored by apply \
            since schema v4-skill-text), else from --skills DIR (<service id>.md), else a \
            placeholder is written and a warning says so. The written repository is then \
            validated as 'accessctl validate' would.

            Exit codes: 0 written and valid (warnings allowed), 1 error (nothing written) or \
            the written repository is invalid (the files stay for you to fix), 64 usage error.
            """
    )

    @OptionGroup var server: ServerOptions

    @Option(name: .long, help: ArgumentHelp("The directory to write: must not exist, or be empty.", valueName: "dir"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Export only rows of this source; repeat for several. Default: all sources.", valueName: "source"))
    var source: [ImportSourceArgument] = []

    @Option(name: .long, help: ArgumentHelp("A directory of <service id>.md skill files, for services whose skill text the database does not hold.", valueName: "dir"))
    var skills: String?

    func run() throws {
        let config = try server.load()
        let database = try server.databasePath(config)
        var options = ImportOptions(database: database, output: out)
        options.sources = Set(source.map(\.rowSource))
        options.skillsDirectory = skills
        let report: ImportReport
        do { report = try Importer.run(options) } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        for warning in report.repository.warnings { writeStandardError("warning: \(warning.escapingControlCharacters)\n") }
        print(report.summary)
        print(ValidationReport.text(report.validation, color: useColor(fd: 1)), terminator: "")
        guard report.validation.isValid else {
            printError("the written repository is invalid (see above); the files stay in \(out): fix them and run "
                + "'accessctl validate --repo \(out)', or remove the directory and import again")
            throw ExitCode(1)
        }
        if let hint = report.adoptHint { print(hint) }
    }
}
