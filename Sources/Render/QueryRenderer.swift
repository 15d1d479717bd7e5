import AccessModel
import AccessQueries
import DesiredRepo

/// Text for `accessctl explain` and `who-can`, and the messages of failed queries. The JSON
/// forms are the query values themselves (snake_case keys).
///
/// Ids and types in the desired state are pattern-checked by validation; names,
/// descriptions and what was typed on the command line are printed with control
/// characters escaped.
public enum QueryRenderer {
    public static func text(_ explanation: Queries.UserExplanation) -> String {
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
        return out
    }

    public static func text(_ explanation: Queries.GroupExplanation) -> String {
        var out = "group \(explanation.group)" + (explanation.description.map { ": " + $0.escapingControlCharacters } ?? "") + "\n"
        if let system = explanation.system { out += system + "\n" }
        let source = explanation.members.first?.source ?? "listed in groups/\(explanation.group).yaml"
        out += "members (\(source)):\n"
        for member in explanation.members { out += "  \(member.user)" + (member.active ? "" : "  [inactive]") + "\n" }
        if explanation.members.isEmpty { out += "  (none)\n" }
        out += "grants:\n"
        for grant in explanation.grants { out += "  \(grant.type) \(grant.resource)\n" }
        if explanation.grants.isEmpty { out += "  (none)\n" }
        out += "connect: " + (explanation.connect.isEmpty ? "(none)" : explanation.connect.joined(separator: ", ")) + "\n"
        out += "services through this group:\n"
        for service in explanation.services {
            let how = switch (service.granted, service.connect) {
            case (true, true): "granted, connected for every member"
            case (true, false): "granted"
            default: "connected for every member, not granted here"
            }
            out += "  \(service.service)  (\(how))" + (service.enabled ? "" : "  [service disabled: no keys]") + "\n"
            for c in service.connections {
                out += "    \(c.user)  (\(c.because.joined(separator: "; ")))" + (c.note.map { "  [\($0)]" } ?? "") + "\n"
            }
            if service.connections.isEmpty { out += "    (no member is connected)\n" }
        }
        if explanation.services.isEmpty { out += "  (none)\n" }
        return out
    }

    public static func text(_ explanation: Queries.ServiceExplanation) -> String {
        var out = "service \(explanation.service): \(explanation.name.escapingControlCharacters)"
        out += explanation.enabled ? "\n" : " (DISABLED: no keys, no files)\n"
        if let description = explanation.description { out += "description: \(description.escapingControlCharacters)\n" }
        out += "key: \(explanation.envVar)" + (explanation.keyPrefix.map { ", prefix \($0)" } ?? "")
        out += ", ttl \(explanation.ttlDays) days (rotated \(explanation.rotateBeforeDays) days before it expires)\n"
        out += "skill: \(explanation.skillPath)\n"
        out += "granted by: " + (explanation.grantedBy.isEmpty ? "(none)" : explanation.grantedBy.joined(separator: ", "))
        out += " (\(plural(explanation.grantedUsers, "user")))\n"
        out += "connected for every member of: " + (explanation.connectedBy.isEmpty ? "(none)" : explanation.connectedBy.joined(separator: ", ")) + "\n"
        out += "connections (\(explanation.connections.count), \(explanation.keys) with a key):\n"
        for c in explanation.connections {
            out += "  \(c.user)  (\(c.because.joined(separator: "; ")))  "
            out += c.via.isEmpty ? "not granted by any of their groups" : "via \(c.via.joined(separator: ", "))"
            out += (c.note.map { "  [\($0)]" } ?? "") + "\n"
        }
        if explanation.connections.isEmpty { out += "  (none)\n" }
        return out
    }

    public static func text(_ holders: Queries.Holders) -> String {
        let count = holders.users.count
        var out = "\(holders.type) \(holders.resource.escapingControlCharacters): \(count) user\(count == 1 ? "" : "s")\n"
        for h in holders.users {
            out += "  \(h.user)  via \(h.via.joined(separator: ", "))"
            if !h.active { out += "  [inactive]" }
            if let connected = h.connected { out += connected ? "  [connected]" : "  [not connected]" }
            out += "\n"
        }
        return out
    }

    /// What went wrong, in words, with a "did you mean" from the desired state.
    public static func message(_ error: QueryError, in state: DesiredState) -> String {
        switch error {
        case .unknownUser(let id):
            return "unknown user '\(id.escapingControlCharacters)': there is no users/\(id.escapingControlCharacters).yaml"
                + orHint(id, state.users.map(\.id), "give a user id: the name of a file in users/, without .yaml")
        case .unknownGroup(let id):
            let names = Set(state.groups.map(\.id)).union([Group.everyone])
            return "unknown group '\(id.escapingControlCharacters)': there is no groups/\(id.escapingControlCharacters).yaml"
                + orHint(id, names, "give a group name: the name of a file in groups/, without .yaml")
        case .unknownService(let id):
            return "unknown service '\(id.escapingControlCharacters)': there is no services/\(id.escapingControlCharacters).yaml"
                + orHint(id, state.services.map(\.id), "give a service id: the name of a file in services/, without .yaml")
        case .unknownResourceType(let type):
            let types = state.config.resourceTypes
            return "unknown resource type '\(type.escapingControlCharacters)': resource_types of accessctl.yaml lists \(types.joined(separator: ", "))"
                + Suggest.hint(type, types)
        case .unknownResource(let type, let id):
            let known = state.catalogs[type] ?? []
            return "unknown \(type) id '\(id.escapingControlCharacters)': catalogs/\(type).yaml does not list it"
                + orHint(id, known, "it lists \(plural(known.count, "\(type) id"))")
        }
    }

    private static func orHint(_ word: String, _ candidates: some Swift.Sequence<String>, _ otherwise: String) -> String {
        let hint = Suggest.hint(word, candidates)
        return hint.isEmpty ? "; \(otherwise)" : hint
    }

    private static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
}
