import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Emergency holds (issue 17, point 3), through the real binary, helper and mock service:
/// a hold revokes at once and stays so over later applies while the repository still
/// grants the keys; plan and status show it; release issues the keys again; every step is
/// on record.
@Suite("hold and release: emergency revocation that sticks", .enabled(if: geteuid() == 0, "runs the root helper"))
struct HoldTests {
    typealias Setup = ApplyCommandTests.Setup

    /// The live connections of `user` that hold a key.
    static func keyedConnections(_ setup: Setup, user: String) throws -> [LiveConnection] {
        try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).connections
            .filter { $0.user == user && $0.apiKey != nil }
    }

    @Test("hold user --auto-approve revokes the user's keys and empties their files; two timer applies keep them revoked; release re-issues")
    func holdUser() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47500)
            #expect(try setup.apply().status == 0)
            let user = try #require(setup.server.desired.users.first { user in
                user.active && !(setup.server.desired.effectiveConnections()[user.id] ?? []).isEmpty
            })
            let held = try Self.keyedConnections(setup, user: user.id)
            #expect(!held.isEmpty)
            let liveBefore = try setup.mock.liveTokens()

            let hold = try setup.server.accessctl(["hold", "user", user.id, "--reason", "laptop stolen, ticket SEC-42",
                                                   "--auto-approve", "--config", setup.server.config])
            #expect(hold.status == 0, "\(hold.stdout)\(hold.stderr)")
            #expect(hold.stderr.contains("placed a hold on user.\(user.id): \(held.count) key"), "\(hold.stderr)")
            #expect(hold.stdout.contains("held (user.\(user.id), by "), "\(hold.stdout)")
            // The service revoked exactly the held keys.
            let liveAfter = try setup.mock.liveTokens()
            #expect(liveAfter == liveBefore.subtracting(held.compactMap(\.tokenID)))
            #expect(try Self.keyedConnections(setup, user: user.id).isEmpty)
            let env = (try? String(contentsOfFile: setup.server.home(user.unixUser) + "/.service_env", encoding: .utf8)) ?? ""
            for connection in held { #expect(!env.contains(connection.apiKey!.revealed)) }

            // Two timer-style applies: the repository still grants the keys, and they stay revoked.
            for round in 1...2 {
                let apply = try setup.apply()
                #expect(apply.status == 0, "round \(round): \(apply.stdout)\(apply.stderr)")
                #expect(apply.stdout.contains("No changes."), "round \(round): \(apply.stdout)")
                #expect(apply.stdout.contains("Holds in force"), "round \(round): \(apply.stdout)")
                #expect(try Self.keyedConnections(setup, user: user.id).isEmpty)
            }
            let plan = try setup.plan("--detailed-exitcode")
            #expect(plan.status == 0)
            #expect(plan.stdout.contains("user.\(user.id)  by ") && plan.stdout.contains("laptop stolen, ticket SEC-42"), "\(plan.stdout)")
            let explain = try setup.server.accessctl(["explain", "user", user.id, "--config", setup.server.config])
            #expect(explain.stdout.contains("held on this server") && explain.stdout.contains("laptop stolen, ticket SEC-42"), "\(explain.stdout)")
            let status = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(status.stdout.contains("holds:") && status.stdout.contains("user.\(user.id)"), "\(status.stdout)")
            #expect(status.status == 0, "warnings alone do not fail status")
            let monitored = try setup.server.accessctl(["status", "--config", setup.server.config, "--fail-on-warning", "--format", "json"])
            #expect(monitored.status == 2, "\(monitored.stdout)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(monitored.stdout.utf8)) as? [String: Any])
            let holds = try #require(json["holds"] as? [[String: Any]])
            #expect(holds.first?["address"] as? String == "user.\(user.id)" && holds.first?["redundant"] as? Bool == false)
            #expect((json["warnings"] as? [String])?.contains("hold on user.\(user.id)") == true, "\(json)")
            #expect(json["encryption"] as? String == "aes-256-gcm")

            // A second hold on the same user is refused; release lifts it and re-issues.
            let again = try setup.server.accessctl(["hold", "user", user.id, "--reason", "again", "--config", setup.server.config])
            #expect(again.status == 1)
            #expect(again.stderr.contains("is held already"), "\(again.stderr)")
            let release = try setup.server.accessctl(["release", "user", user.id, "--reason", "laptop found",
                                                      "--auto-approve", "--config", setup.server.config])
            #expect(release.status == 0, "\(release.stdout)\(release.stderr)")
            #expect(try Self.keyedConnections(setup, user: user.id).count == held.count)
            try setup.expectConverged("after the release")
            let calm = try setup.server.accessctl(["status", "--config", setup.server.config, "--fail-on-warning"])
            #expect(calm.status == 0, "\(calm.stdout)")
            // The record: who placed it, who released it, and why.
            let record = try Command.run("/usr/bin/sqlite3", [setup.server.database,
                "SELECT kind, name, reason, release_reason, released_by IS NOT NULL FROM holds"])
            #expect(record.stdout == "user|\(user.id)|laptop stolen, ticket SEC-42|laptop found|1\n", "\(record.stdout)")
        }
    }

    @Test("hold service: every key of the service is revoked on the next apply; other services keep theirs")
    func holdService() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47600)
            #expect(try setup.apply().status == 0)
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let crm = state.connections.filter { $0.service == "crm" }
            let others = state.connections.filter { $0.service != "crm" }
            #expect(!crm.isEmpty && !others.isEmpty)
            let hold = try setup.server.accessctl(["hold", "service", "crm", "--reason", "vendor breach", "--config", setup.server.config])
            #expect(hold.status == 0, "\(hold.stderr)")
            #expect(hold.stderr.contains("the next apply revokes them"))
            let plan = try setup.plan()
            #expect(plan.stdout.contains("\(crm.count) to revoke"), "\(plan.stdout)")
            #expect(try setup.apply().status == 0)
            let live = try setup.mock.liveTokens()
            #expect(live == Set(others.compactMap(\.tokenID)))
        }
    }

    @Test("a hold on an unknown user or service, or without a reason, is exit 1 and changes nothing")
    func badHolds() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47700)
            #expect(try setup.apply().status == 0)
            let unknown = try setup.server.accessctl(["hold", "user", "sofiaa", "--reason", "x", "--config", setup.server.config])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("there is no user 'sofiaa' on this server or in the repository; did you mean 'sofia'?"),
                    "\(unknown.stderr)")
            let service = try setup.server.accessctl(["hold", "service", "crn", "--reason", "x", "--config", setup.server.config])
            #expect(service.status == 1)
            #expect(service.stderr.contains("did you mean 'crm'?"), "\(service.stderr)")
            let empty = try setup.server.accessctl(["hold", "user", "sofia", "--reason", " ", "--config", setup.server.config])
            #expect(empty.status == 1)
            #expect(empty.stderr.contains("a hold needs a reason"))
            let release = try setup.server.accessctl(["release", "user", "sofia", "--reason", "x", "--config", setup.server.config])
            #expect(release.status == 1)
            #expect(release.stderr.contains("there is no hold on user.sofia in force"), "\(release.stderr)")
            let rows = try Command.run("/usr/bin/sqlite3", [setup.server.database, "SELECT count(*) FROM holds"])
            #expect(rows.stdout == "0\n")
            try setup.expectConverged("nothing changed")
        }
    }

    @Test("state backup while the database is in use: a sealed single file that restores to a no-change plan; never overwrites")
    func backupRestores() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47800)
            #expect(try setup.apply().status == 0)
            let backup = try setup.server.accessctl(["state", "backup", "--config", setup.server.config, "--out", scratch.path("backup.db")])
            #expect(backup.status == 0, "\(backup.stderr)")
            #expect(backup.stderr.contains("keys sealed with master key \(setup.server.masterKey.id)"), "\(backup.stderr)")
            #expect(try FileManager.default.attributesOfItem(atPath: scratch.path("backup.db"))[.posixPermissions] as? Int == 0o600)
            #expect(!FileManager.default.fileExists(atPath: scratch.path("backup.db-wal")))
            try KeyCustodyTests.expectNoKey(in: scratch.path("backup.db"), keys: try KeyCustodyTests.homeKeys(setup.server), "the backup")
            let twice = try setup.server.accessctl(["state", "backup", "--config", setup.server.config, "--out", scratch.path("backup.db")])
            #expect(twice.status == 1)
            #expect(twice.stderr.contains("exists already; a backup never overwrites a file"), "\(twice.stderr)")

            let log = try Command.run("/usr/bin/sqlite3", [setup.server.database, "SELECT action, actor FROM custody_log"])
            #expect(log.stdout.contains("backup|"), "the backup is on record: \(log.stdout)")

            // Restore: the copy in place of the database plans no changes.
            try FileManager.default.removeItem(atPath: setup.server.database)
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: setup.server.database + suffix) }
            try FileManager.default.copyItem(atPath: scratch.path("backup.db"), toPath: setup.server.database)
            let plan = try setup.plan("--detailed-exitcode")
            #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
        }
    }
}

extension HoldTests {
    @Test("golden: a plan with a hold in force, in text and JSON (made-up keys, a fixed clock)")
    func golden() async throws {
        try await Scratch.with { scratch in
            let server = try PlanCommandTests.Server(scratch)
            try await server.converge()
            let environment = ["ACCESSCTL_NOW": String(PlanCommandTests.now), "SUDO_USER": ""]
            let hold = try server.acme.accessctl(["hold", "user", "omar.haddad", "--reason", "phished, SEC-7", "--config", server.config],
                                                 environment: environment)
            #expect(hold.status == 0, "\(hold.stderr)")
            for (format, file) in [("text", "plan-hold.txt"), ("json", "plan-hold.json")] {
                let result = try server.acme.accessctl(["plan", "--config", server.config, "--format", format], environment: environment)
                #expect(result.status == 0, "\(result.stderr)")
                try PlanCommandTests.expectGolden(file, result.stdout, scratch: scratch)
                PlanCommandTests.expectNoSecrets([result.stdout, result.stderr], keys: try server.keys())
            }
        }
    }
}
