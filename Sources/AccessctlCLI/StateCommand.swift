import KeyCustody
import LiveStore
import HomesClient
import Reconciler
import ArgumentParser

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Work with the live state: export it, seal its keys, back it up.",
        subcommands: [Export.self, InitKey.self, Rekey.self, Backup.self]
    )

    struct InitKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init-key",
            abstract: "Write a new random master key (32 bytes) for sealing the database's keys.",
            discussion: """
                The file is created with mode 600 and never overwrites anything. Make it a \
                systemd credential (systemd-creds encrypt) and name the credential in \
                'key_file' (docs/operations.md, "The master key"). The key itself is never \
                printed; its id (a fingerprint) is.

                Exit codes: 0 written, 1 the file exists or cannot be written, 64 usage error.
                """
        )

        @Option(name: .long, help: ArgumentHelp("The new key file (must not exist).", valueName: "file"))
        var out: String

        func run() throws {
            let key = MasterKey.generate()
            do { try key.write(toNewFile: out) } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            writeStandardError("wrote master key \(key.id) to \(out.escapingControlCharacters) (mode 600)\n")
        }
    }

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rekey",
            abstract: "Re-seal every key of the database under a new master key, in one transaction.",
            discussion: """
                Reads the keys with the current master key ('key_file', or --key-file) and \
                seals them with the new one, holding the apply lock. After it, the old key \
                opens nothing: point 'key_file' at the new key before the next run. A crash \
                leaves the database sealed with the old key, entirely.

                Exit codes: 0 re-sealed, 1 error (a key file, the database, the lock), 64 usage error.
                """
        )

        @OptionGroup var server: ServerOptions

        @Option(name: .long, help: ArgumentHelp("The new master key (from 'accessctl state init-key').", valueName: "file"))
        var newKeyFile: String

        @Option(name: .long, help: ArgumentHelp("Wait this many seconds for a running apply to finish (default 60).", valueName: "seconds"))
        var lockTimeout: Double = 60

        func run() throws {
            let config = try server.load()
            let database = try server.databasePath(config)
            let sealing = try server.sealing(config)
            let newKey: MasterKey
            do { newKey = try MasterKey.load(path: newKeyFile) } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            let count = try orExit { () throws(ApplyError) in
                try Custody.rekey(database: database, sealing: sealing, newKey: newKey, actor: operatorName(),
                                  now: clock(), lockTimeout: lockTimeout)
            }
            writeStandardError("re-sealed \(count) key\(count == 1 ? "" : "s") of \(database.escapingControlCharacters) "
                + "with master key \(newKey.id); set key_file to \(newKeyFile.escapingControlCharacters) now "
                + "(the old key no longer opens this database)\n")
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup",
            abstract: "Write a consistent copy of the database while applies may run.",
            discussion: """
                SQLite's online backup from one read transaction, checked, synced and renamed \
                into place: a new file of mode 600 that never replaces another. Keys stay \
                sealed; keep the master key's backup apart from the database's. Restoring: \
                docs/operations.md, "Backups". Needs no master key.

                Exit codes: 0 written, 1 error (no database, the file exists, a write failed), 64 usage error.
                """
        )

        @OptionGroup var server: ServerOptions

        @Option(name: .long, help: ArgumentHelp("The backup file (must not exist).", valueName: "file"))
        var out: String

        func run() throws {
            let config = try server.load()
            let database = try server.databasePath(config)
            do {
                let report = try LiveStore.backup(path: database, to: out, now: clock(), actor: operatorName())
                let keys: String
                switch report.custody {
                case .sealed(let id): keys = "keys sealed with master key \(id)"
                case .plaintext: keys = "keys IN PLAIN TEXT (encryption: none): protect this file like the database"
                }
                writeStandardError("wrote \(out.escapingControlCharacters): \(report.bytes) bytes, "
                    + "\(report.connections) connections, \(keys)\n")
            } catch {
                printError(error.message)
                throw ExitCode(1)
            }
        }
    }

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
            let database = try server.databasePath(config)
            let sealing = try server.sealing(config)
            do {
                let snapshot = try await Snapshots.export(database: database, sealing: sealing,
                                                          helper: HelperClient(command: config.helper), now: clock())
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
