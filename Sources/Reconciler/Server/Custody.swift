import AccessModel
import DesiredRepo
import Foundation
import KeyCustody
import LiveStore

/// The operator's commands on a server's keys and holds (`state rekey`, `state backup`,
/// `hold`, `release`): each takes what it needs, checks its input against the live state,
/// writes in one transaction, and leaves a record (custody_log, the holds table).
public enum Custody {
    /// Re-seals every key under `newKey`, holding the apply lock so that no apply writes
    /// meanwhile. Returns how many keys were re-sealed.
    public static func rekey(database: String, sealing: KeySealing, newKey: MasterKey, actor: String, now: Int64,
                             lockTimeout: Double) throws(ApplyError) -> Int {
        guard FileManager.default.fileExists(atPath: database) else { throw .failed("there is no database at \(database) to re-key") }
        if let old = sealing.masterKey, old.id == newKey.id {
            throw .failed("the new key file\(newKey.path.map { " \($0)" } ?? "") holds the current master key \(old.id); make a new one with `accessctl state init-key --out FILE`")
        }
        let lock = try ApplyLock(database: database, timeout: lockTimeout, command: "accessctl state rekey")
        defer { lock.release() }
        do {
            let store = try LiveStore(path: database, sealing: sealing)
            defer { try? store.close() }
            return try store.rekey(to: newKey, now: now, actor: actor)
        } catch {
            throw .failed(error.description)
        }
    }

    /// Why a hold cannot be placed on `name`: it names no user (or service) of the live
    /// state or of `desired`. Nil when it does.
    static func unknown(_ kind: Hold.Kind, _ name: String, live: LiveState, desired: DesiredState?) -> String? {
        let known: [String]
        switch kind {
        case .user: known = live.users.map(\.id) + (desired?.users.map(\.id) ?? [])
        case .service: known = live.services.map(\.id) + (desired?.services.map(\.id) ?? [])
        }
        guard !known.contains(name) else { return nil }
        let suggestion = Suggest.closest(to: name, in: Set(known)).map { "; did you mean '\($0)'?" } ?? ""
        return "there is no \(kind.rawValue) '\(name.escapingControlCharacters)' on this server or in the repository\(suggestion)"
    }

    /// Places a hold on a user or service known to the live state (or to `desired`), and
    /// returns the keys it covers (their connection addresses) for the message.
    public static func hold(_ hold: Hold, database: String, desired: DesiredState?) throws(ApplyError) -> [Target] {
        guard !hold.reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .failed("a hold needs a reason (--reason TEXT): it is what status, plan and the audit show")
        }
        guard FileManager.default.fileExists(atPath: database) else {
            throw .failed("there is no database at \(database) yet: before the first apply no key has been issued to hold")
        }
        do {
            let store = try LiveStore(path: database, sealing: .withoutKeys)
            defer { try? store.close() }
            let live = try store.snapshot()
            if let problem = unknown(hold.kind, hold.name, live: live, desired: desired) { throw ApplyError.failed(problem) }
            try store.write { w in try w.place(hold) }
            return live.connections.filter { hold.covers(user: $0.user, service: $0.service) && $0.keyFingerprint != nil }
                .map { Target.connection(user: $0.user, service: $0.service) }
        } catch let error as ApplyError {
            throw error
        } catch {
            throw .failed("\(error)")
        }
    }

    /// Lifts the hold in force on a user or service; the row stays with who released it,
    /// when and why. Refuses when none is in force, naming the holds that are.
    public static func release(_ kind: Hold.Kind, _ name: String, database: String, actor: String, reason: String,
                               now: Int64) throws(ApplyError) -> Hold {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .failed("a release needs a reason (--reason TEXT), for the record")
        }
        do {
            let store = try LiveStore(path: database, sealing: .withoutKeys)
            defer { try? store.close() }
            guard let lifted = try store.write({ w in try w.release(kind, name, by: actor, at: now, reason: reason) }) else {
                // Only for the message: which holds are in force instead.
                let inForce = try store.snapshot().holds.map(\.target.address).joined(separator: ", ")
                throw ApplyError.failed("there is no hold on \(kind.rawValue).\(name.escapingControlCharacters) in force"
                    + (inForce.isEmpty ? " (no hold is in force)" : " (holds in force: \(inForce))"))
            }
            return lifted
        } catch let error as ApplyError {
            throw error
        } catch {
            throw .failed("\(error)")
        }
    }
}

extension ApplyError {
    /// The message of a failure that is not a refusal or an invalid repository (those have
    /// their own rendering).
    public var message: String {
        switch self {
        case .failed(let message), .locked(let message): message
        case .refused(let refusal): "refused by \(refusal.guardName.title): \(refusal.message)"
        case .invalid: "the desired state is invalid"
        }
    }
}

extension Custody {
    /// The holds in force in the database at `path` (none when there is no database yet),
    /// read-only and without the master key: for `explain`.
    public static func holdsInForce(database: String) throws(LiveStoreError) -> [Hold] {
        try LiveStore.snapshot(path: database, sealing: .withoutKeys).holds
    }
}
