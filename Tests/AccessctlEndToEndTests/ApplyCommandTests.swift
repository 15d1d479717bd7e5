import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `accessctl apply` end to end: examples/acme, the real token-service-mock on loopback,
/// a real SQLite file, the real root helper on a homes tree with test uids.
@Suite("accessctl apply (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"))
struct ApplyCommandTests {
    /// A server and its token service.
    struct Setup: @unchecked Sendable {
        let server: AcmeServer
        let mock: MockService

        init(_ scratch: Scratch, firstUID: Int, mockFlags: [String] = [], extraConfig: String = "", encrypted: Bool = true) throws {
            mock = try MockService(scratch: scratch, secret: AcmeServer.secret, flags: mockFlags)
            server = try AcmeServer(scratch, servicePort: mock.port, firstUID: firstUID,
                                    extraConfig: extraConfig.isEmpty ? "http: {timeout_seconds: 5, connect_timeout_seconds: 2}" : extraConfig,
                                    encrypted: encrypted)
        }

        func apply(_ extra: String..., environment: [String: String] = [:]) throws -> CommandResult {
            try server.accessctl(["apply", "--config", server.config, "--auto-approve"] + extra, environment: environment)
        }

        func plan(_ extra: String...) throws -> CommandResult {
            try server.accessctl(["plan", "--config", server.config] + extra)
        }

        /// Tokens the database still owns: active connections, revoking ones, retired ones.
        func databaseTokens() throws -> (active: Set<String>, pendingRevocation: Set<String>) {
            let state = try LiveStore.snapshot(path: server.database, sealing: server.sealing)
            let active = Set(state.connections.filter { $0.status == .active }.compactMap(\.tokenID))
            let revoking = Set(state.connections.filter { $0.status == .revoking }.compactMap(\.tokenID))
            return (active, revoking.union(state.retiredTokens.map(\.tokenID)))
        }

        /// The invariant after a converging run: the service's live tokens are exactly the
        /// database's active ones; nothing orphaned, nothing lost.
        func expectConverged(_ comment: Comment? = nil) throws {
            let tokens = try databaseTokens()
            #expect(tokens.pendingRevocation.isEmpty, comment)
            #expect(try mock.liveTokens() == tokens.active, comment)
            let plan = try self.plan("--detailed-exitcode")
            #expect(plan.status == 0, "\(comment.map { "\($0): " } ?? "")\(plan.stdout)")
        }

        /// mtime (ns) of every file under the homes tree.
        func homeFileTimes() throws -> [String: Int] {
            var result: [String: Int] = [:]
            let root = server.scratch.path("homes")
            let enumerator = FileManager.default.enumerator(atPath: root)
            while let path = enumerator?.nextObject() as? String {
                var info = stat()
                if lstat(root + "/" + path, &info) == 0 { result[path] = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec }
            }
            return result
        }
    }

    @Test("from empty to applied: rows, keys, files with modes and owners; a second apply changes nothing")
    func fullCycle() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25000)
            let first = try setup.apply()
            #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("Apply complete"))
            try setup.expectConverged()

            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let effective = setup.server.desired.effectiveConnections()
            let expected = setup.server.desired.users.filter(\.active).reduce(0) { $0 + (effective[$1.id]?.count ?? 0) }
            #expect(state.connections.count == expected)
            #expect(state.connections.allSatisfy { $0.status == .active && $0.apiKey != nil })
            #expect(state.users.count == setup.server.desired.users.count)
            // Files: content, mode 600 (700 for the directory), owned by the user.
            for user in setup.server.desired.users where user.active {
                let home = setup.server.home(user.unixUser)
                let rows = state.connections.filter { $0.user == user.id }
                var info = stat()
                if rows.isEmpty {
                    #expect(lstat(home + "/.service_env", &info) != 0)
                    continue
                }
                #expect(lstat(home + "/.service_env", &info) == 0)
                #expect(info.st_mode & 0o7777 == 0o600)
                var homeInfo = stat()
                lstat(home, &homeInfo)
                #expect(info.st_uid == homeInfo.st_uid)
                let text = try String(contentsOfFile: home + "/.service_env", encoding: .utf8)
                for row in rows { #expect(text.contains(row.apiKey!.revealed)) }
                #expect(lstat(home + "/.claude_rules", &info) == 0 && info.st_mode & 0o7777 == 0o700)
                for row in rows {
                    #expect(lstat(home + "/.claude_rules/sc_\(row.service).md", &info) == 0 && info.st_mode & 0o7777 == 0o600)
                }
            }
            // A second apply is a no-op: no file written, only a run record added.
            let times = try setup.homeFileTimes()
            let before = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let second = try setup.apply()
            #expect(second.status == 0)
            #expect(second.stdout.contains("No changes"))
            #expect(try setup.homeFileTimes() == times)
            #expect(try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing) == before)
            let log = try setup.server.accessctl(["log", "--config", setup.server.config])
            #expect(log.status == 0)
            #expect(log.stdout.contains("no changes") && log.stdout.contains("applied"))
            // Nothing printed anywhere contains a key.
            for key in try setup.server.keys() {
                for output in [first.stdout, first.stderr, second.stdout, log.stdout] { #expect(!output.contains(key)) }
            }
        }
    }

    @Test("a change by commit: member removed, connection added; keys revoked and issued, files updated")
    func changeCycle() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25100)
            #expect(try setup.apply().status == 0)
            let before = try setup.databaseTokens().active
            try setup.server.commit("john.doe leaves finance; ana.garcia connects to invoicing") { repo in
                try AcmeEdit.replace(repo, "groups/finance.yaml", "members: [john.doe, maria.lopez, priya]", "members: [maria.lopez, priya]")
                try AcmeEdit.replace(repo, "users/ana.garcia.yaml", "connections: [crm]", "connections: [crm, invoicing]")
            }
            let plan = try setup.plan()
            #expect(plan.stdout.contains("- member.finance.john.doe"))
            #expect(plan.stdout.contains("connection.john.doe.purchase_orders  key will be revoked"), "\(plan.stdout)")
            #expect(plan.stdout.contains("connection.ana.garcia.invoicing"))
            let result = try setup.apply()
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            try setup.expectConverged()
            let after = try setup.databaseTokens().active
            #expect(after.count == before.count)
            #expect(!FileManager.default.fileExists(atPath: setup.server.home("jdoe") + "/.service_env"))
            let ana = try String(contentsOfFile: setup.server.home("agarcia") + "/.service_env", encoding: .utf8)
            #expect(ana.contains("INVOICING_API_KEY="))
        }
    }

    @Test("a crash at every step boundary loses and orphans nothing",
          arguments: ["after-lock", "after-registry", "exchange:3", "after-exchange", "after-files", "after-revoke"])
    func crashSafety(_ point: String) throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25200, mockFlags: ["--lost-response-rate", "0.2", "--seed", "7"])
            let crashed = try setup.apply(environment: ["ACCESSCTL_FAULT": point])
            #expect(crashed.status != 0)
            // Change something so the next run also revokes, then converge.
            try setup.server.commit("deactivate a user") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            try setup.mock.faults(["lost_response_rate": 0])
            let crashedAgain = try setup.apply(environment: ["ACCESSCTL_FAULT": point])
            #expect(crashedAgain.status != 0)
            let final = try setup.apply()
            #expect(final.status == 0, "\(point): \(final.stdout)\(final.stderr)")
            try setup.expectConverged("after a crash at \(point)")
        }
    }

    @Test("faults at the service: the affected connections fail clearly (exit 3), the rest applies; a clean run converges")
    func serviceFaults() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25300, extraConfig: "http: {timeout_seconds: 2, connect_timeout_seconds: 1}")
            try setup.mock.faults(["error_rate": 0.3, "malformed_rate": 0.1, "bad_key_rate": 0.1, "redirect_rate": 0.1,
                                   "oversized_rate": 0.1, "trickle_rate": 0.1, "html_rate": 0.05])
            let faulty = try setup.apply()
            #expect(faulty.status == 3, "\(faulty.stdout)\(faulty.stderr)")
            #expect(faulty.stderr.contains("failed: connection."))
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            #expect(state.connections.contains { $0.status == .error && $0.lastError != nil })
            #expect(state.connections.contains { $0.status == .active })
            for key in try setup.server.keys() { #expect(!faulty.stderr.contains(key) && !faulty.stdout.contains(key)) }
            try setup.mock.faults(["error_rate": 0, "malformed_rate": 0, "bad_key_rate": 0, "redirect_rate": 0,
                                   "oversized_rate": 0, "trickle_rate": 0, "html_rate": 0])
            let clean = try setup.apply()
            #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
            try setup.expectConverged()
        }
    }

    @Test("a missing shared secret fails that service's connections only")
    func missingSecret() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25400)
            let result = try setup.apply(environment: ["SC_SECRET_CRM": ""])
            #expect(result.status == 3)
            #expect(result.stderr.contains("SC_SECRET_CRM"))
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            #expect(state.connections.filter { $0.service == "crm" }.allSatisfy { $0.status == .error })
            #expect(state.connections.filter { $0.service != "crm" }.allSatisfy { $0.status == .active })
        }
    }

    @Test("a failed revocation leaves the connection revoking, out of the files, and is retried")
    func revocationFailure() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25500)
            #expect(try setup.apply().status == 0)
            try setup.server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            try setup.mock.faults(["revoke_error_rate": 1])
            let failing = try setup.apply()
            #expect(failing.status == 3, "\(failing.stdout)\(failing.stderr)")
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let sofia = state.connections.filter { $0.user == "sofia" }
            #expect(!sofia.isEmpty && sofia.allSatisfy { $0.status == .revoking })
            #expect(!FileManager.default.fileExists(atPath: setup.server.home("sofia") + "/.service_env"))
            try setup.mock.faults(["revoke_error_rate": 0])
            #expect(try setup.apply().status == 0)
            try setup.expectConverged()
        }
    }

    @Test("each service is sent its own shared secret only: the mock, with one secret per service, accepts every call")
    func secretPerService() throws {
        try Scratch.with { scratch in
            // The mock's service names are the first path component of the acme URLs. A
            // service with its own secret accepts only that one, not the default.
            let secrets = ["po": "po-secret-7f3a", "invoicing": "inv-secret-91c2", "crm": "crm-secret-4d8e"]
            let mock = try MockService(scratch: scratch, secret: "default-secret-never-sent",
                                       flags: secrets.sorted { $0.key < $1.key }.map { "--secret=\($0.key)=\($0.value)" })
            let server = try AcmeServer(scratch, servicePort: mock.port, firstUID: 27600)
            let environment = ["SC_SECRET_PURCHASE_ORDERS": secrets["po"]!, "INVOICING_EXCHANGE_SECRET": secrets["invoicing"]!,
                               "SC_SECRET_CRM": secrets["crm"]!]
            let first = try server.accessctl(["apply", "--config", server.config, "--auto-approve"], environment: environment)
            #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
            try server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            let second = try server.accessctl(["apply", "--config", server.config, "--auto-approve"], environment: environment)
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            let state = try LiveStore.snapshot(path: server.database, sealing: server.sealing)
            #expect(Set(state.connections.map(\.service)) == ["purchase_orders", "invoicing", "crm"])
            #expect(try mock.liveTokens() == Set(state.connections.filter { $0.status == .active }.compactMap(\.tokenID)))
            for secret in secrets.values { #expect(!(first.stdout + first.stderr + second.stdout + second.stderr).contains(secret)) }
        }
    }

    @Test("secret_origins: a secret goes only to its listed origins; a service elsewhere, or a secret not listed, fails alone (exit 3)")
    func secretOrigins() throws {
        try Scratch.with { scratch in
            let mock = try MockService(scratch: scratch, secret: AcmeServer.secret)
            let origin = "http://127.0.0.1:\(mock.port)"
            // purchase_orders' secret is allowed at the mock; invoicing's only at another
            // port; crm's is not listed at all.
            let server = try AcmeServer(scratch, servicePort: mock.port, firstUID: 27700, extraConfig: """
                secret_origins:
                  SC_SECRET_PURCHASE_ORDERS: [\(origin)/]
                  INVOICING_EXCHANGE_SECRET: [http://127.0.0.1:1]
                """)
            let result = try server.accessctl(["apply", "--config", server.config, "--auto-approve"])
            #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
            let state = try LiveStore.snapshot(path: server.database, sealing: server.sealing)
            let byService = Dictionary(grouping: state.connections, by: \.service)
            #expect(byService["purchase_orders"]?.allSatisfy { $0.status == .active } == true)
            let invoicing = try #require(byService["invoicing"]?.first?.lastError)
            #expect(invoicing.contains("INVOICING_EXCHANGE_SECRET") && invoicing.contains("only for http://127.0.0.1:1, not \(origin)"), "\(invoicing)")
            let crm = try #require(byService["crm"]?.first?.lastError)
            #expect(crm.contains("does not list SC_SECRET_CRM"), "\(crm)")
            #expect(byService["invoicing", default: []].allSatisfy { $0.status == .error && $0.tokenID == nil })
            #expect(byService["crm", default: []].allSatisfy { $0.status == .error && $0.tokenID == nil })
            #expect(result.stderr.contains("secret_origins"))
            // Only purchase_orders' keys exist at the service: nothing was sent for the others.
            #expect(try mock.liveTokens() == Set(byService["purchase_orders", default: []].compactMap(\.tokenID)))
        }
    }

    @Test("a removed service and a removed user stay in the database until their keys are revoked, then go")
    func removalsWaitForRevocation() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27800)
            #expect(try setup.apply().status == 0)
            try setup.server.commit("remove crm and sofia") { repo in
                for file in ["services/crm.yaml", "services/crm-assistant-guide.md", "users/sofia.yaml"] {
                    try FileManager.default.removeItem(atPath: repo + "/" + file)
                }
                try AcmeEdit.replace(repo, "groups/data-platform.yaml", "service: [crm, invoicing, purchase_orders]", "service: [invoicing, purchase_orders]")
                try AcmeEdit.replace(repo, "groups/sales.yaml", "  service: [crm]\n", "")
                try AcmeEdit.replace(repo, "groups/sales.yaml", "connect: [crm]\n", "")
                try AcmeEdit.replace(repo, "groups/sales.yaml", "members: [kenji, lucas.martin, sofia]", "members: [kenji, lucas.martin]")
                for user in ["ana.garcia", "emma"] { try AcmeEdit.replace(repo, "users/\(user).yaml", "connections: [crm]\n", "") }
            }
            try setup.mock.faults(["revoke_error_rate": 1])
            let failing = try setup.apply("--allow-mass-removal")
            #expect(failing.status == 3, "\(failing.stdout)\(failing.stderr)")
            var state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            #expect(state.services.contains { $0.id == "crm" }, "crm deleted with keys still to revoke")
            #expect(state.users.contains { $0.id == "sofia" }, "sofia deleted with keys still to revoke")
            #expect(!FileManager.default.fileExists(atPath: setup.server.home("sofia") + "/.service_env"))
            try setup.mock.faults(["revoke_error_rate": 0])
            let clean = try setup.apply("--allow-mass-removal")
            #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
            state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            #expect(!state.services.contains { $0.id == "crm" } && !state.users.contains { $0.id == "sofia" })
            try setup.expectConverged()
        }
    }

    @Test("two applies at once: one runs, the other names the holder")
    func concurrentApplies() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25600)
            let group = DispatchGroup()
            let results = ResultsBox()
            DispatchQueue.global().async(group: group) {
                results.append(try? setup.apply(environment: ["ACCESSCTL_FAULT": "hold-lock:3"]))
            }
            usleep(1_000_000)
            let second = try setup.apply()
            group.wait()
            #expect(second.status == 1, "\(second.stdout)\(second.stderr)")
            #expect(second.stderr.contains("another apply holds the lock"), "\(second.stderr)")
            #expect(second.stderr.contains("pid "))
            #expect(results.items.first??.status == 0)
            try setup.expectConverged()
            let waited = try setup.apply("--lock-timeout", "5")
            #expect(waited.status == 0)
        }
    }

    @Test("a stale saved plan is refused with exit 4; a fresh one applies")
    func stalePlan() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25700)
            let saved = scratch.path("first.plan")
            #expect(try setup.plan("--out", saved).status == 0)
            #expect(try setup.apply().status == 0)
            let stale = try setup.server.accessctl(["apply", "--config", setup.server.config, saved])
            #expect(stale.status == 4, "\(stale.stdout)\(stale.stderr)")
            #expect(stale.stderr.contains("stale plan"))
            try setup.server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            let fresh = scratch.path("fresh.plan")
            #expect(try setup.plan("--out", fresh).status == 0)
            let applied = try setup.server.accessctl(["apply", "--config", setup.server.config, fresh])
            #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
            try setup.expectConverged()
        }
    }

    @Test("guard: a plan removing more than the configured share of connections is refused (exit 4) unless allowed")
    func massRemovalGuard() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 25800, extraConfig: "guards: {max_removal_percent: 10, min_removal: 1}")
            #expect(try setup.apply().status == 0)
            try setup.server.commit("the sales team leaves") { repo in
                for user in ["sofia", "kenji", "lucas.martin"] {
                    let path = repo + "/users/\(user).yaml"
                    let text = try String(contentsOfFile: path, encoding: .utf8)
                    try (text.contains("active: true") ? text.replacingOccurrences(of: "active: true", with: "active: false") : text + "active: false\n")
                        .write(toFile: path, atomically: false, encoding: .utf8)
                }
            }
            let refused = try setup.apply()
            #expect(refused.status == 4, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("--allow-mass-removal"))
            #expect(try setup.databaseTokens().pendingRevocation.isEmpty, "nothing may change when a guard refuses")
            let allowed = try setup.apply("--allow-mass-removal")
            #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
            try setup.expectConverged()
        }
    }
}

/// Text edits of the acme repository used by several tests.
enum AcmeEdit {
    static func replace(_ repo: String, _ file: String, _ old: String, _ new: String) throws {
        let path = repo + "/" + file
        let text = try String(contentsOfFile: path, encoding: .utf8)
        precondition(text.contains(old), "\(file) does not contain \(old)")
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Sets `active: false` (replacing `active: true`, or adding the field).
    static func deactivate(_ repo: String, _ user: String) throws {
        let path = repo + "/users/\(user).yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try (text.contains("active: true") ? text.replacingOccurrences(of: "active: true", with: "active: false") : text + "active: false\n")
            .write(toFile: path, atomically: false, encoding: .utf8)
    }
}

private final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var items: [CommandResult?] = []
    func append(_ item: CommandResult?) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }
}

@Suite("accessctl apply on the server: rotation and fast-forward", .enabled(if: geteuid() == 0, "runs the root helper"))
struct ServerApplyTests {
    @Test("keys inside rotate_before_days are rotated: new key in the files, the old token revoked")
    func rotation() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 26000)
            #expect(try setup.apply().status == 0)
            let before = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            // purchase_orders keys live 90 days and rotate 30 days before expiry: 70 days on, they rotate.
            let later = String(Int64(Date().timeIntervalSince1970) + 70 * 86_400)
            let plan = try setup.server.accessctl(["plan", "--config", setup.server.config], environment: ["ACCESSCTL_NOW": later])
            #expect(plan.stdout.contains("key will be rotated (expires in"), "\(plan.stdout)")
            let rotated = try setup.apply(environment: ["ACCESSCTL_NOW": later])
            #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
            let after = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let oldPO = before.connections.filter { $0.service == "purchase_orders" }
            let newPO = after.connections.filter { $0.service == "purchase_orders" }
            #expect(!oldPO.isEmpty && oldPO.count == newPO.count)
            for (old, new) in zip(oldPO, newPO) {
                #expect(old.tokenID != new.tokenID)
                #expect(old.apiKey != new.apiKey)
                let account = setup.server.desired.users.first { $0.id == new.user }!.unixUser
                let env = try String(contentsOfFile: setup.server.home(account) + "/.service_env", encoding: .utf8)
                #expect(env.contains(new.apiKey!.revealed) && !env.contains(old.apiKey!.revealed))
            }
            #expect(after.retiredTokens.isEmpty)
            let live = try setup.mock.liveTokens()
            #expect(live == Set(after.connections.compactMap(\.tokenID)))
            #expect(oldPO.allSatisfy { !live.contains($0.tokenID!) })
            // The other services' keys were not touched.
            #expect(Set(before.connections.filter { $0.service != "purchase_orders" }.compactMap(\.tokenID))
                .isSubset(of: Set(after.connections.compactMap(\.tokenID))))
        }
    }

    @Test("fast-forward only: a descendant applies, a force-push to an older commit is refused (exit 4), the override applies")
    func fastForward() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 26100)
            #expect(try setup.apply().status == 0)
            let first = try scratch.git("rev-parse", "HEAD", in: "repo")
            try setup.server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            #expect(try setup.apply().status == 0)
            try scratch.git("reset", "-q", "--hard", first, in: "repo")
            let refused = try setup.apply()
            #expect(refused.status == 4, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("does not descend from the last applied commit"))
            let forced = try setup.apply("--allow-non-fast-forward")
            #expect(forced.status == 0, "\(forced.stdout)\(forced.stderr)")
            try setup.expectConverged()
        }
    }
}

@Suite("accessctl on the server: signed commits and fetch", .enabled(if: geteuid() == 0, "runs the root helper"))
struct SignedFetchTests {
    /// An ed25519 key pair in the scratch directory; returns the public key line.
    static func key(_ scratch: Scratch, _ name: String) throws -> String {
        let path = scratch.path(name)
        let result = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
        #expect(result.status == 0, "\(result.stderr)")
        return try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Commits a change signed with `key` (nil: unsigned).
    static func commit(_ setup: ApplyCommandTests.Setup, key: String?, _ message: String, _ edit: (String) throws -> Void) throws {
        let scratch = setup.server.scratch
        try edit(setup.server.repo)
        try scratch.git("add", "-A", in: "repo")
        var arguments = ["-c", "gpg.format=ssh"]
        if let key { arguments += ["-c", "user.signingkey=\(scratch.path(key)).pub", "commit", "-q", "-S", "-m", message] }
        else { arguments += ["-c", "commit.gpgsign=false", "commit", "-q", "-m", message] }
        try scratch.git(arguments, in: "repo")
    }

    @Test("only commits signed by an allowed key apply; unsigned, unknown key, wrong namespace and a signers file in the repo are refused")
    func signedCommits() throws {
        try Scratch.with { scratch in
            let admin = try Self.key(scratch, "admin-key"), _ = try Self.key(scratch, "intruder-key")
            let restricted = try Self.key(scratch, "restricted-key")
            try scratch.write("allowed_signers", "admin@acme.example \(admin)\nops@acme.example namespaces=\"file\" \(restricted)\n")
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 26200,
                                                    extraConfig: "allowed_signers: \(scratch.path("allowed_signers"))")
            // The initial commit is unsigned: refused, and the refusal is recorded.
            let unsigned = try setup.apply()
            #expect(unsigned.status == 4, "\(unsigned.stdout)\(unsigned.stderr)")
            #expect(unsigned.stderr.contains("is not signed"))
            let log = try setup.server.accessctl(["log", "--config", setup.server.config])
            #expect(log.stdout.contains("refused by the signature check") && log.stdout.contains("is not signed"), "\(log.stdout)")

            try Self.commit(setup, key: "admin-key", "signed by an admin") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            let plan = try setup.plan()
            #expect(plan.stderr.contains("signature: verified, signed by admin@acme.example"), "\(plan.stderr)")
            let signed = try setup.apply()
            #expect(signed.status == 0, "\(signed.stdout)\(signed.stderr)")

            try Self.commit(setup, key: "intruder-key", "signed by someone else") { repo in
                try AcmeEdit.replace(repo, "users/priya.yaml", "connections: [invoicing]", "connections: []")
            }
            let intruder = try setup.apply()
            #expect(intruder.status == 4)
            // The unknown signer is named by its key's fingerprint, as ssh-keygen -l prints it.
            let listed = try Command.run("/usr/bin/ssh-keygen", ["-lf", scratch.path("intruder-key.pub")]).stdout.split(separator: " ")
            let fingerprint = try #require(listed.count > 2 ? String(listed[1]) : nil)
            #expect(fingerprint.hasPrefix("SHA256:"))
            #expect(intruder.stderr.contains("is signed by the ssh-ed25519 key \(fingerprint), which is not in "
                + "\(scratch.path("allowed_signers")): add it there if this signer may change access"), "\(intruder.stderr)")

            try Self.commit(setup, key: "restricted-key", "signed with a key allowed for another namespace") { _ in
                try scratch.write("repo/README.md", "changed\n")
            }
            let namespace = try setup.apply()
            #expect(namespace.status == 4, "\(namespace.stdout)\(namespace.stderr)")

            // An allowed_signers file committed to the repository changes nothing.
            let intruderKey = try String(contentsOfFile: scratch.path("intruder-key.pub"), encoding: .utf8)
            try Self.commit(setup, key: "intruder-key", "let me in") { repo in
                try "intruder@evil.example \(intruderKey)".write(toFile: repo + "/allowed_signers", atomically: false, encoding: .utf8)
            }
            let smuggled = try setup.apply()
            #expect(smuggled.status == 4)
            #expect(smuggled.stderr.contains("is signed by the ssh-ed25519 key \(fingerprint), which is not in \(scratch.path("allowed_signers"))"))
        }
    }

    @Test("apply --fetch: new commits from a file:// remote; a missing remote is exit 1 and changes nothing")
    func fetch() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 26300)
            let quoted = setup.server.helperCommand.map { "\"\($0)\"" }.joined(separator: ", ")
            let config = """
                repository: \(scratch.path("server.git"))
                remote: file://\(setup.server.repo)
                branch: main
                database: \(setup.server.database)
                helper: [\(quoted)]
                key_file: \(setup.server.keyFile)

                """
            try scratch.write("fetch.yaml", config)
            let first = try setup.server.accessctl(["apply", "--config", scratch.path("fetch.yaml"), "--fetch", "--auto-approve"])
            #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
            #expect(first.stderr.contains("fetched main at"))
            try setup.server.commit("deactivate sofia") { repo in try AcmeEdit.deactivate(repo, "sofia") }
            let second = try setup.server.accessctl(["apply", "--config", scratch.path("fetch.yaml"), "--fetch", "--auto-approve"])
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            #expect(second.stdout.contains("sofia"))
            try setup.expectConverged()

            let before = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            try scratch.write("broken.yaml", config.replacingOccurrences(of: "file://\(setup.server.repo)", with: "file://\(scratch.path("nowhere"))"))
            let missing = try setup.server.accessctl(["apply", "--config", scratch.path("broken.yaml"), "--fetch", "--auto-approve"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("fetch of main from"))
            #expect(try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing) == before)
        }
    }
}

@Suite("accessctl status and health", .enabled(if: geteuid() == 0, "runs the root helper"))
struct StatusHealthTests {
    @Test("status reports the applied commit, counts and the lock; health reports each service; logs are structured")
    func statusAndHealth() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 26400)
            let empty = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(empty.status == 0)
            #expect(empty.stdout.contains("applied commit:  none yet"))
            let applied = try setup.apply()
            #expect(applied.status == 0)
            #expect(applied.stderr.contains("level=info msg=\"action applied\" action=connect"), "\(applied.stderr.prefix(400))")
            let head = try scratch.git("rev-parse", "HEAD", in: "repo")
            let status = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("applied commit:  \(head.prefix(12))"))
            #expect(status.stdout.contains("(applied)"))
            #expect(status.stdout.contains("lock:            free"))
            #expect(status.stdout.contains("12 active"))
            let json = try setup.server.accessctl(["status", "--config", setup.server.config, "--format", "json"])
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(object?["last_applied_commit"] as? String == head)

            let healthy = try setup.server.accessctl(["health", "--config", setup.server.config])
            #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
            #expect(healthy.stdout.contains("purchase_orders  ok"))
            setup.mock.stop()
            let down = try setup.server.accessctl(["health", "--config", setup.server.config])
            #expect(down.status == 1)
            #expect(down.stdout.contains("FAILED"))
            for key in try setup.server.keys() {
                for output in [applied.stderr, status.stdout, json.stdout] { #expect(!output.contains(key)) }
            }
        }
    }
}
