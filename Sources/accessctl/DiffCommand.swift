import ArgumentParser

// Placeholder: filled in by the diff work (issue 7).
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Show what changes between two commits, and who gains or loses access.")
    func run() throws { throw ExitCode(1) }
}
