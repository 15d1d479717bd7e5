import KeyCustody
import DesiredRepo
import LiveStore
import TokenExchange
import TokenProtocol
import HomesClient
import Render
import Reconciler
import AccessModel
import ArgumentParser
import Foundation
import Platform

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the live state match the desired state: rows, keys and home files.",
        discussion: """
            Plans, shows the plan and asks for confirmation (or --auto-approve), then applies \
            it in a crash-safe order: registry rows in one transaction; each key exchange \
            recorded as pending before the service is called; home files through the root \
            helper in one batch; revocations last; a run record and audit rows. With PLANFILE, \
            applies exactly that saved plan (its --replace addresses included), refusing it if \
            the state changed since.

            Exit codes: 0 applied (or nothing to do), 1 error (a --replace address matching no \
            connection with a key included: nothing is changed), 3 partly applied (the rest was \
            applied; the next run retries), 4 refused by a guard (stale plan, mass removal, \
            empty desired state, a commit whose signature does not verify, a commit that does \
            not descend from the last applied one), 64 usage error.
            """
    )

    @Argument(help: ArgumentHelp("A plan saved with 'accessctl plan --out'.", valueName: "planfile"))
    var planFile: String?

    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var replacements: ReplaceOptions

    @Flag(name: .long, help: "Apply without asking (for timers and scripts).")
    var autoApprove = false

    @Flag(name: .long, help: "Fetch the configured branch from the configured remote first.")
    var fetch = false

    @Flag(name: .long, help: "Take ownership of desired objects that exist with another source.")
    var adopt = false

    @Flag(name: .long, help: "Allow a plan that removes more than the configured share of memberships, grants or connections.")
    var allowMassRemoval = false

    @Flag(name: .long, help: "Apply a commit that does not descend from the last applied one (after a force-push or a deliberate rollback).")
    var allowNonFastForward = false

    @Option(name: .long, help: ArgumentHelp("Wait this many seconds for another apply to finish (default: fail at once).", valueName: "seconds"))
    var lockTimeout: Double = 0

    @Option(name: .long, help: ArgumentHelp("Key exchanges in flight at once (default 32, or 'http.concurrency' of the configuration).", valueName: "n"))
    var concurrency: Int?

    func validate() throws {
        if let concurrency, !(1...256).contains(concurrency) { throw ValidationError("--concurrency must be from 1 to 256") }
        if lockTimeout < 0 { throw ValidationError("--lock-timeout must not be negative") }
        if planFile != nil && !replacements.replace.isEmpty {
            throw ValidationError("--replace cannot be given with a saved plan, which carries its own replacements: plan again with --replace and --out")
        }
    }

    func run() async throws {
        let config = try server.load()
        let database = try server.databasePath(config)
        try repository.fetchIfAsked(fetch && planFile == nil, config)
        var saved: Plan?
        var options = repository.resolved(config)
        if let planFile {
            do { saved = try Planning.readSavedPlan(path: planFile) } catch {
                if case .unavailable(let message) = error { printError(message) }
                throw ExitCode(1)
            }
            guard let commit = saved?.commit else {
                printError("\(planFile) was planned from a directory, not a commit; only plans of a commit can be applied")
                throw ExitCode(1)
            }
            options.ref = commit
        }
        var settings = ApplySettings(database: database, sealing: try server.sealing(config),
                                     helper: HelperClient(command: config.helper), secrets: SecretStore(), now: clock())
        settings.adopt = adopt
        settings.replace = replacements.patterns
        settings.allowMassRemoval = allowMassRemoval
        settings.allowNonFastForward = allowNonFastForward
        settings.allowedSigners = config.allowedSigners
        settings.maxRemovalPercent = config.maxRemovalPercent
        settings.minRemoval = config.minRemoval
        settings.lockTimeout = lockTimeout
        settings.savedPlan = saved
        settings.exchange.concurrency = concurrency ?? config.concurrency
        settings.exchange.connectTimeout = Double(config.connectTimeoutSeconds)
        settings.exchange.totalTimeout = Double(config.timeoutSeconds)
        settings.exchange.secretOrigins = config.secretOrigins
        settings.exchange.trustRoots = config.caFile
        settings.command = CommandLine.arguments.joined(separator: " ")
        settings.planning = planningOptions()
        settings.notice = { writeStandardError("note: \($0)\n") }
        let interactive = OS.isTerminal(0)
        let color = useColor(fd: 1)
        let approve = autoApprove || saved != nil
        settings.confirm = { plan in
            print(PlanRenderer.text(plan, color: color), terminator: "")
            if approve { return true }
            guard interactive else { return false }
            print("\nApply these changes? Only 'yes' is accepted: ", terminator: "")
            return readLine()?.trimmingCharacters(in: .whitespaces) == "yes"
        }
        if OS.isTerminal(2) {
            settings.progress = { done, total in
                writeStandardError("\rexchanging keys: \(done) of \(total)" + (done == total ? "\n" : ""))
            }
        }
        if !approve && !interactive {
            printError("apply asks for confirmation: run it in a terminal, or pass --auto-approve (or a saved plan)")
            throw ExitCode(1)
        }
        let report: ApplyReport
        do {
            report = try await Applier.apply(source: options.source(), settings: settings)
        } catch let error as ApplyError {
            switch error {
            case .invalid(let load): print(ValidationReport.text(load, color: color), terminator: "")
            case .failed(let message), .locked(let message): printError(message)
            case .refused(let refusal):
                printError("refused by \(refusal.guardName.title): \(refusal.message)")
                throw ExitCode(4)
            }
            throw ExitCode(1)
        } catch let error as RepoReadError {
            printError(error.message)
            throw ExitCode(1)
        }
        if !report.plan.summary.hasChanges {
            print(PlanRenderer.text(report.plan, color: color), terminator: "")
            return
        }
        for (target, message) in report.failures.sorted(by: { $0.key.address < $1.key.address }) {
            writeStandardError("failed: \(target.address.escapingControlCharacters): \(message.escapingControlCharacters)\n")
        }
        let run = report.runID.map { " (run \($0))" } ?? ""
        let counts = PlanRenderer.summaryLine(report.plan.summary).replacingOccurrences(of: "Plan: ", with: "")
        if report.failures.isEmpty {
            print("Apply complete\(run): \(counts)")
        } else {
            print("Apply partly failed\(run): \(report.failures.count) failed (listed above), the rest applied; the next run retries. Planned: \(counts)")
            throw ExitCode(3)
        }
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show recent apply runs and what each did.",
        discussion: "Exit codes: 0 ok, 1 error, 64 usage error."
    )

    @OptionGroup var server: ServerOptions

    @Option(name: .long, help: "How many runs to show.")
    var limit = 10

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let config = try server.load()
        let database = try server.databasePath(config)
        guard FileManager.default.fileExists(atPath: database) else {
            print(RunLog.render([], json: format == .json), terminator: "")
            return
        }
        let runs: [(LiveRun, [LiveAuditEntry])]
        do {
            let store = try LiveStore(path: database, sealing: .withoutKeys)
            runs = try store.runs(limit: limit).map { run in (run, try store.auditLog(run: run.id ?? 0)) }
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        print(RunLog.render(runs, json: format == .json), terminator: "")
    }
}
