import DesiredRepo
import Render
import Reconciler
import AccessModel
import AccessQueries
import ArgumentParser
import Foundation

/// Loads the desired state for a query, printing diagnostics and exiting 1 when invalid.
func loadForQuery(_ repository: RepoOptions, _ server: ServerOptions) throws -> DesiredState {
    try loadDesiredState(repository, config: (try? ServerConfig.load(path: server.config)) ?? ServerConfig())
}

/// Loads the desired state the configuration and flags name, printing diagnostics and
/// exiting 1 when it cannot be read or is invalid.
func loadDesiredState(_ repository: RepoOptions, config: ServerConfig) throws -> DesiredState {
    let options = repository.resolved(config)
    let load: LoadResult
    do throws(RepoReadError) {
        load = try DesiredStateLoader.load(from: options.source())
    } catch {
        printError(error.message)
        throw ExitCode(1)
    }
    guard let state = load.state else {
        print(ValidationReport.text(load, color: useColor(fd: 1)), terminator: "")
        throw ExitCode(1)
    }
    return state
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    print(String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self))
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a user, a group or a service: what it gets or gives, and why.",
        discussion: """
            explain user ID: groups (Everyone included), every grant and the group giving it, \
            connections and why. explain group NAME: description, members, grants, connect:, \
            and which members get which service through it. explain service ID: enabled, key \
            variable and lifetime, the groups granting and connecting it, and every connected \
            user with the reason and the granting groups.

            Reads the desired state at any ref (no service); with a database configured, also \
            the holds of this server that cut the user or service off. Exit codes: 0 ok, \
            1 unknown user, group or service (with a "did you mean") or invalid repository, \
            64 usage error.
            """
    )

    static let kinds = ["user", "group", "service"]

    @Argument(help: "What to explain: user, group or service.") var kind: String
    @Argument(help: "The user id, group name or service id.") var id: String
    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @Option(name: .long, help: "Output format: text or json.") var format: OutputFormat = .text

    /// With a database configured, the holds of this server that cut the explained user (or
    /// service) off, whatever the repository says.
    func printHolds(_ applies: (Hold) -> Bool) {
        let config = (try? ServerConfig.load(path: server.config)) ?? ServerConfig()
        guard let database = server.database ?? config.database,
              let holds = try? Custody.holdsInForce(database: database).filter(applies), !holds.isEmpty else { return }
        print("held on this server (keys revoked until `accessctl release`):")
        for hold in holds { print(PlanRenderer.holdLine(hold)) }
    }

    func validate() throws {
        guard Self.kinds.contains(kind) else {
            throw ValidationError("cannot explain '\(kind.escapingControlCharacters)': use explain user ID, explain group NAME or explain service ID\(Suggest.hint(kind, Self.kinds))")
        }
    }

    func run() throws {
        let state = try loadForQuery(repository, server)
        func unknown(_ error: QueryError) throws -> Never {
            printError(QueryRenderer.message(error, in: state))
            throw ExitCode(1)
        }
        switch kind {
        case "user":
            guard let explanation = Queries.explain(user: id, in: state) else { try unknown(.unknownUser(id)) }
            format == .json ? printJSON(explanation) : print(QueryRenderer.text(explanation), terminator: "")
            if format == .text { printHolds { $0.kind == .user ? $0.name == id : explanation.connections.map(\.service).contains($0.name) } }
        case "group":
            guard let explanation = Queries.explain(group: id, in: state) else { try unknown(.unknownGroup(id)) }
            format == .json ? printJSON(explanation) : print(QueryRenderer.text(explanation), terminator: "")
        default:
            guard let explanation = Queries.explain(service: id, in: state) else { try unknown(.unknownService(id)) }
            format == .json ? printJSON(explanation) : print(QueryRenderer.text(explanation), terminator: "")
            if format == .text { printHolds { $0.kind == .service && $0.name == id } }
        }
    }
}

struct WhoCanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who-can",
        abstract: "List the users granted a resource, and the groups through which.",
        discussion: """
            Reads the desired state at any ref. TYPE must be listed in resource_types of \
            accessctl.yaml; a service must exist in services/, and a resource of a type with \
            a catalog (catalogs/<type>.yaml) must be listed there. Exit codes: 0 ok, 1 unknown \
            type or resource (with a "did you mean") or invalid repository, 64 usage error.
            """
    )

    @Argument(help: "Resource type, e.g. service, plugin, table, knowledge.") var type: String
    @Argument(help: "Resource id.") var id: String
    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @Option(name: .long, help: "Output format: text or json.") var format: OutputFormat = .text

    func run() throws {
        let state = try loadForQuery(repository, server)
        let holders: Queries.Holders
        do throws(QueryError) {
            holders = try Queries.whoCan(type: type, resource: id, in: state)
        } catch {
            printError(QueryRenderer.message(error, in: state))
            throw ExitCode(1)
        }
        if format == .json { return printJSON(holders) }
        print(QueryRenderer.text(holders), terminator: "")
    }
}
