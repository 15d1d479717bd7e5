import HomesClient
import Reconciler
import ArgumentParser

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Work with the live state.",
        subcommands: [Export.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a secret-free snapshot of the live state, for 'plan --live-snapshot' in CI.",
            discussion: """
                Reads the database and, through the root helper's inspect, the managed files \
                of its accounts. Keys appear only as fingerprints; a .service_env is recorded \
                only as matching the database or not. The file is written atomically, mode 600.

                Exit codes: 0 ok, 1 error (database, helper, output file), 64 usage error.
                """
        )

        @OptionGroup var server: ServerOptions

        @Option(name: .long, help: ArgumentHelp("Where to write the snapshot (JSON).", valueName: "file"))
        var out: String

        func run() async throws {
            let config = try server.load()
            guard let database = server.database ?? config.database else {
                printError("no database: pass --database or set 'database' in the configuration")
                throw ExitCode(1)
            }
            do {
                let snapshot = try await Snapshots.export(database: database, helper: HelperClient(command: config.helper), now: clock())
                try Snapshots.write(snapshot, to: out)
                writeStandardError("wrote \(out.escapingControlCharacters): \(snapshot.users.count) users, "
                    + "\(snapshot.connections.count) connections, \(snapshot.homes.count) homes\n")
            } catch {
                if case .unavailable(let message) = error { printError(message) }
                throw ExitCode(1)
            }
        }
    }
}
