/// The live database: the SQLite file that records what accessctl has applied.
///
/// ## Ownership
/// accessctl owns the schema. It is created and brought forward only by the versioned
/// migrations of `LiveSchema` (GRDB `DatabaseMigrator`, identifiers `v1-tables`,
/// `v2-indexes`, ...), which are append-only. A database that lists a migration this
/// build does not know was written by a newer accessctl and is refused, unchanged.
///
/// Rows of `services`, `users`, `groups`, `group_members` and `grants` carry a `source`
/// (`gitops`, `admin`, `google_sync`, `system_seed`). The store itself writes whatever it
/// is given; deciding that only `gitops` rows are created, changed or deleted (and that
/// other rows are conflicts unless adopted) is the planner's job.
///
/// ## Schema (current: `v5-run-refusals`)
/// - `services(id PK, name, description?, token_exchange_url, token_revoke_url,
///   health_url?, env_var, secret_env, skill_sha256, ttl_days, key_prefix?, enabled, source,
///   skill_text?)`. `skill_text` (added by `v4-skill-text`) is the skill file's text as last
///   applied, for `accessctl import` only (``exportSnapshot(path:)``); the planning snapshot
///   never reads it. NULL for rows written before v4 or by another tool.
/// - `users(id PK, email, unix_user, active, source)`
/// - `groups(id PK, description?, source)`
/// - `group_members("group" -> groups ON DELETE CASCADE, user -> users ON DELETE CASCADE,
///   source; PK("group", user))`
/// - `grants("group" -> groups ON DELETE CASCADE, type, resource, source;
///   PK("group", type, resource))`
/// - `connections(user, service, status, request_id, token_id?, api_key?,
///   key_fingerprint?, issued_at?, expires_at?, last_error?, attempts; PK(user, service))`.
///   No foreign keys: a connection outlives its user or service until its key is revoked.
///   `key_fingerprint` (`sha256:` + 12 hex) is stored beside the key so that tools can
///   show which key a row holds without reading the key.
/// - `runs(id, commit_id?, author?, started_at, finished_at?, result, counts JSON,
///   refused_by?, message?)` (the last two added by `v5-run-refusals`: the guard that refused
///   a run and why) and
///   `audit_log(id, run_id -> runs ON DELETE CASCADE, at, action, address, detail?, actor?)`.
/// - `retired_tokens(service, token_id, user, key_fingerprint?, retired_at, last_error?,
///   attempts; PK(service, token_id))` (`v3-retired-tokens`): tokens replaced by a rotation,
///   still to be revoked.
/// - `v2-indexes`: connections by status, members by user, grants by (type, resource),
///   audit rows by run.
/// Migrations, in order: `v1-tables`, `v2-indexes`, `v3-retired-tokens`, `v4-skill-text`,
/// `v5-run-refusals`.
/// Times are Unix seconds. Booleans are 0/1. Text-keyed tables are `WITHOUT ROWID`.
///
/// Upserts are `INSERT ... ON CONFLICT DO UPDATE`, never `INSERT OR REPLACE`: a replace
/// deletes the old row first, which would cascade to a group's members and grants.
///
/// ## The file
/// The file is created by accessctl with mode 0600 (O_CREAT|O_EXCL, before SQLite opens
/// it) because it holds API keys. A symbolic link or a non-regular file at the path (or at
/// its `-wal`/`-shm` companions) is refused. An existing file with group or other
/// permission bits is restricted to 0600 when opened for writing, and ``LiveStore/notices``
/// says so (the keys may have been exposed); reading never changes the mode. The database
/// runs in WAL mode with foreign keys on and a 5 s busy timeout. Writers should hold the
/// apply lock (`<database>.lock`) before opening the store: two processes migrating the
/// same new file at once are not coordinated here.
///
/// ## Secrets
/// API keys are read into ``Secret`` values, whose descriptions show only fingerprints.
/// Error messages never include statement arguments (GRDB's `publicStatementArguments`
/// stays off), so no key reaches an error either.
import AccessModel
import Foundation
import GRDB
import KeyCustody

/// An error of the live database, with a message meant for the operator.
public struct LiveStoreError: Error, CustomStringConvertible {
    public var message: String
    /// The error thrown by the body of ``LiveStore/write(_:)``, when it was not a
    /// `LiveStoreError`.
    public var underlying: (any Error)?

    public init(_ message: String, underlying: (any Error)? = nil) {
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}

/// The live database, open for reading and writing. See the top of this file for the
/// schema and the rules.
public final class LiveStore {
    /// The database path, as given.
    public let path: String
    /// Things the operator should hear about, found while opening (for example a database
    /// file whose mode was too open and has been restricted). Never contains a secret.
    public private(set) var notices: [String] = []

    let queue: DatabaseQueue
    /// How keys are sealed: the master key the store was opened with (after ``rekey(to:now:)``,
    /// the new one), or plain text.
    public internal(set) var sealing: KeySealing

    /// Opens the database at `path`, creating it (mode 0600) when absent, and migrates it to
    /// the current schema. Refuses a symbolic link, a non-regular file, a missing directory,
    /// a database written by a newer accessctl, and an SQLite file that is not an accessctl
    /// database.
    ///
    /// With a master key, a database whose keys are still in plain text has them sealed here,
    /// in one transaction (see ``takeCustody``), and ``notices`` says so; a database sealed
    /// with another master key, or a sealed database opened with `.plaintext`, is refused
    /// before anything is read or written.
    public init(path: String, sealing: KeySealing) throws(LiveStoreError) {
        guard !path.isEmpty else { throw LiveStoreError("the database path is empty") }
        self.path = path
        self.sealing = sealing
        var notices: [String] = []
        let identity = try DatabaseFile.prepareForWriting(path, notices: &notices)
        self.notices = notices
        do {
            queue = try DatabaseQueue(path: path, configuration: Self.configuration(readonly: false))
        } catch {
            throw Self.failure(error, path: path, doing: "open")
        }
        try DatabaseFile.verify(path, is: identity)
        do {
            // Check the schema before anything can change the file, then switch to WAL
            // (a no-op for a database that is in WAL mode already) and migrate.
            let state = try queue.writeWithoutTransaction { db throws -> SchemaState in
                let state = try Self.schemaState(db, path: path)
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                guard mode == "wal" else {
                    throw LiveStoreError("cannot switch database \(path) to WAL mode (journal mode is \(mode ?? "unknown"))")
                }
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                return state
            }
            if state != .current {
                try LiveSchema.migrator.migrate(queue)
            }
            if let notice = try Self.takeCustody(queue, sealing, path: path, now: Int64(Date().timeIntervalSince1970)) {
                self.notices.append(notice)
            }
        } catch let error as LiveStoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path, doing: "migrate")
        }
    }

    /// Closes the database. Any later use of the store fails.
    public func close() throws(LiveStoreError) {
        do { try queue.close() } catch { throw Self.failure(error, path: path, doing: "close") }
    }

    // MARK: - Reading

    /// Reads the live state of the database at `path` without creating the database or
    /// changing its contents (SQLite may create transient `-wal`/`-shm` companions, with
    /// the database's own mode, while it reads a WAL database). A missing file (in an existing directory) is an empty state, so a plan
    /// against no database creates everything. A database at an older schema is migrated
    /// in a private in-memory copy and read from there; the file is left as it is. A
    /// database written by a newer accessctl is refused.
    /// Sealed keys are opened with `sealing`'s master key, which must be the one that sealed
    /// them.
    public static func snapshot(path: String, sealing: KeySealing) throws(LiveStoreError) -> LiveState {
        try readOnly(path: path, absent: .empty) { db in
            try checkCustody(try storedCustody(db), sealing, path: path)
            return try readState(db, .all(sealing))
        }
    }

    /// Runs `read` in one read transaction on the database at `path`, opened read-only, as
    /// ``snapshot(path:)`` describes: `absent` for a missing file or a database without a
    /// schema; a database at an older schema is migrated in a private in-memory copy and read
    /// there; the file is never changed.
    static func readOnly<T>(path: String, absent: T, _ read: (Database) throws -> T) throws(LiveStoreError) -> T {
        guard !path.isEmpty else { throw LiveStoreError("the database path is empty") }
        guard case .present(let identity) = try DatabaseFile.lookupForReading(path) else { return absent }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration(readonly: true))
        } catch {
            throw failure(error, path: path, doing: "open")
        }
        try DatabaseFile.verify(path, is: identity)
        do {
            defer { try? queue.close() }
            let outcome = try queue.read { db throws -> (state: SchemaState, value: T?) in
                let state = try schemaState(db, path: path)
                return (state, state == .current ? try read(db) : nil)
            }
            switch outcome.state {
            case .current: return outcome.value!
            case .uninitialized: return absent
            case .outdated:
                let copy = try DatabaseQueue(configuration: configuration(readonly: false))
                try queue.backup(to: copy)
                try LiveSchema.migrator.migrate(copy)
                return try copy.read { db in try read(db) }
            }
        } catch let error as LiveStoreError {
            throw error
        } catch {
            throw failure(error, path: path, doing: "read")
        }
    }

    /// Reads every table of the live state in one read transaction.
    public func snapshot() throws(LiveStoreError) -> LiveState {
        do {
            return try queue.read { db in try Self.readState(db, .all(sealing)) }
        } catch let error as LiveStoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path, doing: "read")
        }
    }

    /// The most recent runs, newest first.
    public func runs(limit: Int = 20) throws(LiveStoreError) -> [LiveRun] {
        do {
            return try queue.read { db in
                var runs: [LiveRun] = []
                let cursor = try Row.fetchCursor(db, sql: """
                    SELECT id, commit_id, author, started_at, finished_at, result, counts, refused_by, message
                    FROM runs ORDER BY id DESC LIMIT ?
                    """, arguments: [limit])
                while let row = try cursor.next() {
                    let countsJSON: String = row[6]
                    let counts = (try? JSONDecoder().decode([String: Int].self, from: Data(countsJSON.utf8))) ?? [:]
                    runs.append(LiveRun(id: row[0], commit: row[1], author: row[2], startedAt: row[3],
                                        finishedAt: row[4], result: RunResult(stored: row[5], refusedBy: row[7]), counts: counts,
                                        message: row[8]))
                }
                return runs
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read the runs of")
        }
    }

    /// `'applied', 'partly applied', 'no changes'`: ``RunResult/reachedCommit`` as SQL
    /// literals (constants of this build, never input).
    static let reachedCommitSQL = RunResult.reachedCommit.map { "'\($0.stored)'" }.joined(separator: ", ")

    /// The commit of the most recent run that applied a commit (fully, partly, or found
    /// nothing to change): the base of the fast-forward check.
    public func lastAppliedCommit() throws(LiveStoreError) -> String? {
        do {
            return try queue.read { db in
                try String.fetchOne(db, sql: """
                    SELECT commit_id FROM runs
                    WHERE commit_id IS NOT NULL AND result IN (\(Self.reachedCommitSQL))
                    ORDER BY id DESC LIMIT 1
                    """)
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read the runs of")
        }
    }

    /// When the most recent run that applied (fully or partly) or found nothing to change
    /// started: what an alert on "no success for too long" reads.
    public func lastSuccessfulRunStart() throws(LiveStoreError) -> Int64? {
        do {
            return try queue.read { db in
                try Int64.fetchOne(db, sql: """
                    SELECT started_at FROM runs WHERE result IN (\(Self.reachedCommitSQL))
                    ORDER BY id DESC LIMIT 1
                    """)
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read the runs of")
        }
    }

    /// The refused runs since the last run that was not refused, newest first: what `status`
    /// reports as "refused by the mass-removal guard since …, 3 runs". Empty when the last
    /// run was not refused.
    public func refusalsSinceLastRun() throws(LiveStoreError) -> [LiveRun] {
        do {
            return try queue.read { db in
                let refused = RunResult.refused(nil).stored
                let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM runs WHERE result != ?", arguments: [refused]) ?? 0
                var runs: [LiveRun] = []
                let cursor = try Row.fetchCursor(db, sql: """
                    SELECT id, commit_id, author, started_at, finished_at, result, refused_by, message
                    FROM runs WHERE id > ? AND result = ? ORDER BY id DESC
                    """, arguments: [last, refused])
                while let row = try cursor.next() {
                    runs.append(LiveRun(id: row[0], commit: row[1], author: row[2], startedAt: row[3], finishedAt: row[4],
                                        result: RunResult(stored: row[5], refusedBy: row[6]), message: row[7]))
                }
                return runs
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read the runs of")
        }
    }

    /// The audit rows of one run, in the order they were written.
    public func auditLog(run: Int64) throws(LiveStoreError) -> [LiveAuditEntry] {
        do {
            return try queue.read { db in
                var entries: [LiveAuditEntry] = []
                let cursor = try Row.fetchCursor(db, sql: """
                    SELECT run_id, at, action, address, detail, actor FROM audit_log WHERE run_id = ? ORDER BY id
                    """, arguments: [run])
                while let row = try cursor.next() {
                    entries.append(LiveAuditEntry(runID: row[0], at: row[1], action: row[2], address: row[3],
                                                  detail: row[4], actor: row[5]))
                }
                return entries
            }
        } catch {
            throw Self.failure(error, path: path, doing: "read the audit log of")
        }
    }

    // MARK: - Writing

    /// Runs `body` in one write transaction (begun IMMEDIATE, so it waits for another
    /// writer up to the busy timeout instead of failing midway). Everything `body` did is
    /// committed when it returns and rolled back when anything throws. An error thrown by
    /// `body` that is not a `LiveStoreError` is wrapped, and kept as `underlying`.
    @discardableResult
    public func write<T>(_ body: (inout LiveStoreWriter) throws -> T) throws(LiveStoreError) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    var writer = LiveStoreWriter(db: db, sealing: sealing)
                    result = try body(&writer)
                    return .commit
                }
                return result!
            }
        } catch let error as LiveStoreError {
            throw error
        } catch let error as DatabaseError {
            throw Self.failure(error, path: path, doing: "write")
        } catch {
            throw LiveStoreError("write to database \(path) rolled back: \(error)", underlying: error)
        }
    }

    // MARK: - Internals

    static func configuration(readonly: Bool) -> Configuration {
        var config = Configuration()
        config.readonly = readonly
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        // The journal mode is switched by `init` after the schema check, so that a
        // database written by a newer accessctl is not touched at all.
        config.journalMode = .default
        config.publicStatementArguments = false
        config.label = "accessctl.live"
        return config
    }

    enum SchemaState { case uninitialized, outdated, current }

    /// Classifies the database's schema; throws for a newer accessctl's database and for a
    /// database that is not accessctl's.
    static func schemaState(_ db: Database, path: String) throws -> SchemaState {
        let migrator = LiveSchema.migrator
        let applied = try migrator.appliedIdentifiers(db)
        let unknown = applied.subtracting(LiveSchema.identifiers).sorted()
        if !unknown.isEmpty {
            throw LiveStoreError("database \(path) was written by a newer accessctl (schema "
                + "\(unknown.joined(separator: ", "))); upgrade accessctl")
        }
        if applied.isEmpty {
            let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'") ?? 0
            guard tables == 0 else {
                throw LiveStoreError("database \(path) is not an accessctl database (it has tables but no accessctl schema)")
            }
            return .uninitialized
        }
        return try migrator.hasCompletedMigrations(db) ? .current : .outdated
    }

    /// What ``readState(_:_:)`` reads of the keys.
    enum KeyColumns {
        /// Everything: request and token ids, the keys (opened with this sealing; with
        /// `.withoutKeys`, every column but the key), the retired tokens (planning, apply, status).
        case all(KeySealing)
        /// No key, token id or request id, and no retired token (`import`).
        case none
    }

    /// The one reader of the live tables: every entity table, each in primary-key order,
    /// with positional columns.
    static func readState(_ db: Database, _ keys: KeyColumns) throws -> LiveState {
        var services: [LiveService] = []
        var cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT id, name, description, token_exchange_url, token_revoke_url, health_url, env_var, secret_env,
                   skill_sha256, ttl_days, key_prefix, enabled, source
            FROM services ORDER BY id
            """))
        while let row = try cursor.next() {
            services.append(LiveService(
                id: row[0], name: row[1], description: row[2], tokenExchangeURL: row[3], tokenRevokeURL: row[4],
                healthURL: row[5], envVar: row[6], secretEnv: row[7], skillSHA256: row[8], ttlDays: row[9],
                keyPrefix: row[10], enabled: row[11], source: try source(row[12], "services")))
        }

        var users: [LiveUser] = []
        users.reserveCapacity(try count(db, "users"))
        cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT id, email, unix_user, active, source FROM users ORDER BY id"))
        while let row = try cursor.next() {
            users.append(LiveUser(id: row[0], email: row[1], unixUser: row[2], active: row[3],
                                  source: try source(row[4], "users")))
        }

        var groups: [LiveGroup] = []
        cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT id, description, source FROM groups ORDER BY id"))
        while let row = try cursor.next() {
            groups.append(LiveGroup(id: row[0], description: row[1], source: try source(row[2], "groups")))
        }

        var members: [LiveMember] = []
        members.reserveCapacity(try count(db, "group_members"))
        cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT "group", user, source FROM group_members ORDER BY "group", user
            """))
        while let row = try cursor.next() {
            members.append(LiveMember(group: row[0], user: row[1], source: try source(row[2], "group_members")))
        }

        var grants: [LiveGrant] = []
        grants.reserveCapacity(try count(db, "grants"))
        cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT "group", type, resource, source FROM grants ORDER BY "group", type, resource
            """))
        while let row = try cursor.next() {
            grants.append(LiveGrant(group: row[0], type: row[1], resource: row[2], source: try source(row[3], "grants")))
        }

        var connections: [LiveConnection] = []
        connections.reserveCapacity(try count(db, "connections"))
        guard case .all(let sealing) = keys else {
            cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT user, service, status, attempts FROM connections ORDER BY user, service"))
            while let row = try cursor.next() {
                connections.append(LiveConnection(user: row[0], service: row[1], status: try status(row[2]), requestID: "", attempts: row[3]))
            }
            return LiveState(services: services, users: users, groups: groups, members: members, grants: grants,
                             connections: connections)
        }
        cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT user, service, status, request_id, token_id, api_key, sealed_key, issued_at, expires_at, last_error,
                   attempts, request_email, key_fingerprint
            FROM connections ORDER BY user, service
            """))
        let readsKeys: Bool
        if case .withoutKeys = sealing { readsKeys = false } else { readsKeys = true }
        while let row = try cursor.next() {
            let plain: String? = row[5]
            let sealed: Data? = row[6]
            var key: Secret?
            if readsKeys, plain != nil || sealed != nil {
                key = Secret(try openKey(plain: plain, sealed: sealed, SealBinding(user: row[0], service: row[1], tokenID: row[4]), sealing))
            }
            connections.append(LiveConnection(
                user: row[0], service: row[1], status: try status(row[2]), requestID: row[3], requestEmail: row[11],
                tokenID: row[4], apiKey: key, keyFingerprint: row[12], issuedAt: row[7], expiresAt: row[8], lastError: row[9],
                attempts: row[10]))
        }

        var retired: [RetiredToken] = []
        cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT service, token_id, user, key_fingerprint, retired_at, last_error, attempts
            FROM retired_tokens ORDER BY service, token_id
            """))
        while let row = try cursor.next() {
            retired.append(RetiredToken(service: row[0], tokenID: row[1], user: row[2], keyFingerprint: row[3],
                                        retiredAt: row[4], lastError: row[5], attempts: row[6]))
        }

        return LiveState(services: services, users: users, groups: groups, members: members, grants: grants,
                         connections: connections, retiredTokens: retired, holds: try readHolds(db))
    }

    private static func status(_ text: String) throws -> ConnectionStatus {
        guard let status = ConnectionStatus(rawValue: text) else {
            throw LiveStoreError("unexpected status '\(text)' in table connections")
        }
        return status
    }

    private static func count(_ db: Database, _ table: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM \(table)")) ?? 0
    }

    @inline(__always)
    static func source(_ text: String, _ table: String) throws -> RowSource {
        guard let source = RowSource(rawValue: text) else {
            throw LiveStoreError("unexpected source '\(text)' in table \(table)")
        }
        return source
    }

    /// An operator-facing error for a GRDB or SQLite failure. Never includes statement
    /// arguments (they may hold an API key).
    static func failure(_ error: any Error, path: String, doing action: String) -> LiveStoreError {
        if let error = error as? LiveStoreError { return error }
        guard let dbError = error as? DatabaseError else {
            return LiveStoreError("cannot \(action) database \(path): \(error)", underlying: error)
        }
        let detail = dbError.message ?? "SQLite error \(dbError.resultCode.rawValue)"
        switch dbError.resultCode {
        case .SQLITE_NOTADB:
            return LiveStoreError("database \(path) is not an SQLite database", underlying: error)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return LiveStoreError("cannot \(action) database \(path): it is locked by another process (waited 5 s)",
                                  underlying: error)
        case .SQLITE_READONLY:
            return LiveStoreError("cannot \(action) database \(path): it is read-only (\(detail))", underlying: error)
        case .SQLITE_CORRUPT:
            return LiveStoreError("database \(path) is corrupt (\(detail))", underlying: error)
        case .SQLITE_CANTOPEN:
            return LiveStoreError("cannot \(action) database \(path): unable to open the file or its -wal/-shm "
                + "companions (\(detail))", underlying: error)
        default:
            return LiveStoreError("cannot \(action) database \(path): \(detail)", underlying: error)
        }
    }
}

/// One apply run, as recorded in `runs`.
public struct LiveRun: Sendable, Hashable {
    /// Assigned by the database; ignored by ``LiveStoreWriter/insertRun(_:)``.
    public var id: Int64?
    public var commit: String?
    /// The commit author (the "who" of the audit rows).
    public var author: String?
    /// Unix seconds.
    public var startedAt: Int64
    /// Unix seconds.
    public var finishedAt: Int64?
    /// What became of it (stored as ``RunResult/stored``; a refused run's guard in `refused_by`).
    public var result: RunResult
    /// Action counts, stored as a JSON object with sorted keys: what the run did, not what it
    /// planned (a failed exchange is counted in `failed`, never in `keys_issued`).
    public var counts: [String: Int]
    /// For a refused or stopped run: why, secret-free.
    public var message: String?

    public init(id: Int64? = nil, commit: String?, author: String?, startedAt: Int64, finishedAt: Int64?,
                result: RunResult, counts: [String: Int] = [:], message: String? = nil) {
        self.id = id
        self.commit = commit
        self.author = author
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.counts = counts
        self.message = message
    }
}

/// One audit row: what a run did to one address. `detail` must already be redacted.
public struct LiveAuditEntry: Sendable, Hashable {
    public var runID: Int64
    /// Unix seconds.
    public var at: Int64
    public var action: String
    public var address: String
    public var detail: String?
    public var actor: String?

    public init(runID: Int64, at: Int64, action: String, address: String, detail: String? = nil, actor: String? = nil) {
        self.runID = runID
        self.at = at
        self.action = action
        self.address = address
        self.detail = detail
        self.actor = actor
    }
}
