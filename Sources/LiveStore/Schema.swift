import GRDB

/// The versioned schema of the live database.
///
/// Migrations are append-only: a released migration is never edited, renamed or removed.
/// A change of schema is a new migration appended to ``migrator``, so that every database
/// written by an older accessctl is brought forward in order, and a database written by a
/// newer accessctl (one that lists a migration this build does not know) is refused.
enum LiveSchema {
    /// The identifiers of the migrations, in order. The last one is the current schema.
    static let identifiers = ["v1-tables", "v2-indexes", "v3-retired-tokens", "v4-skill-text", "v5-run-refusals",
                              "v6-sealed-keys", "v7-holds"]

    /// The sources a users/groups/members/grants/services row may carry.
    static let sourceCheck = "source IN ('gitops', 'admin', 'google_sync', 'system_seed')"

    /// Every migration of the live database.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tables") { db in
            try db.execute(sql: v1Tables)
        }
        migrator.registerMigration("v2-indexes") { db in
            try db.execute(sql: v2Indexes)
        }
        migrator.registerMigration("v3-retired-tokens") { db in
            try db.execute(sql: v3RetiredTokens)
        }
        migrator.registerMigration("v4-skill-text") { db in
            try db.execute(sql: v4SkillText)
        }
        migrator.registerMigration("v5-run-refusals") { db in
            try db.execute(sql: v5RunRefusals)
        }
        migrator.registerMigration("v6-sealed-keys") { db in
            try db.execute(sql: v6SealedKeys)
        }
        migrator.registerMigration("v7-holds") { db in
            try db.execute(sql: v7Holds)
        }
        precondition(migrator.migrations == identifiers, "LiveSchema.identifiers is out of date")
        return migrator
    }()

    /// The tables. Text-keyed tables are `WITHOUT ROWID` (their primary key is the table's
    /// b-tree and is implicitly NOT NULL). `connections` has no foreign keys on purpose: a
    /// connection outlives its user or service until its key has been revoked.
    static let v1Tables = """
        CREATE TABLE services (
            id TEXT NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT,
            token_exchange_url TEXT NOT NULL,
            token_revoke_url TEXT NOT NULL,
            health_url TEXT,
            env_var TEXT NOT NULL,
            secret_env TEXT NOT NULL,
            skill_sha256 TEXT NOT NULL,
            ttl_days INTEGER NOT NULL,
            key_prefix TEXT,
            enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            source TEXT NOT NULL CHECK (\(sourceCheck))
        ) WITHOUT ROWID;

        CREATE TABLE users (
            id TEXT NOT NULL PRIMARY KEY,
            email TEXT NOT NULL,
            unix_user TEXT NOT NULL,
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            source TEXT NOT NULL CHECK (\(sourceCheck))
        ) WITHOUT ROWID;

        CREATE TABLE groups (
            id TEXT NOT NULL PRIMARY KEY,
            description TEXT,
            source TEXT NOT NULL CHECK (\(sourceCheck))
        ) WITHOUT ROWID;

        CREATE TABLE group_members (
            "group" TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            user TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (\(sourceCheck)),
            PRIMARY KEY ("group", user)
        ) WITHOUT ROWID;

        CREATE TABLE grants (
            "group" TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            type TEXT NOT NULL,
            resource TEXT NOT NULL,
            source TEXT NOT NULL CHECK (\(sourceCheck)),
            PRIMARY KEY ("group", type, resource)
        ) WITHOUT ROWID;

        CREATE TABLE connections (
            user TEXT NOT NULL,
            service TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'error', 'revoking')),
            request_id TEXT NOT NULL,
            token_id TEXT,
            api_key TEXT,
            key_fingerprint TEXT,
            issued_at INTEGER,
            expires_at INTEGER,
            last_error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user, service),
            CHECK ((api_key IS NULL) = (key_fingerprint IS NULL))
        ) WITHOUT ROWID;

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            commit_id TEXT,
            author TEXT,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            result TEXT NOT NULL,
            counts TEXT NOT NULL DEFAULT '{}'
        );

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            address TEXT NOT NULL,
            detail TEXT,
            actor TEXT
        );
        """

    /// The indexes planning and apply look rows up by (beyond the primary keys). The
    /// index on `group_members(user)` also serves the cascade when a user is deleted.
    static let v2Indexes = """
        CREATE INDEX connections_by_status ON connections(status);
        CREATE INDEX group_members_by_user ON group_members(user);
        CREATE INDEX grants_by_type_resource ON grants(type, resource);
        CREATE INDEX audit_log_by_run ON audit_log(run_id);
        """

    /// Tokens replaced by a rotation, waiting to be revoked once the new key is in the
    /// files. Recorded in the same transaction that stores the new key, so a crash can never
    /// forget one.
    static let v3RetiredTokens = """
        CREATE TABLE retired_tokens (
            service TEXT NOT NULL,
            token_id TEXT NOT NULL,
            user TEXT NOT NULL,
            key_fingerprint TEXT,
            retired_at INTEGER NOT NULL,
            last_error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (service, token_id)
        ) WITHOUT ROWID;
        """

    /// The text of each service's skill file as last applied, beside its `skill_sha256`, so
    /// that `accessctl import` can write the skill files back. Nullable: rows written before
    /// this migration, or by another tool, have only the digest. Read only by import, never
    /// by the snapshot that planning uses.
    static let v4SkillText = """
        ALTER TABLE services ADD COLUMN skill_text TEXT;
        """

    /// Why a run was refused or stopped: the guard (`mass-removal`, `fast-forward`,
    /// `signature`, `stale-plan`, `empty-desired-state`) and its message, secret-free. Both
    /// are NULL for runs that were not refused, and for runs recorded before this migration.
    static let v5RunRefusals = """
        ALTER TABLE runs ADD COLUMN refused_by TEXT;
        ALTER TABLE runs ADD COLUMN message TEXT;
        """

    /// Sealed keys (issue 17). `connections` is rebuilt (SQLite cannot change a CHECK): a key
    /// is either `api_key` (plain text, only in a database whose `key_custody` says `none`)
    /// or `sealed_key` (format byte, nonce, AES-256-GCM ciphertext and tag, bound to user,
    /// service and token id), never both; `request_email` is the email sent with the
    /// pending `request_id`, so a retry repeats the same request even when the user's email
    /// changed meanwhile. `key_custody` has one row once a key mode was chosen: `none`, or
    /// `aes-256-gcm` with the master key's id (a fingerprint) and when it sealed the keys;
    /// `custody_log` records each change of it (sealing, rekey) and each backup, with who
    /// and how many keys, never a key.
    /// The rows keep their plain keys here; sealing them needs the master key and is done by
    /// `LiveStore` when it is opened with one, in one transaction of its own.
    static let v6SealedKeys = """
        CREATE TABLE connections_v6 (
            user TEXT NOT NULL,
            service TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'error', 'revoking')),
            request_id TEXT NOT NULL,
            request_email TEXT,
            token_id TEXT,
            api_key TEXT,
            sealed_key BLOB,
            key_fingerprint TEXT,
            issued_at INTEGER,
            expires_at INTEGER,
            last_error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user, service),
            CHECK (api_key IS NULL OR sealed_key IS NULL),
            CHECK ((api_key IS NULL AND sealed_key IS NULL) = (key_fingerprint IS NULL))
        ) WITHOUT ROWID;
        INSERT INTO connections_v6 (user, service, status, request_id, token_id, api_key, key_fingerprint, issued_at,
                                    expires_at, last_error, attempts)
            SELECT user, service, status, request_id, token_id, api_key, key_fingerprint, issued_at, expires_at,
                   last_error, attempts
            FROM connections;
        DROP TABLE connections;
        ALTER TABLE connections_v6 RENAME TO connections;
        CREATE INDEX connections_by_status ON connections(status);

        CREATE TABLE key_custody (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            encryption TEXT NOT NULL CHECK (encryption IN ('none', 'aes-256-gcm')),
            key_id TEXT,
            changed_at INTEGER NOT NULL,
            CHECK ((encryption = 'none') = (key_id IS NULL))
        );

        CREATE TABLE custody_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            key_id TEXT,
            actor TEXT,
            detail TEXT NOT NULL
        );
        """

    /// Emergency holds (issue 17): `accessctl hold user|service NAME --reason` places one,
    /// `accessctl release` ends it. Rows are never deleted: a released hold keeps who
    /// released it, when and why, so the table is the record of every emergency action. At
    /// most one hold per (kind, name) is in force (released_at IS NULL).
    static let v7Holds = """
        CREATE TABLE holds (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('user', 'service')),
            name TEXT NOT NULL,
            reason TEXT NOT NULL,
            placed_by TEXT NOT NULL,
            placed_at INTEGER NOT NULL,
            released_by TEXT,
            released_at INTEGER,
            release_reason TEXT,
            CHECK ((released_by IS NULL) = (released_at IS NULL))
        );
        CREATE UNIQUE INDEX holds_in_force ON holds(kind, name) WHERE released_at IS NULL;
        """
}
