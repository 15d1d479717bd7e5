
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `accessctl state export` and `plan --live-snapshot`: a snapshot taken on the "server"
/// (the acme scratch server: real database, real helper as root on a homes tree) must let
/// CI reach the same plan as the server, drift included, without a key in it.
@Suite("accessctl state export and plan --live-snapshot (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"),
       .serialized)
struct StateExportTests {
    typealias Server = PlanCommandTests.Server

    /// The actions of a JSON plan (what must agree between the server and the snapshot).
    static func actions(_ json: String) throws -> [[String: AnyHashable]] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let actions = object?["actions"] as? [[String: Any]] ?? []
        return actions.map { action in
            var out: [String: AnyHashable] = [:]
            out["kind"] = action["kind"] as? String
            out["address"] = action["address"] as? String
            out["reason"] = action["reason"] as? String
            let changes = (action["changes"] as? [[String: Any]] ?? []).map { "\($0["field"] ?? ""):\($0["old"] ?? "nil")->\($0["new"] ?? "nil")" }
            out["changes"] = changes
            return out
        }
    }

    /// Exports a snapshot, then plans the repository both ways and expects the same actions.
    static func expectSamePlan(_ server: Server, _ scratch: Scratch, ref: String = "HEAD") throws -> (snapshot: String, plan: String) {
        let file = scratch.path("snapshot-\(UUID().uuidString).json")
        let export = try server.accessctl("state", "export", "--config", server.config, "--out", file)
        #expect(export.status == 0, "\(export.stderr)")
        let real = try server.accessctl("plan", "--config", server.config, "--ref", ref, "--format", "json")
        #expect(real.status == 0, "\(real.stderr)")
        let fromSnapshot = try server.accessctl("plan", "--repo", server.acme.repo, "--ref", ref, "--live-snapshot", file,
                                                "--format", "json")
        #expect(fromSnapshot.status == 0, "\(fromSnapshot.stderr)")
        #expect(try actions(fromSnapshot.stdout) == actions(real.stdout))
        let snapshot = try String(contentsOfFile: file, encoding: .utf8)
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)
        PlanCommandTests.expectNoSecrets([snapshot, export.stdout, export.stderr, fromSnapshot.stdout], keys: try server.keys())
        return (snapshot, fromSnapshot.stdout)
    }

    @Test("a converged server: golden snapshot, no changes from the snapshot either")
    func converged() async throws {
        try await Scratch.with { scratch in
            let server = try Server(scratch)
            try await server.converge()
            let (snapshot, plan) = try Self.expectSamePlan(server, scratch)
            try PlanCommandTests.expectGolden("snapshot-acme.json", snapshot, scratch: scratch)
            #expect(plan.contains("\"actions\" : [\n\n  ]") || plan.contains("\"actions\" : []"))
            let text = try server.accessctl("plan", "--repo", server.acme.repo, "--ref", "HEAD", "--live-snapshot",
                                            scratch.path("snapshot-acme.json"), "--detailed-exitcode")
            #expect(text.status == 1, "a missing snapshot file is an error")
            #expect(text.stderr.contains("snapshot-acme.json"))
        }
    }

    @Test("drift and a pull request: the snapshot plan equals the server's plan")
    func driftAndChange() async throws {
        try await Scratch.with { scratch in
            let server = try Server(scratch)
            try await server.converge()
            // Drift on accounts the pull request does not touch (sales: connected to crm by their group).
            func account(_ id: String) throws -> String { try #require(server.desired.users.first { $0.id == id }).unixUser }
            let env = server.acme.home(try account("kenji")) + "/.service_env"
            try (String(contentsOfFile: env, encoding: .utf8) + "EXTRA='edited by hand'\n").write(toFile: env, atomically: false, encoding: .utf8)
            try "changed by the analyst\n".write(toFile: server.acme.home(try account("sofia")) + "/.claude_rules/sc_crm.md",
                                                  atomically: false, encoding: .utf8)
            chmod(server.acme.home(try account("lucas.martin")) + "/.service_env", 0o644)
            // The pull request: ana.garcia joins finance, invoicing's env var is renamed.
            try server.acme.commit("change") { repo in
                let group = repo + "/groups/finance.yaml"
                let text = try String(contentsOfFile: group, encoding: .utf8)
                try text.replacingOccurrences(of: "priya]", with: "priya, ana.garcia]").write(toFile: group, atomically: false, encoding: .utf8)
                let service = repo + "/services/invoicing.yaml"
                let yaml = try String(contentsOfFile: service, encoding: .utf8)
                try yaml.replacingOccurrences(of: "INVOICING_API_KEY", with: "INVOICE_API_KEY").write(toFile: service, atomically: false, encoding: .utf8)
            }
            let (_, plan) = try Self.expectSamePlan(server, scratch)
            for expected in ["file.kenji.service_env\",\n      \"changes\" : [\n\n      ],\n      \"kind\" : \"write-file\",\n      \"reason\" : \"drift: file changed on disk",
                             "file.sofia.claude_rules/sc_crm.md", "drift: mode 0644, expected 0600",
                             "member.finance.ana.garcia", "connections changed"] {
                #expect(plan.contains(expected), "\(expected)")
            }
        }
    }

    @Test("a file that is not a snapshot, or an option that needs the server, is refused")
    func refusals() throws {
        try Scratch.with { scratch in
            let server = try Server(scratch)
            try scratch.write("not-a-snapshot.json", "{\"format_version\": 1, \"actions\": []}\n")
            let wrong = try server.accessctl("plan", "--repo", server.acme.repo, "--live-snapshot", scratch.path("not-a-snapshot.json"))
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("is not an accessctl live snapshot"), "\(wrong.stderr)")
            let combined = try server.accessctl("plan", "--repo", server.acme.repo, "--live-snapshot", scratch.path("x"),
                                                "--database", server.database)
            #expect(combined.status == 64)
            let noDatabase = try server.accessctl("state", "export", "--out", scratch.path("s.json"), "--config", scratch.path("none.yaml"))
            #expect(noDatabase.status == 1)
        }
    }
}
