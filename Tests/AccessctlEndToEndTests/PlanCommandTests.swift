import HomesClient
import AccessModel
import Foundation
import HelperProtocol
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `accessctl plan` and `show` run as a user would run them, on examples/acme committed to
/// a real git repository, a real SQLite database and a real homes tree written and read by
/// the real helper (as root, with test uids). Outputs are compared with golden files in
/// Tests/Golden (ACCESSCTL_UPDATE_GOLDEN=1 rewrites them; review the diff).
@Suite("accessctl plan (end to end)", .enabled(if: geteuid() == 0, "runs the root helper"), .serialized)
struct PlanCommandTests {
    static let now: Int64 = 1_800_000_000
    static let golden = Project.root + "/Tests/Golden"
    static let update = ProcessInfo.processInfo.environment["ACCESSCTL_UPDATE_GOLDEN"] == "1"

    /// The acme scratch server (TestSupport) with the plan tests' clock and made-up keys.
    struct Server {
        let acme: AcmeServer
        var scratch: Scratch { acme.scratch }
        var desired: DesiredState { acme.desired }
        var config: String { acme.config }
        var database: String { acme.database }

        init(_ scratch: Scratch) throws { acme = try AcmeServer(scratch) }

        /// Makes the database and the homes match the desired state (made-up keys).
        func converge() async throws {
            let failed = try await Converge.run(desired, database: database, helper: HelperClient(command: acme.helperCommand),
                                          now: PlanCommandTests.now)
            #expect(failed.isEmpty, "\(failed)")
        }

        func accessctl(_ arguments: String...) throws -> CommandResult {
            try acme.accessctl(arguments, environment: ["ACCESSCTL_NOW": String(PlanCommandTests.now)])
        }

        func keys() throws -> [String] { try acme.keys() }
    }

    /// Compares `actual` with Tests/Golden/`name`, replacing scratch paths by a placeholder.
    static func expectGolden(_ name: String, _ actual: String, scratch: Scratch) throws {
        let normalized = actual.replacingOccurrences(of: scratch.root, with: "$SCRATCH")
        let path = golden + "/" + name
        if update {
            try FileManager.default.createDirectory(atPath: golden, withIntermediateDirectories: true)
            try Data(normalized.utf8).write(to: URL(fileURLWithPath: path))
            return
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        #expect(normalized == expected, "\(name) differs from the golden file; rerun with ACCESSCTL_UPDATE_GOLDEN=1 and review")
    }

    static func expectNoSecrets(_ outputs: [String], keys: [String]) {
        for key in keys {
            for output in outputs { #expect(!output.contains(key), "a key appears in an output") }
        }
    }

    @Test("empty database: everything plans as create")
    func emptyDatabase() throws {
        try Scratch.with { scratch in
            let server = try Server(scratch)
            for (format, file) in [("text", "plan-empty.txt"), ("json", "plan-empty.json"), ("markdown", "plan-empty.md")] {
                let result = try server.accessctl("plan", "--config", server.config, "--format", format)
                #expect(result.status == 0, "\(result.stderr)")
                try PlanCommandTests.expectGolden(file, result.stdout, scratch: scratch)
            }
            let detailed = try server.accessctl("plan", "--config", server.config, "--detailed-exitcode")
            #expect(detailed.status == 2)
            #expect(!FileManager.default.fileExists(atPath: server.database), "plan must not create the database")
        }
    }

    @Test("database and homes matching the repository: no changes, exit 0 with --detailed-exitcode")
    func matchingState() async throws {
        try await Scratch.with { scratch in
            let server = try Server(scratch)
            try await server.converge()
            let result = try server.accessctl("plan", "--config", server.config, "--detailed-exitcode")
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            try PlanCommandTests.expectGolden("plan-nochanges.txt", result.stdout, scratch: scratch)
            let json = try server.accessctl("plan", "--config", server.config, "--format", "json")
            try PlanCommandTests.expectGolden("plan-nochanges.json", json.stdout, scratch: scratch)
            let markdown = try server.accessctl("plan", "--config", server.config, "--format", "markdown")
            try PlanCommandTests.expectGolden("plan-nochanges.md", markdown.stdout, scratch: scratch)
            PlanCommandTests.expectNoSecrets([result.stdout, result.stderr, json.stdout, markdown.stdout], keys: try server.keys())
        }
    }

    @Test("drift: an edited .service_env, a deleted skill, a foreign km_ file that is ignored")
    func drift() async throws {
        try await Scratch.with { scratch in
            let server = try Server(scratch)
            try await server.converge()
            let users = server.desired.users.filter { $0.active && !($0.connections.isEmpty) }
            let first = try #require(users.first), second = try #require(users.dropFirst().first)
            let home1 = scratch.path("homes/home/\(first.unixUser)"), home2 = scratch.path("homes/home/\(second.unixUser)")
            let env = home1 + "/.service_env"
            try (String(contentsOfFile: env, encoding: .utf8) + "EXTRA='edited by hand'\n").write(toFile: env, atomically: false, encoding: .utf8)
            let skills = try FileManager.default.contentsOfDirectory(atPath: home2 + "/.claude_rules").sorted()
            let deleted = try #require(skills.first { $0.hasPrefix("sc_") })
            try FileManager.default.removeItem(atPath: home2 + "/.claude_rules/" + deleted)
            try "notes\n".write(toFile: home2 + "/.claude_rules/km_notes.md", atomically: false, encoding: .utf8)

            var outputs: [String] = []
            for (format, file) in [("text", "plan-drift.txt"), ("json", "plan-drift.json"), ("markdown", "plan-drift.md")] {
                let result = try server.accessctl("plan", "--config", server.config, "--format", format, "--detailed-exitcode")
                #expect(result.status == 2, "\(result.stderr)")
                #expect(!result.stdout.contains("km_notes"))
                try PlanCommandTests.expectGolden(file, result.stdout, scratch: scratch)
                outputs += [result.stdout, result.stderr]
            }
            // A saved plan, and show in every format, stay free of keys too.
            let saved = scratch.path("drift.plan")
            let out = try server.accessctl("plan", "--config", server.config, "--out", saved)
            #expect(out.status == 0)
            outputs.append(try String(contentsOfFile: saved, encoding: .utf8))
            for format in ["text", "json", "markdown"] {
                let shown = try server.accessctl("show", saved, "--format", format)
                #expect(shown.status == 0)
                outputs.append(shown.stdout)
            }
            let shownText = try server.accessctl("show", saved)
            #expect(shownText.stdout == out.stdout)
            // The homes inspected by two helper processes (one half each) give the same plan.
            let split = try server.acme.accessctl(["plan", "--config", server.config, "--format", "json"],
                                                  environment: ["ACCESSCTL_NOW": String(PlanCommandTests.now), "ACCESSCTL_INSPECT_SPLIT": "2"])
            #expect(split.stdout == (try server.accessctl("plan", "--config", server.config, "--format", "json")).stdout)
            PlanCommandTests.expectNoSecrets(outputs, keys: try server.keys())
        }
    }

    @Test("an invalid repository is reported like validate, exit 1; a missing helper is a clear error")
    func failures() throws {
        try Scratch.with { scratch in
            let server = try Server(scratch)
            try scratch.write("repo/users/broken.yaml", "email: [\n")
            let invalid = try server.accessctl("plan", "--config", server.config, "--repo", scratch.path("repo"))
            #expect(invalid.status == 1)
            #expect(invalid.stdout.contains("users/broken.yaml:"))
            try scratch.write("bad-helper.yaml", "database: \(server.database)\nhelper: [/nonexistent/helper]\nkey_file: \(server.acme.keyFile)\n")
            let noHelper = try server.accessctl("plan", "--config", scratch.path("bad-helper.yaml"), "--repo", scratch.path("repo"), "--ref", "main")
            #expect(noHelper.status == 1)
            #expect(noHelper.stderr.contains("cannot run the helper /nonexistent/helper"))
            try scratch.write("bad-config.yaml", "databse: x\n")
            let badConfig = try server.accessctl("plan", "--config", scratch.path("bad-config.yaml"))
            #expect(badConfig.status == 1)
            #expect(badConfig.stderr.contains("unknown key 'databse'"))
            let noFile = try server.accessctl("show", scratch.path("missing.plan"))
            #expect(noFile.status == 1)
        }
    }
}
