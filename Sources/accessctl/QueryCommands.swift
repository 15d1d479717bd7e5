import AccessCore
import AccessModel
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
        abstract: "Explain what a user gets: groups (Everyone included), every grant and the group giving it, connections and why.",
        discussion: "Reads the desired state at any ref. Exit codes: 0 ok, 1 unknown user or invalid repository, 64 usage error."
    )

    @Argument(help: "What to explain: 'user'.") var kind: String
    @Argument(help: "The user id.") var id: String
    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @Option(name: .long, help: "Output format: text or json.") var format: OutputFormat = .text

    func validate() throws {
        guard kind == "user" else { throw ValidationError("only 'explain user ID' is supported") }
    }

    func run() throws {
        let state = try loadForQuery(repository, server)
        guard let explanation = Queries.explain(user: id, in: state) else {
            printError("no user '\(id.escapingControlCharacters)' in the desired state")
            throw ExitCode(1)
        }
        if format == .json { return printJSON(explanation) }
        var out = "user \(explanation.user) <\(explanation.email)>, Unix account \(explanation.unixUser)"
        out += explanation.active ? "\n" : " (INACTIVE: no keys, no files)\n"
        out += "groups: \(explanation.groups.joined(separator: ", "))\n"
        out += "grants:\n"
        for grant in explanation.grants { out += "  \(grant.type) \(grant.resource)  via \(grant.via.joined(separator: ", "))\n" }
        if explanation.grants.isEmpty { out += "  (none)\n" }
        out += "connections:\n"
        for c in explanation.connections {
            out += "  \(c.service)  (\(c.because.joined(separator: "; ")))" + (c.note.map { "  [\($0)]" } ?? "") + "\n"
        }
        if explanation.connections.isEmpty { out += "  (none)\n" }
        print(out, terminator: "")
    }
}

struct WhoCanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who-can",
        abstract: "List the users granted a resource, and the groups through which.",
        discussion: "Reads the desired state at any ref. Exit codes: 0 ok, 1 invalid repository, 64 usage error."
    )

    @Argument(help: "Resource type, e.g. service, plugin, table, knowledge.") var type: String
    @Argument(help: "Resource id.") var id: String
    @OptionGroup var repository: RepoOptions
    @OptionGroup var server: ServerOptions
    @Option(name: .long, help: "Output format: text or json.") var format: OutputFormat = .text

    func run() throws {
        let state = try loadForQuery(repository, server)
        let holders = Queries.whoCan(type: type, resource: id, in: state)
        if format == .json { return printJSON(holders) }
        var out = "\(type) \(id): \(holders.users.count) user\(holders.users.count == 1 ? "" : "s")\n"
        for h in holders.users {
            out += "  \(h.user)  via \(h.via.joined(separator: ", "))"
            if !h.active { out += "  [inactive]" }
            if let connected = h.connected { out += connected ? "  [connected]" : "  [not connected]" }
            out += "\n"
        }
        print(out, terminator: "")  // ids and types are pattern-checked by validation: no control characters
    }
}
