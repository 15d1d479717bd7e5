import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `plan --replace` and `apply --replace` end to end: examples/acme, the real
/// token-service-mock, a real SQLite file and the real root helper, as ApplyCommandTests.
@Suite("accessctl plan/apply --replace (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"))
struct ReplaceTests {
    typealias Setup = ApplyCommandTests.Setup

    /// A server after its first apply (every key issued), and its keys.
    static func applied(_ scratch: Scratch, firstUID: Int) throws -> (Setup, [String: (key: Secret, token: String)]) {
        let setup = try Setup(scratch, firstUID: firstUID)
        let first = try setup.apply()
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        return (setup, try keys(setup))
    }

    /// The key of each connection (user, service) in the database, and its token id.
    static func keys(_ setup: Setup) throws -> [String: (key: Secret, token: String)] {
        var result: [String: (key: Secret, token: String)] = [:]
        for row in try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).connections {
            result[Target.connection(user: row.user, service: row.service).address] = (try #require(row.apiKey), try #require(row.tokenID))
        }
        return result
    }

    /// The fingerprints of the keys in a user's `~/.service_env`.
    static func fileFingerprints(_ setup: Setup, user: String) throws -> Set<String> {
        let account = try #require(setup.server.desired.users.first { $0.id == user }).unixUser
        let text = try String(contentsOfFile: setup.server.home(account) + "/.service_env", encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line in
            line.firstIndex(of: "=").map { Secret(String(line[line.index(after: $0)...]).trimmingCharacters(in: ["'"])).fingerprint }
        })
    }

    /// Checks that exactly `targeted` were rotated between `before` and now: each has a new
    /// key and token, its old token is revoked at the mock and its new one live, the user's
    /// `.service_env` holds the new key's fingerprint instead of the old one; every other key
    /// is unchanged.
    static func expectRotated(_ setup: Setup, _ targeted: Set<String>, before: [String: (key: Secret, token: String)]) throws {
        let after = try keys(setup)
        let live = try setup.mock.liveTokens()
        #expect(Set(after.keys) == Set(before.keys))
        for (address, old) in before {
            let new = try #require(after[address])
            guard case .connection(let user, _)? = Target(address: address) else { continue }
            let file = try fileFingerprints(setup, user: user)
            if targeted.contains(address) {
                #expect(new.token != old.token && new.key != old.key, "\(address) was not rotated")
                #expect(!live.contains(old.token) && live.contains(new.token), "\(address): old token live or new one not")
                #expect(file.contains(new.key.fingerprint) && !file.contains(old.key.fingerprint), "\(address): home file")
            } else {
                #expect(new.token == old.token && new.key == old.key, "\(address) changed")
                #expect(live.contains(old.token) && file.contains(old.key.fingerprint), "\(address)")
            }
        }
        #expect(try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).retiredTokens.isEmpty)
    }

    /// The counts and audit rows of the newest run.
    static func lastRun(_ setup: Setup) throws -> (counts: [String: Int], audit: [String]) {
        let store = try LiveStore(path: setup.server.database, sealing: setup.server.sealing)
        defer { try? store.close() }
        let run = try #require(try store.runs(limit: 1).first)
        let audit = try store.auditLog(run: try #require(run.id)).map { "\($0.action) \($0.address): \($0.detail ?? "")" }
        return (run.counts, audit)
    }

    static func expectOnlyFingerprints(_ outputs: [String], _ setup: Setup, also: [Secret] = []) throws {
        let keys = try setup.server.keys() + also.map(\.revealed)
        for output in outputs {
            for key in keys { #expect(!output.contains(key), "a key appears in an output") }
        }
    }

    @Test("--replace connection.*.crm rotates every key of crm and nothing else: old tokens revoked, new ones in the files, audited and counted")
    func byService() throws {
        try Scratch.with { scratch in
            let (setup, before) = try Self.applied(scratch, firstUID: 29000)
            let crm = Set(before.keys.filter { $0.hasSuffix(".crm") })
            #expect(crm.count >= 3 && crm.count < before.count)

            let plan = try setup.plan("--replace", "connection.*.crm", "--detailed-exitcode")
            #expect(plan.status == 2, "\(plan.stdout)\(plan.stderr)")
            #expect(plan.stdout.contains(", replacing connection.*.crm\n"))
            for address in crm { #expect(plan.stdout.contains("~ \(address)  key will be rotated (replace requested)")) }
            #expect(plan.stdout.components(separatedBy: "replace requested").count - 1 == crm.count)
            #expect(plan.stdout.contains("\(crm.count) to rotate, 0 to revoke"))
            // Planning changed nothing; without --replace nothing is due.
            #expect(try Self.keys(setup).mapValues(\.token) == before.mapValues(\.token))
            #expect(try setup.plan("--detailed-exitcode").status == 0)

            let applied = try setup.apply("--replace", "connection.*.crm")
            #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
            #expect(applied.stdout.contains("Apply complete"))
            try Self.expectRotated(setup, crm, before: before)
            let run = try Self.lastRun(setup)
            #expect(run.counts["keys_rotated"] == crm.count && run.counts["keys_issued"] == 0 && run.counts["keys_revoked"] == 0)
            for address in crm {
                let old = try #require(before[address]).key.fingerprint
                #expect(run.audit.contains("rotate \(address): replace requested; key: \(old) -> (new key)"), "\(run.audit)")
            }
            let log = try setup.server.accessctl(["log", "--config", setup.server.config, "--limit", "1"])
            #expect(log.stdout.contains("keys_rotated \(crm.count)") && log.stdout.contains("(replace requested; key: sha256:"))
            // Fingerprints are sha256: and 12 hex digits; no key is printed anywhere.
            #expect(plan.stdout.range(of: #"key: "sha256:[0-9a-f]{12}" -> "\(new key\)""#, options: .regularExpression) != nil)
            try Self.expectOnlyFingerprints([plan.stdout, plan.stderr, applied.stdout, applied.stderr, log.stdout], setup,
                                            also: before.values.map(\.key))
            try setup.expectConverged()
        }
    }

    @Test("--replace connection.<dotted user>.* rotates that user's keys only; a failed revocation keeps the old key listed until a later run revokes it")
    func byUserAndFailedRevocation() throws {
        try Scratch.with { scratch in
            let (setup, before) = try Self.applied(scratch, firstUID: 29100)
            let omar = Set(before.keys.filter { $0.hasPrefix("connection.omar.haddad.") })
            #expect(omar.count == 2)
            try setup.mock.faults(["revoke_error_rate": 1])
            let failing = try setup.apply("--replace", "connection.omar.haddad.*")
            #expect(failing.status == 3, "\(failing.stdout)\(failing.stderr)")
            #expect(failing.stderr.contains("revocation failed (retried next run)"))
            // The new keys are in the file already; the old ones stay live and queued.
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            #expect(Set(state.retiredTokens.map(\.tokenID)) == Set(omar.map { before[$0]!.token }))
            #expect(try Self.fileFingerprints(setup, user: "omar.haddad").isDisjoint(with: omar.map { before[$0]!.key.fingerprint }))
            let pending = try setup.plan()
            #expect(pending.stdout.contains("key will be revoked (revoke the key replaced by a rotation (last attempt:"), "\(pending.stdout)")
            try setup.mock.faults(["revoke_error_rate": 0])
            #expect(try setup.apply().status == 0)
            try Self.expectRotated(setup, omar, before: before)
            try setup.expectConverged()
        }
    }

    @Test("a saved plan carries its replacements: plan --out --replace, then apply FILE rotates the same keys; --replace with FILE is a usage error")
    func savedPlan() throws {
        try Scratch.with { scratch in
            let (setup, before) = try Self.applied(scratch, firstUID: 29200)
            let targeted = Set(before.keys.filter { $0.hasPrefix("connection.ana.garcia.") || $0.hasSuffix(".purchase_orders") })
            let saved = scratch.path("replace.plan")
            let plan = try setup.plan("--out", saved, "--replace", "connection.ana.garcia.*", "--replace", "connection.*.purchase_orders",
                                      "--replace", "connection.ana.garcia.*")
            #expect(plan.status == 0, "\(plan.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: saved))) as? [String: Any]
            #expect(json?["format_version"] as? Int == 2)
            #expect(json?["replace"] as? [String] == ["connection.ana.garcia.*", "connection.*.purchase_orders"])
            let shown = try setup.server.accessctl(["show", saved])
            #expect(shown.stdout == plan.stdout && shown.stdout.contains(", replacing connection.ana.garcia.*, connection.*.purchase_orders"))

            let both = try setup.server.accessctl(["apply", "--config", setup.server.config, saved, "--replace", "connection.*.crm"])
            #expect(both.status == 64, "\(both.stdout)\(both.stderr)")
            #expect(both.stderr.contains("--replace cannot be given with a saved plan"))
            #expect(try Self.keys(setup).mapValues(\.token) == before.mapValues(\.token))

            let applied = try setup.server.accessctl(["apply", "--config", setup.server.config, saved])
            #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
            try Self.expectRotated(setup, targeted, before: before)
            #expect(try Self.lastRun(setup).counts["keys_rotated"] == targeted.count)
            // Applied once: the state moved on, so the same file is now stale.
            let again = try setup.server.accessctl(["apply", "--config", setup.server.config, saved])
            #expect(again.status == 4 && again.stderr.contains("stale plan"), "\(again.stderr)")
            try setup.expectConverged()
        }
    }

    @Test("a pattern matching no connection with a key is exit 1 and changes nothing; a malformed one is a usage error (64) naming the accepted forms")
    func noMatchAndMalformed() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 29300)
            let empty = try setup.plan("--replace", "connection.*.*")
            #expect(empty.status == 1 && empty.stderr.contains("error: --replace connection.*.* matches no connection with a key: no connection has a key yet"),
                    "\(empty.stderr)")
            #expect(try setup.apply().status == 0)
            let tokens = try setup.mock.liveTokens()
            let database = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing)
            let runs = try LiveStore(path: setup.server.database, sealing: setup.server.sealing).runs(limit: 10).count
            let cases: [([String], String)] = [
                (["--replace", "connection.*.nosuch"], "--replace connection.*.nosuch matches no connection with a key: no connection of service nosuch has a key"),
                (["--replace", "connection.*.crn"], "no connection of service crn has a key; did you mean 'crm'?"),
                (["--replace", "connection.ana.garcai.crm"], "user ana.garcai has no key; did you mean 'ana.garcia'?"),
                (["--replace", "connection.ana.garcia.invoicing"], "user ana.garcia has keys for crm only"),
                // One pattern matching nothing fails the whole command, even beside one that matches.
                (["--replace", "connection.*.crm", "--replace", "connection.tom.baker.*"], "--replace connection.tom.baker.* matches no connection"),
            ]
            for (arguments, message) in cases {
                let plan = try setup.server.accessctl(["plan", "--config", setup.server.config] + arguments)
                #expect(plan.status == 1 && plan.stderr.contains(message), "\(arguments): \(plan.stderr)")
                let apply = try setup.server.accessctl(["apply", "--config", setup.server.config, "--auto-approve"] + arguments)
                #expect(apply.status == 1 && apply.stderr.contains(message) && apply.stderr.contains("nothing was changed"),
                        "\(arguments): \(apply.stderr)")
            }
            for (pattern, message) in [("connection.*", "a user and a service are needed"), ("crm", "only connections have keys to replace"),
                                       ("connection.a*.crm", "'*' stands for a whole user or service id"),
                                       ("service.crm", "it names a service")] {
                for command in ["plan", "apply"] {
                    let result = try setup.server.accessctl([command, "--config", setup.server.config, "--auto-approve", "--replace", pattern]
                        .filter { command == "apply" || $0 != "--auto-approve" })
                    #expect(result.status == 64, "\(command) \(pattern): \(result.stderr)")
                    #expect(result.stderr.contains("'\(pattern)' is not a replace pattern: \(message)"), "\(result.stderr)")
                    #expect(result.stderr.contains(TargetPattern.forms))
                    if pattern == "service.crm" { #expect(result.stderr.contains("(every key of crm: connection.*.crm)")) }
                }
            }
            #expect(try setup.mock.liveTokens() == tokens)
            #expect(try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing) == database)
            #expect(try LiveStore(path: setup.server.database, sealing: setup.server.sealing).runs(limit: 10).count == runs, "a refused --replace must not record a run")
        }
    }

    @Test("golden: the plan of --replace in text and JSON (made-up keys, a fixed clock)")
    func golden() async throws {
        try await Scratch.with { scratch in
            let server = try PlanCommandTests.Server(scratch)
            try await server.converge()
            let arguments = ["--replace", "connection.*.crm", "--replace", "connection.omar.haddad.*"]
            for (format, file) in [("text", "plan-replace.txt"), ("json", "plan-replace.json")] {
                let result = try server.acme.accessctl(["plan", "--config", server.config, "--format", format] + arguments,
                                                       environment: ["ACCESSCTL_NOW": String(PlanCommandTests.now)])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.contains("replace requested"))
                try PlanCommandTests.expectGolden(file, result.stdout, scratch: scratch)
                PlanCommandTests.expectNoSecrets([result.stdout, result.stderr], keys: try server.keys())
            }
        }
    }
}
