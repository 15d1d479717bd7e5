import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The run records tell what happened (issue 15, points 1 and 2): a run's counts and audit
/// rows count only what succeeded, checked against the token service's own ledger; a retry
/// of a key that was never issued is an issue, not a rotation; every refusal is a run.
@Suite("run records: counts, audit rows and refusals", .enabled(if: geteuid() == 0, "runs the root helper"))
struct RunRecordTests {
    typealias Setup = ApplyCommandTests.Setup

    /// The mock's counters: tokens issued and revoked so far.
    static func ledger(_ setup: Setup) throws -> (issued: Int, revoked: Int) { try setup.mock.ledgerCounts() }

    /// The newest run of `log --format json`, and its actions.
    static func lastRun(_ setup: Setup) throws -> [String: Any] {
        let log = try setup.server.accessctl(["log", "--config", setup.server.config, "--format", "json", "--limit", "1"])
        #expect(log.status == 0, "\(log.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [String: Any])
        let runs = try #require(object["runs"] as? [[String: Any]])
        return try #require(runs.first)
    }

    static func counts(_ run: [String: Any]) -> [String: Int] { run["counts"] as? [String: Int] ?? [:] }

    @Test("a run whose exchanges all fail counts no key and no file; the retry counts issues, matching the service's ledger")
    func failedExchangesAreNotIssued() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 43100)
            let secretless = Dictionary(uniqueKeysWithValues: AcmeServer.secretEnvironment.keys.map { ($0, "") })
            let first = try setup.apply(environment: secretless)
            #expect(first.status == 3, "\(first.stdout)\(first.stderr)")
            #expect(try Self.ledger(setup).issued == 0, "the service issued nothing")

            let run1 = try Self.lastRun(setup)
            let counts1 = Self.counts(run1)
            let connections = setup.server.desired.users.filter(\.active).reduce(0) {
                $0 + (setup.server.desired.effectiveConnections()[$1.id]?.count ?? 0)
            }
            #expect(connections > 0)
            #expect(run1["result"] as? String == "partly applied")
            #expect(counts1["keys_issued"] == 0 && counts1["keys_rotated"] == 0, "\(counts1)")
            #expect(counts1["failed"] == connections, "\(counts1)")
            // No .service_env and no skill file was written: every file action is skipped.
            #expect(counts1["files_written"] == 0, "\(counts1)")
            let actions = try #require(run1["actions"] as? [[String: Any]])
            let fileRows = actions.filter { ($0["action"] as? String) == "write-file" }
            #expect(!fileRows.isEmpty)
            for row in fileRows {
                #expect((row["detail"] as? String)?.contains("; SKIPPED: not written") == true, "\(row)")
            }
            for row in actions where (row["action"] as? String) == "connect" {
                #expect((row["detail"] as? String)?.contains("; FAILED: ") == true, "\(row)")
            }
            // The homes stayed empty.
            for user in setup.server.desired.users {
                #expect(access(setup.server.home(user.unixUser) + "/.service_env", F_OK) != 0)
            }
            // The registry rows were written and are counted.
            #expect((counts1["add"] ?? 0) > 0)

            // The next plan issues the keys: none of them was ever issued.
            let plan = try setup.plan()
            #expect(plan.stdout.contains("\(connections) keys to issue, 0 to rotate"), "\(plan.stdout)")

            let second = try setup.apply()
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            let run2 = try Self.lastRun(setup)
            let counts2 = Self.counts(run2)
            let ledger = try Self.ledger(setup)
            #expect(ledger.issued == connections)
            #expect(counts2["keys_issued"] == ledger.issued, "\(counts2)")
            #expect(counts2["keys_rotated"] == 0 && counts2["failed"] == 0 && counts2["skipped"] == nil, "\(counts2)")
            #expect((counts2["files_written"] ?? 0) > 0)

            // The text log and status say the same.
            let text = try setup.server.accessctl(["log", "--config", setup.server.config, "--limit", "2"])
            #expect(text.stdout.contains("failed \(connections)"), "\(text.stdout)")
            #expect(text.stdout.contains("keys_issued \(connections)"), "\(text.stdout)")
            #expect(!text.stdout.contains("keys_rotated"), "\(text.stdout)")
            let status = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(status.stdout.contains("(\(connections) failed)"), "\(status.stdout)")
            #expect(status.stdout.contains("last run:") && status.stdout.contains("(applied)"), "\(status.stdout)")
            try setup.expectConverged()
        }
    }

    @Test("a run where one service fails counts exactly the other services' keys; its .service_env rows note the missing key")
    func oneServiceFails() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 43200)
            let first = try setup.apply(environment: ["INVOICING_EXCHANGE_SECRET": ""])
            #expect(first.status == 3, "\(first.stdout)\(first.stderr)")
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let active = state.connections.filter { $0.status == .active }.count
            let failed = state.connections.filter { $0.status == .error }.count
            #expect(active > 0 && failed > 0)
            let run = try Self.lastRun(setup)
            let counts = Self.counts(run)
            let issued = try Self.ledger(setup).issued
            #expect(counts["keys_issued"] == active && counts["keys_issued"] == issued, "\(counts)")
            #expect(counts["failed"] == failed, "\(counts)")
            let actions = try #require(run["actions"] as? [[String: Any]])
            let skills = actions.filter { ($0["address"] as? String)?.hasSuffix("claude_rules/sc_invoicing.md") == true }
            #expect(!skills.isEmpty && skills.allSatisfy { ($0["detail"] as? String)?.contains("SKIPPED") == true })
            let noted = actions.filter { ($0["detail"] as? String)?.contains("written without the key of invoicing") == true }
            #expect(!noted.isEmpty, "\(actions)")
            #expect(try setup.apply().status == 0)
            let retry = Self.counts(try Self.lastRun(setup))
            #expect(retry["keys_issued"] == failed && retry["keys_rotated"] == 0, "\(retry)")
            try setup.expectConverged()
        }
    }

    @Test("every refusal is a run: the guard, the commit and the message in log, log --format json and status")
    func refusalsAreRecorded() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 43300, extraConfig: "guards: {max_removal_percent: 10, min_removal: 1}")
            #expect(try setup.apply().status == 0)
            try setup.server.commit("the sales team leaves") { repo in
                for user in ["sofia", "kenji", "lucas.martin"] { try AcmeEdit.deactivate(repo, user) }
            }
            let head = try scratch.git("rev-parse", "HEAD", in: "repo").trimmingCharacters(in: .whitespacesAndNewlines)
            for _ in 0..<3 {
                let refused = try setup.apply()
                #expect(refused.status == 4, "\(refused.stdout)\(refused.stderr)")
                #expect(refused.stderr.contains("refused by the mass-removal guard"), "\(refused.stderr)")
            }
            let run = try Self.lastRun(setup)
            #expect(run["result"] as? String == "refused")
            #expect(run["refused_by"] as? String == "mass-removal")
            #expect(run["commit"] as? String == head)
            #expect((run["message"] as? String)?.contains("--allow-mass-removal") == true, "\(run)")
            #expect((run["actions"] as? [Any])?.isEmpty == true, "a refused run did nothing")

            let log = try setup.server.accessctl(["log", "--config", setup.server.config, "--limit", "1"])
            #expect(log.stdout.contains("refused by the mass-removal guard  commit \(head.prefix(12))"), "\(log.stdout)")
            #expect(log.stdout.contains("--allow-mass-removal"), "\(log.stdout)")

            let status = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(status.stdout.contains("branch head:     \(head.prefix(12)) refused by the mass-removal guard since "),
                    "\(status.stdout)")
            #expect(status.stdout.contains(", 3 runs"), "\(status.stdout)")
            #expect(status.stdout.contains("last run:") && status.stdout.contains("(refused by the mass-removal guard)"), "\(status.stdout)")
            #expect(status.stdout.contains("last success:"), "\(status.stdout)")
            let json = try setup.server.accessctl(["status", "--config", setup.server.config, "--format", "json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let refusedJSON = try #require(object["refused"] as? [String: Any])
            #expect(refusedJSON["runs"] as? Int == 3 && refusedJSON["refused_by"] as? String == "mass-removal")

            // Once allowed, the streak ends and the head is applied.
            #expect(try setup.apply("--allow-mass-removal").status == 0)
            let after = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(after.stdout.contains("\(head.prefix(12)) (applied)"), "\(after.stdout)")
            #expect(!after.stdout.contains("refused by the mass-removal guard since"), "\(after.stdout)")
        }
    }

    @Test("a stale saved plan and a non-fast-forward commit are recorded as refused runs")
    func staleAndNonFastForward() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 43400)
            let saved = scratch.path("first.plan")
            #expect(try setup.plan("--out", saved).status == 0)
            #expect(try setup.apply().status == 0)
            let stale = try setup.server.accessctl(["apply", "--config", setup.server.config, saved])
            #expect(stale.status == 4)
            #expect(try Self.lastRun(setup)["refused_by"] as? String == "stale-plan")

            try setup.server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            #expect(try setup.apply().status == 0)
            try scratch.git("reset", "-q", "--hard", "HEAD~1", in: "repo")
            let rollback = try setup.apply()
            #expect(rollback.status == 4, "\(rollback.stdout)\(rollback.stderr)")
            #expect(rollback.stderr.contains("refused by the fast-forward guard"), "\(rollback.stderr)")
            let run = try Self.lastRun(setup)
            #expect(run["refused_by"] as? String == "fast-forward")
            #expect((run["message"] as? String)?.contains("--allow-non-fast-forward") == true)
        }
    }
}
