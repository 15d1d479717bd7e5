import Foundation
import Testing
import TestSupport

/// `accessctl diff` on real git repositories made from examples/acme: one base commit and a
/// branch per change, compared with golden files in Tests/Golden (ACCESSCTL_UPDATE_GOLDEN=1
/// rewrites them; review the diff). Commit ids are stable: TestSupport fixes git's dates and
/// names.
@Suite("accessctl diff (end to end)")
struct DiffCommandTests {
    static let now = "1800000000"

    /// examples/acme committed as `main`, and one branch per change.
    struct Repository {
        let scratch: Scratch
        var path: String { scratch.path("repo") }

        init(_ scratch: Scratch) throws {
            self.scratch = scratch
            try scratch.copyTree(Project.root + "/examples/acme", to: "repo")
            try scratch.commitAll(in: "repo", message: "acme")
        }

        /// Creates `branch` from main with the edits committed.
        func branch(_ branch: String, _ edit: (String) throws -> Void) throws {
            try scratch.git("checkout", "-q", "-b", branch, "main", in: "repo")
            try edit(path)
            try scratch.git("add", "-A", in: "repo")
            try scratch.git("commit", "-q", "-m", branch, in: "repo")
            try scratch.git("checkout", "-q", "main", in: "repo")
        }

        func diff(_ head: String, _ extra: String...) throws -> CommandResult {
            try Command.run(Project.accessctl, ["diff", "--repo", path, "--base", "main", "--head", head] + extra,
                            environment: ["NO_COLOR": "1", "ACCESSCTL_NOW": DiffCommandTests.now])
        }
    }

    static func replace(_ file: String, _ old: String, _ new: String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains(old), "\(file) does not contain \(old)")
        try Data(text.replacingOccurrences(of: old, with: new).utf8).write(to: URL(fileURLWithPath: file))
    }

    /// The change pairs of the issue: each branch and what it does to acme.
    static func makeBranches(_ repo: Repository) throws {
        try repo.branch("member-added") { try replace($0 + "/groups/finance.yaml", "priya]", "priya, ana.garcia]") }
        try repo.branch("group-deleted") { try FileManager.default.removeItem(atPath: $0 + "/groups/sales.yaml") }
        try repo.branch("service-disabled") { try replace($0 + "/services/invoicing.yaml", "env_var:", "enabled: false\nenv_var:") }
        try repo.branch("user-deactivated") { try replace($0 + "/users/john.doe.yaml", "email:", "active: false\nemail:") }
        // Withdrawing finance's invoicing grant leaves maria.lopez's and priya's invoicing
        // connections without a grant: a policy violation that fails the check...
        try repo.branch("grant-withdrawn") {
            try replace($0 + "/groups/finance.yaml", "service: [invoicing, purchase_orders]", "service: [purchase_orders]")
        }
        // ...unless the pull request also removes those connections: then their keys are revoked.
        try repo.branch("grant-withdrawn-connections-removed") {
            try replace($0 + "/groups/finance.yaml", "service: [invoicing, purchase_orders]", "service: [purchase_orders]")
            try replace($0 + "/users/maria.lopez.yaml", "connections: [invoicing]", "connections: []")
            try replace($0 + "/users/priya.yaml", "connections: [invoicing]", "connections: []")
        }
    }

    @Test("golden diffs for acme commit pairs", arguments: [
        "member-added", "group-deleted", "service-disabled", "user-deactivated", "grant-withdrawn-connections-removed",
    ])
    func goldenDiffs(branch: String) throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            try Self.makeBranches(repo)
            for (format, suffix) in [("text", "txt"), ("json", "json"), ("markdown", "md")] {
                let result = try repo.diff(branch, "--format", format)
                #expect(result.status == 0, "\(result.stderr)")
                try PlanCommandTests.expectGolden("diff-\(branch).\(suffix)", result.stdout, scratch: scratch)
                #expect(!result.stdout.contains("\u{1B}"))
            }
            let detailed = try repo.diff(branch, "--detailed-exitcode")
            #expect(detailed.status == 2)
        }
    }

    @Test("a policy violation in the head fails the check with path:line:column")
    func invalidHead() throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            try Self.makeBranches(repo)
            let result = try repo.diff("grant-withdrawn", "--format", "markdown")
            #expect(result.status == 1)
            try PlanCommandTests.expectGolden("diff-grant-withdrawn.txt", result.stdout, scratch: scratch)
            #expect(result.stdout.contains("users/maria.lopez.yaml:"))
            #expect(!result.stdout.contains("<details>"), "no diff is shown for an invalid head")
        }
    }

    @Test("the same commit on both sides: no changes, exit 0 even with --detailed-exitcode")
    func noChanges() throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            let result = try repo.diff("main", "--detailed-exitcode")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("No access changes between the two commits."))
            let markdown = try repo.diff("main", "--format", "markdown")
            #expect(markdown.stdout.hasPrefix("**No access changes between the two commits.**\n"))
            #expect(!markdown.stdout.contains("live state"), "a diff has no live state: \(markdown.stdout)")
            #expect(markdown.stdout.contains("· no actions"), "\(markdown.stdout)")
        }
    }

    @Test("an invalid base is reported, and the diff is made against an empty base")
    func invalidBase() throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            try repo.branch("broken") { try Self.replace($0 + "/users/kenji.yaml", "email:", "emali:") }
            try scratch.git("checkout", "-q", "-b", "fixed", "broken", in: "repo")
            try Self.replace(repo.path + "/users/kenji.yaml", "emali:", "email:")
            try scratch.git("commit", "-q", "-am", "fix", in: "repo")
            let result = try Command.run(Project.accessctl, ["diff", "--repo", repo.path, "--base", "broken", "--head", "fixed"],
                                         environment: ["NO_COLOR": "1", "ACCESSCTL_NOW": Self.now])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("the base broken does not validate"))
            #expect(result.stdout.contains("9 users gain access, 0 lose; 12 keys to issue"))
        }
    }

    @Test("unknown refs and a missing repository exit 1 with a clear message")
    func badRefs() throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            let base = try Command.run(Project.accessctl, ["diff", "--repo", repo.path, "--base", "no-such-branch"])
            #expect(base.status == 1)
            #expect(base.stderr.contains("no-such-branch"), "\(base.stderr)")
            let missing = try Command.run(Project.accessctl, ["diff", "--repo", scratch.path("nothing"), "--base", "main"])
            #expect(missing.status == 1)
            #expect(missing.stderr.hasPrefix("error: "))
            let usage = try Command.run(Project.accessctl, ["diff", "--repo", repo.path])
            #expect(usage.status == 64)
        }
    }

    @Test("a diff too long for one comment is split into parts under 60,000 characters")
    func markdownParts() throws {
        try Scratch.with { scratch in
            let repo = try Repository(scratch)
            try repo.branch("many-users") { path in
                var members: [String] = []
                for i in 0..<1_500 {
                    let id = "analyst\(i)"
                    members.append(id)
                    try Data("email: \(id)@acme.example\nconnections: [invoicing]\n".utf8)
                        .write(to: URL(fileURLWithPath: path + "/users/\(id).yaml"))
                }
                try Self.replace(path + "/groups/finance.yaml", "priya]", "priya, " + members.joined(separator: ", ") + "]")
            }
            let result = try repo.diff("many-users", "--format", "markdown")
            #expect(result.status == 0, "\(result.stderr)")
            let parts = result.stdout.split(separator: try Regex("\n<!-- accessctl: part [0-9]+ of [0-9]+ -->\n\n")).map(String.init)
            #expect(parts.count > 2)
            for (index, body) in parts.enumerated() {
                #expect(body.utf8.count < 60_000)
                #expect(body.hasPrefix("**1500 users gain access, 0 lose; 3000 keys to issue, 0 to revoke.** (part \(index + 1) of \(parts.count))"),
                        "\(body.prefix(120))")
            }
        }
    }
}
