import AccessModel
import GRDB

/// The rows of a live database as `accessctl import` needs them: every registry row with its
/// source, the connections without any secret, and the skill texts stored since migration
/// `v4-skill-text`.
public struct LiveExport: Sendable, Hashable {
    /// Services, users, groups, members and grants as the planning snapshot has them.
    /// Connections carry only user, service, status and attempts: no key, fingerprint, token
    /// id or request id is read. Retired tokens are not read.
    public var state: LiveState
    /// Service id -> the stored skill text, for rows that have one. Not checked against
    /// `skill_sha256` here.
    public var skillTexts: [String: String]

    public init(state: LiveState, skillTexts: [String: String] = [:]) {
        self.state = state
        self.skillTexts = skillTexts
    }
}

extension LiveStore {
    /// Reads the database at `path` for `accessctl import`, read-only, like
    /// ``snapshot(path:)`` (an older schema is migrated in a private in-memory copy; the file
    /// is never changed). Returns nil when there is no database at `path` or it has no
    /// accessctl schema yet. Never selects a key: `api_key`, `key_fingerprint`, `token_id`
    /// and `request_id` stay in the database.
    public static func exportSnapshot(path: String) throws(LiveStoreError) -> LiveExport? {
        try readOnly(path: path, absent: nil) { db in try readExport(db) }
    }

    static func readExport(_ db: Database) throws -> LiveExport {
        var services: [LiveService] = []
        var skillTexts: [String: String] = [:]
        var cursor = try Row.fetchCursor(db, sql: """
            SELECT id, name, description, token_exchange_url, token_revoke_url, health_url, env_var, secret_env,
                   skill_sha256, ttl_days, key_prefix, enabled, source, skill_text
            FROM services ORDER BY id
            """)
        while let row = try cursor.next() {
            let service = LiveService(
                id: row[0], name: row[1], description: row[2], tokenExchangeURL: row[3], tokenRevokeURL: row[4],
                healthURL: row[5], envVar: row[6], secretEnv: row[7], skillSHA256: row[8], ttlDays: row[9],
                keyPrefix: row[10], enabled: row[11], source: try source(row[12], "services"))
            services.append(service)
            if let text: String = row[13] { skillTexts[service.id] = text }
        }

        var users: [LiveUser] = []
        cursor = try Row.fetchCursor(db, sql: "SELECT id, email, unix_user, active, source FROM users ORDER BY id")
        while let row = try cursor.next() {
            users.append(LiveUser(id: row[0], email: row[1], unixUser: row[2], active: row[3], source: try source(row[4], "users")))
        }

        var groups: [LiveGroup] = []
        cursor = try Row.fetchCursor(db, sql: "SELECT id, description, source FROM groups ORDER BY id")
        while let row = try cursor.next() {
            groups.append(LiveGroup(id: row[0], description: row[1], source: try source(row[2], "groups")))
        }

        var members: [LiveMember] = []
        cursor = try Row.fetchCursor(db, sql: #"SELECT "group", user, source FROM group_members ORDER BY "group", user"#)
        while let row = try cursor.next() {
            members.append(LiveMember(group: row[0], user: row[1], source: try source(row[2], "group_members")))
        }

        var grants: [LiveGrant] = []
        cursor = try Row.fetchCursor(db, sql: #"SELECT "group", type, resource, source FROM grants ORDER BY "group", type, resource"#)
        while let row = try cursor.next() {
            grants.append(LiveGrant(group: row[0], type: row[1], resource: row[2], source: try source(row[3], "grants")))
        }

        var connections: [LiveConnection] = []
        cursor = try Row.fetchCursor(db, sql: "SELECT user, service, status, attempts FROM connections ORDER BY user, service")
        while let row = try cursor.next() {
            let statusText: String = row[2]
            guard let status = ConnectionStatus(rawValue: statusText) else {
                throw LiveStoreError("unexpected status '\(statusText)' in table connections")
            }
            connections.append(LiveConnection(user: row[0], service: row[1], status: status, requestID: "", attempts: row[3]))
        }

        return LiveExport(state: LiveState(services: services, users: users, groups: groups, members: members,
                                           grants: grants, connections: connections),
                          skillTexts: skillTexts)
    }
}
