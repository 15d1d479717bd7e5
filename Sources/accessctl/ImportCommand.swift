import ArgumentParser

// Placeholder: filled in by the import work (issue 7).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Write a desired-state repository from an existing live database.")
    func run() throws { throw ExitCode(1) }
}
