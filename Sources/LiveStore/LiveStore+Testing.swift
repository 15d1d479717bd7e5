import GRDB

/// Hooks for the tests of this package (`package` access: not part of the public API).
/// They reach the database below the store, for example to build a database at an older
/// schema or to see what a refused open left behind.
extension LiveStore {
    /// The value of `PRAGMA <name>` on the store's own connection.
    package func pragma(_ name: String) throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    /// Creates a database at `path` (mode 0600, WAL) migrated only up to `identifier`.
    package static func createForTesting(path: String, upTo identifier: String) throws {
        var notices: [String] = []
        _ = try DatabaseFile.prepareForWriting(path, notices: &notices)
        var config = configuration(readonly: false)
        config.journalMode = .wal
        let queue = try DatabaseQueue(path: path, configuration: config)
        try LiveSchema.migrator.migrate(queue, upTo: identifier)
        try queue.close()
    }

    /// Runs `sql` (one or more statements) on a fresh connection to `path`.
    package static func executeForTesting(path: String, sql: String) throws {
        let queue = try DatabaseQueue(path: path, configuration: configuration(readonly: false))
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    /// The rows of `sql`, every column as text (nil for NULL), read on a fresh read-only
    /// connection to `path`.
    package static func queryForTesting(path: String, sql: String) throws -> [[String?]] {
        let queue = try DatabaseQueue(path: path, configuration: configuration(readonly: true))
        defer { try? queue.close() }
        return try queue.read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                (0..<row.count).map { index in
                    let value: DatabaseValue = row[index]
                    switch value.storage {
                    case .null: return nil
                    case .int64(let int): return String(int)
                    case .double(let double): return String(double)
                    case .string(let string): return string
                    case .blob(let data): return "<blob \(data.count) bytes>"
                    }
                }
            }
        }
    }
}
