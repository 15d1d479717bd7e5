import DesiredRepo
import LiveStore
import Reconciler
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `accessctl import` end to end: examples/acme applied for real (the real helper as root,
/// the token-service-mock on loopback, a real SQLite file), imported into a new directory,
/// then validated and planned against the same database and homes.
@Suite("accessctl import (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"))
struct ImportCommandTests {
    typealias Setup = ApplyCommandTests.Setup

    /// Rows another tool wrote: a user, a group with members and a grant, a membership in a
    /// gitops group and a grant on one, all with source admin.
    static let adminAddresses: Set<String> = [
        "user.li.wei", "group.auditors", "member.auditors.li.wei", "member.auditors.priya", "member.sales.li.wei",
        "grant.auditors.table.finance.audit_log", "grant.Everyone.knowledge.audit-manual",
    ]

    static func addAdminRows(_ server: AcmeServer) throws {
        let store = try LiveStore(path: server.database, sealing: server.sealing)
        try store.write { w in
            try w.upsert(LiveUser(id: "li.wei", email: "li.wei@acme.example", unixUser: "lwei", source: .admin))
            try w.upsert(LiveGroup(id: "auditors", description: "External auditors (added in the admin UI)", source: .admin))
            try w.upsert(LiveMember(group: "auditors", user: "li.wei", source: .admin))
            try w.upsert(LiveMember(group: "auditors", user: "priya", source: .admin))
            try w.upsert(LiveMember(group: "sales", user: "li.wei", source: .admin))
            try w.upsert(LiveGrant(group: "auditors", type: "table", resource: "finance.audit_log", source: .admin))
            try w.upsert(LiveGrant(group: "Everyone", type: "knowledge", resource: "audit-manual", source: .admin))
        }
        try store.close()
    }

    /// Runs a plan of `repo` against the server's database and homes, saved to a file, and
    /// returns the command's result and the plan.
    static func plan(_ setup: Setup, repo: String, _ extra: String...) throws -> (CommandResult, Plan) {
        let saved = setup.server.scratch.path("plan-\(UUID().uuidString).json")
        let result = try setup.server.accessctl(["plan", "--config", setup.server.config, "--repo", repo, "--out", saved,
                                                 "--detailed-exitcode"] + extra)
        return (result, try Planning.readSavedPlan(path: saved))
    }

    /// Every regular file under `root`, as text.
    static func contents(under root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root)?.allObjects ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[path] = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
            }
        }
        return result
    }

    /// No key of the database in any output or in any written file.
    static func expectNoKeys(_ setup: Setup, outputs: [CommandResult], directories: [String]) throws {
        let keys = try setup.server.keys()
        #expect(!keys.isEmpty)
        var texts = outputs.flatMap { [$0.stdout, $0.stderr] }
        for directory in directories { texts += try contents(under: directory).values }
        for key in keys {
            for text in texts { #expect(!text.contains(key), "a key appears in an output or a written file") }
        }
    }

    /// The acme skill files by service id (crm's has another name).
    static func skillsDirectory(_ setup: Setup) throws -> String {
        let directory = setup.server.scratch.path("skills")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for service in setup.server.desired.services {
            try service.skill.write(toFile: directory + "/\(service.id).md", atomically: false, encoding: .utf8)
        }
        return directory
    }

    @Test("round trip: apply acme, import the database, validate, plan against it: no changes")
    func roundTrip() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27000)
            let applied = try setup.apply()
            #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
            let database = setup.server.database
            // Apply stored each skill text beside its digest (schema v4-skill-text).
            #expect(try LiveStore.queryForTesting(path: database, sql: "SELECT id, skill_text FROM services ORDER BY id")
                == setup.server.desired.services.map { [$0.id, $0.skill] })

            let out = scratch.path("imported")
            let imported = try setup.server.accessctl(["import", "--database", database, "--out", out])
            #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
            #expect(imported.stderr.isEmpty, "no warning for a database written by accessctl: \(imported.stderr)")
            #expect(imported.stdout.contains("Wrote \(out): 3 services, 10 users, 5 groups (22 files)."), "\(imported.stdout)")
            #expect(imported.stdout.contains("valid: 19 files in directory \(out)"), "\(imported.stdout)")
            #expect(!imported.stdout.contains("conflict"))

            let validate = try setup.server.accessctl(["validate", "--repo", out])
            #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
            // Written in canonical layout.
            let layout = try setup.server.accessctl(["fmt", "--check", "--repo", out])
            #expect(layout.status == 0, "\(layout.stdout)\(layout.stderr)")
            let (plan, saved) = try Self.plan(setup, repo: out)
            #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
            #expect(plan.stdout.contains("No changes"))
            #expect(saved.actions.isEmpty)

            // The same services, users and effective connections as the repository applied
            // (group connect: lists come back as each user's connections).
            let state = try #require(try DesiredStateLoader.load(from: DirectorySource(path: out)).state)
            let acme = setup.server.desired
            #expect(state.services.map { var s = $0; s.skillPath = ""; return s }
                == acme.services.map { var s = $0; s.skillPath = ""; return s })
            #expect(state.users.map { [$0.id, $0.email, $0.unixUser, "\($0.active)"] }
                == acme.users.map { [$0.id, $0.email, $0.unixUser, "\($0.active)"] })
            let active = Set(acme.users.filter(\.active).map(\.id))
            #expect(state.effectiveConnections().filter { active.contains($0.key) }
                == acme.effectiveConnections().filter { active.contains($0.key) })
            #expect(state.groups.map { [$0.id, $0.description ?? "", $0.members.joined(separator: ",")] }
                == acme.groups.map { [$0.id, $0.description ?? "", $0.members.joined(separator: ",")] })
            #expect(state.groups.map(\.grants) == acme.groups.map(\.grants))
            #expect(Set(state.config.resourceTypes) == Set(acme.config.resourceTypes))
            #expect(state.config.resourceTypes.first == "service")
            #expect(state.config.requireServiceGrant && state.config.ttlDays == acme.config.ttlDays
                && state.config.rotateBeforeDays == acme.config.rotateBeforeDays)
            try Self.expectNoKeys(setup, outputs: [imported, validate, plan], directories: [out])
        }
    }

    @Test("rows of source admin are imported: plan shows only conflicts, plan --adopt only the ownership changes")
    func foreignRows() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27100)
            #expect(try setup.apply().status == 0)
            try Self.addAdminRows(setup.server)
            let out = scratch.path("imported")
            let imported = try setup.server.accessctl(["import", "--database", setup.server.database, "--out", out])
            #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
            #expect(imported.stdout.contains("Wrote \(out): 3 services, 11 users, 6 groups (24 files)."), "\(imported.stdout)")
            #expect(imported.stdout.contains("7 exported rows are owned by another source than gitops (7 admin): plan shows them as "
                + "conflicts until `accessctl plan --adopt` / `accessctl apply --adopt` takes ownership."), "\(imported.stdout)")
            #expect(try String(contentsOfFile: out + "/groups/auditors.yaml", encoding: .utf8) == """
                description: External auditors (added in the admin UI)
                members: [li.wei, priya]
                grants:
                  table: [finance.audit_log]

                """)
            #expect(try String(contentsOfFile: out + "/users/li.wei.yaml", encoding: .utf8)
                == "email: li.wei@acme.example\nunix_user: lwei\n")

            // Conflicts are notes, not changes: --detailed-exitcode says 0.
            let (plan, saved) = try Self.plan(setup, repo: out)
            #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
            #expect(plan.stdout.contains("No changes. The live state matches the desired state. 7 conflicts."))
            #expect(saved.actions.allSatisfy { $0.kind == .conflict }, "\(plan.stdout)")
            #expect(Set(saved.actions.map(\.address)) == Self.adminAddresses, "\(plan.stdout)")

            let (adopt, adopting) = try Self.plan(setup, repo: out, "--adopt")
            #expect(adopt.status == 2)
            #expect(Set(adopting.actions.map(\.address)) == Self.adminAddresses, "\(adopt.stdout)")
            for action in adopting.actions {
                #expect(action.kind == .update, "\(action.address)")
                #expect(action.changes == [FieldChange(field: "source", old: "admin", new: "gitops")], "\(action.address)")
            }
            try Self.expectNoKeys(setup, outputs: [imported, plan, adopt], directories: [out])
        }
    }

    @Test("--source gitops leaves the admin rows out: plan shows no changes")
    func sourceGitops() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27200)
            #expect(try setup.apply().status == 0)
            try Self.addAdminRows(setup.server)
            let out = scratch.path("imported")
            let imported = try setup.server.accessctl(["import", "--database", setup.server.database, "--out", out,
                                                       "--source", "gitops"])
            #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
            #expect(imported.stderr.isEmpty, "\(imported.stderr)")
            #expect(imported.stdout.contains("Wrote \(out): 3 services, 10 users, 5 groups (22 files)."), "\(imported.stdout)")
            #expect(!imported.stdout.contains("--adopt"))
            #expect(!FileManager.default.fileExists(atPath: out + "/users/li.wei.yaml"))
            #expect(!FileManager.default.fileExists(atPath: out + "/groups/auditors.yaml"))
            let files = try Self.contents(under: out)
            #expect(!files.contains { $0.key.hasSuffix(".yaml") && ($0.value.contains("li.wei") || $0.value.contains("audit")) })
            let (plan, saved) = try Self.plan(setup, repo: out)
            #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
            #expect(saved.actions.isEmpty)

            // Several --source flags combine; an unknown one is a usage error.
            let both = try setup.server.accessctl(["import", "--database", setup.server.database, "--out", scratch.path("both"),
                                                   "--source", "gitops", "--source", "admin"])
            #expect(both.status == 0 && FileManager.default.fileExists(atPath: scratch.path("both/users/li.wei.yaml")))
            let usage = try setup.server.accessctl(["import", "--database", setup.server.database, "--out", scratch.path("x"),
                                                    "--source", "ldap"])
            #expect(usage.status == 64, "\(usage.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("x")))
        }
    }

    @Test("a non-empty --out is refused and nothing is written")
    func refusesNonEmpty() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27300)
            #expect(try setup.apply().status == 0)
            try scratch.write("target/notes.md", "keep me\n")
            let before = try FileManager.default.contentsOfDirectory(atPath: scratch.root).sorted()
            let result = try setup.server.accessctl(["import", "--database", setup.server.database, "--out", scratch.path("target")])
            #expect(result.status == 1)
            #expect(result.stderr.contains("error: \(scratch.path("target")) is not empty"), "\(result.stderr)")
            #expect(result.stderr.contains("nothing was written"))
            #expect(result.stdout.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("target")) == ["notes.md"])
            #expect(try String(contentsOfFile: scratch.path("target/notes.md"), encoding: .utf8) == "keep me\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root).sorted() == before)
        }
    }

    @Test("a database without skill texts: placeholders and warnings; --skills with the matching texts plans no changes")
    func missingSkillTexts() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27400)
            #expect(try setup.apply().status == 0)
            let database = setup.server.database
            // As rows written before schema v4 (or by another tool): only the digest.
            try LiveStore.executeForTesting(path: database, sql: "UPDATE services SET skill_text = NULL")

            let out = scratch.path("placeholders")
            let imported = try setup.server.accessctl(["import", "--database", database, "--out", out])
            #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
            for service in setup.server.desired.services {
                #expect(imported.stderr.contains("warning: service \(service.id): the database holds no skill text"), "\(imported.stderr)")
                let text = try String(contentsOfFile: out + "/services/\(service.id).md", encoding: .utf8)
                #expect(text.contains("PLACEHOLDER"))
            }
            let (plan, saved) = try Self.plan(setup, repo: out)
            #expect(plan.status == 2)
            let services = saved.actions.filter { $0.address.hasPrefix("service.") }
            #expect(services.count == 3 && services.allSatisfy { $0.kind == .update && $0.changes.map(\.field) == ["skill"] },
                    "\(plan.stdout)")
            #expect(saved.actions.allSatisfy { $0.address.hasPrefix("service.") || $0.reason == "skill updated in desired state" },
                    "\(plan.stdout)")

            let skills = try Self.skillsDirectory(setup)
            let withSkills = scratch.path("with-skills")
            let supplied = try setup.server.accessctl(["import", "--database", database, "--out", withSkills, "--skills", skills])
            #expect(supplied.status == 0, "\(supplied.stdout)\(supplied.stderr)")
            #expect(supplied.stderr.isEmpty, "\(supplied.stderr)")
            let (clean, none) = try Self.plan(setup, repo: withSkills)
            #expect(clean.status == 0, "\(clean.stdout)")
            #expect(none.actions.isEmpty)

            // The next apply that changes something fills the missing texts.
            try setup.server.commit("a new knowledge grant") { repo in
                try AcmeEdit.replace(repo, "groups/Everyone.yaml", "security-policies]", "security-policies, onboarding]")
            }
            #expect(try setup.apply().status == 0)
            #expect(try LiveStore.queryForTesting(path: database, sql: "SELECT id, skill_text FROM services ORDER BY id")
                == setup.server.desired.services.map { [$0.id, $0.skill] })
            try Self.expectNoKeys(setup, outputs: [imported, plan, supplied, clean], directories: [out, withSkills])
        }
    }

    @Test("no API key of the database appears in any output or written file, invalid result included")
    func noSecrets() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 27500)
            #expect(try setup.apply().status == 0)
            let database = setup.server.database
            var outputs: [CommandResult] = []
            var directories: [String] = []
            for (name, extra) in [("all", []), ("gitops", ["--source", "gitops"]), ("admin", ["--source", "admin"])] {
                let out = scratch.path("import-\(name)")
                outputs.append(try setup.server.accessctl(["import", "--database", database, "--out", out] + extra))
                directories.append(out)
            }
            #expect(outputs[0].status == 0 && outputs[1].status == 0)
            // Only admin rows (none): no Admin group, so the result is invalid; the files stay.
            #expect(outputs[2].status == 1, "\(outputs[2].stdout)\(outputs[2].stderr)")
            #expect(outputs[2].stdout.contains("the Admin group is required"))
            #expect(outputs[2].stderr.contains("the written repository is invalid"))
            #expect(outputs[2].stderr.contains("plan will remove them"))
            #expect(outputs[2].stderr.contains("plan will revoke their keys"))
            #expect(FileManager.default.fileExists(atPath: directories[2] + "/accessctl.yaml"))
            try Self.expectNoKeys(setup, outputs: outputs, directories: directories)
            // The database is only read: the same rows afterwards.
            let before = try LiveStore.snapshot(path: database, sealing: setup.server.sealing)
            _ = try setup.server.accessctl(["import", "--database", database, "--out", scratch.path("again")])
            #expect(try LiveStore.snapshot(path: database, sealing: setup.server.sealing) == before)
        }
    }
}
