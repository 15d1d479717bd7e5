import Digest

/// Who owns a live row. accessctl creates, changes and deletes only `gitops` rows; a
/// desired entity whose live row has another source is a conflict.
public enum RowSource: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case gitops
    case admin
    case googleSync = "google_sync"
    case systemSeed = "system_seed"

    public static func < (a: RowSource, b: RowSource) -> Bool { a.rawValue < b.rawValue }
}

/// A secret value (an API key). Its descriptions, its reflection and its encoding show only
/// the fingerprint, so it cannot leak through string interpolation, logging, `dump` or JSON
/// by accident.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable,
    Encodable {
    /// The secret itself. Read it only to send it to a service or to write a home file.
    public let revealed: String
    /// For a stand-in: the fingerprint of the key it stands for.
    private let standsFor: String?

    public init(_ value: String) {
        revealed = value
        standsFor = nil
    }

    /// A stand-in for a key known only by its fingerprint (a live snapshot, the base of a
    /// diff). It renders into home files as a fixed text derived from the fingerprint, so two
    /// renderings with the same stand-ins compare equal, and it shows `fingerprint`.
    public init(standInFor fingerprint: String) {
        revealed = "<key " + fingerprint + ">"
        standsFor = fingerprint
    }

    /// `sha256:` + the first 12 hex digits of the SHA-256 of the value (for a stand-in, the
    /// fingerprint it stands for).
    public var fingerprint: String { standsFor ?? SHA256.fingerprint(revealed.utf8) }
    public var description: String { fingerprint }
    public var debugDescription: String { "Secret(\(fingerprint))" }
    public var customMirror: Mirror { Mirror(self, children: ["fingerprint": fingerprint]) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(fingerprint)
    }
}

/// A service row of the live database.
public struct LiveService: Sendable, Hashable, Identifiable {
    public var id: String
    public var name: String
    public var description: String?
    public var tokenExchangeURL: String
    public var tokenRevokeURL: String
    public var healthURL: String?
    public var envVar: String
    public var secretEnv: String
    /// SHA-256 (64 hex) of the skill text last applied.
    public var skillSHA256: String
    public var ttlDays: Int
    public var keyPrefix: String?
    public var enabled: Bool
    public var source: RowSource

    public init(id: String, name: String, description: String? = nil, tokenExchangeURL: String, tokenRevokeURL: String,
                healthURL: String? = nil, envVar: String, secretEnv: String, skillSHA256: String, ttlDays: Int,
                keyPrefix: String? = nil, enabled: Bool = true, source: RowSource = .gitops) {
        self.id = id
        self.name = name
        self.description = description
        self.tokenExchangeURL = tokenExchangeURL
        self.tokenRevokeURL = tokenRevokeURL
        self.healthURL = healthURL
        self.envVar = envVar
        self.secretEnv = secretEnv
        self.skillSHA256 = skillSHA256
        self.ttlDays = ttlDays
        self.keyPrefix = keyPrefix
        self.enabled = enabled
        self.source = source
    }
}

/// A user row of the live database.
public struct LiveUser: Sendable, Hashable, Identifiable {
    public var id: String
    public var email: String
    public var unixUser: String
    public var active: Bool
    public var source: RowSource

    public init(id: String, email: String, unixUser: String, active: Bool = true, source: RowSource = .gitops) {
        self.id = id
        self.email = email
        self.unixUser = unixUser
        self.active = active
        self.source = source
    }
}

/// A group row of the live database.
public struct LiveGroup: Sendable, Hashable, Identifiable {
    public var id: String
    public var description: String?
    public var source: RowSource

    public init(id: String, description: String? = nil, source: RowSource = .gitops) {
        self.id = id
        self.description = description
        self.source = source
    }
}

/// A membership row: `user` belongs to `group`.
public struct LiveMember: Sendable, Hashable {
    public var group: String
    public var user: String
    public var source: RowSource

    public init(group: String, user: String, source: RowSource = .gitops) {
        self.group = group
        self.user = user
        self.source = source
    }
}

/// A grant row: `group` may use `resource` of type `type`.
public struct LiveGrant: Sendable, Hashable {
    public var group: String
    public var type: String
    public var resource: String
    public var source: RowSource

    public init(group: String, type: String, resource: String, source: RowSource = .gitops) {
        self.group = group
        self.type = type
        self.resource = resource
        self.source = source
    }
}

/// Where a connection's key is in its life.
public enum ConnectionStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// A key exchange was recorded and may or may not have reached the service; the next
    /// run exchanges again with the same request id.
    case pending
    /// The key is issued and stored.
    case active
    /// The last exchange failed; the next run retries with a new request id.
    case error
    /// The connection was removed from the files and its key awaits revocation.
    case revoking
}

/// A connection row: a user's key for a service.
public struct LiveConnection: Sendable, Hashable {
    public var user: String
    public var service: String
    public var status: ConnectionStatus
    /// The idempotency key of the current (or last) exchange.
    public var requestID: String
    /// The email sent (or to be sent) with `requestID`: a retry under the same id sends the
    /// same request, even when the user's email changed in between. Nil for rows from before
    /// migration v6 (the current email is sent).
    public var requestEmail: String?
    public var tokenID: String?
    /// The key; nil when the row has none, or when it was read without its master key (then
    /// ``keyFingerprint`` still says whether there is one).
    public var apiKey: Secret? { didSet { keyFingerprint = apiKey?.fingerprint } }
    /// The key's fingerprint, when there is a key.
    public private(set) var keyFingerprint: String?
    /// Unix seconds.
    public var issuedAt: Int64?
    /// Unix seconds.
    public var expiresAt: Int64?
    public var lastError: String?
    public var attempts: Int

    public init(user: String, service: String, status: ConnectionStatus, requestID: String, requestEmail: String? = nil,
                tokenID: String? = nil, apiKey: Secret? = nil, keyFingerprint: String? = nil, issuedAt: Int64? = nil,
                expiresAt: Int64? = nil, lastError: String? = nil, attempts: Int = 0) {
        self.user = user
        self.service = service
        self.status = status
        self.requestID = requestID
        self.requestEmail = requestEmail
        self.tokenID = tokenID
        self.apiKey = apiKey
        self.keyFingerprint = keyFingerprint ?? apiKey?.fingerprint
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.lastError = lastError
        self.attempts = attempts
    }
}

/// A token replaced by a rotation, still to be revoked at its service.
public struct RetiredToken: Sendable, Hashable {
    public var service: String
    public var tokenID: String
    public var user: String
    public var keyFingerprint: String?
    /// Unix seconds.
    public var retiredAt: Int64
    public var lastError: String?
    public var attempts: Int

    public init(service: String, tokenID: String, user: String, keyFingerprint: String?, retiredAt: Int64,
                lastError: String? = nil, attempts: Int = 0) {
        self.service = service
        self.tokenID = tokenID
        self.user = user
        self.keyFingerprint = keyFingerprint
        self.retiredAt = retiredAt
        self.lastError = lastError
        self.attempts = attempts
    }
}

/// Everything the live database holds that planning needs, sorted by key.
public struct LiveState: Sendable, Hashable {
    public var services: [LiveService]
    public var users: [LiveUser]
    public var groups: [LiveGroup]
    public var members: [LiveMember]
    public var grants: [LiveGrant]
    public var connections: [LiveConnection]
    /// Tokens replaced by rotations, awaiting revocation.
    public var retiredTokens: [RetiredToken]
    /// The emergency holds in force on this server, by kind and name.
    public var holds: [Hold]

    public init(services: [LiveService] = [], users: [LiveUser] = [], groups: [LiveGroup] = [],
                members: [LiveMember] = [], grants: [LiveGrant] = [], connections: [LiveConnection] = [],
                retiredTokens: [RetiredToken] = [], holds: [Hold] = []) {
        self.holds = holds.sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
        self.retiredTokens = retiredTokens.sorted { ($0.service, $0.tokenID) < ($1.service, $1.tokenID) }
        self.services = services.sorted { $0.id < $1.id }
        self.users = users.sorted { $0.id < $1.id }
        self.groups = groups.sorted { $0.id < $1.id }
        self.members = members.sorted { ($0.group, $0.user) < ($1.group, $1.user) }
        self.grants = grants.sorted { ($0.group, $0.type, $0.resource) < ($1.group, $1.type, $1.resource) }
        self.connections = connections.sorted { ($0.user, $0.service) < ($1.user, $1.service) }
    }

    public static let empty = LiveState()

    public var isEmpty: Bool {
        services.isEmpty && users.isEmpty && groups.isEmpty && members.isEmpty && grants.isEmpty && connections.isEmpty
            && retiredTokens.isEmpty
    }
}

/// What the helper found at one managed path of a home.
public enum FileObservation: Sendable, Hashable {
    case absent
    /// A regular file owned by the user; `sha256` is 64 hex digits (nil for a directory).
    case present(sha256: String?, mode: String)
    /// Something the helper will not read or trust.
    case unsafe(String)
}

/// The managed files of one user's home, as the helper reported them.
public struct HomeState: Sendable, Hashable {
    public var serviceEnv: FileObservation
    public var claudeRules: FileObservation
    /// `sc_*.md` name -> observation.
    public var skills: [String: FileObservation]

    public init(serviceEnv: FileObservation = .absent, claudeRules: FileObservation = .absent,
                skills: [String: FileObservation] = [:]) {
        self.serviceEnv = serviceEnv
        self.claudeRules = claudeRules
        self.skills = skills
    }
}

/// What is known of the homes: per Unix account, its files (`homes`) or why it could not
/// be observed (`failures`).
public struct HomeObservations: Sendable, Hashable {
    public var homes: [String: HomeState]
    /// Unix account -> the helper's error (no such account, unsafe home, ...).
    public var failures: [String: String]

    public init(homes: [String: HomeState] = [:], failures: [String: String] = [:]) {
        self.homes = homes
        self.failures = failures
    }

    /// Adds the observations of other accounts (an account already here keeps its own).
    public mutating func merge(_ other: HomeObservations) {
        homes.merge(other.homes) { a, _ in a }
        failures.merge(other.failures) { a, _ in a }
    }
}
