import AccessModel
import Foundation
import DesiredRepo
import KeyCustody
import LiveStore
import Render

/// What `accessctl status` reports: the server's state at a glance.
public struct ServerStatus: Sendable, Encodable {
    public struct RunSummary: Sendable, Encodable {
        public var id: Int64?
        public var commit: String?
        public var startedAt: Int64
        /// ``RunResult/stored``.
        public var result: String
        /// For a refused run: the guard that refused it.
        public var refusedBy: String?
        public var failed: Int
        /// The result as a value (not encoded: `result` and `refused_by` are its JSON form).
        var outcome: RunResult { RunResult(stored: result, refusedBy: refusedBy) }

        enum CodingKeys: String, CodingKey { case id, commit, startedAt, result, refusedBy, failed }
    }

    /// Consecutive refused runs since the last run that was not refused.
    public struct Refusals: Sendable, Encodable {
        /// The guard of the newest refusal, and its message.
        public var refusedBy: String?
        public var message: String?
        /// The commit the newest refusal was about.
        public var commit: String?
        /// When the first of them started.
        public var since: Int64
        public var runs: Int
    }

    public struct Expiring: Sendable, Encodable {
        public var address: String
        public var expiresAt: Int64
        public var days: Int64
    }

    /// A key older than the age limit: its rotation is overdue (or failing).
    public struct OldKey: Sendable, Encodable {
        public var address: String
        public var issuedAt: Int64
        public var ageDays: Int64
    }

    /// A hold in force, and whether the applied state makes it redundant (the user is
    /// inactive or gone, the service disabled or gone: the keys would be revoked anyway).
    public struct HeldAccess: Sendable, Encodable {
        public var address: String
        public var reason: String
        public var placedBy: String
        public var placedAt: Int64
        public var redundant: Bool
    }

    /// The limits the warnings are judged by.
    public struct Limits: Sendable {
        /// A key issued longer ago than this is listed as old.
        public var maxKeyAgeDays: Int64 = 90
        /// A key expiring within this many days is listed as expiring.
        public var expiringWithinDays: Int64 = 30
        public init() {}
    }

    public var database: String
    public var lastAppliedCommit: String?
    public var lastRunAt: Int64?
    /// When the last run that applied (fully or partly) or found nothing to change started.
    public var lastSuccessAt: Int64?
    public var recentRuns: [RunSummary] = []
    /// Set while the newest runs were refused.
    public var refused: Refusals?
    /// The configured branch's head in the repository (after the last fetch), if known.
    public var branchHead: String?
    /// Whether the branch head is the applied commit.
    public var upToDate: Bool?
    /// Managed (gitops) rows by kind.
    public var managed: [String: Int] = [:]
    /// Rows owned by other sources, by kind.
    public var foreign: [String: Int] = [:]
    public var connectionsByStatus: [String: Int] = [:]
    public var retiredTokensToRevoke = 0
    /// Keys expiring within `expiring_within_days` (or expired).
    public var expiring: [Expiring] = []
    public var expiringWithinDays: Int64 = 30
    /// Keys issued more than `max_key_age_days` ago.
    public var oldKeys: [OldKey] = []
    public var maxKeyAgeDays: Int64 = 90
    public var holds: [HeldAccess] = []
    /// `aes-256-gcm` or `none`, and the master key's id.
    public var encryption: String = "none"
    public var masterKeyID: String?
    public var lockHolder: String?

    /// What a monitoring script should look at (`status --fail-on-warning` exits 2 when any):
    /// refused runs, failed or pending connections, keys expiring or old, holds in force.
    public var warnings: [String] = []

    func computeWarnings() -> [String] {
        var out: [String] = []
        if let refused { out.append("runs refused by \(refused.refusedBy ?? "a guard") since the last applied run (\(refused.runs))") }
        if let last = recentRuns.first, !last.outcome.reachedCommit, refused == nil { out.append("the last run did not apply: \(last.result)") }
        for status in ["error", "pending"] where (connectionsByStatus[status] ?? 0) > 0 {
            out.append("\(connectionsByStatus[status]!) connection\(connectionsByStatus[status]! == 1 ? "" : "s") \(status)")
        }
        if !expiring.isEmpty { out.append("\(expiring.count) key\(expiring.count == 1 ? "" : "s") expiring within \(expiringWithinDays) days") }
        if !oldKeys.isEmpty { out.append("\(oldKeys.count) key\(oldKeys.count == 1 ? "" : "s") older than \(maxKeyAgeDays) days") }
        for hold in holds { out.append("hold on \(hold.address)" + (hold.redundant ? " (redundant: the repository removed this access)" : "")) }
        return out
    }

    /// Reads everything from the database (read-only), the repository and the lock file.
    public static func read(database: String, repository: String?, branch: String?, now: Int64,
                            limits: Limits = Limits()) throws(LiveStoreError) -> ServerStatus {
        var status = ServerStatus(database: database)
        status.expiringWithinDays = limits.expiringWithinDays
        status.maxKeyAgeDays = limits.maxKeyAgeDays
        // Status reads no key, so it needs no master key (a monitoring script has none).
        let live = try LiveStore.snapshot(path: database, sealing: .withoutKeys)
        if FileManager.default.fileExists(atPath: database) {
            let store = try LiveStore(path: database, sealing: .withoutKeys)
            defer { try? store.close() }
            status.lastAppliedCommit = try store.lastAppliedCommit()
            let runs = try store.runs(limit: 5)
            status.lastRunAt = runs.first?.startedAt
            status.recentRuns = runs.map {
                RunSummary(id: $0.id, commit: $0.commit, startedAt: $0.startedAt, result: $0.result.stored,
                           refusedBy: LiveStoreWriter.refusedBy($0.result),
                           failed: $0.counts["failed"] ?? 0)
            }
            status.lastSuccessAt = try store.lastSuccessfulRunStart()
            if case .sealed(let id) = try store.custody() {
                status.encryption = "aes-256-gcm"
                status.masterKeyID = id
            }
            let refusals = try store.refusalsSinceLastRun()
            if let newest = refusals.first, let oldest = refusals.last {
                status.refused = Refusals(refusedBy: LiveStoreWriter.refusedBy(newest.result), message: newest.message,
                                          commit: newest.commit,
                                          since: oldest.startedAt, runs: refusals.count)
            }
        }
        func count(_ kind: String, _ sources: [RowSource]) {
            for source in sources {
                if source == .gitops { status.managed[kind, default: 0] += 1 } else { status.foreign[kind, default: 0] += 1 }
            }
        }
        count("services", live.services.map(\.source))
        count("users", live.users.map(\.source))
        count("groups", live.groups.map(\.source))
        count("memberships", live.members.map(\.source))
        count("grants", live.grants.map(\.source))
        for connection in live.connections { status.connectionsByStatus[connection.status.rawValue, default: 0] += 1 }
        status.retiredTokensToRevoke = live.retiredTokens.count
        for connection in live.connections where connection.status == .active {
            let address = Target.connection(user: connection.user, service: connection.service).address
            if let issued = connection.issuedAt, now - issued > limits.maxKeyAgeDays * 86_400 {
                status.oldKeys.append(OldKey(address: address, issuedAt: issued, ageDays: (now - issued) / 86_400))
            }
            guard let expires = connection.expiresAt, expires - now <= limits.expiringWithinDays * 86_400 else { continue }
            status.expiring.append(Expiring(address: address, expiresAt: expires, days: (expires - now) / 86_400))
        }
        status.expiring.sort { ($0.expiresAt, $0.address) < ($1.expiresAt, $1.address) }
        status.oldKeys.sort { ($0.issuedAt, $0.address) < ($1.issuedAt, $1.address) }
        let users = Dictionary(live.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let services = Dictionary(live.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        status.holds = live.holds.map { hold in
            let redundant = hold.kind == .user ? users[hold.name]?.active != true : services[hold.name]?.enabled != true
            return HeldAccess(address: hold.target.address, reason: hold.reason, placedBy: hold.placedBy, placedAt: hold.placedAt,
                              redundant: redundant)
        }
        if let repository, let branch {
            for ref in ["refs/remotes/origin/\(branch)", "refs/heads/\(branch)"] {
                if let source = try? GitTreeSource(path: repository, ref: ref), case .git(_, _, let id) = source.origin {
                    status.branchHead = id
                    break
                }
            }
            if let head = status.branchHead, let applied = status.lastAppliedCommit { status.upToDate = head == applied }
        }
        status.lockHolder = ApplyLock.holder(database: database)
        status.warnings = status.computeWarnings()
        return status
    }

    /// A human summary.
    public func text() -> String {
        func time(_ t: Int64?) -> String {
            t.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0))) } ?? "never"
        }
        var out = "database:        \(database)\n"
        out += "applied commit:  \(lastAppliedCommit.map { String($0.prefix(12)) } ?? "none yet")\n"
        out += "last run:        \(time(lastRunAt))\(recentRuns.first.map { " (\(Self.resultText($0)))" } ?? "")\n"
        // When the newest run did not reach its commit, when the last one that did started.
        if let last = recentRuns.first, !last.outcome.reachedCommit {
            out += "last success:    \(time(lastSuccessAt))\n"
        }
        if let head = branchHead {
            out += "branch head:     \(head.prefix(12))"
            if upToDate == true {
                out += " (applied)\n"
            } else if let refused, refused.commit == nil || refused.commit == head {
                out += " " + Self.refusalText(refused, time: time) + "\n"
            } else {
                out += " (not applied yet)\n"
            }
        } else if let refused {
            out += "refused:         " + Self.refusalText(refused, time: time) + "\n"
        }
        if let message = refused?.message { out += "  why:           \(message.escapingControlCharacters)\n" }
        out += "lock:            \(lockHolder.map { "held by \($0)" } ?? "free")\n"
        let kinds = ["services", "users", "groups", "memberships", "grants"]
        out += "managed rows:    " + kinds.map { "\(managed[$0] ?? 0) \($0)" }.joined(separator: ", ") + "\n"
        if !foreign.isEmpty {
            out += "other sources:   " + kinds.compactMap { kind in foreign[kind].map { "\($0) \(kind)" } }.joined(separator: ", ") + "\n"
        }
        let statuses = ["active", "pending", "error", "revoking"]
        out += "connections:     " + statuses.map { "\(connectionsByStatus[$0] ?? 0) \($0)" }.joined(separator: ", ")
        out += retiredTokensToRevoke > 0 ? "; \(retiredTokensToRevoke) replaced keys to revoke\n" : "\n"
        out += "keys:            " + (masterKeyID.map { "sealed (aes-256-gcm, master key \($0))" } ?? "IN PLAIN TEXT (encryption: none)") + "\n"
        out += "expiring (\(expiringWithinDays) d): \(expiring.count)\n"
        for key in expiring.prefix(20) {
            out += "  \(key.address.escapingControlCharacters)  " + (key.days < 0 || key.expiresAt <= 0 ? "EXPIRED" : "in \(key.days) days") + "\n"
        }
        if !oldKeys.isEmpty {
            out += "older than \(maxKeyAgeDays) d: \(oldKeys.count)\n"
            for key in oldKeys.prefix(20) { out += "  \(key.address.escapingControlCharacters)  issued \(key.ageDays) days ago\n" }
        }
        if !holds.isEmpty {
            out += "holds:           \(holds.count) in force (keys stay revoked until `accessctl release`)\n"
            for hold in holds {
                out += "  \(hold.address.escapingControlCharacters)  by \(hold.placedBy.escapingControlCharacters) at \(time(hold.placedAt)): "
                    + hold.reason.escapingControlCharacters
                    + (hold.redundant ? "  (redundant: the repository removed this access; release it)" : "") + "\n"
            }
        }
        let warnings = self.warnings
        out += "warnings:        \(warnings.isEmpty ? "none" : warnings.joined(separator: "; ").escapingControlCharacters)\n"
        if !recentRuns.isEmpty {
            out += "recent runs:\n"
            for run in recentRuns {
                out += "  run \(run.id ?? 0)  \(time(run.startedAt))  \(Self.resultText(run))"
                out += run.failed > 0 ? " (\(run.failed) failed)" : ""
                out += "  commit \(run.commit.map { String($0.prefix(12)) } ?? "-")\n"
            }
        }
        return out
    }

    /// `refused by the mass-removal guard since 2026-12-03T08:00:00Z, 3 runs`
    static func refusalText(_ refused: Refusals, time: (Int64?) -> String) -> String {
        let by = refused.refusedBy.map { RefusalGuard(rawValue: $0)?.title ?? $0.escapingControlCharacters } ?? "a guard"
        return "refused by \(by) since \(time(refused.since)), \(refused.runs) run\(refused.runs == 1 ? "" : "s")"
    }

    static func resultText(_ run: RunSummary) -> String {
        RunLog.resultText(run.outcome)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }
}
