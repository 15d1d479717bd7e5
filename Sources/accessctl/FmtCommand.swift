import ArgumentParser

// Placeholder: filled in by the fmt work (issue 7).
struct FmtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fmt", abstract: "Rewrite the repository's YAML files in canonical layout.")
    func run() throws { throw ExitCode(1) }
}
