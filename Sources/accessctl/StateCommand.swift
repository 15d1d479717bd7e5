import ArgumentParser

// Placeholder: filled in by the state export work (issue 7).
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Export a secret-free snapshot of the live state.")
    func run() throws { throw ExitCode(1) }
}
