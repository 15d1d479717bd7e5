import KeyCustody
import DesiredRepo
import HomesClient
import Render
import Reconciler
import AccessModel
import ArgumentParser

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, markdown
}

/// Options shared by commands that read the server's state.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Server configuration file (default \(ServerConfig.defaultPath), if present).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Live database (SQLite). Overrides 'database' of the configuration.", valueName: "file"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp("Master key file that seals the keys in the database. Overrides 'key_file' of the configuration.", valueName: "file"))
    var keyFile: String?

    /// The database of --database or `database`; neither is an error (exit 1).
    func databasePath(_ config: ServerConfig) throws -> String {
        guard let database = database ?? config.database else {
            printError("no database: pass --database or set 'database' in the configuration")
            throw ExitCode(1)
        }
        return database
    }

    /// How the database's keys are sealed: the master key of --key-file or `key_file`, or
    /// plain text when the configuration says `encryption: none`. Neither is an error (exit
    /// 1), as is a key file that cannot be used; the message names the file.
    func sealing(_ config: ServerConfig) throws -> KeySealing {
        let configured: String?
        do { configured = try config.keyFilePath(credentialsDirectory: environmentValue("CREDENTIALS_DIRECTORY")) } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        if let path = keyFile ?? configured {
            do { return .sealed(try MasterKey.load(path: path)) } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        if config.encryption == .none { return .plaintext }
        printError("no master key: set 'key_file' in the configuration (or pass --key-file) to the file made by "
            + "`accessctl state init-key --out FILE`, or set 'encryption: none' to store the keys in plain text")
        throw ExitCode(1)
    }

    func load() throws -> ServerConfig {
        do {
            return try ServerConfig.load(path: config)
        } catch {
            printError("invalid configuration:\n\(error.description)")
            throw ExitCode(1)
        }
    }
}

/// `--replace ADDRESS` (repeatable) of plan and apply: connections whose key is rotated now.
struct ReplaceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Rotate this connection's key now, even when it is not due (a leaked key): connection.<user>.<service>, with * for a whole part (connection.*.crm: every key of crm; connection.alice.*: every key of alice). Repeatable.", valueName: "address"))
    var replace: [String] = []

    func validate() throws {
        for text in replace {
            do { _ = try TargetPattern(parsing: text) } catch { throw ValidationError(error.description.escapingControlCharacters) }
        }
    }

    /// The patterns (validated), each once, in the order given.
    var patterns: [TargetPattern] {
        var seen: Set<TargetPattern> = []
        return replace.compactMap { try? TargetPattern(parsing: $0) }.filter { seen.insert($0).inserted }
    }
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change: registry rows, keys and home files.",
        discussion: """
            Compares the desired state (a repository revision) with the live database and the \
            managed files in the users' homes (read through the root helper's inspect). \
            Nothing is changed. Keys appear only as fingerprints.

            Exit codes: 0 no changes (or changes, without --detailed-exitcode), 1 error, \
            invalid repository or a --replace address matching no connection with a key, \
            2 changes present (with --detailed-exitcode), 64 usage error (a malformed --replace \
            address included).
            """
    )

    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var replacements: ReplaceOptions

    @Option(name: .long, help: "Output format: text, json or markdown.")
    var format: PlanFormat = .text

    @Option(name: .long, help: ArgumentHelp("Also save the plan to this file, for 'accessctl show' and 'accessctl apply FILE'.", valueName: "file"))
    var out: String?

    @Flag(name: .long, help: "Exit with 2 when the plan has changes, 0 when it has none.")
    var detailedExitcode = false

    @Flag(name: .long, help: "Take ownership of desired objects that exist with another source (admin, google_sync, system_seed).")
    var adopt = false

    @Flag(name: .long, help: "Fetch the configured branch from the configured remote first.")
    var fetch = false

    @Option(name: .long, help: ArgumentHelp("Plan against a snapshot written by 'accessctl state export' instead of the database and the homes (for CI). Such a plan is for review: apply refuses it as stale.", valueName: "file"))
    var liveSnapshot: String?

    func validate() throws {
        if liveSnapshot != nil && (server.database != nil || fetch || out != nil) {
            throw ValidationError("--live-snapshot cannot be combined with --database, --fetch or --out")
        }
    }

    func run() async throws {
        if let liveSnapshot { return try await planAgainstSnapshot(liveSnapshot) }
        let config = try server.load()
        try repository.fetchIfAsked(fetch, config)
        let repo = repository.resolved(config)
        let database = try server.databasePath(config)
        if let allowed = config.allowedSigners {
            // Show whether apply would accept this commit's signature.
            do {
                guard let git = try repo.source() as? GitTreeSource else { throw SignatureError("the desired state is not a commit") }
                writeStandardError("signature: verified, signed by \(try await CommitSignature.verify(git, allowedSigners: allowed))\n")
            } catch let error as SignatureError {
                writeStandardError("signature: NOT VERIFIED: \(error.message) (apply will refuse this commit)\n")
            } catch {}
        }
        let sealing = try server.sealing(config)
        let outcome: Planning.Outcome
        do {
            outcome = try await Planning.plan(source: repo.source(),
                                              live: .database(path: database, sealing: sealing, helper: HelperClient(command: config.helper)),
                                              adopt: adopt, replace: replacements.patterns, now: clock(),
                                              options: planningOptions())
        } catch let failure as Planning.Failure {
            switch failure {
            case .invalid(let load):
                print(ValidationReport.text(load, color: useColor(fd: 1)), terminator: "")
            case .unavailable(let message):
                printError(message)
            }
            throw ExitCode(1)
        } catch let error as RepoReadError {
            printError(error.message)
            throw ExitCode(1)
        }
        for warning in outcome.load.diagnostics { printWarning(warning.description) }
        if let out {
            do { try Planning.save(outcome.plan, to: out) } catch {
                if case .unavailable(let message) = error { printError(message) }
                throw ExitCode(1)
            }
        }
        render(outcome.plan, format: format)
        if detailedExitcode && outcome.plan.summary.hasChanges { throw ExitCode(2) }
    }
}

extension PlanCommand {
    /// `--live-snapshot`: the repository (flags, or the configuration if one is readable) against a snapshot.
    func planAgainstSnapshot(_ path: String) async throws {
        let repo = repository.resolved((try? ServerConfig.load(path: server.config)) ?? ServerConfig())
        let outcome: Planning.Outcome
        do {
            outcome = try await Planning.plan(source: repo.source(), live: .snapshot(path: path), adopt: adopt,
                                              replace: replacements.patterns, now: clock())
        } catch let failure as Planning.Failure {
            switch failure {
            case .invalid(let load): print(ValidationReport.text(load, color: useColor(fd: 1)), terminator: "")
            case .unavailable(let message): printError(message)
            }
            throw ExitCode(1)
        } catch let error as RepoReadError {
            printError(error.message)
            throw ExitCode(1)
        }
        for warning in outcome.load.diagnostics { printWarning(warning.description) }
        if let created = outcome.snapshotCreatedAt {
            let now = clock()
            let note = Snapshots.ageNote(createdAt: created, now: now)
            if now - created > Snapshots.staleAfterSeconds {
                printWarning("warning: \(note): export a new one on the server ('accessctl state export') for a plan that shows what the server would do now")
            } else {
                printWarning("note: \(note)")
            }
        }
        render(outcome.plan, format: format)
        if detailedExitcode && outcome.plan.summary.hasChanges { throw ExitCode(2) }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Render a plan saved with 'accessctl plan --out'.",
        discussion: "Exit codes: 0 ok, 1 unreadable plan, 64 usage error."
    )

    @Argument(help: ArgumentHelp("A saved plan.", valueName: "planfile"))
    var planFile: String

    @Option(name: .long, help: "Output format: text, json or markdown.")
    var format: PlanFormat = .text

    func run() throws {
        let plan: Plan
        do { plan = try Planning.readSavedPlan(path: planFile) } catch {
            if case .unavailable(let message) = error { printError(message) }
            throw ExitCode(1)
        }
        render(plan, format: format)
    }
}

/// Prints a plan in a format. Markdown parts are separated by a marker comment line.
func render(_ plan: Plan, format: PlanFormat) {
    switch format {
    case .text: print(PlanRenderer.text(plan, color: useColor(fd: 1)), terminator: "")
    case .json: print(PlanRenderer.json(plan), terminator: "")
    case .markdown: printParts(PlanRenderer.markdown(plan))
    }
}

/// Prints Markdown parts separated by a marker comment line (`<!-- accessctl: part 2 of 3 -->`).
func printParts(_ parts: [String]) {
    for (index, part) in parts.enumerated() {
        if index > 0 { print("\n<!-- accessctl: part \(index + 1) of \(parts.count) -->\n") }
        print(part, terminator: part.hasSuffix("\n") ? "" : "\n")
    }
}
