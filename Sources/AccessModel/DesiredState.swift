/// Repository-wide settings from `accessctl.yaml`.
public struct RepoConfig: Sendable, Hashable {
    /// The format version; this build reads version 1.
    public var version: Int
    /// Grant types allowed in this repository, e.g. `service`, `plugin`, `table`.
    public var resourceTypes: [String]
    /// Whether every connection needs a `service` grant through one of the user's groups.
    public var requireServiceGrant: Bool
    /// Key lifetime asked of a service at token exchange, unless the service overrides it.
    public var ttlDays: Int
    /// A key is re-issued this many days before it expires.
    public var rotateBeforeDays: Int

    public static let supportedVersion = 1

    public init(version: Int = RepoConfig.supportedVersion, resourceTypes: [String] = ["service"],
                requireServiceGrant: Bool = true, ttlDays: Int = 365, rotateBeforeDays: Int = 30) {
        self.version = version
        self.resourceTypes = resourceTypes
        self.requireServiceGrant = requireServiceGrant
        self.ttlDays = ttlDays
        self.rotateBeforeDays = rotateBeforeDays
    }
}

/// A service connector: where keys are exchanged and revoked, and how they reach a user.
public struct Service: Sendable, Hashable, Identifiable {
    public var id: String
    public var name: String
    public var description: String?
    public var tokenExchangeURL: String
    public var tokenRevokeURL: String
    public var healthURL: String?
    /// The variable written to `~/.service_env`.
    public var envVar: String
    /// Where accessctl finds the shared secret for this service (environment or credentials dir).
    public var secretEnv: String
    /// Repository-relative path of the skill file.
    public var skillPath: String
    /// The skill file's text, written to `~/.claude_rules/sc_<id>.md`.
    public var skill: String
    /// The effective key lifetime (the service's own `ttl_days`, else the repository default).
    public var ttlDays: Int
    public var keyPrefix: String?
    public var enabled: Bool

    public init(id: String, name: String, description: String? = nil, tokenExchangeURL: String,
                tokenRevokeURL: String, healthURL: String? = nil, envVar: String, secretEnv: String,
                skillPath: String, skill: String, ttlDays: Int, keyPrefix: String? = nil, enabled: Bool = true) {
        self.id = id
        self.name = name
        self.description = description
        self.tokenExchangeURL = tokenExchangeURL
        self.tokenRevokeURL = tokenRevokeURL
        self.healthURL = healthURL
        self.envVar = envVar
        self.secretEnv = secretEnv
        self.skillPath = skillPath
        self.skill = skill
        self.ttlDays = ttlDays
        self.keyPrefix = keyPrefix
        self.enabled = enabled
    }
}

/// A person with a portal account and (usually) a Unix account on the server.
public struct User: Sendable, Hashable, Identifiable {
    public var id: String
    public var email: String
    /// The server account whose home receives the files.
    public var unixUser: String
    public var active: Bool
    /// Services the user connects to directly, sorted.
    public var connections: [String]

    public init(id: String, email: String, unixUser: String, active: Bool = true, connections: [String] = []) {
        self.id = id
        self.email = email
        self.unixUser = unixUser
        self.active = active
        self.connections = connections
    }
}

/// A group: members, grants by resource type, and services every member is connected to.
public struct Group: Sendable, Hashable, Identifiable {
    public var id: String
    public var description: String?
    /// Member user ids, sorted. Empty for `Everyone`, whose membership is implicit.
    public var members: [String]
    /// Resource type -> sorted resource ids.
    public var grants: [String: [String]]
    /// Services every member is connected to, sorted.
    public var connect: [String]

    /// The group every user belongs to implicitly.
    public static let everyone = "Everyone"
    /// The administrators' group, which must keep at least one active member.
    public static let admin = "Admin"

    public init(id: String, description: String? = nil, members: [String] = [],
                grants: [String: [String]] = [:], connect: [String] = []) {
        self.id = id
        self.description = description
        self.members = members
        self.grants = grants
        self.connect = connect
    }
}

/// The whole desired state of one repository revision, validated. Collections are sorted by id.
public struct DesiredState: Sendable, Hashable {
    public var config: RepoConfig
    public var services: [Service]
    public var users: [User]
    public var groups: [Group]
    /// Resource type -> the known ids of that type, sorted: the optional catalogs
    /// (`catalogs/<type>.yaml`). A type without a catalog is absent. Catalogs only check
    /// grants; they are not part of the state digest and change nothing on the server.
    public var catalogs: [String: [String]]

    public init(config: RepoConfig, services: [Service], users: [User], groups: [Group],
                catalogs: [String: [String]] = [:]) {
        self.config = config
        self.services = services.sorted { $0.id < $1.id }
        self.users = users.sorted { $0.id < $1.id }
        self.groups = groups.sorted { $0.id < $1.id }
        self.catalogs = catalogs.mapValues { $0.sorted() }
    }

    /// Group ids of every user, `Everyone` included (whether or not it has a file).
    public func groupsByUser() -> [String: [String]] {
        var result: [String: [String]] = [:]
        result.reserveCapacity(users.count)
        // `groups` is sorted by id, so each list is built in order; `Everyone` is then put in
        // its place (no sort per user). A member listed twice in a group is kept once.
        for group in groups where group.id != Group.everyone {
            for member in group.members where result[member]?.last != group.id {
                result[member, default: []].append(group.id)
            }
        }
        for user in users where result[user.id] == nil { result[user.id] = [] }
        var index = result.values.startIndex
        while index != result.values.endIndex {
            let position = result.values[index].firstIndex { $0 >= Group.everyone } ?? result.values[index].endIndex
            result.values[index].insert(Group.everyone, at: position)
            result.values.formIndex(after: &index)
        }
        return result
    }

    /// Each user's connections: their own plus the `connect:` lists of their groups, sorted.
    /// `memberships` is `groupsByUser()` when the caller has it already.
    public func effectiveConnections(memberships given: [String: [String]]? = nil) -> [String: [String]] {
        // Only groups with a `connect:` list add anything; most users are in none of them.
        let connecting = Dictionary(groups.filter { !$0.connect.isEmpty }.map { ($0.id, $0.connect) }, uniquingKeysWith: { a, _ in a })
        let memberships = connecting.isEmpty ? [:] : (given ?? groupsByUser())
        var result: [String: [String]] = [:]
        result.reserveCapacity(users.count)
        for user in users {
            var list = user.connections
            var added = false
            for groupID in memberships[user.id] ?? [] {
                if let connect = connecting[groupID] {
                    list += connect
                    added = true
                }
            }
            // Sorted and without duplicates (neighbours, once sorted) as the loader gives them: kept.
            if added || !list.isSorted(by: <) || zip(list, list.dropFirst()).contains(where: { $0 == $1 }) {
                list = Set(list).sorted()
            }
            result[user.id] = list
        }
        return result
    }
}
