import AccessModel
import Foundation
import DesiredRepo
import KeyCustody
import LiveStore
import HomesClient

/// `accessctl state export` and `plan --live-snapshot`: the live state carried to CI without
/// a secret in it (see `LiveSnapshot`).
public enum Snapshots {
    /// Reads the database and the homes of its accounts (through the helper) into a snapshot.
    public static func export(database: String, sealing: KeySealing, helper: HelperClient,
                              now: Int64) async throws(Planning.Failure) -> LiveSnapshot {
        let live: LiveState
        let lastCommit: String?
        do {
            live = try LiveStore.snapshot(path: database, sealing: sealing)
            if FileManager.default.fileExists(atPath: database) {
                let store = try LiveStore(path: database, sealing: .withoutKeys)
                defer { try? store.close() }
                lastCommit = try store.lastAppliedCommit()
            } else {
                lastCommit = nil
            }
        } catch { throw .unavailable(error.description) }
        let homes: HomeObservations
        do { homes = try await Inputs.inspect(helper, accounts: Set(live.users.map(\.unixUser)).sorted(),
                                              options: PlanningOptions()).get() } catch {
            throw .unavailable(error.message)
        }
        return LiveSnapshot.make(live: live, homes: homes, lastAppliedCommit: lastCommit, now: now)
    }

    /// The snapshot as JSON: sorted keys, ending with a newline.
    public static func json(_ snapshot: LiveSnapshot) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(snapshot)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Writes a snapshot atomically, mode 600 (it names users and services, like a saved plan).
    public static func write(_ snapshot: LiveSnapshot, to path: String) throws(Planning.Failure) {
        try Planning.writeAtomically(json(snapshot), to: path)
    }

    /// Reads a snapshot written by `export`, refusing anything else.
    public static func read(path: String) throws(Planning.Failure) -> LiveSnapshot {
        let bytes: [UInt8]
        do { bytes = try DirectorySource.readFile(at: path) } catch { throw .unavailable(error.message) }
        let snapshot: LiveSnapshot
        do { snapshot = try JSONDecoder().decode(LiveSnapshot.self, from: Data(bytes)) } catch {
            throw .unavailable("\(path) is not an accessctl live snapshot (written by 'accessctl state export')")
        }
        guard snapshot.kind == LiveSnapshot.kind else {
            throw .unavailable("\(path) is not an accessctl live snapshot (written by 'accessctl state export')")
        }
        guard snapshot.formatVersion == LiveSnapshot.currentFormatVersion else {
            throw .unavailable("\(path): snapshot format version \(snapshot.formatVersion) is not supported; this accessctl reads \(LiveSnapshot.currentFormatVersion)")
        }
        return snapshot
    }

    /// How old a snapshot is, for the note `plan --live-snapshot` prints and the pull-request
    /// comment quotes: `live snapshot taken 2026-03-02T09:00:00Z (3 hours ago)`.
    public static func ageNote(createdAt: Int64, now: Int64) -> String {
        let taken = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(createdAt)))
        return "live snapshot taken \(taken) (\(age(seconds: now - createdAt)))"
    }

    /// `just now`, `12 minutes ago`, `3 hours ago`, `2 days ago`; `in the future` for a
    /// clock that runs behind the server's.
    static func age(seconds: Int64) -> String {
        func unit(_ n: Int64, _ name: String) -> String { "\(n) \(name)\(n == 1 ? "" : "s") ago" }
        switch seconds {
        case ..<(-300): return "in the future: check the clocks"
        case ..<60: return "just now"
        case ..<3600: return unit(seconds / 60, "minute")
        case ..<(2 * 86_400): return unit(seconds / 3600, "hour")
        default: return unit(seconds / 86_400, "day")
        }
    }

    /// A snapshot older than this gets a warning: the plan may no longer be what the server would do.
    public static let staleAfterSeconds: Int64 = 86_400
}
