import AccessModel
import GRDB

extension LiveStoreWriter {
    /// Records a hold in force. Refuses a second hold on the same user or service (the
    /// first must be released), naming who placed the first and why.
    public func place(_ hold: Hold) throws(LiveStoreError) {
        let address = hold.target.address
        do {
            if let row = try Row.fetchOne(db, sql: """
                SELECT placed_by, placed_at, reason FROM holds WHERE kind = ? AND name = ? AND released_at IS NULL
                """, arguments: [hold.kind.rawValue, hold.name]) {
                let by: String = row[0], reason: String = row[2]
                throw LiveStoreError("\(address) is held already (by \(by): \(reason)); release it first to place another")
            }
            try db.execute(sql: """
                INSERT INTO holds (kind, name, reason, placed_by, placed_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [hold.kind.rawValue, hold.name, hold.reason, hold.placedBy, hold.placedAt])
        } catch let error as LiveStoreError {
            throw error
        } catch {
            throw LiveStoreError("cannot write the hold on \(address): \(error)", underlying: error)
        }
    }

    /// Ends the hold in force on `kind`/`name`, keeping the row with who released it, when
    /// and why. Returns the hold that was lifted, or nil when none was in force.
    public func release(_ kind: Hold.Kind, _ name: String, by actor: String, at now: Int64,
                        reason: String) throws(LiveStoreError) -> Hold? {
        do {
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, reason, placed_by, placed_at FROM holds WHERE kind = ? AND name = ? AND released_at IS NULL
                """, arguments: [kind.rawValue, name]) else { return nil }
            try db.execute(sql: "UPDATE holds SET released_by = ?, released_at = ?, release_reason = ? WHERE id = ?",
                           arguments: [actor, now, reason, row[0] as Int64])
            return Hold(kind: kind, name: name, reason: row[1], placedBy: row[2], placedAt: row[3])
        } catch {
            throw LiveStoreError("cannot release the hold on \(kind.rawValue).\(name): \(error)", underlying: error)
        }
    }

    /// Appends a key-custody event (sealing, rekey, backup) to `custody_log`.
    func logCustody(_ action: String, keyID: String?, actor: String?, detail: String, at now: Int64) throws {
        try db.execute(sql: "INSERT INTO custody_log (at, action, key_id, actor, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [now, action, keyID, actor, detail])
    }
}

extension LiveStore {
    /// The holds in force, for the planner (part of ``readState(_:_:)``).
    static func readHolds(_ db: Database) throws -> [Hold] {
        var holds: [Hold] = []
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT kind, name, reason, placed_by, placed_at FROM holds WHERE released_at IS NULL ORDER BY kind, name
            """))
        while let row = try cursor.next() {
            guard let kind = Hold.Kind(rawValue: row[0]) else { throw LiveStoreError("unexpected kind '\(row[0] as String)' in table holds") }
            holds.append(Hold(kind: kind, name: row[1], reason: row[2], placedBy: row[3], placedAt: row[4]))
        }
        return holds
    }
}
