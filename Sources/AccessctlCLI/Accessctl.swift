import AccessModel
import DesiredRepo
import GitStore
import Reconciler
import ArgumentParser
import Foundation
import Platform

/// The command line of accessctl, for the executables to run: `accessctl`, and in tests
/// `accessctl-faults` (the same commands with the crash points of Tests/FaultHarness).
public enum AccessctlMain {
    /// Parses `CommandLine.arguments`, runs the command and exits with its code.
    public static func run() async {
        await Accessctl.main()
    }
}

struct Accessctl: AsyncParsableCommand {
    static func main() async {
        // Configuration read at the edge: the log level comes in as a parameter.
        LogfmtHandler.bootstrap(level: LogfmtHandler.level(configured: ProcessInfo.processInfo.environment["ACCESSCTL_LOG"],
                                                           standardErrorIsTerminal: OS.isTerminal(2)))
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "accessctl",
        abstract: "GitOps reconciler for service access and API keys on a shared analysis server.",
        discussion: """
            The desired state (services, users, groups, grants, connections) lives as YAML in a \
            git repository. accessctl validates it, plans the difference to the live state, and \
            applies it.

            Exit codes: 0 ok or no changes, 1 error or invalid input, 2 changes present \
            (plan --detailed-exitcode), 3 apply partly failed (the next run retries), 4 refused \
            by a guard (stale plan, mass removal, empty desired state, unsigned or \
            unverified commit, not a fast-forward), 64 usage error.
            """,
        version: AccessctlVersion.current,
        subcommands: [Validate.self, PlanCommand.self, ShowCommand.self, ApplyCommand.self, LogCommand.self,
                      StatusCommand.self, HealthCommand.self, ExplainCommand.self, WhoCanCommand.self,
                      DiffCommand.self, StateCommand.self, HoldCommand.self, ReleaseCommand.self, FmtCommand.self, ImportCommand.self]
    )
}

/// Where the desired state is read from.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Repository directory (a git repository, bare or not, or a plain directory). Default: 'repository' of the configuration, else the current directory.", valueName: "dir"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("Read this commit of the git repository (branch, tag, HEAD or commit id) instead of the files on disk.", valueName: "ref"))
    var ref: String?

    func source() throws(RepoReadError) -> RepoSource {
        let path = repo ?? "."
        if let ref {
            do {
                return try GitTreeSource(path: path, ref: ref)
            } catch {
                // The server's clone read before the first --fetch: say what to run.
                if let notFetched = Fetcher.notFetchedYet(path: path, ref: ref) { throw RepoReadError(notFetched) }
                throw error
            }
        }
        return try DirectorySource(path: path)
    }

    /// Flags first, then the configuration: its repository is read at its branch (as a git
    /// repository) unless --repo or --ref say otherwise.
    func resolved(_ config: ServerConfig) -> RepoOptions {
        var options = self
        if options.repo == nil, let repository = config.repository {
            options.repo = repository
            if options.ref == nil {
                // With a remote, the branch is read where --fetch puts it.
                options.ref = config.remote != nil ? Fetcher.trackingRef(branch: config.branch ?? "main") : (config.branch ?? "HEAD")
            }
        }
        return options
    }

    /// `--fetch`: update the configured repository from its remote first (exit 1 on failure).
    func fetchIfAsked(_ fetch: Bool, _ config: ServerConfig) throws {
        guard fetch else { return }
        do {
            let environment = ProcessInfo.processInfo.environment
            var credentials = GitCredentials(environment: environment)
            credentials.sshKeyFile = try config.sshKeyFilePath(credentialsDirectory: environment["CREDENTIALS_DIRECTORY"])
            let commit = try Fetcher.fetch(config: config, credentials: credentials)
            writeStandardError("fetched \(config.branch ?? "main") at \(commit.prefix(12))\n")
        } catch {
            printError(error.message)
            throw ExitCode(1)
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Colour only on a terminal, and never when NO_COLOR is set.
func useColor(fd: Int32) -> Bool {
    OS.isTerminal(fd) && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
}

/// Writes `error: message` to standard error.
func printError(_ message: String) {
    writeStandardError("error: \(message)\n")
}

/// Writes a diagnostic line (already `path:line:col: warning: ...`) to standard error.
func printWarning(_ line: String) {
    writeStandardError(line + "\n")
}

func writeStandardError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
}

/// The clock of every command: `ACCESSCTL_NOW` (unix seconds, for tests and reproducible
/// demos) or the system time; read here, at the edge.
/// A variable of the process environment (read here, at the edge, and nowhere in the libraries).
func environmentValue(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }

/// Who runs the command, for the records of holds, releases, rekeys and backups: the
/// account, and the account that ran sudo when there is one (`alice via sudo as root`).
func operatorName() -> String {
    let account = OS.userName(of: OS.effectiveUserID) ?? "uid \(OS.effectiveUserID)"
    if let sudoUser = ProcessInfo.processInfo.environment["SUDO_USER"], !sudoUser.isEmpty, sudoUser != account {
        return "\(sudoUser) via sudo as \(account)"
    }
    return account
}

func clock() -> Int64 {
    if let text = ProcessInfo.processInfo.environment["ACCESSCTL_NOW"], let value = Int64(text) { return value }
    return Int64(Date().timeIntervalSince1970)
}

extension GitCredentials {
    /// The credentials the command line's environment gives: `ACCESSCTL_GIT_USERNAME`,
    /// `ACCESSCTL_GIT_PASSWORD`, `SSH_AUTH_SOCK` and `$HOME/.ssh/known_hosts`. An empty
    /// variable counts as unset.
    package init(environment: [String: String]) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        self.init(username: value("ACCESSCTL_GIT_USERNAME"), password: value("ACCESSCTL_GIT_PASSWORD"),
                  hasAgent: value("SSH_AUTH_SOCK") != nil, knownHostsPath: (value("HOME") ?? "") + "/.ssh/known_hosts")
    }
}

/// Planning knobs from the environment of the command line (profiling and tests only):
/// `ACCESSCTL_TIMING=1` prints phase timings, `ACCESSCTL_INSPECT_SPLIT=N` inspects homes in
/// two helper processes from N accounts on.
func planningOptions() -> PlanningOptions {
    let environment = ProcessInfo.processInfo.environment
    var options = PlanningOptions()
    options.reportTimings = environment["ACCESSCTL_TIMING"] == "1"
    if let split = environment["ACCESSCTL_INSPECT_SPLIT"].flatMap({ Int($0) }) { options.inspectSplitThreshold = split }
    return options
}
