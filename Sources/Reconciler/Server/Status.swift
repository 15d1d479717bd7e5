import AccessModel
import Foundation
import DesiredRepo
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
    /// Keys expiring within 30 days (or expired).
    public var expiring: [Expiring] = []
    public var lockHolder: String?

    /// Reads everything from the database (read-only), the repository and the lock file.
    public static func read(database: String, repository: String?, branch: String?, now: Int64) throws(LiveStoreError) -> ServerStatus {
        var status = ServerStatus(database: database)
        let live = try LiveStore.snapshot(path: database)
        if FileManager.default.fileExists(atPath: database) {
            let store = try LiveStore(path: database)
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
            guard let expires = connection.expiresAt, expires - now <= 30 * 86_400 else { continue }
            status.expiring.append(Expiring(address: "connection.\(connection.user).\(connection.service)", expiresAt: expires,
                                            days: (expires - now) / 86_400))
        }
        status.expiring.sort { ($0.expiresAt, $0.address) < ($1.expiresAt, $1.address) }
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
        out += "expiring (30 d): \(expiring.count)\n"
        for key in expiring.prefix(20) {
            out += "  \(key.address.escapingControlCharacters)  " + (key.days < 0 || key.expiresAt <= 0 ? "EXPIRED" : "in \(key.days) days") + "\n"
        }
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
