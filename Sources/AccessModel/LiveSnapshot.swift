/// A secret-free copy of the live state for planning elsewhere (CI): the database rows with
/// keys replaced by their fingerprints, and what the homes held, where a `.service_env`
/// is described only by whether it still matches what the database says (its digest would
/// be a digest of keys).
///
/// `make` runs on the server (it sees the keys); `restore` gives a live state and home
/// observations in which keys are stand-ins (`Secret(standInFor:)`), and `.service_env`
/// observations are re-expressed over the stand-ins, so the planner reaches the same
/// decisions it would reach on the server.
public struct LiveSnapshot: Sendable, Hashable, Codable {
    public static let currentFormatVersion = 1
    public static let kind = "accessctl-live-snapshot"

    public struct Service: Sendable, Hashable, Codable {
        public var id, name: String
        public var description: String?
        public var tokenExchangeURL, tokenRevokeURL: String
        public var healthURL: String?
        public var envVar, secretEnv, skillSHA256: String
        public var ttlDays: Int
        public var keyPrefix: String?
        public var enabled: Bool
        public var source: RowSource

        enum CodingKeys: String, CodingKey {
            case id, name, description, enabled, source
            case tokenExchangeURL = "token_exchange_url", tokenRevokeURL = "token_revoke_url", healthURL = "health_url"
            case envVar = "env_var", secretEnv = "secret_env", skillSHA256 = "skill_sha256", ttlDays = "ttl_days"
            case keyPrefix = "key_prefix"
        }
    }

    public struct User: Sendable, Hashable, Codable {
        public var id, email, unixUser: String
        public var active: Bool
        public var source: RowSource

        enum CodingKeys: String, CodingKey {
            case id, email, active, source
            case unixUser = "unix_user"
        }
    }

    public struct Group: Sendable, Hashable, Codable {
        public var id: String
        public var description: String?
        public var source: RowSource
    }

    public struct Member: Sendable, Hashable, Codable {
        public var group, user: String
        public var source: RowSource
    }

    public struct Grant: Sendable, Hashable, Codable {
        public var group, type, resource: String
        public var source: RowSource
    }

    /// A connection: no key, no token id, no request id; the key's fingerprint only.
    public struct Connection: Sendable, Hashable, Codable {
        public var user, service: String
        public var status: ConnectionStatus
        public var keyFingerprint: String?
        public var issuedAt, expiresAt: Int64?
        public var lastError: String?
        public var attempts: Int

        enum CodingKeys: String, CodingKey {
            case user, service, status, attempts
            case keyFingerprint = "key_fingerprint", issuedAt = "issued_at", expiresAt = "expires_at", lastError = "last_error"
        }
    }

    /// A replaced key awaiting revocation: its token id (an identifier, not a credential) names it in the plan.
    public struct RetiredToken: Sendable, Hashable, Codable {
        public var service, tokenID, user: String
        public var keyFingerprint: String?
        public var retiredAt: Int64
        public var lastError: String?
        public var attempts: Int

        enum CodingKeys: String, CodingKey {
            case service, user, attempts
            case tokenID = "token_id", keyFingerprint = "key_fingerprint", retiredAt = "retired_at", lastError = "last_error"
        }
    }

    /// One managed path of a home.
    public struct File: Sendable, Hashable, Codable {
        /// `absent`, `present` or `unsafe`.
        public var state: String
        public var mode: String?
        /// For a skill file: its SHA-256 (skill texts are not secret).
        public var sha256: String?
        /// For `.service_env`: whether its content is exactly what the database's active keys give.
        public var matchesDatabase: Bool?
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case state, mode, sha256, reason
            case matchesDatabase = "matches_database"
        }
    }

    public struct Home: Sendable, Hashable, Codable {
        public var serviceEnv: File
        public var claudeRules: File
        public var skills: [String: File]

        enum CodingKeys: String, CodingKey {
            case skills
            case serviceEnv = "service_env", claudeRules = "claude_rules"
        }
    }

    public var formatVersion: Int
    public var kind: String
    /// When the snapshot was taken (unix seconds).
    public var createdAt: Int64
    /// The commit the server last applied, if any.
    public var lastAppliedCommit: String?
    public var services: [Service]
    public var users: [User]
    public var groups: [Group]
    public var members: [Member]
    public var grants: [Grant]
    public var connections: [Connection]
    public var retiredTokens: [RetiredToken]
    /// Unix account -> its managed files.
    public var homes: [String: Home]
    /// Unix account -> why its home could not be observed.
    public var homeFailures: [String: String]

    enum CodingKeys: String, CodingKey {
        case kind, services, users, groups, members, grants, connections, homes
        case formatVersion = "format_version", createdAt = "created_at", lastAppliedCommit = "last_applied_commit"
        case retiredTokens = "retired_tokens", homeFailures = "home_failures"
    }

    /// The snapshot of a live state and its homes. Keys are reduced to fingerprints here.
    public static func make(live: LiveState, homes: HomeObservations, lastAppliedCommit: String?, now: Int64) -> LiveSnapshot {
        let lastWritten = serviceEnvDigests(live)
        var snapshotHomes: [String: Home] = [:]
        let accountOf = Dictionary(live.users.map { ($0.unixUser, $0.id) }, uniquingKeysWith: { a, _ in a })
        for (account, home) in homes.homes {
            var serviceEnv = file(home.serviceEnv)
            if case .present(let sha, _) = home.serviceEnv {
                serviceEnv.matchesDatabase = accountOf[account].flatMap { lastWritten[$0] } == sha
            }
            snapshotHomes[account] = Home(serviceEnv: serviceEnv, claudeRules: file(home.claudeRules),
                                          skills: home.skills.mapValues { file($0, keepDigest: true) })
        }
        return LiveSnapshot(
            formatVersion: currentFormatVersion, kind: kind, createdAt: now, lastAppliedCommit: lastAppliedCommit,
            services: live.services.map {
                Service(id: $0.id, name: $0.name, description: $0.description, tokenExchangeURL: $0.tokenExchangeURL,
                        tokenRevokeURL: $0.tokenRevokeURL, healthURL: $0.healthURL, envVar: $0.envVar, secretEnv: $0.secretEnv,
                        skillSHA256: $0.skillSHA256, ttlDays: $0.ttlDays, keyPrefix: $0.keyPrefix, enabled: $0.enabled,
                        source: $0.source)
            },
            users: live.users.map { User(id: $0.id, email: $0.email, unixUser: $0.unixUser, active: $0.active, source: $0.source) },
            groups: live.groups.map { Group(id: $0.id, description: $0.description, source: $0.source) },
            members: live.members.map { Member(group: $0.group, user: $0.user, source: $0.source) },
            grants: live.grants.map { Grant(group: $0.group, type: $0.type, resource: $0.resource, source: $0.source) },
            connections: live.connections.map {
                Connection(user: $0.user, service: $0.service, status: $0.status, keyFingerprint: $0.keyFingerprint,
                           issuedAt: $0.issuedAt, expiresAt: $0.expiresAt, lastError: $0.lastError, attempts: $0.attempts)
            },
            retiredTokens: live.retiredTokens.map {
                RetiredToken(service: $0.service, tokenID: $0.tokenID, user: $0.user, keyFingerprint: $0.keyFingerprint, retiredAt: $0.retiredAt,
                             lastError: $0.lastError, attempts: $0.attempts)
            },
            homes: snapshotHomes, homeFailures: homes.failures)
    }

    /// The live state and home observations to plan against: keys are stand-ins for their
    /// fingerprints, and a `.service_env` that matched the database is observed as the
    /// rendering of the stand-ins (one that did not match, as a file nobody wrote).
    public func restore() -> (live: LiveState, homes: HomeObservations) {
        var live = LiveState()
        live.services = services.map {
            LiveService(id: $0.id, name: $0.name, description: $0.description, tokenExchangeURL: $0.tokenExchangeURL,
                        tokenRevokeURL: $0.tokenRevokeURL, healthURL: $0.healthURL, envVar: $0.envVar, secretEnv: $0.secretEnv,
                        skillSHA256: $0.skillSHA256, ttlDays: $0.ttlDays, keyPrefix: $0.keyPrefix, enabled: $0.enabled,
                        source: $0.source)
        }
        live.users = users.map { LiveUser(id: $0.id, email: $0.email, unixUser: $0.unixUser, active: $0.active, source: $0.source) }
        live.groups = groups.map { LiveGroup(id: $0.id, description: $0.description, source: $0.source) }
        live.members = members.map { LiveMember(group: $0.group, user: $0.user, source: $0.source) }
        live.grants = grants.map { LiveGrant(group: $0.group, type: $0.type, resource: $0.resource, source: $0.source) }
        live.connections = connections.map {
            LiveConnection(user: $0.user, service: $0.service, status: $0.status, requestID: "",
                           apiKey: $0.keyFingerprint.map { Secret(standInFor: $0) }, issuedAt: $0.issuedAt,
                           expiresAt: $0.expiresAt, lastError: $0.lastError, attempts: $0.attempts)
        }
        live.retiredTokens = retiredTokens.map {
            AccessModel.RetiredToken(service: $0.service, tokenID: $0.tokenID, user: $0.user, keyFingerprint: $0.keyFingerprint,
                                     retiredAt: $0.retiredAt, lastError: $0.lastError, attempts: $0.attempts)
        }
        let standIns = Self.serviceEnvDigests(live)
        let userOf = Dictionary(live.users.map { ($0.unixUser, $0.id) }, uniquingKeysWith: { a, _ in a })
        var observations = HomeObservations(failures: homeFailures)
        for (account, home) in homes {
            var serviceEnv = Self.observation(home.serviceEnv)
            if case .present(_, let mode) = serviceEnv {
                let digest = home.serviceEnv.matchesDatabase == true ? userOf[account].flatMap { standIns[$0] } : nil
                serviceEnv = .present(sha256: digest ?? Self.foreignContent, mode: mode)
            }
            observations.homes[account] = HomeState(serviceEnv: serviceEnv, claudeRules: Self.observation(home.claudeRules),
                                                    skills: home.skills.mapValues(Self.observation))
        }
        return (live, observations)
    }

    /// The digest a `.service_env` is restored with when it did not match the database.
    static let foreignContent = String(repeating: "0", count: 64)

    /// User id -> digest of the `.service_env` the live active connections give (as the
    /// planner computes "what accessctl wrote last").
    static func serviceEnvDigests(_ live: LiveState) -> [String: String] {
        let services = Dictionary(live.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var digests: [String: String] = [:]
        for (user, connections) in Dictionary(grouping: live.connections, by: \.user) {
            let entries = HomeFiles.lastWritten(connections, services: services)
            if !entries.isEmpty { digests[user] = HomeFiles.sha256(HomeFiles.serviceEnv(entries)) }
        }
        return digests
    }

    static func file(_ observation: FileObservation, keepDigest: Bool = false) -> File {
        switch observation {
        case .absent: return File(state: "absent")
        case .present(let sha, let mode): return File(state: "present", mode: mode, sha256: keepDigest ? sha : nil)
        case .unsafe(let why): return File(state: "unsafe", reason: why)
        }
    }

    static func observation(_ file: File) -> FileObservation {
        switch file.state {
        case "present": return .present(sha256: file.sha256, mode: file.mode ?? "0600")
        case "unsafe": return .unsafe(file.reason ?? "unsafe")
        default: return .absent
        }
    }
}
