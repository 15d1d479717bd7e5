import RepoFormat
import AccessModel
import ArgumentParser

struct FmtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite the repository's YAML files in canonical layout.",
        discussion: """
            Works on the files on disk of a working directory: accessctl.yaml and the *.yaml \
            files of services/, users/, groups/ and catalogs/ (never dot-paths or other files). \
            Keys go in the documented order, members, connect, connections, grant and catalog \
            lists are sorted, indentation is two spaces, line endings LF; values and comments \
            are kept. Running it twice changes nothing the second time. The rules: \
            docs/format.md, "Canonical layout".

            A file that does not parse, or whose comments cannot be kept unambiguously, is \
            reported as path:line:column: error: message on standard error and left \
            untouched; the other files are still formatted. The whole repository need not be \
            valid.

            fmt prints the path of each file it rewrote. With --check it writes nothing and \
            prints the path of each file that is not in canonical layout (CI: \
            accessctl fmt --check). --diff prints a unified diff of each such file instead \
            of its path.

            Exit codes: 0 ok (with --check: every file canonical), 1 a file could not be \
            read, parsed, formatted or written (this wins over 2), 2 with --check: files \
            would change, 64 usage error.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Repository directory (a working tree). Default: the current directory.", valueName: "dir"))
    var repo: String?

    @Flag(name: .long, help: "Write nothing; list the files that are not in canonical layout and exit 2 if there are any.")
    var check = false

    @Flag(name: .long, help: "Print a unified diff of each file (that changed or would change) instead of its path.")
    var diff = false

    func run() throws {
        let report: FormatReport
        do {
            report = try RepoFormatter.format(directory: repo ?? ".", write: !check)
        } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        var out = ""
        for file in report.changed where check || file.written {
            out += diff ? UnifiedDiff.render(path: file.path, old: file.original, new: file.formatted)
                : file.path.escapingControlCharacters + "\n"
        }
        print(out, terminator: "")
        for diagnostic in report.diagnostics {
            writeStandardError(diagnostic.description + "\n")
        }
        if !report.diagnostics.isEmpty { throw ExitCode(1) }
        if check && !report.changed.isEmpty { throw ExitCode(2) }
    }
}
