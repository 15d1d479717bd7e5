import AccessModel
import Foundation
import GRDB
import KeyCustody

/// Writes rows inside one ``LiveStore/write(_:)`` transaction. Valid only inside the body
/// it was passed to.
///
/// Every method is one cached prepared statement. Upserts insert a row or update every
/// column of the existing row in place (`ON CONFLICT DO UPDATE`: never a delete and
/// re-insert, which would cascade). Deletes return whether a row was there; deleting a
/// missing row is not an error. Deleting a group deletes its members and grants; deleting
/// a user deletes their memberships but not their connections.
public struct LiveStoreWriter {
    let db: Database
    let sealing: KeySealing

    init(db: Database, sealing: KeySealing) {
        self.db = db
        self.sealing = sealing
    }

    // MARK: Services

    /// Inserts or updates every column of the service. `skillText` is the skill file's text
    /// (whose SHA-256 is `skillSHA256`), kept for `accessctl import`. Without it, the stored
    /// text is kept while the digest stays the same and cleared when the digest changes, so a
    /// stored text always matches the row's digest.
    public func upsert(_ service: LiveService, skillText: String? = nil) throws(LiveStoreError) {
        try execute(Self.upsertService, [
            service.id, service.name, service.description, service.tokenExchangeURL, service.tokenRevokeURL,
            service.healthURL, service.envVar, service.secretEnv, service.skillSHA256, skillText, service.ttlDays,
            service.keyPrefix, service.enabled, service.source.rawValue,
        ], "service.\(service.id)")
    }

    /// Stores the skill text of a `gitops` service that has none yet and whose digest is
    /// `sha256` (a row written before migration `v4-skill-text`). Returns whether it did.
    @discardableResult
    public func storeMissingSkillText(service: String, sha256: String, text: String) throws(LiveStoreError) -> Bool {
        try execute("""
            UPDATE services SET skill_text = ?
            WHERE id = ? AND skill_sha256 = ? AND skill_text IS NULL AND source = 'gitops'
            """, [text, service, sha256], "service.\(service)")
        return db.changesCount > 0
    }

    @discardableResult
    public func deleteService(_ id: String) throws(LiveStoreError) -> Bool {
        try delete("DELETE FROM services WHERE id = ?", [id], "service.\(id)")
    }

    // MARK: Users

    public func upsert(_ user: LiveUser) throws(LiveStoreError) {
        try execute(Self.upsertUser, [user.id, user.email, user.unixUser, user.active, user.source.rawValue],
                    "user.\(user.id)")
    }

    @discardableResult
    public func deleteUser(_ id: String) throws(LiveStoreError) -> Bool {
        try delete("DELETE FROM users WHERE id = ?", [id], "user.\(id)")
    }

    // MARK: Groups

    public func upsert(_ group: LiveGroup) throws(LiveStoreError) {
        try execute(Self.upsertGroup, [group.id, group.description, group.source.rawValue], "group.\(group.id)")
    }

    @discardableResult
    public func deleteGroup(_ id: String) throws(LiveStoreError) -> Bool {
        try delete("DELETE FROM groups WHERE id = ?", [id], "group.\(id)")
    }

    // MARK: Members

    /// Inserts the membership, or updates its source (adoption). The group and the user
    /// must exist.
    public func upsert(_ member: LiveMember) throws(LiveStoreError) {
        try execute(Self.upsertMember, [member.group, member.user, member.source.rawValue],
                    "member.\(member.group).\(member.user)",
                    missingReference: "group \(member.group) or user \(member.user) does not exist")
    }

    /// The same as ``upsert(_:)-(LiveMember)``.
    public func insert(_ member: LiveMember) throws(LiveStoreError) { try upsert(member) }

    @discardableResult
    public func deleteMember(group: String, user: String) throws(LiveStoreError) -> Bool {
        try delete(#"DELETE FROM group_members WHERE "group" = ? AND user = ?"#, [group, user], "member.\(group).\(user)")
    }

    // MARK: Grants

    /// Inserts the grant, or updates its source (adoption). The group must exist.
    public func upsert(_ grant: LiveGrant) throws(LiveStoreError) {
        try execute(Self.upsertGrant, [grant.group, grant.type, grant.resource, grant.source.rawValue],
                    "grant.\(grant.group).\(grant.type).\(grant.resource)",
                    missingReference: "group \(grant.group) does not exist")
    }

    /// The same as ``upsert(_:)-(LiveGrant)``.
    public func insert(_ grant: LiveGrant) throws(LiveStoreError) { try upsert(grant) }

    @discardableResult
    public func deleteGrant(group: String, type: String, resource: String) throws(LiveStoreError) -> Bool {
        try delete(#"DELETE FROM grants WHERE "group" = ? AND type = ? AND resource = ?"#, [group, type, resource],
                   "grant.\(group).\(type).\(resource)")
    }

    // MARK: Connections

    /// Inserts or replaces every column of the connection, storing the key's fingerprint
    /// beside the key. With a master key the key is sealed for this row (user, service and
    /// token id), with a fresh nonce, each time the row is written.
    public func upsert(_ connection: LiveConnection) throws(LiveStoreError) {
        var plain: String?
        var sealed: Data?
        if let key = connection.apiKey {
            if case .withoutKeys = sealing {
                throw LiveStoreError("cannot write connection.\(connection.user).\(connection.service): this command opened the database without its master key")
            }
            if let master = sealing.masterKey {
                let binding = SealBinding(user: connection.user, service: connection.service, tokenID: connection.tokenID)
                sealed = Data(master.seal(key.revealed, for: binding))
            } else {
                plain = key.revealed
            }
        }
        try execute(Self.upsertConnection, [
            connection.user, connection.service, connection.status.rawValue, connection.requestID, connection.requestEmail,
            connection.tokenID, plain, sealed, connection.apiKey?.fingerprint,
            connection.issuedAt, connection.expiresAt, connection.lastError, connection.attempts,
        ], "connection.\(connection.user).\(connection.service)")
    }

    @discardableResult
    public func deleteConnection(user: String, service: String) throws(LiveStoreError) -> Bool {
        try delete("DELETE FROM connections WHERE user = ? AND service = ?", [user, service],
                   "connection.\(user).\(service)")
    }

    // MARK: Retired tokens

    /// Queues a token replaced by a rotation for revocation (or updates its last error).
    public func upsert(_ token: RetiredToken) throws(LiveStoreError) {
        try execute("""
            INSERT INTO retired_tokens (service, token_id, user, key_fingerprint, retired_at, last_error, attempts)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (service, token_id) DO UPDATE SET last_error = excluded.last_error, attempts = excluded.attempts
            """, [token.service, token.tokenID, token.user, token.keyFingerprint, token.retiredAt, token.lastError,
                  token.attempts], "token.\(token.service).\(token.tokenID)")
    }

    @discardableResult
    public func deleteRetiredToken(service: String, tokenID: String) throws(LiveStoreError) -> Bool {
        try delete("DELETE FROM retired_tokens WHERE service = ? AND token_id = ?", [service, tokenID],
                   "token.\(service).\(tokenID)")
    }

    // MARK: Runs and audit

    /// Records a run and returns its id (`run.id` is ignored).
    @discardableResult
    public func insertRun(_ run: LiveRun) throws(LiveStoreError) -> Int64 {
        try execute("""
            INSERT INTO runs (commit_id, author, started_at, finished_at, result, counts, refused_by, message)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [run.commit, run.author, run.startedAt, run.finishedAt, run.result.stored, try Self.json(run.counts),
                  Self.refusedBy(run.result), run.message], "run")
        return db.lastInsertedRowID
    }

    /// The guard of a refused run, as `runs.refused_by` stores it.
    package static func refusedBy(_ result: RunResult) -> String? {
        if case .refused(let refusal) = result { refusal?.rawValue } else { nil }
    }

    /// Sets the outcome of a run inserted when it started.
    public func finishRun(_ id: Int64, result: RunResult, finishedAt: Int64, counts: [String: Int],
                          message: String? = nil) throws(LiveStoreError) {
        try execute("UPDATE runs SET result = ?, finished_at = ?, counts = ?, message = ?, refused_by = ? WHERE id = ?",
                    [result.stored, finishedAt, try Self.json(counts), message, Self.refusedBy(result), id], "run \(id)")
    }

    /// Marks runs still `running` as `interrupted`: under the apply lock, no other run is
    /// running, so such a run was killed before it could record its outcome.
    public func markInterruptedRuns() throws(LiveStoreError) {
        try execute("UPDATE runs SET result = ? WHERE result = ?", [RunResult.interrupted.stored, RunResult.running.stored], "runs")
    }

    /// Appends `; <OUTCOME>: <detail>` (`SKIPPED`, `NOTE`) to the audit rows of `address` in
    /// run `runID`. `detail` must already be redacted.
    public func markAudit(runID: Int64, address: String, outcome: String, detail: String) throws(LiveStoreError) {
        try execute("""
            UPDATE audit_log SET detail = coalesce(detail, '') || '; ' || ? || ': ' || ? WHERE run_id = ? AND address = ?
            """, [outcome, detail, runID, address], "audit rows of \(address)")
    }

    /// Appends `; FAILED: <failure>` to the audit rows of `address` in run `runID` (whose
    /// rows were written when the run started). `failure` must already be redacted.
    public func markAuditFailed(runID: Int64, address: String, failure: String) throws(LiveStoreError) {
        try execute("""
            UPDATE audit_log SET detail = coalesce(detail, '') || '; FAILED: ' || ? WHERE run_id = ? AND address = ?
            """, [failure, runID, address], "audit rows of \(address)")
    }

    private static func json(_ counts: [String: Int]) throws(LiveStoreError) -> String {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try encoder.encode(counts), as: UTF8.self)
        } catch {
            throw LiveStoreError("cannot encode the counts of a run: \(error)")
        }
    }

    /// Appends one audit row. Its `detail` must already be redacted.
    public func insertAudit(_ entry: LiveAuditEntry) throws(LiveStoreError) {
        try execute("""
            INSERT INTO audit_log (run_id, at, action, address, detail, actor) VALUES (?, ?, ?, ?, ?, ?)
            """, [entry.runID, entry.at, entry.action, entry.address, entry.detail, entry.actor],
            "audit row for \(entry.address)", missingReference: "run \(entry.runID) does not exist")
    }

    // MARK: - Statements

    /// Every expression of the update part reads the row as it was (SQLite evaluates the
    /// SET list against the old row), so `services.skill_sha256` is the previous digest.
    static let upsertService = """
        INSERT INTO services (id, name, description, token_exchange_url, token_revoke_url, health_url, env_var,
                              secret_env, skill_sha256, skill_text, ttl_days, key_prefix, enabled, source)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            name = excluded.name, description = excluded.description,
            token_exchange_url = excluded.token_exchange_url, token_revoke_url = excluded.token_revoke_url,
            health_url = excluded.health_url, env_var = excluded.env_var, secret_env = excluded.secret_env,
            skill_sha256 = excluded.skill_sha256,
            skill_text = CASE
                WHEN excluded.skill_text IS NOT NULL THEN excluded.skill_text
                WHEN excluded.skill_sha256 = services.skill_sha256 THEN services.skill_text
                ELSE NULL END,
            ttl_days = excluded.ttl_days, key_prefix = excluded.key_prefix,
            enabled = excluded.enabled, source = excluded.source
        """

    static let upsertUser = """
        INSERT INTO users (id, email, unix_user, active, source) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            email = excluded.email, unix_user = excluded.unix_user, active = excluded.active, source = excluded.source
        """

    static let upsertGroup = """
        INSERT INTO groups (id, description, source) VALUES (?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET description = excluded.description, source = excluded.source
        """

    static let upsertMember = """
        INSERT INTO group_members ("group", user, source) VALUES (?, ?, ?)
        ON CONFLICT ("group", user) DO UPDATE SET source = excluded.source
        """

    static let upsertGrant = """
        INSERT INTO grants ("group", type, resource, source) VALUES (?, ?, ?, ?)
        ON CONFLICT ("group", type, resource) DO UPDATE SET source = excluded.source
        """

    static let upsertConnection = """
        INSERT INTO connections (user, service, status, request_id, request_email, token_id, api_key, sealed_key,
                                 key_fingerprint, issued_at, expires_at, last_error, attempts)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (user, service) DO UPDATE SET
            status = excluded.status, request_id = excluded.request_id, request_email = excluded.request_email,
            token_id = excluded.token_id, api_key = excluded.api_key, sealed_key = excluded.sealed_key, key_fingerprint = excluded.key_fingerprint, issued_at = excluded.issued_at,
            expires_at = excluded.expires_at, last_error = excluded.last_error, attempts = excluded.attempts
        """

    // MARK: - Execution

    private func execute(_ sql: String, _ arguments: StatementArguments, _ address: @autoclosure () -> String,
                         missingReference: @autoclosure () -> String? = nil) throws(LiveStoreError) {
        do {
            let statement = try db.cachedStatement(sql: sql)
            statement.setUncheckedArguments(arguments)
            try statement.execute()
        } catch {
            throw Self.failure(error, writing: address(), missingReference: missingReference())
        }
    }

    private func delete(_ sql: String, _ arguments: StatementArguments, _ address: @autoclosure () -> String)
        throws(LiveStoreError) -> Bool
    {
        try execute(sql, arguments, address())
        return db.changesCount > 0
    }

    /// The statement's arguments are never part of the message (they may hold a key).
    private static func failure(_ error: any Error, writing address: String, missingReference: String?) -> LiveStoreError {
        guard let dbError = error as? DatabaseError else {
            return LiveStoreError("cannot write \(address): \(error)", underlying: error)
        }
        if dbError.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY, let missingReference {
            return LiveStoreError("cannot write \(address): \(missingReference)", underlying: error)
        }
        let detail = dbError.message ?? "SQLite error \(dbError.resultCode.rawValue)"
        return LiveStoreError("cannot write \(address): \(detail)", underlying: error)
    }
}
