import Foundation
import GRDB
import KeyCustody

/// How the database's keys are stored, as its `key_custody` row records it (migration
/// `v6-sealed-keys`). A database without the row stores them as they are.
public enum StoredCustody: Sendable, Hashable {
    /// Plain text: a database from before issue 17, or one configured `encryption: none`.
    case plaintext
    /// Sealed with AES-256-GCM under the master key with this id.
    case sealed(keyID: String)
}

extension LiveStore {
    static func storedCustody(_ db: Database) throws -> StoredCustody {
        guard let row = try Row.fetchOne(db, sql: "SELECT encryption, key_id FROM key_custody WHERE id = 1"),
              row[0] as String == "aes-256-gcm", let id: String = row[1] else { return .plaintext }
        return .sealed(keyID: id)
    }

    /// Checks that `sealing` can read the keys of a database whose custody is `stored`,
    /// before anything is read or written. A sealed database needs its own master key; a
    /// plain-text database can be read with or without one.
    static func checkCustody(_ stored: StoredCustody, _ sealing: KeySealing, path: String) throws(LiveStoreError) {
        switch (stored, sealing) {
        case (.plaintext, _), (_, .withoutKeys): return
        case (.sealed(let id), .plaintext):
            throw LiveStoreError("database \(path) holds keys sealed with master key \(id), but the configuration says "
                + "encryption: none; set key_file: to that key's file")
        case (.sealed(let id), .sealed(let key)) where id != key.id:
            throw LiveStoreError("master key \(key.id)\(key.path.map { " (\($0))" } ?? "") does not open database \(path): "
                + "its keys are sealed with master key \(id); set key_file: to that key's file (after a rekey, the new one)")
        case (.sealed, .sealed): return
        }
    }

    /// Once the store is open with a master key: seals every plain-text key in one
    /// transaction (a crash leaves the database as it was, and the next run seals it), then
    /// rewrites the file so that no freed page keeps a plain key. With `encryption: none`,
    /// records that choice. Returns a notice for the operator, or nil.
    static func takeCustody(_ queue: DatabaseQueue, _ sealing: KeySealing, path: String, now: Int64) throws -> String? {
        if case .withoutKeys = sealing { return nil }
        let stored = try queue.read { db in try storedCustody(db) }
        try checkCustody(stored, sealing, path: path)
        guard case .plaintext = stored else { return nil }
        guard let key = sealing.masterKey else {
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO key_custody (id, encryption, key_id, changed_at) VALUES (1, 'none', NULL, ?)
                    ON CONFLICT (id) DO NOTHING
                    """, arguments: [now])
            }
            return nil
        }
        let sealed = try reseal(queue, from: .plaintext, to: key, path: path, now: now, actor: nil)
        return "sealed \(sealed) stored key\(sealed == 1 ? "" : "s") of database \(path) with master key \(key.id)"
    }

    /// Re-seals every stored key under `newKey` in one transaction and records the new key's
    /// id: the keys are read with `old` (plain text, or the current master key). Deleted
    /// content is zeroed (`secure_delete`), and after the commit the file is checkpointed and
    /// vacuumed, so no old form of a key survives in the file or its WAL. Returns how many
    /// keys it sealed.
    static func reseal(_ queue: DatabaseQueue, from old: KeySealing, to newKey: MasterKey, path: String, now: Int64,
                       actor: String?) throws -> Int {
        let count = try queue.writeWithoutTransaction { db throws -> Int in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
            var count = 0
            try db.inTransaction(.immediate) {
                try checkCustody(try storedCustody(db), old, path: path)
                var rows: [(user: String, service: String, tokenID: String?, key: String)] = []
                let cursor = try Row.fetchCursor(db, sql: """
                    SELECT user, service, token_id, api_key, sealed_key FROM connections
                    WHERE api_key IS NOT NULL OR sealed_key IS NOT NULL
                    """)
                while let row = try cursor.next() {
                    let binding = SealBinding(user: row[0], service: row[1], tokenID: row[2])
                    rows.append((binding.user, binding.service, row[2], try openKey(plain: row[3], sealed: row[4], binding, old)))
                }
                let update = try db.makeStatement(sql: """
                    UPDATE connections SET api_key = NULL, sealed_key = ? WHERE user = ? AND service = ?
                    """)
                for row in rows {
                    let binding = SealBinding(user: row.user, service: row.service, tokenID: row.tokenID)
                    update.setUncheckedArguments([Data(newKey.seal(row.key, for: binding)), row.user, row.service])
                    try update.execute()
                }
                try db.execute(sql: """
                    INSERT INTO key_custody (id, encryption, key_id, changed_at) VALUES (1, 'aes-256-gcm', ?, ?)
                    ON CONFLICT (id) DO UPDATE SET encryption = excluded.encryption, key_id = excluded.key_id,
                        changed_at = excluded.changed_at
                    """, arguments: [newKey.id, now])
                let action: String
                let detail: String
                if let oldKey = old.masterKey {
                    action = "rekeyed"
                    detail = "re-sealed \(rows.count) keys: master key \(oldKey.id) -> \(newKey.id)"
                } else {
                    action = "sealed"
                    detail = "sealed \(rows.count) plain-text keys with master key \(newKey.id)"
                }
                try LiveStoreWriter(db: db, sealing: .withoutKeys).logCustody(action, keyID: newKey.id, actor: actor,
                                                                             detail: detail, at: now)
                count = rows.count
                return .commit
            }
            return count
        }
        try scrub(queue)
        return count
    }

    /// Moves everything into the main file and rebuilds it: no free page, and an empty WAL.
    static func scrub(_ queue: DatabaseQueue) throws {
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "VACUUM")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// A row's key in plain text, from whichever column holds it.
    static func openKey(plain: String?, sealed: Data?, _ binding: SealBinding, _ sealing: KeySealing) throws -> String {
        if case .withoutKeys = sealing {
            throw LiveStoreError("connection.\(binding.user).\(binding.service): this command opened the database without its master key and cannot read keys")
        }
        if let sealed {
            guard let key = sealing.masterKey else {
                throw LiveStoreError("connection.\(binding.user).\(binding.service) holds a sealed key, but no master key is configured")
            }
            do { return try key.open([UInt8](sealed), for: binding) } catch { throw LiveStoreError(error.description) }
        }
        guard let plain else { throw LiveStoreError("connection.\(binding.user).\(binding.service) has no key") }
        return plain
    }

    /// Re-seals every key under `newKey` (`accessctl state rekey`), in one transaction: after
    /// it, the old master key opens nothing. Returns how many keys were sealed.
    public func rekey(to newKey: MasterKey, now: Int64, actor: String) throws(LiveStoreError) -> Int {
        do {
            let count = try Self.reseal(queue, from: sealing, to: newKey, path: path, now: now, actor: actor)
            sealing = .sealed(newKey)
            return count
        } catch let error as LiveStoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path, doing: "re-seal the keys of")
        }
    }

    /// The database's key custody (for `status`).
    public func custody() throws(LiveStoreError) -> StoredCustody {
        do { return try queue.read { db in try Self.storedCustody(db) } } catch {
            throw Self.failure(error, path: path, doing: "read")
        }
    }
}
