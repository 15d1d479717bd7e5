import LiveStore
import RepoFormat
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `Importer` on real SQLite files written with `LiveStore`: what it writes, how it filters
/// by source, what it warns about, and that the result reads back exactly.
@Suite("Import (RepoFormat)")
struct ImportTests {
    static let skill = "# Invoicing\n\nUse INVOICING_KEY.\n"

    /// A small database: an Admin group with an active member, two services (one with its
    /// skill text stored), users of several sources, grants and connections.
    static func database(at path: String, extra: (inout LiveStoreWriter) throws -> Void = { _ in }) throws {
        let store = try LiveStore(path: path)
        try store.write { w in
            try w.upsert(LiveService(id: "invoicing", name: "Invoicing", description: "Invoices",
                                     tokenExchangeURL: "https://inv.example.com/x", tokenRevokeURL: "https://inv.example.com/r",
                                     envVar: "INVOICING_KEY", secretEnv: "SC_SECRET_INVOICING",
                                     skillSHA256: HomeFiles.sha256(skill), ttlDays: 365, keyPrefix: "inv_"),
                         skillText: skill)
            try w.upsert(LiveService(id: "crm", name: "CRM", tokenExchangeURL: "https://crm.example.com/x",
                                     tokenRevokeURL: "https://crm.example.com/r", healthURL: "https://crm.example.com/h",
                                     envVar: "CRM_KEY", secretEnv: "CRM_SECRET", skillSHA256: String(repeating: "e", count: 64),
                                     ttlDays: 90, enabled: false, source: .admin))
            try w.upsert(LiveUser(id: "ann", email: "ann@example.com", unixUser: "ann"))
            try w.upsert(LiveUser(id: "bob.smith", email: "bob@example.com", unixUser: "bsmith", active: false))
            try w.upsert(LiveUser(id: "cy", email: "cy@example.com", unixUser: "cy", source: .googleSync))
            try w.upsert(LiveGroup(id: "Admin", description: "Admins"))
            try w.upsert(LiveGroup(id: "finance", description: "Finance team"))
            try w.upsert(LiveGroup(id: "Everyone"))
            try w.upsert(LiveMember(group: "Admin", user: "ann"))
            try w.upsert(LiveMember(group: "finance", user: "ann"))
            try w.upsert(LiveMember(group: "finance", user: "bob.smith"))
            try w.upsert(LiveMember(group: "finance", user: "cy", source: .googleSync))
            try w.upsert(LiveGrant(group: "finance", type: "service", resource: "invoicing"))
            try w.upsert(LiveGrant(group: "finance", type: "table", resource: "finance.invoices"))
            try w.upsert(LiveGrant(group: "Everyone", type: "knowledge", resource: "handbook"))
            try w.upsert(LiveGrant(group: "Everyone", type: "plugin", resource: "acme/search", source: .admin))
            try w.upsert(LiveConnection(user: "ann", service: "invoicing", status: .active, requestID: "r1", tokenID: "t1",
                                        apiKey: Secret("inv_SECRET-ann-0123456789"), issuedAt: 1, expiresAt: 2))
            try w.upsert(LiveConnection(user: "cy", service: "invoicing", status: .revoking, requestID: "r2", tokenID: "t2",
                                        apiKey: Secret("inv_SECRET-cy-0123456789"), issuedAt: 1, expiresAt: 2))
            try extra(&w)
        }
        try store.close()
    }

    static func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// Every path under `root`, without the database and its `-wal`/`-shm` companions.
    static func files(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { !$0.hasPrefix("live.db") }.sorted()
    }

    @Test("all sources: the documented layout and key order, and the repository is valid")
    func allSources() throws {
        try Scratch.with { scratch in
            let db = scratch.path("live.db"), out = scratch.path("repo")
            try Self.database(at: db)
            let report = try Importer.run(ImportOptions(database: db, output: out))
            #expect(report.validation.isValid, "\(report.validation.diagnostics)")
            #expect(Self.files(under: out) == [
                "accessctl.yaml", "groups", "groups/Admin.yaml", "groups/Everyone.yaml", "groups/finance.yaml",
                "services", "services/crm.md", "services/crm.yaml", "services/invoicing.md", "services/invoicing.yaml",
                "users", "users/ann.yaml", "users/bob.smith.yaml", "users/cy.yaml",
            ])
            #expect(try Self.read(out + "/accessctl.yaml") == """
                version: 1
                resource_types: [service, knowledge, plugin, table]
                policy:
                  require_service_grant: true
                defaults:
                  ttl_days: 365
                  rotate_before_days: 30

                """)
            #expect(try Self.read(out + "/services/crm.yaml") == """
                name: CRM
                token_exchange_url: https://crm.example.com/x
                token_revoke_url: https://crm.example.com/r
                health_url: https://crm.example.com/h
                env_var: CRM_KEY
                secret_env: CRM_SECRET
                ttl_days: 90
                enabled: false

                """)
            #expect(try Self.read(out + "/services/invoicing.yaml") == """
                name: Invoicing
                description: Invoices
                token_exchange_url: https://inv.example.com/x
                token_revoke_url: https://inv.example.com/r
                env_var: INVOICING_KEY
                key_prefix: inv_

                """)
            #expect(try Self.read(out + "/services/invoicing.md") == Self.skill)
            #expect(try Self.read(out + "/users/ann.yaml") == "email: ann@example.com\nconnections: [invoicing]\n")
            #expect(try Self.read(out + "/users/bob.smith.yaml") == "email: bob@example.com\nunix_user: bsmith\nactive: false\n")
            #expect(try Self.read(out + "/groups/finance.yaml") == """
                description: Finance team
                members: [ann, bob.smith, cy]
                grants:
                  service: [invoicing]
                  table: [finance.invoices]

                """)
            #expect(try Self.read(out + "/groups/Everyone.yaml") == """
                grants:
                  knowledge: [handbook]
                  plugin: [acme/search]

                """)
            // crm has no stored text: a placeholder, and a warning that says what plan will show.
            #expect(report.repository.placeholderSkills == ["crm"])
            #expect(try Self.read(out + "/services/crm.md").contains("PLACEHOLDER"))
            #expect(report.repository.warnings.contains { $0.contains("service crm: the database holds no skill text") })
            // Rows of other sources: crm, cy, finance.cy and the Everyone plugin grant.
            #expect(report.repository.foreignRows == [.admin: 2, .googleSync: 2])
            #expect(report.adoptHint?.contains("4 exported rows are owned by another source than gitops (2 admin, 2 google_sync)") == true)
            #expect(report.summary == "Wrote \(out): 2 services, 3 users, 3 groups (11 files).")
            // The loaded state is the database's.
            let state = try #require(report.validation.state)
            #expect(state.users.map(\.unixUser) == ["ann", "bsmith", "cy"])
            #expect(state.services.first { $0.id == "crm" }?.ttlDays == 90)
            // Nothing was left beside the output.
            #expect(Self.files(under: scratch.root).filter { $0.hasPrefix(".") }.isEmpty)
        }
    }

    @Test("--source filters rows; members whose user is not exported are dropped with a warning")
    func sourceFilter() throws {
        try Scratch.with { scratch in
            let db = scratch.path("live.db"), out = scratch.path("repo")
            try Self.database(at: db) { w in
                // A gitops membership of a google_sync user: dropped with --source gitops.
                try w.upsert(LiveMember(group: "Admin", user: "cy"))
            }
            var options = ImportOptions(database: db, output: out)
            options.sources = [.gitops]
            let report = try Importer.run(options)
            #expect(report.validation.isValid, "\(report.validation.diagnostics)")
            #expect(!FileManager.default.fileExists(atPath: out + "/users/cy.yaml"))
            #expect(!FileManager.default.fileExists(atPath: out + "/services/crm.yaml"))
            #expect(try Self.read(out + "/groups/Admin.yaml") == "description: Admins\nmembers: [ann]\n")
            #expect(try Self.read(out + "/groups/finance.yaml").contains("members: [ann, bob.smith]\n"))
            #expect(try Self.read(out + "/groups/Everyone.yaml") == "grants:\n  knowledge: [handbook]\n")
            #expect(try Self.read(out + "/accessctl.yaml").contains("resource_types: [service, knowledge, table]\n"))
            let warnings = report.repository.warnings
            #expect(warnings.contains("group Admin: 1 member dropped because their user rows are not exported: cy"))
            #expect(warnings.contains {
                $0.hasPrefix("1 row owned by gitops is not in the written repository") && $0.hasSuffix("plan will remove it: member.Admin.cy")
            }, "\(warnings)")
            #expect(report.repository.foreignRows.isEmpty && report.adoptHint == nil)
            #expect(report.repository.placeholderSkills.isEmpty)
        }
    }

    @Test("connections not backed by a grant: require_service_grant false and a warning; short ttl_days lowers rotate_before_days")
    func policyAndDefaults() throws {
        try Scratch.with { scratch in
            let db = scratch.path("live.db"), out = scratch.path("repo")
            try Self.database(at: db) { w in
                try w.upsert(LiveService(id: "po", name: "PO", tokenExchangeURL: "https://po.example.com/x",
                                         tokenRevokeURL: "https://po.example.com/r", envVar: "PO_KEY", secretEnv: "SC_SECRET_PO",
                                         skillSHA256: HomeFiles.sha256("po"), ttlDays: 10), skillText: "po")
                try w.upsert(LiveConnection(user: "ann", service: "po", status: .error, requestID: "r9", lastError: "HTTP 500"))
                try w.upsert(LiveGroup(id: "empty"))
            }
            let report = try Importer.run(ImportOptions(database: db, output: out))
            #expect(report.validation.isValid, "\(report.validation.diagnostics)")
            #expect(try Self.read(out + "/accessctl.yaml") == """
                version: 1
                resource_types: [service, knowledge, plugin, table]
                policy:
                  # false: 1 connection of the database is not backed by a
                  # service grant of one of the user's groups. Grant them, then set this to true.
                  require_service_grant: false
                defaults:
                  ttl_days: 365
                  rotate_before_days: 9

                """)
            #expect(try Self.read(out + "/users/ann.yaml") == "email: ann@example.com\nconnections: [invoicing, po]\n")
            #expect(try Self.read(out + "/groups/empty.yaml") == "{}\n")
            #expect(report.repository.warnings.contains {
                $0.hasPrefix("1 of 2 exported connections is not backed by a service grant of one of the user's groups (ann -> po)")
            }, "\(report.repository.warnings)")
            #expect(report.repository.warnings.contains { $0.contains("rotate_before_days: 9") })
        }
    }

    @Test("strings that YAML would read otherwise are quoted, and every one reads back exactly")
    func quoting() throws {
        let tricky = [
            "", " leading", "trailing ", "yes", "No", "on", "true", "False", "null", "~", "123", "-1", "+7", "1e3", "0x1F",
            "0o17", ".inf", "-.INF", ".nan", "1.5", "a: b", "a #b", "#hash", "- dash", "-dash", "[x]", "{y}", "it's",
            "\"quoted\"", "back\\slash", "tab\there", "new\nline", "multi\n\nline\n", "ünïcødé", "日本語", "emoji 🎉",
            "\u{202E}bidi", "zero\u{200B}width", "bell\u{7}", "key: value # c", "@at", "`tick", "%pct", "!bang", "&amp",
            "*star", "|pipe", ">gt", "?q", ":colon", ",comma", "a,b", "http://x/y?z=1&w=2#frag", "C:\\path", "---",
            "...", "=", "2024-01-01", "12:30", "Acme's CRM, sales: and more", "a  b", "x\r\ny",
        ]
        let resources = ["a:b", "x@y", "1e3", "0o17", "true", "null", "123", "acme-tools/po-helper"]
        try Scratch.with { scratch in
            let db = scratch.path("live.db"), out = scratch.path("repo")
            try Self.database(at: db) { w in
                for (index, text) in tricky.enumerated() { try w.upsert(LiveGroup(id: "g\(index)", description: text)) }
                for resource in resources { try w.upsert(LiveGrant(group: "g0", type: "plugin", resource: resource)) }
                // A long member list goes to block style.
                for index in 0..<20 {
                    try w.upsert(LiveUser(id: "user.number.\(index)", email: "u\(index)@example.com", unixUser: "u\(index)"))
                    try w.upsert(LiveMember(group: "g1", user: "user.number.\(index)"))
                }
            }
            let report = try Importer.run(ImportOptions(database: db, output: out))
            #expect(report.validation.isValid, "\(report.validation.diagnostics)")
            let state = try #require(report.validation.state)
            let groups = Dictionary(uniqueKeysWithValues: state.groups.map { ($0.id, $0) })
            for (index, text) in tricky.enumerated() {
                #expect(groups["g\(index)"]?.description == text, "\(text.debugDescription)")
            }
            #expect(groups["g0"]?.grants["plugin"] == resources.sorted())
            #expect(groups["g1"]?.members.count == 20)
            let g1 = try Self.read(out + "/groups/g1.yaml")
            #expect(g1.contains("members:\n  - user.number.0\n  - user.number.1\n"))
            #expect(try Self.read(out + "/groups/g2.yaml") == "description: \"trailing \"\n")
            #expect(try Self.read(out + "/groups/g5.yaml") == "description: \"on\"\n")
            #expect(try Self.read(out + "/groups/g33.yaml") == "description: ünïcødé\n")
            #expect(try Self.read(out + "/groups/g36.yaml") == "description: \"\\u202Ebidi\"\n")
            let g0 = try Self.read(out + "/groups/g0.yaml")
            #expect(g0.contains(#"plugin: ["0o17", "123", "1e3", "a:b", acme-tools/po-helper, "null", "true", x@y]"#), "\(g0)")
        }
    }

    @Test("refuses a non-empty directory, a file and a symbolic link, and writes nothing")
    func refusals() throws {
        try Scratch.with { scratch in
            let db = scratch.path("live.db")
            try Self.database(at: db)
            try scratch.write("full/keep.txt", "mine\n")
            try scratch.write("file", "x")
            symlink(scratch.path("empty"), scratch.path("link"))
            try FileManager.default.createDirectory(atPath: scratch.path("empty"), withIntermediateDirectories: true)
            let before = Self.files(under: scratch.root)
            for (target, message) in [("full", "is not empty"), ("file", "exists and is not a directory"),
                                      ("link", "is a symbolic link"), ("missing/repo", "does not exist")] {
                let error = #expect(throws: ImportError.self) {
                    try Importer.run(ImportOptions(database: db, output: scratch.path(target)))
                }
                #expect(error?.message.contains(message) == true, "\(target): \(error?.message ?? "")")
                #expect(error?.message.contains("nothing was written") == true)
            }
            #expect(Self.files(under: scratch.root) == before)
            #expect(try Self.read(scratch.path("full/keep.txt")) == "mine\n")
            // A missing database is an error too, and writes nothing.
            let error = #expect(throws: ImportError.self) {
                try Importer.run(ImportOptions(database: scratch.path("none.db"), output: scratch.path("empty")))
            }
            #expect(error?.message.contains("no accessctl database") == true)
            #expect(Self.files(under: scratch.root) == before)
            // An existing empty directory is fine.
            let report = try Importer.run(ImportOptions(database: db, output: scratch.path("empty")))
            #expect(report.validation.isValid)
            #expect(FileManager.default.fileExists(atPath: scratch.path("empty/accessctl.yaml")))
        }
    }

    @Test("--skills: a matching file replaces the placeholder; a differing one is written with a warning")
    func skillsDirectory() throws {
        try Scratch.with { scratch in
            let db = scratch.path("live.db")
            let crm = "# CRM\n\nUse CRM_KEY.\n"
            try Self.database(at: db) { w in
                try w.upsert(LiveService(id: "crm", name: "CRM", tokenExchangeURL: "https://crm.example.com/x",
                                         tokenRevokeURL: "https://crm.example.com/r", envVar: "CRM_KEY", secretEnv: "CRM_SECRET",
                                         skillSHA256: HomeFiles.sha256(crm), ttlDays: 90, source: .admin))
            }
            try scratch.write("skills/crm.md", crm)
            try scratch.write("skills/invoicing.md", "not the stored one\n")
            var options = ImportOptions(database: db, output: scratch.path("a"))
            options.skillsDirectory = scratch.path("skills")
            let matching = try Importer.run(options)
            #expect(matching.repository.placeholderSkills.isEmpty)
            #expect(try Self.read(scratch.path("a/services/crm.md")) == crm)
            // The stored text wins over a --skills file.
            #expect(try Self.read(scratch.path("a/services/invoicing.md")) == Self.skill)
            #expect(!matching.repository.warnings.contains { $0.contains("skill") }, "\(matching.repository.warnings)")

            try scratch.write("skills/crm.md", "# CRM, newer\n")
            options.output = scratch.path("b")
            let differing = try Importer.run(options)
            #expect(try Self.read(scratch.path("b/services/crm.md")) == "# CRM, newer\n")
            #expect(differing.repository.warnings.contains {
                $0.hasPrefix("service crm: crm.md from --skills differs from the skill last applied")
            }, "\(differing.repository.warnings)")
        }
    }
}
