import AccessModel
import ArgumentParser
import DesiredRepo
import Reconciler

/// The arguments of `hold` and `release`: what the hold is on (`user NAME` or `service
/// NAME`), why, whether to apply at once, and where the server's state is.
struct HoldArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("user or service.", valueName: "kind"))
    var kind: HoldKindArgument

    @Argument(help: ArgumentHelp("The user id or service id.", valueName: "name"))
    var name: String

    @Option(name: .long, help: ArgumentHelp("Why: shown by plan, status and explain, and kept in the record.", valueName: "text"))
    var reason: String

    @Flag(name: .long, help: "Apply at once instead of leaving it to the next timer run.")
    var autoApprove = false

    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
}

enum HoldKindArgument: String, ExpressibleByArgument, CaseIterable {
    case user, service
    var kind: Hold.Kind { self == .user ? .user : .service }
}

/// Runs `body`; its failure is printed and exits 1.
func orExit<T>(_ body: () throws(ApplyError) -> T) throws -> T {
    do { return try body() } catch {
        printError(error.message)
        throw ExitCode(1)
    }
}

/// Runs `apply --auto-approve` with the server options of a hold or release.
func applyNow(_ server: ServerOptions, _ repository: RepoOptions) async throws {
    var arguments = ["--auto-approve", "--lock-timeout", "60"]
    if let config = server.config { arguments += ["--config", config] }
    if let database = server.database { arguments += ["--database", database] }
    if let keyFile = server.keyFile { arguments += ["--key-file", keyFile] }
    if let repo = repository.repo { arguments += ["--repo", repo] }
    if let ref = repository.ref { arguments += ["--ref", ref] }
    let apply = try ApplyCommand.parse(arguments)
    try await apply.run()
}

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Cut a user or a service off on this server at once, whatever the repository says.",
        discussion: """
            Records a hold (who, when, why) in the database. The next apply revokes the keys \
            it covers and takes them out of the homes, and every later apply keeps them \
            revoked, until 'accessctl release'. With --auto-approve, that apply runs now, as \
            part of this command. plan, status and explain show the hold. The repository \
            never needs to change; once a merged change deactivates the user (or removes the \
            service), status reports the hold as redundant.

            Exit codes: 0 held (and applied), 1 error (unknown user or service, a hold in \
            force already, no reason), 3 partly applied, 4 the apply was refused by a guard, \
            64 usage error.
            """
    )

    @OptionGroup var arguments: HoldArguments

    func run() async throws {
        let (subject, reason, server, repository) = (arguments, arguments.reason, arguments.server, arguments.repository)
        let config = try server.load()
        let database = try server.databasePath(config)
        // The repository, when it can be read, also names users and services not applied yet.
        let desired = (try? repository.resolved(config).source()).flatMap { try? DesiredStateLoader.load(from: $0).state }
        let hold = Hold(kind: subject.kind.kind, name: subject.name, reason: reason, placedBy: operatorName(), placedAt: clock())
        let covered = try orExit { () throws(ApplyError) in try Custody.hold(hold, database: database, desired: desired) }
        writeStandardError("placed a hold on \(hold.target.address.escapingControlCharacters): \(covered.count) "
            + "key\(covered.count == 1 ? "" : "s") to revoke\n")
        if arguments.autoApprove {
            try await applyNow(server, repository)
        } else {
            writeStandardError("the next apply revokes them (the timer, or `accessctl apply` now)\n")
        }
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Lift a hold: the next apply issues the user's (or service's) keys again, as the repository grants.",
        discussion: """
            The hold's record stays, with who released it, when and why. With \
            --auto-approve, the apply runs now.

            Exit codes: 0 released (and applied), 1 error (no hold in force, no reason), \
            3 partly applied, 4 the apply was refused by a guard, 64 usage error.
            """
    )

    @OptionGroup var arguments: HoldArguments

    func run() async throws {
        let (subject, reason, server, repository) = (arguments, arguments.reason, arguments.server, arguments.repository)
        let config = try server.load()
        let database = try server.databasePath(config)
        let lifted = try orExit { () throws(ApplyError) in
            try Custody.release(subject.kind.kind, subject.name, database: database, actor: operatorName(),
                                reason: reason, now: clock())
        }
        writeStandardError("released the hold on \(lifted.target.address.escapingControlCharacters) "
            + "(placed by \(lifted.placedBy.escapingControlCharacters): \(lifted.reason.escapingControlCharacters))\n")
        if arguments.autoApprove {
            try await applyNow(server, repository)
        } else {
            writeStandardError("the next apply issues the keys the repository grants (the timer, or `accessctl apply` now)\n")
        }
    }
}
