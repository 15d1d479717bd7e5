import TokenExchange
import TokenProtocol
import Reconciler
import AccessModel
import ArgumentParser
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the server's state: applied commit, recent runs, counts, expiring keys, the lock.",
        discussion: """
            Read-only; needs no master key. Lists keys expiring soon, keys older than the age \
            limit, holds in force (and whether a merged change made them redundant), and the \
            warnings a monitoring script should act on.

            Exit codes: 0 ok (warnings or not), 1 error, 2 warnings present (only with \
            --fail-on-warning), 64 usage error.
            """
    )

    @OptionGroup var server: ServerOptions

    @Flag(name: .long, help: "Exit 2 when there is any warning (for monitoring scripts).")
    var failOnWarning = false

    @Option(name: .long, help: ArgumentHelp("List keys issued more than this many days ago (default 90).", valueName: "days"))
    var maxKeyAge: Int64 = 90

    @Option(name: .long, help: ArgumentHelp("List keys expiring within this many days (default 30).", valueName: "days"))
    var expiringWithin: Int64 = 30

    func validate() throws {
        if maxKeyAge < 1 || expiringWithin < 0 { throw ValidationError("--max-key-age must be at least 1 and --expiring-within not negative") }
    }

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let config = try server.load()
        let database = try server.databasePath(config)
        let status: ServerStatus
        do {
            var limits = ServerStatus.Limits()
            limits.maxKeyAgeDays = maxKeyAge
            limits.expiringWithinDays = expiringWithin
            status = try ServerStatus.read(database: database, repository: config.repository, branch: config.branch ?? "main",
                                           now: clock(), limits: limits)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        print(format == .json ? status.json() : status.text(), terminator: "")
        if failOnWarning && !status.warnings.isEmpty { throw ExitCode(2) }
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Call each enabled service's health URL and report the results.",
        discussion: "Exit codes: 0 all healthy, 1 any failed (or an error), 64 usage error."
    )

    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() async throws {
        let config = try server.load()
        let desired = try loadDesiredState(repository, config: config)
        var settings = ExchangeSettings()
        settings.connectTimeout = Double(config.connectTimeoutSeconds)
        settings.totalTimeout = Double(min(config.timeoutSeconds, 10))
        settings.trustRoots = config.caFile
        let client = TokenClient(settings: settings, secrets: SecretStore())
        let services = desired.services.filter(\.enabled)
        var results: [(String, String?, String)] = []
        do {
            var rows: [(String, String?, String)] = []
            for service in services {
                guard let url = service.healthURL else {
                    rows.append((service.id, nil, "no health_url"))
                    continue
                }
                switch await client.health(url, service: service.id) {
                case .success: rows.append((service.id, url, "ok"))
                case .failure(let error): rows.append((service.id, url, "FAILED: \(error.message)"))
                }
            }
            results = rows
        }
        let failed = results.contains { $0.2.hasPrefix("FAILED") }
        if format == .json {
            let rows = results.map { ["service": $0.0, "url": $0.1 ?? "", "result": $0.2] }
            let data = (try? JSONSerialization.data(withJSONObject: ["services": rows, "healthy": !failed], options: [.prettyPrinted, .sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            let width = max(7, results.map(\.0.count).max() ?? 0)
            print("service".padding(toLength: width, withPad: " ", startingAt: 0) + "  result")
            for (id, url, result) in results {
                print(id.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + result.escapingControlCharacters
                      + (url.map { "  (\($0))" } ?? ""))
            }
        }
        if failed { throw ExitCode(1) }
    }
}
