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
        var skillTexts: [String: String] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT id, skill_text FROM services WHERE skill_text IS NOT NULL ORDER BY id")
        while let row = try cursor.next() { skillTexts[row[0]] = row[1] }
        return LiveExport(state: try readState(db, .none), skillTexts: skillTexts)
    }
}
