import Foundation
import GRDB
import Platform

/// What `accessctl state backup` wrote.
public struct BackupReport: Sendable, Hashable {
    public var path: String
    public var bytes: Int64
    public var connections: Int
    /// How the copy stores its keys: sealed (with the master key's id) or plain text.
    public var custody: StoredCustody
}

extension LiveStore {
    /// Writes a consistent copy of the database at `path` to the new file `out` while
    /// applies may run: SQLite's online backup, from one read transaction (so the copy is
    /// one committed state, never half of an apply), into a temporary file beside `out`
    /// (mode 0600), checked (`PRAGMA integrity_check`), synced and renamed to `out`. Keys stay
    /// as they are stored (sealed, unless the database is configured `encryption: none`).
    /// Refuses an existing `out`; a crash leaves no `out`, at worst a `.<name>.partial-<pid>`
    /// file beside it, which the next backup to the same name removes. The copy is a single file (journal mode DELETE) that opens like the original.
    public static func backup(path: String, to out: String, now: Int64, actor: String) throws(LiveStoreError) -> BackupReport {
        guard case .present(let identity) = try DatabaseFile.lookupForReading(path) else {
            throw LiveStoreError("there is no database at \(path) to back up")
        }
        if (try? FileInfo(path: out, followLinks: false)) != nil {
            throw LiveStoreError("\(out) exists already; a backup never overwrites a file (choose a new name)")
        }
        let directory = DatabaseFile.directory(of: out)
        let name = out.split(separator: "/").last.map(String.init) ?? out
        let prefix = (directory == "/" ? "" : directory) + "/.\(name).partial-"
        let temporary = prefix + String(OS.processID)
        // What a killed backup to the same file left behind: its process is gone.
        for entry in (try? Files.directoryEntries(atPath: directory)) ?? [] where entry.hasPrefix(".\(name).partial-") {
            let pid = entry.dropFirst(".\(name).partial-".count).prefix { $0.isNumber }
            if let pid = Int32(pid), !OS.processExists(pid) {
                try? FileManager.default.removeItem(atPath: (directory == "/" ? "" : directory) + "/" + entry)
            }
        }
        var notices: [String] = []
        do { _ = try DatabaseFile.prepareForWriting(temporary, notices: &notices) } catch {
            throw LiveStoreError("cannot create the backup \(out): \(error.message)")
        }
        var renamed = false
        defer {
            if !renamed {
                for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
            }
        }
        do {
            let source = try DatabaseQueue(path: path, configuration: configuration(readonly: true))
            try DatabaseFile.verify(path, is: identity)
            let copy = try DatabaseQueue(path: temporary, configuration: configuration(readonly: false))
            try source.backup(to: copy)
            try source.close()
            let (custody, connections) = try copy.writeWithoutTransaction { db throws -> (StoredCustody, Int) in
                guard try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") == "delete" else {
                    throw LiveStoreError("cannot make the backup a single file (journal mode)")
                }
                let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard check == ["ok"] else {
                    throw LiveStoreError("the copy of \(path) fails SQLite's integrity check: \(check.prefix(3).joined(separator: "; "))")
                }
                return (try storedCustody(db), try Int.fetchOne(db, sql: "SELECT count(*) FROM connections") ?? 0)
            }
            try copy.close()
            let file = try OpenFile(path: temporary, access: .read)
            try file.sync()
            let bytes = try file.info().size
            try file.close()
            try Files.rename(temporary, to: out)
            renamed = true
            // The record of the backup goes into the live database (not the copy).
            let store = try LiveStore(path: path, sealing: .withoutKeys)
            try store.write { w in
                try w.logCustody("backup", keyID: { if case .sealed(let id) = custody { id } else { nil } }(), actor: actor,
                                 detail: "wrote \(out) (\(connections) connections, \(bytes) bytes)", at: now)
            }
            try store.close()
            return BackupReport(path: out, bytes: bytes, connections: connections, custody: custody)
        } catch let error as LiveStoreError {
            throw error
        } catch let error as PlatformError {
            throw LiveStoreError("cannot write the backup \(out): \(error.reason)")
        } catch {
            throw failure(error, path: path, doing: "back up")
        }
    }
}
