import AccessModel

/// A query about something the desired state does not have: almost always a typo.
/// Render's `QueryRenderer.message` says so in words, with a "did you mean".
public enum QueryError: Error, Sendable, Hashable {
    case unknownUser(String)
    case unknownGroup(String)
    case unknownService(String)
    /// Not listed in `resource_types` of accessctl.yaml.
    case unknownResourceType(String)
    /// Not listed in the catalog of its type (`catalogs/<type>.yaml`).
    case unknownResource(type: String, id: String)
}

/// Questions admins ask of a desired state: what can this user do, what is this group or
/// service, and who can use this.
public enum Queries {
    /// Everything a user gets, and why.
    public struct UserExplanation: Sendable, Hashable, Encodable {
        public struct Grant: Sendable, Hashable, Encodable {
            public var type: String
            public var resource: String
            /// The groups that give it, sorted.
            public var via: [String]
        }
        public struct Connection: Sendable, Hashable, Encodable {
            public var service: String
            /// "listed in users/<id>.yaml" and/or "connect: of group <name>".
            public var because: [String]
            /// Whether a key is issued for it (active user, enabled service).
            public var effective: Bool
            public var note: String?
        }
        public var user: String
        public var email: String
        public var unixUser: String
        public var active: Bool
        public var groups: [String]
        public var grants: [Grant]
        public var connections: [Connection]
    }

    /// Explains a user; nil when there is no such user.
    public static func explain(user id: String, in state: DesiredState) -> UserExplanation? {
        guard let user = state.users.first(where: { $0.id == id }) else { return nil }
        let groups = state.groups.filter { $0.id == Group.everyone || $0.members.contains(id) }
        var via: [String: [String: Set<String>]] = [:]
        for group in groups {
            for (type, ids) in group.grants {
                for resource in ids { via[type, default: [:]][resource, default: []].insert(group.id) }
            }
        }
        let grants = via.keys.sorted().flatMap { type in
            via[type]!.keys.sorted().map { UserExplanation.Grant(type: type, resource: $0, via: via[type]![$0]!.sorted()) }
        }
        var because: [String: [String]] = [:]
        for service in user.connections { because[service, default: []].append("listed in users/\(id).yaml") }
        for group in groups { for service in group.connect { because[service, default: []].append("connect: of group \(group.id)") } }
        let services = Dictionary(state.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let connections = because.keys.sorted().map { service -> UserExplanation.Connection in
            var note: String?
            if !user.active { note = "user inactive: no key" } else if services[service]?.enabled == false { note = "service disabled: no key" }
            return UserExplanation.Connection(service: service, because: because[service]!, effective: note == nil, note: note)
        }
        return UserExplanation(user: id, email: user.email, unixUser: user.unixUser, active: user.active,
                               groups: groups.map(\.id).sorted(), grants: grants, connections: connections)
    }

    /// Who can use a resource.
    public struct Holders: Sendable, Hashable, Encodable {
        public struct Holder: Sendable, Hashable, Encodable {
            public var user: String
            public var via: [String]
            public var active: Bool
            /// For a service: whether a key is (or will be) issued to the user.
            public var connected: Bool?
        }
        public var type: String
        public var resource: String
        public var users: [Holder]
    }

    /// Who holds `resource` of `type`. Throws when `type` is not in `resource_types`, when a
    /// `service` is not in `services/`, and when the type has a catalog that does not list
    /// `resource`: those are typos, which would otherwise answer "0 users".
    public static func whoCan(type: String, resource: String, in state: DesiredState) throws(QueryError) -> Holders {
        guard state.config.resourceTypes.contains(type) else { throw .unknownResourceType(type) }
        if type == "service" {
            guard state.services.contains(where: { $0.id == resource }) else { throw .unknownService(resource) }
        } else if let known = state.catalogs[type], !known.contains(resource) {
            throw .unknownResource(type: type, id: resource)
        }
        let granting = state.groups.filter { $0.grants[type]?.contains(resource) == true }
        var via: [String: [String]] = [:]
        for group in granting {
            let members = group.id == Group.everyone ? state.users.map(\.id) : group.members
            for member in members { via[member, default: []].append(group.id) }
        }
        let effective = type == "service" ? state.effectiveConnections() : [:]
        let users = Dictionary(state.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let enabled = state.services.first { $0.id == resource }?.enabled ?? false
        let holders = via.keys.sorted().map { id in
            let active = users[id]?.active ?? false
            // Connected: a key is (or will be) issued: listed or connected, active user, enabled service.
            return Holders.Holder(user: id, via: via[id]!.sorted(), active: active,
                                  connected: type == "service" ? (active && enabled && effective[id]?.contains(resource) == true) : nil)
        }
        return Holders(type: type, resource: resource, users: holders)
    }
}
