import AccessModel

extension Queries {
    /// What a group is: its members, what it grants, what it connects, and which members get
    /// which service through it.
    public struct GroupExplanation: Sendable, Hashable, Encodable {
        public struct Member: Sendable, Hashable, Encodable {
            public var user: String
            public var active: Bool
            /// "listed in groups/<name>.yaml", or "implicit: every user is in Everyone".
            public var source: String
        }
        public struct Grant: Sendable, Hashable, Encodable {
            public var type: String
            public var resource: String
        }
        /// A member's connection to one of the group's services.
        public struct Connection: Sendable, Hashable, Encodable {
            public var user: String
            /// As in `explain user`: "listed in users/<id>.yaml" and/or "connect: of group <name>".
            public var because: [String]
            /// Whether a key is issued for it (active user, enabled service).
            public var effective: Bool
            public var note: String?
        }
        /// A service the group grants or connects, and the members connected to it.
        public struct ServiceAccess: Sendable, Hashable, Encodable {
            public var service: String
            /// In this group's `grants.service`.
            public var granted: Bool
            /// In this group's `connect:`: every member gets a key.
            public var connect: Bool
            public var enabled: Bool
            /// Members connected to the service (whatever the reason), sorted.
            public var connections: [Connection]
        }
        public var group: String
        public var description: String?
        /// For Admin and Everyone: what makes them special.
        public var system: String?
        /// Sorted by user id. For Everyone: every user.
        public var members: [Member]
        /// Sorted by type, then resource.
        public var grants: [Grant]
        public var connect: [String]
        /// The services in `grants.service` or `connect:`, sorted.
        public var services: [ServiceAccess]
    }

    /// Explains a group; nil when there is no such group. `Everyone` exists without a file.
    public static func explain(group id: String, in state: DesiredState) -> GroupExplanation? {
        let group: Group
        if let found = state.groups.first(where: { $0.id == id }) {
            group = found
        } else if id == Group.everyone {
            group = Group(id: Group.everyone)
        } else {
            return nil
        }
        let everyone = id == Group.everyone
        let users = Dictionary(state.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let services = Dictionary(state.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let memberIDs = everyone ? state.users.map(\.id) : group.members
        let source = everyone ? "implicit: every user is in Everyone" : "listed in groups/\(id).yaml"
        let members = memberIDs.map { GroupExplanation.Member(user: $0, active: users[$0]?.active ?? false, source: source) }
        let grants = group.grants.keys.sorted().flatMap { type in
            group.grants[type]!.map { GroupExplanation.Grant(type: type, resource: $0) }
        }

        // Why each member is connected to each of this group's services, in the order and
        // words of `explain user`: their own file first, then groups by name.
        let relevant = Set(group.grants["service"] ?? []).union(group.connect)
        let memberSet = Set(memberIDs)
        var because: [String: [String: [String]]] = [:]
        for member in memberIDs {
            for service in users[member]?.connections ?? [] where relevant.contains(service) {
                because[service, default: [:]][member, default: []].append("listed in users/\(member).yaml")
            }
        }
        for other in state.groups where !other.connect.isEmpty {
            let connects = other.connect.filter(relevant.contains)
            guard !connects.isEmpty else { continue }
            let reached = other.id == Group.everyone ? memberIDs : other.members.filter(memberSet.contains)
            for member in reached {
                for service in connects { because[service, default: [:]][member, default: []].append("connect: of group \(other.id)") }
            }
        }
        let access = relevant.sorted().map { service -> GroupExplanation.ServiceAccess in
            let enabled = services[service]?.enabled ?? false
            let connections = (because[service] ?? [:]).keys.sorted().map { member -> GroupExplanation.Connection in
                let note = connectionNote(active: users[member]?.active ?? false, enabled: enabled)
                return GroupExplanation.Connection(user: member, because: because[service]![member]!, effective: note == nil, note: note)
            }
            return GroupExplanation.ServiceAccess(service: service, granted: group.grants["service"]?.contains(service) == true,
                                                  connect: group.connect.contains(service), enabled: enabled, connections: connections)
        }
        let system: String? = switch id {
        case Group.everyone: "system group: every user is a member implicitly"
        case Group.admin: "system group: must keep at least one active member"
        default: nil
        }
        return GroupExplanation(group: id, description: group.description, system: system, members: members,
                                grants: grants, connect: group.connect, services: access)
    }

    /// What a service is, and who is connected to it through which groups.
    public struct ServiceExplanation: Sendable, Hashable, Encodable {
        public struct Connection: Sendable, Hashable, Encodable {
            public var user: String
            public var active: Bool
            /// As in `explain user`: "listed in users/<id>.yaml" and/or "connect: of group <name>".
            public var because: [String]
            /// The user's groups that grant the service (`grants.service`), sorted.
            public var via: [String]
            /// Whether a key is issued for it (active user, enabled service).
            public var effective: Bool
            public var note: String?
        }
        public var service: String
        public var name: String
        public var description: String?
        public var enabled: Bool
        public var envVar: String
        public var keyPrefix: String?
        /// The effective key lifetime (the service's own `ttl_days`, else the default).
        public var ttlDays: Int
        public var rotateBeforeDays: Int
        public var skillPath: String
        /// Groups whose `grants.service` lists it, sorted.
        public var grantedBy: [String]
        /// Groups whose `connect:` lists it, sorted.
        public var connectedBy: [String]
        /// How many users it is granted to (through any group).
        public var grantedUsers: Int
        /// How many keys apply issues for it: the effective connections.
        public var keys: Int
        /// Every user connected to it, sorted.
        public var connections: [Connection]
    }

    /// Explains a service; nil when there is no such service.
    public static func explain(service id: String, in state: DesiredState) -> ServiceExplanation? {
        guard let service = state.services.first(where: { $0.id == id }) else { return nil }
        let granting = state.groups.filter { $0.grants["service"]?.contains(id) == true }
        let connecting = state.groups.filter { $0.connect.contains(id) }
        func members(_ group: Group) -> [String] { group.id == Group.everyone ? state.users.map(\.id) : group.members }
        var via: [String: [String]] = [:]
        for group in granting {
            for member in members(group) { via[member, default: []].append(group.id) }
        }
        var because: [String: [String]] = [:]
        for user in state.users where user.connections.contains(id) { because[user.id, default: []].append("listed in users/\(user.id).yaml") }
        for group in connecting {
            for member in members(group) { because[member, default: []].append("connect: of group \(group.id)") }
        }
        let users = Dictionary(state.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let connections = because.keys.sorted().map { user -> ServiceExplanation.Connection in
            let active = users[user]?.active ?? false
            let note = connectionNote(active: active, enabled: service.enabled)
            return ServiceExplanation.Connection(user: user, active: active, because: because[user]!, via: (via[user] ?? []).sorted(),
                                                 effective: note == nil, note: note)
        }
        return ServiceExplanation(service: id, name: service.name, description: service.description, enabled: service.enabled,
                                  envVar: service.envVar, keyPrefix: service.keyPrefix, ttlDays: service.ttlDays,
                                  rotateBeforeDays: state.config.rotateBeforeDays, skillPath: service.skillPath,
                                  grantedBy: granting.map(\.id), connectedBy: connecting.map(\.id), grantedUsers: via.count,
                                  keys: connections.filter(\.effective).count, connections: connections)
    }

    /// Why a connection has no key, in `explain user`'s words; nil when it has one.
    static func connectionNote(active: Bool, enabled: Bool) -> String? {
        if !active { return "user inactive: no key" }
        if !enabled { return "service disabled: no key" }
        return nil
    }
}
