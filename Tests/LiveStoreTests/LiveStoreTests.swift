import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("Live store (SQLite)")
struct LiveStoreTests {
    // MARK: - Fixtures

    static let key1 = "sk-live-SECRET-0123456789abcdef"
    static let key2 = "sk-live-OTHER-fedcba9876543210"

    /// One of every entity, with every optional both set and nil, every source and every status.
    static let full: LiveState = {
        let services = [
            LiveService(id: "crm", name: "CRM", description: "Customer records", tokenExchangeURL: "https://crm/x",
                        tokenRevokeURL: "https://crm/r", healthURL: "https://crm/h", envVar: "CRM_KEY",
                        secretEnv: "CRM_SECRET", skillSHA256: String(repeating: "a", count: 64), ttlDays: 90,
                        keyPrefix: "crm_", enabled: true, source: .gitops),
            LiveService(id: "po", name: "Purchase orders", tokenExchangeURL: "https://po/x", tokenRevokeURL: "https://po/r",
                        envVar: "PO_KEY", secretEnv: "PO_SECRET", skillSHA256: String(repeating: "b", count: 64),
                        ttlDays: 30, enabled: false, source: .admin),
        ]
        let users = [
            LiveUser(id: "ann", email: "ann@example.com", unixUser: "ann", active: true, source: .gitops),
            LiveUser(id: "bob", email: "bob@example.com", unixUser: "bobby", active: false, source: .admin),
            LiveUser(id: "cy", email: "cy@example.com", unixUser: "cy", source: .googleSync),
            LiveUser(id: "dee", email: "dee@example.com", unixUser: "dee", source: .systemSeed),
        ]
        let groups = [
            LiveGroup(id: "admins", source: .systemSeed),
            LiveGroup(id: "finance", description: "Money people", source: .gitops),
            LiveGroup(id: "sales", description: nil, source: .googleSync),
        ]
        let members = [
            LiveMember(group: "finance", user: "ann", source: .gitops),
            LiveMember(group: "finance", user: "bob", source: .admin),
            LiveMember(group: "sales", user: "cy", source: .googleSync),
            LiveMember(group: "admins", user: "dee", source: .systemSeed),
            LiveMember(group: "sales", user: "ann"),
        ]
        let grants = [
            LiveGrant(group: "finance", type: "plugin", resource: "acme-tools/po-helper", source: .gitops),
            LiveGrant(group: "finance", type: "table", resource: "ledger", source: .admin),
            LiveGrant(group: "sales", type: "plugin", resource: "crm-helper", source: .googleSync),
            LiveGrant(group: "admins", type: "knowledge", resource: "all", source: .systemSeed),
        ]
        let connections = [
            LiveConnection(user: "ann", service: "crm", status: .active, requestID: "req-1", tokenID: "tok-1",
                           apiKey: Secret(key1), issuedAt: 1_700_000_000, expiresAt: 1_707_776_000,
                           lastError: nil, attempts: 1),
            LiveConnection(user: "ann", service: "po", status: .pending, requestID: "req-2"),
            LiveConnection(user: "bob", service: "crm", status: .error, requestID: "req-3",
                           lastError: "HTTP 503 from https://crm/x", attempts: 4),
            LiveConnection(user: "cy", service: "crm", status: .revoking, requestID: "req-4", tokenID: "tok-4",
                           apiKey: Secret(key2), issuedAt: 1_600_000_000, expiresAt: 1_600_086_400, attempts: 2),
        ]
        return LiveState(services: services, users: users, groups: groups, members: members, grants: grants,
                         connections: connections)
    }()

    static func write(_ state: LiveState, to store: LiveStore) throws {
        try store.write { w in
            for s in state.services { try w.upsert(s) }
            for u in state.users { try w.upsert(u) }
            for g in state.groups { try w.upsert(g) }
            for m in state.members { try w.upsert(m) }
            for g in state.grants { try w.upsert(g) }
            for c in state.connections { try w.upsert(c) }
        }
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    // MARK: - Creating

    @Test("a new database is a 0600 file in WAL mode with foreign keys on, and reads empty")
    func create() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let store = try LiveStore(path: path)
            #expect(store.path == path)
            #expect(store.notices.isEmpty)
            #expect(Self.mode(path) == 0o600)
            #expect(try store.pragma("journal_mode") == "wal")
            #expect(try store.pragma("foreign_keys") == "1")
            #expect(try store.pragma("busy_timeout") == "5000")
            #expect(try store.snapshot() == .empty)
            #expect(try LiveStore.snapshot(path: path) == .empty)
            let migrations = try LiveStore.queryForTesting(path: path, sql: "SELECT identifier FROM grdb_migrations ORDER BY 1")
            #expect(migrations == [["v1-tables"], ["v2-indexes"], ["v3-retired-tokens"], ["v4-skill-text"], ["v5-run-refusals"], ["v6-sealed-keys"], ["v7-holds"]])
            try store.close()
            // Reopening an up-to-date database changes nothing.
            let again = try LiveStore(path: path)
            #expect(try again.snapshot() == .empty)
        }
    }

    @Test("snapshot(path:) of a missing file is empty and creates nothing")
    func snapshotMissing() throws {
        try Scratch.with { scratch throws in
            let path = scratch.path("live.db")
            #expect(try LiveStore.snapshot(path: path) == .empty)
            #expect(!Self.exists(path))
            #expect(!Self.exists(path + "-wal"))
            #expect(!Self.exists(path + "-shm"))
        }
    }

    @Test("an existing file readable by others is restricted to 0600, with a notice")
    func looseModeRestricted() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            try scratch.write("live.db", "")
            chmod(path, 0o644)
            // Reading leaves the mode alone.
            #expect(try LiveStore.snapshot(path: path) == .empty)
            #expect(Self.mode(path) == 0o644)
            let store = try LiveStore(path: path)
            #expect(Self.mode(path) == 0o600)
            #expect(store.notices == ["database \(path) had mode 0644; restricted it to 0600 "
                + "(the API keys in it may have been readable by other users)"])
            #expect(try store.snapshot() == .empty)
        }
    }

    // MARK: - Round trip

    @Test("every entity kind and field survives a write and a snapshot")
    func roundTrip() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let store = try LiveStore(path: path)
            try Self.write(Self.full, to: store)
            #expect(try store.snapshot() == Self.full)
            #expect(try LiveStore.snapshot(path: path) == Self.full)
            // The key is stored with its fingerprint.
            let rows = try LiveStore.queryForTesting(path: path, sql: """
                SELECT user, service, api_key, key_fingerprint FROM connections ORDER BY user, service
                """)
            #expect(rows == [
                ["ann", "crm", Self.key1, Secret(Self.key1).fingerprint],
                ["ann", "po", nil, nil],
                ["bob", "crm", nil, nil],
                ["cy", "crm", Self.key2, Secret(Self.key2).fingerprint],
            ])
        }
    }

    @Test("an upsert changes every field in place without cascading")
    func upsertUpdates() throws {
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            try Self.write(Self.full, to: store)
            var expected = Self.full
            let service = LiveService(id: "crm", name: "CRM 2", tokenExchangeURL: "https://crm2/x",
                                      tokenRevokeURL: "https://crm2/r", envVar: "CRM2_KEY", secretEnv: "CRM2_SECRET",
                                      skillSHA256: String(repeating: "c", count: 64), ttlDays: 7, enabled: false,
                                      source: .admin)
            let user = LiveUser(id: "ann", email: "ann@new.example.com", unixUser: "ann2", active: false, source: .admin)
            let group = LiveGroup(id: "finance", description: nil, source: .admin)
            let member = LiveMember(group: "finance", user: "bob", source: .gitops)
            let grant = LiveGrant(group: "finance", type: "table", resource: "ledger", source: .gitops)
            let connection = LiveConnection(user: "ann", service: "crm", status: .error, requestID: "req-9",
                                            lastError: "boom", attempts: 2)
            try store.write { w in
                try w.upsert(service)
                try w.upsert(user)
                try w.upsert(group)
                try w.upsert(member)
                try w.upsert(grant)
                try w.upsert(connection)
            }
            expected.services[0] = service
            expected.users[0] = user
            expected.groups[1] = group
            expected.members = expected.members.map { $0.group == "finance" && $0.user == "bob" ? member : $0 }
            expected.grants = expected.grants.map { $0.resource == "ledger" ? grant : $0 }
            expected.connections[0] = connection
            #expect(try store.snapshot() == expected)
        }
    }

    @Test("each kind deletes; a group takes its members and grants; a user takes memberships but not connections")
    func deletes() throws {
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            try Self.write(Self.full, to: store)
            let deleted = try store.write { w in
                [
                    try w.deleteService("po"),
                    try w.deleteMember(group: "admins", user: "dee"),
                    try w.deleteGrant(group: "admins", type: "knowledge", resource: "all"),
                    try w.deleteConnection(user: "bob", service: "crm"),
                    try w.deleteConnection(user: "bob", service: "crm"),
                    try w.deleteUser("nobody"),
                ]
            }
            #expect(deleted == [true, true, true, true, false, false])
            var state = try store.snapshot()
            #expect(state.services.map(\.id) == ["crm"])
            #expect(!state.members.contains { $0.group == "admins" })
            #expect(!state.grants.contains { $0.group == "admins" })
            #expect(state.connections.map { "\($0.user).\($0.service)" } == ["ann.crm", "ann.po", "cy.crm"])

            try store.write { w throws in #expect(try w.deleteGroup("finance")) }
            state = try store.snapshot()
            #expect(state.groups.map(\.id) == ["admins", "sales"])
            #expect(state.members.map { "\($0.group).\($0.user)" } == ["sales.ann", "sales.cy"])
            #expect(state.grants.map(\.resource) == ["crm-helper"])

            try store.write { w throws in #expect(try w.deleteUser("ann")) }
            state = try store.snapshot()
            #expect(state.users.map(\.id) == ["bob", "cy", "dee"])
            #expect(state.members.map { "\($0.group).\($0.user)" } == ["sales.cy"])
            // The connections stay until their keys are revoked.
            #expect(state.connections.map { "\($0.user).\($0.service)" } == ["ann.crm", "ann.po", "cy.crm"])
            // A connection may also outlive its service.
            try store.write { w throws in #expect(try w.deleteService("crm")) }
            #expect(try store.snapshot().connections.count == 3)
        }
    }

    // MARK: - Transactions and errors

    @Test("a write that throws midway leaves nothing")
    func rollback() throws {
        struct Boom: Error {}
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            try Self.write(Self.full, to: store)
            let error = #expect(throws: LiveStoreError.self) {
                try store.write { w in
                    try w.upsert(LiveUser(id: "zed", email: "z@example.com", unixUser: "zed"))
                    try w.deleteGroup("finance")
                    try w.upsert(LiveConnection(user: "zed", service: "crm", status: .pending, requestID: "r"))
                    throw Boom()
                }
            }
            #expect(error?.underlying is Boom)
            #expect(error?.message.hasPrefix("write to database \(store.path) rolled back") == true)
            #expect(try store.snapshot() == Self.full)
        }
    }

    @Test("a store error inside a write rolls back and names the address")
    func constraintError() throws {
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            try Self.write(Self.full, to: store)
            let error = #expect(throws: LiveStoreError.self) {
                try store.write { w in
                    try w.upsert(LiveGroup(id: "new"))
                    try w.upsert(LiveMember(group: "new", user: "ghost"))
                }
            }
            #expect(error?.message == "cannot write member.new.ghost: group new or user ghost does not exist")
            let grantError = #expect(throws: LiveStoreError.self) {
                try store.write { w in try w.upsert(LiveGrant(group: "ghosts", type: "plugin", resource: "x")) }
            }
            #expect(grantError?.message == "cannot write grant.ghosts.plugin.x: group ghosts does not exist")
            #expect(try store.snapshot() == Self.full)
        }
    }

    // MARK: - Migrations

    @Test("a v1 database is migrated to v2 on open, its rows intact")
    func migrateV1() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            try LiveStore.createForTesting(path: path, upTo: "v1-tables")
            try LiveStore.executeForTesting(path: path, sql: """
                INSERT INTO users (id, email, unix_user, active, source) VALUES ('ann', 'ann@example.com', 'ann', 1, 'gitops');
                INSERT INTO groups (id, description, source) VALUES ('finance', NULL, 'admin');
                INSERT INTO group_members ("group", user, source) VALUES ('finance', 'ann', 'gitops');
                INSERT INTO connections (user, service, status, request_id, attempts) VALUES ('ann', 'crm', 'pending', 'r1', 0);
                """)
            let indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            #expect(try LiveStore.queryForTesting(path: path, sql: indexes).isEmpty)
            let expected = LiveState(
                users: [LiveUser(id: "ann", email: "ann@example.com", unixUser: "ann")],
                groups: [LiveGroup(id: "finance", source: .admin)],
                members: [LiveMember(group: "finance", user: "ann")],
                connections: [LiveConnection(user: "ann", service: "crm", status: .pending, requestID: "r1")])

            // Reading an older schema works on a private copy and leaves the file at v1.
            #expect(try LiveStore.snapshot(path: path) == expected)
            #expect(try LiveStore.queryForTesting(path: path, sql: indexes).isEmpty)

            let store = try LiveStore(path: path)
            #expect(try store.snapshot() == expected)
            #expect(try LiveStore.queryForTesting(path: path, sql: indexes).map { $0[0] } == [
                "audit_log_by_run", "connections_by_status", "grants_by_type_resource", "group_members_by_user", "holds_in_force",
            ])
            #expect(try LiveStore.queryForTesting(path: path, sql: "SELECT identifier FROM grdb_migrations ORDER BY 1")
                == [["v1-tables"], ["v2-indexes"], ["v3-retired-tokens"], ["v4-skill-text"], ["v5-run-refusals"], ["v6-sealed-keys"], ["v7-holds"]])
        }
    }

    @Test("a v3 database with data is migrated to v4 on open: rows intact, skill_text NULL; reading leaves the file at v3")
    func migrateV3() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            try LiveStore.createForTesting(path: path, upTo: "v3-retired-tokens")
            try LiveStore.executeForTesting(path: path, sql: """
                INSERT INTO services (id, name, token_exchange_url, token_revoke_url, env_var, secret_env, skill_sha256,
                                      ttl_days, enabled, source)
                VALUES ('crm', 'CRM', 'https://crm/x', 'https://crm/r', 'CRM_KEY', 'SC_SECRET_CRM', '\(String(repeating: "c", count: 64))',
                        90, 1, 'admin');
                INSERT INTO users (id, email, unix_user, active, source) VALUES ('ann', 'ann@example.com', 'ann', 1, 'gitops');
                INSERT INTO connections (user, service, status, request_id, api_key, key_fingerprint, attempts)
                VALUES ('ann', 'crm', 'active', 'r1', '\(Self.key1)', '\(Secret(Self.key1).fingerprint)', 0);
                INSERT INTO retired_tokens (service, token_id, user, retired_at) VALUES ('crm', 'tok-0', 'ann', 1700000000);
                """)
            let columns = "SELECT name FROM pragma_table_info('services') WHERE name = 'skill_text'"
            let migrations = "SELECT identifier FROM grdb_migrations ORDER BY 1"
            let before = try LiveStore.snapshot(path: path)
            #expect(before.services.map(\.id) == ["crm"] && before.connections.count == 1 && before.retiredTokens.count == 1)
            // Reading (plan, import) migrates a private copy only.
            let export = try #require(try LiveStore.exportSnapshot(path: path))
            #expect(export.skillTexts.isEmpty)
            #expect(export.state.services == before.services && export.state.users == before.users)
            #expect(try LiveStore.queryForTesting(path: path, sql: columns).isEmpty)
            #expect(try LiveStore.queryForTesting(path: path, sql: migrations).count == 3)

            let store = try LiveStore(path: path)
            #expect(try store.snapshot() == before)
            #expect(try LiveStore.queryForTesting(path: path, sql: columns) == [["skill_text"]])
            #expect(try LiveStore.queryForTesting(path: path, sql: "SELECT id, skill_text FROM services") == [["crm", nil]])
            #expect(try LiveStore.queryForTesting(path: path, sql: migrations)
                == [["v1-tables"], ["v2-indexes"], ["v3-retired-tokens"], ["v4-skill-text"], ["v5-run-refusals"], ["v6-sealed-keys"], ["v7-holds"]])
        }
    }

    @Test("skill_text: stored with the service, kept while the digest stays, cleared when it changes; filled only where missing")
    func skillText() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let store = try LiveStore(path: path)
            let text = "# CRM\nUse CRM_KEY.\n", other = "# CRM v2\n"
            var crm = LiveStoreTests.full.services[0]
            crm.skillSHA256 = HomeFiles.sha256(text)
            var po = LiveStoreTests.full.services[1]  // source admin
            po.skillSHA256 = HomeFiles.sha256(other)
            let query = "SELECT id, skill_text FROM services ORDER BY id"
            try store.write { w in
                try w.upsert(crm, skillText: text)
                try w.upsert(po)
            }
            #expect(try LiveStore.queryForTesting(path: path, sql: query) == [["crm", text], ["po", nil]])
            #expect(try LiveStore.exportSnapshot(path: path)?.skillTexts == ["crm": text])
            // The planning snapshot is unchanged by the text.
            #expect(try store.snapshot().services == [crm, po])

            // Another field changes, the digest does not: the text stays.
            crm.name = "CRM (renamed)"
            try store.write { w in try w.upsert(crm) }
            #expect(try LiveStore.queryForTesting(path: path, sql: query)[0] == ["crm", text])
            // The digest changes without a text: the stale text goes.
            crm.skillSHA256 = HomeFiles.sha256(other)
            try store.write { w in try w.upsert(crm) }
            #expect(try LiveStore.queryForTesting(path: path, sql: query)[0] == ["crm", nil])

            // Filling a missing text: only a gitops row, only with the matching digest.
            let stored: [Bool] = try store.write { w in
                [try w.storeMissingSkillText(service: "crm", sha256: HomeFiles.sha256(text), text: text),
                 try w.storeMissingSkillText(service: "po", sha256: HomeFiles.sha256(other), text: other),
                 try w.storeMissingSkillText(service: "crm", sha256: HomeFiles.sha256(other), text: other),
                 try w.storeMissingSkillText(service: "crm", sha256: HomeFiles.sha256(other), text: "again")]
            }
            #expect(stored == [false, false, true, false])
            #expect(try LiveStore.queryForTesting(path: path, sql: query) == [["crm", other], ["po", nil]])
        }
    }

    @Test("exportSnapshot reads no key, token or request id, and nothing for a missing file")
    func exportSnapshotHasNoSecrets() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            #expect(try LiveStore.exportSnapshot(path: path) == nil)
            #expect(!Self.exists(path))
            try Self.write(Self.full, to: LiveStore(path: path))
            let export = try #require(try LiveStore.exportSnapshot(path: path))
            #expect(export.state.services == Self.full.services && export.state.users == Self.full.users)
            #expect(export.state.members == Self.full.members && export.state.grants == Self.full.grants)
            #expect(export.state.connections.map { "\($0.user).\($0.service).\($0.status)" }
                == Self.full.connections.map { "\($0.user).\($0.service).\($0.status)" })
            #expect(export.state.connections.allSatisfy { $0.apiKey == nil && $0.tokenID == nil && $0.requestID.isEmpty })
            let dumped = "\(export)"
            #expect(!dumped.contains(Self.key1) && !dumped.contains(Self.key2))
        }
    }

    @Test("a database written by a newer accessctl is refused and left unchanged")
    func newerSchema() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            try Self.write(Self.full, to: LiveStore(path: path))
            try LiveStore.executeForTesting(path: path, sql: """
                INSERT INTO grdb_migrations (identifier) VALUES ('v99-future');
                CREATE TABLE future (x);
                """)
            let schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            let before = try LiveStore.queryForTesting(path: path, sql: schema)
            let message = "database \(path) was written by a newer accessctl (schema v99-future); upgrade accessctl"
            let openError = #expect(throws: LiveStoreError.self) { try LiveStore(path: path) }
            #expect(openError?.message == message)
            let readError = #expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: path) }
            #expect(readError?.message == message)
            #expect(try LiveStore.queryForTesting(path: path, sql: schema) == before)
            #expect(try LiveStore.queryForTesting(path: path, sql: "SELECT identifier FROM grdb_migrations ORDER BY 1")
                == [["v1-tables"], ["v2-indexes"], ["v3-retired-tokens"], ["v4-skill-text"], ["v5-run-refusals"], ["v6-sealed-keys"], ["v7-holds"], ["v99-future"]])
        }
    }

    @Test("an SQLite database that is not accessctl's is refused; so is a file that is not SQLite")
    func foreignDatabase() throws {
        try Scratch.with { scratch in
            let path = scratch.path("other.db")
            try LiveStore.executeForTesting(path: path, sql: "CREATE TABLE photos (id INTEGER PRIMARY KEY)")
            let message = "database \(path) is not an accessctl database (it has tables but no accessctl schema)"
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: path) }?.message == message)
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: path) }?.message == message)
            #expect(try LiveStore.queryForTesting(path: path, sql: "SELECT name FROM sqlite_master") == [["photos"]])

            let text = scratch.path("notes.txt")
            try scratch.write("notes.txt", String(repeating: "not a database\n", count: 100))
            let error = #expect(throws: LiveStoreError.self) { try LiveStore(path: text) }
            #expect(error?.message == "database \(text) is not an SQLite database")
        }
    }

    // MARK: - The path

    @Test("a symbolic link at the path is refused, dangling or not")
    func symlinkRefused() throws {
        try Scratch.with { scratch in
            let real = scratch.path("real.db")
            _ = try LiveStore(path: real)
            let link = scratch.path("link.db")
            #expect(Glibc.symlink(real, link) == 0)
            let message = "database \(link) is a symbolic link; refusing to follow it (use the real path)"
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: link) }?.message == message)
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: link) }?.message == message)

            let dangling = scratch.path("dangling.db")
            #expect(Glibc.symlink(scratch.path("nowhere.db"), dangling) == 0)
            let danglingMessage = "database \(dangling) is a symbolic link; refusing to follow it (use the real path)"
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: dangling) }?.message == danglingMessage)
            #expect(!Self.exists(scratch.path("nowhere.db")))
        }
    }

    @Test("a directory or a missing directory at the path gives a clear error")
    func badPaths() throws {
        try Scratch.with { scratch in
            let missing = scratch.path("no/such/dir/live.db")
            let createError = #expect(throws: LiveStoreError.self) { try LiveStore(path: missing) }
            #expect(createError?.message == "cannot create database \(missing): directory \(scratch.path("no/such/dir")) does not exist")
            let readError = #expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: missing) }
            #expect(readError?.message == "cannot read database \(missing): directory \(scratch.path("no/such/dir")) does not exist")

            let dir = scratch.path("adir")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: dir) }?.message
                == "database \(dir) is not a regular file")
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: dir) }?.message
                == "database \(dir) is not a regular file")
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: "") }?.message == "the database path is empty")
        }
    }

    @Test("a symbolic link in place of the -wal file is refused")
    func walSymlink() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            try LiveStore(path: path).close()
            #expect(!Self.exists(path + "-wal"))
            #expect(Glibc.symlink(scratch.path("elsewhere"), path + "-wal") == 0)
            let message = "database \(path)-wal is a symbolic link; refusing to follow it (use the real path)"
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore(path: path) }?.message == message)
            #expect(#expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: path) }?.message == message)
        }
    }

    // MARK: - Secrets

    @Test("no description of a snapshot or an error shows an API key")
    func keyNeverPrinted() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let store = try LiveStore(path: path)
            try Self.write(Self.full, to: store)
            let state = try store.snapshot()
            for text in [String(describing: state), String(reflecting: state)] {
                #expect(!text.contains(Self.key1))
                #expect(!text.contains(Self.key2))
                #expect(text.contains(Secret(Self.key1).fingerprint))
            }
            // A failing write of a connection names the address only.
            let error = #expect(throws: LiveStoreError.self) {
                try store.write { w in
                    try w.upsert(LiveConnection(user: "ann", service: "crm", status: .active, requestID: "r",
                                                apiKey: Secret(Self.key1), attempts: 1))
                    try w.upsert(LiveMember(group: "finance", user: "ghost"))
                }
            }
            if let error {
                var errorDump = ""
                dump(error, to: &errorDump)
                for text in [error.message, String(describing: error), String(reflecting: error), errorDump] {
                    #expect(!text.contains(Self.key1))
                }
            }
        }
    }

    /// `dump` walks stored properties through `Mirror`, whatever the description says:
    /// `Secret` must be `CustomReflectable` to hide its value there.
    @Test("dump of a snapshot does not show an API key")
    func keyNotDumped() throws {
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            try Self.write(Self.full, to: store)
            var dumped = ""
            dump(try store.snapshot(), to: &dumped)
            #expect(!dumped.contains(Self.key1))
            #expect(!dumped.contains(Self.key2))
            #expect(dumped.contains(Secret(Self.key1).fingerprint))
        }
    }

    // MARK: - Runs

    @Test("runs and their audit rows are recorded and read back")
    func runs() throws {
        try Scratch.with { scratch in
            let store = try LiveStore(path: scratch.path("live.db"))
            let (first, second) = try store.write { w in
                let first = try w.insertRun(LiveRun(commit: "abc", author: "Ada", startedAt: 10, finishedAt: 12,
                                                    result: .applied, counts: ["create": 2, "connect": 1]))
                try w.insertAudit(LiveAuditEntry(runID: first, at: 11, action: "create", address: "user.ann",
                                                 detail: "added in desired state", actor: "Ada"))
                try w.insertAudit(LiveAuditEntry(runID: first, at: 11, action: "connect", address: "connection.ann.crm"))
                let second = try w.insertRun(LiveRun(commit: nil, author: nil, startedAt: 20, finishedAt: nil,
                                                     result: .refused(.massRemoval), message: "the plan removes 9 of 30"))
                return (first, second)
            }
            #expect(second > first)
            #expect(try store.runs() == [
                LiveRun(id: second, commit: nil, author: nil, startedAt: 20, finishedAt: nil, result: .refused(.massRemoval),
                        message: "the plan removes 9 of 30"),
                LiveRun(id: first, commit: "abc", author: "Ada", startedAt: 10, finishedAt: 12, result: .applied,
                        counts: ["connect": 1, "create": 2]),
            ])
            #expect(try store.runs(limit: 1).map(\.id) == [second])
            #expect(try store.auditLog(run: first).map(\.address) == ["user.ann", "connection.ann.crm"])
            #expect(try store.auditLog(run: second).isEmpty)
            let error = #expect(throws: LiveStoreError.self) {
                try store.write { w in try w.insertAudit(LiveAuditEntry(runID: 999, at: 1, action: "x", address: "y")) }
            }
            #expect(error?.message == "cannot write audit row for y: run 999 does not exist")
        }
    }
}
