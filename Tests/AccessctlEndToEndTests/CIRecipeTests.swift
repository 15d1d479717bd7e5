import Foundation
import Testing
import TestSupport

/// examples/ci/pr-check.sh, run with /bin/sh (dash on Debian) on real git repositories
/// made from examples/acme with the built accessctl on PATH; its packing of long output
/// into comments with a stand-in accessctl; and the comment step of
/// examples/ci/github-actions.yml, run with bash against a stand-in `gh`.
@Suite("examples/ci: the pull-request check")
struct CIRecipeTests {
    static let script = Project.root + "/examples/ci/pr-check.sh"
    static let workflow = Project.root + "/examples/ci/github-actions.yml"
    static let acme = Project.root + "/examples/acme"
    static let systemPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"

    /// Runs pr-check.sh in the scratch directory with `bin` (a stand-in accessctl) or the
    /// built products first on PATH.
    static func check(_ scratch: Scratch, _ arguments: [String], stub: Bool = false,
                      environment: [String: String] = [:]) throws -> CommandResult {
        let first = stub ? scratch.path("bin") : Project.products
        var env = ["PATH": first + ":" + systemPath, "NO_COLOR": "1", "TMPDIR": scratch.path("")]
        env.merge(environment) { _, new in new }
        return try Command.run("/bin/sh", [script] + arguments, environment: env, in: scratch.root)
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Replaces `old` (which must be there) by `new` in a file of the scratch directory.
    static func edit(_ scratch: Scratch, _ relative: String, _ old: String, _ new: String) throws {
        let before = try text(scratch.path(relative))
        try #require(before.contains(old), "\(relative) does not contain \(old)")
        try scratch.write(relative, before.replacingOccurrences(of: old, with: new))
    }

    static func commit(_ scratch: Scratch, _ message: String) throws {
        try scratch.git("add", "-A", in: "access")
        try scratch.git("commit", "-q", "-m", message, in: "access")
    }

    /// examples/acme committed on main in `access`, and a branch `change` made by `change`.
    static func repository(_ scratch: Scratch, change: (Scratch) throws -> Void) throws -> String {
        try scratch.copyTree(acme, to: "access")
        try scratch.commitAll(in: "access")
        try scratch.git("checkout", "-q", "-b", "change", in: "access")
        try change(scratch)
        try commit(scratch, "change")
        return scratch.path("access")
    }

    /// The comment files pr-check.sh wrote, in order.
    static func comments(_ out: String) throws -> [String] {
        var result: [String] = []
        while exists("\(out)/comment-\(result.count + 1).md") {
            result.append(try text("\(out)/comment-\(result.count + 1).md"))
        }
        return result
    }

    static func size(_ text: String) -> Int { text.utf8.count }

    // MARK: with the built accessctl

    // Needs `accessctl diff` (issue 7): fails until the command is implemented.
    @Test("a valid change: exit 0, the diff from the merge base as Markdown (summary first) and JSON, one comment")
    func validChange() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try Self.edit(s, "access/groups/finance.yaml", "members: [john.doe, maria.lopez, priya]",
                              "members: [emma, john.doe, maria.lopez, priya]")
                try Self.edit(s, "access/groups/finance.yaml", "table: [finance.invoices, finance.payments, finance.purchase_orders]",
                              "table: [finance.invoices, finance.purchase_orders]")
            }
            // main moves on after the branch point; that change is not the pull request's.
            try scratch.git("checkout", "-q", "main", in: "access")
            try Self.edit(scratch, "access/groups/sales.yaml", "knowledge: [pricing, sales-playbook]",
                          "knowledge: [pricing, pricing-2027, sales-playbook]")
            try Self.commit(scratch, "main moves on")
            try scratch.git("checkout", "-q", "change", in: "access")

            let out = scratch.path("out")
            let result = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(try Self.text(out + "/result") == "ok\n")
            #expect(try Self.text(out + "/validate.txt").hasPrefix("valid: "))

            let diff = try Self.text(out + "/diff.md")
            let summary = String(diff.prefix { $0 != "\n" })
            #expect(!summary.trimmingCharacters(in: .whitespaces).isEmpty, "no summary line: \(diff.prefix(300))")
            #expect(!summary.hasPrefix("<!--"))
            #expect(diff.contains("emma"), "the member added is not in the diff")
            #expect(diff.contains("finance.payments"), "the grant withdrawn is not in the diff")
            #expect(!diff.contains("pricing-2027"), "a change of main after the merge base is in the diff")
            let json = try Data(contentsOf: URL(fileURLWithPath: out + "/diff.json"))
            #expect((try? JSONSerialization.jsonObject(with: json)) != nil, "diff.json is not JSON")

            let comments = try Self.comments(out)
            #expect(comments.count == 1)
            #expect(comments.first?.hasPrefix(summary + "\n") == true)
            let base = try scratch.git("merge-base", "main", "change", in: "access")
            #expect(comments.first?.contains("`\(base.prefix(12))` (merge base)") == true)
        }
    }

    @Test("--snapshot: the plan against a live-state snapshot follows the diff in the comment")
    func livePlan() throws {
        // The snapshot of examples/acme that the state export tests keep as a golden file.
        let snapshot = Project.root + "/Tests/Golden/snapshot-acme.json"
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try Self.edit(s, "access/groups/finance.yaml", "members: [john.doe, maria.lopez, priya]",
                              "members: [emma, john.doe, maria.lopez, priya]")
            }
            let out = scratch.path("out")
            let result = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out,
                                                  "--snapshot", snapshot])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let comment = try Self.comments(out).joined()
            let diff = try #require(comment.range(of: "member.finance.emma"))
            let plan = try #require(comment.range(of: "### Plan against the live state\n"))
            #expect(diff.lowerBound < plan.lowerBound)
            #expect(comment[plan.upperBound...].contains("**Plan: "), "\(comment)")
            #expect(try Self.text(out + "/plan.md").contains("member.finance.emma"))
        }
    }

    /// The golden snapshot with `created_at` moved to `age` seconds ago.
    static func snapshot(_ scratch: Scratch, age: Int64) throws -> String {
        let golden = try text(Project.root + "/Tests/Golden/snapshot-acme.json")
        let created = Int64(Date().timeIntervalSince1970) - age
        let path = scratch.path("snapshot-\(age).json")
        try scratch.write("snapshot-\(age).json", golden.replacingOccurrences(of: "\"created_at\" : 1800000000", with: "\"created_at\" : \(created)"))
        return path
    }

    @Test("the comment shows the diff's warnings and the live snapshot's age (a warning when it is over a day old)")
    func warningsAndSnapshotAge() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                // An inactive user with a connection: valid, with a warning.
                try Self.edit(s, "access/users/tom.baker.yaml", "active: false", "active: false\nconnections: [crm]")
            }
            let out = scratch.path("out")
            let fresh = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out,
                                                 "--snapshot", try Self.snapshot(scratch, age: 3 * 3600)])
            #expect(fresh.status == 0, "\(fresh.stdout)\(fresh.stderr)")
            let comment = try Self.comments(out).joined()
            let warnings = try #require(comment.range(of: "**Warnings** (they do not fail the check):"), "\(comment)")
            #expect(comment[warnings.upperBound...].contains("users/tom.baker.yaml:"), "\(comment)")
            #expect(comment.contains("Snapshot taken ") && comment.contains("(3 hours ago)."), "\(comment)")

            let stale = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out,
                                                 "--snapshot", try Self.snapshot(scratch, age: 3 * 86_400)])
            #expect(stale.status == 0, "\(stale.stdout)\(stale.stderr)")
            #expect(stale.stderr.contains("warning: live snapshot taken"), "\(stale.stderr)")
            let old = try Self.comments(out).joined()
            #expect(old.contains("**The snapshot is old:** taken ") && old.contains("(3 days ago); export a new one"), "\(old)")
        }
    }

    @Test("an invalid head: exit 1, every problem as path:line:column, the report as the comment, no diff")
    func invalidHead() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try Self.edit(s, "access/groups/sales.yaml", "connect: [crm]", "conect: [crm]")
                try Self.edit(s, "access/users/emma.yaml", "connections: [crm]", "connections: [crm]\nactive: no")
            }
            let out = scratch.path("out")
            let result = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            let logged = result.stdout + result.stderr
            #expect(logged.contains(try Regex(#"groups/sales\.yaml:\d+:\d+: error: unknown key 'conect'"#)), "\(logged)")
            #expect(logged.contains(try Regex(#"users/emma\.yaml:\d+:\d+: error: 'active' must be a boolean"#)), "\(logged)")
            #expect(try Self.text(out + "/result") == "invalid\n")
            let report = try Self.text(out + "/validate.txt")
            #expect(report.contains("invalid: 2 errors"))

            let comments = try Self.comments(out)
            #expect(comments.count == 1)
            let comment = comments.first ?? ""
            let short = try scratch.git("rev-parse", "--short=12", "change", in: "access")
            #expect(comment.hasPrefix("**accessctl: validation failed** for commit `\(short)` (2 errors)."), "\(comment)")
            #expect(comment.contains("```text\n" + report + "```\n"))
            #expect(!Self.exists(out + "/diff.md") && !Self.exists(out + "/diff.json"))
        }
    }

    @Test("a report with backticks cannot end the comment's code block early")
    func reportWithBackticks() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try s.write("access/users/x.yaml", "email: x@acme.example\n\"````\": 1\n")
            }
            let out = scratch.path("out")
            let result = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            let comment = try Self.text(out + "/comment-1.md")
            #expect(comment.contains("\n`````text\n") && comment.hasSuffix("\n`````\n"), "\(comment)")
        }
    }

    @Test("the environment stands in for options; ACCESSCTL names the executable")
    func environment() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try Self.edit(s, "access/groups/sales.yaml", "connect: [crm]", "conect: [crm]")
            }
            let result = try Self.check(scratch, [], environment: [
                "ACCESSCTL": Project.accessctl, "PATH": Self.systemPath, "ACCESSCTL_REPO": repo,
                "ACCESSCTL_BASE": "main", "ACCESSCTL_HEAD": "change", "ACCESSCTL_OUT": "o",
            ])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            #expect(try Self.text(scratch.path("o/result")) == "invalid\n")
        }
    }

    @Test("usage errors exit 64; a base that is not there, or no shared history, exit 1 with the reason")
    func usageAndGitErrors() throws {
        try Scratch.with { scratch in
            let repo = try Self.repository(scratch) { s in
                try Self.edit(s, "access/groups/sales.yaml", "[kenji, lucas.martin, sofia]", "[kenji, sofia]")
            }
            for arguments in [["--repo", repo], ["--base", "main", "--fmt", "sometimes"], ["--base"], ["--base", "main", "extra"]] {
                let result = try Self.check(scratch, arguments)
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains("pr-check.sh: "))
            }
            let help = try Self.check(scratch, ["--help"])
            #expect(help.status == 0 && help.stdout.hasPrefix("usage: pr-check.sh --base REF"))

            let missing = try Self.check(scratch, ["--repo", repo, "--base", "origin/main", "--out", "o"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("base 'origin/main' is not a commit"))
            #expect(try Self.text(scratch.path("o/result")) == "error\n")
            #expect(try Self.text(scratch.path("o/comment-1.md")).hasPrefix("**accessctl: the pull-request check could not run.**"))

            try scratch.git("checkout", "-q", "--orphan", "unrelated", in: "access")
            try Self.commit(scratch, "unrelated")
            let unrelated = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "unrelated", "--out", "o"])
            #expect(unrelated.status == 1)
            #expect(unrelated.stderr.contains("they share no history"), "\(unrelated.stderr)")
        }
    }

    @Test("the script is POSIX sh (dash -n)", .enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/dash")))
    func dashSyntax() throws {
        let result = try Command.run("/bin/dash", ["-n", Self.script])
        #expect(result.status == 0, "\(result.stderr)")
    }

    // MARK: with a stand-in accessctl (the packing of the output, whatever diff prints)

    /// A stand-in accessctl: validate succeeds; diff prints `DIFF_PARTS` parts of
    /// `PART_BYTES` bytes (JSON with --format json) or exits with `DIFF_EXIT`; fmt and
    /// plan print and exit as `FMT_EXIT`, `PLAN_EXIT` say.
    static func stub(_ scratch: Scratch) throws {
        try scratch.write("bin/accessctl", #"""
            #!/bin/sh
            case $1 in
            validate) echo "valid: 19 files (stand-in)"; exit 0 ;;
            diff)
                [ "${DIFF_EXIT:-0}" -eq 0 ] || { echo "error: diff broke" >&2; exit "$DIFF_EXIT"; }
                case "$*" in *"--format json"*) echo '{"stand_in":true}'; exit 0 ;; esac
                n=1
                while [ "$n" -le "${DIFF_PARTS:-1}" ]; do
                    [ "$n" -eq 1 ] || printf '\n<!-- accessctl: part %s of %s -->\n\n' "$n" "$DIFF_PARTS"
                    [ "$n" -eq 1 ] && printf '**Diff: stand-in summary**\n'
                    printf 'part %s\n' "$n"
                    awk -v n="${PART_BYTES:-100}" 'BEGIN { while (n > 0) { print "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; n -= 101 } }'
                    n=$((n + 1))
                done
                exit 0 ;;
            fmt) echo "$4/groups/sales.yaml"; exit "${FMT_EXIT:-0}" ;;
            plan) echo "**Plan: 1 to add** (stand-in)"; [ "${PLAN_EXIT:-0}" -eq 0 ] || echo "error: bad snapshot" >&2; exit "${PLAN_EXIT:-0}" ;;
            esac
            exit 1
            """# + "\n", executable: true)
    }

    @Test("a long diff: its parts are packed into comments under 60,000 bytes, in order, without the part markers")
    func longDiffIsPacked() throws {
        try Scratch.with { scratch in
            try Self.stub(scratch)
            let repo = try Self.repository(scratch) { s in try s.write("access/README.md", "changed\n") }
            let out = scratch.path("out")
            let result = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out],
                                        stub: true, environment: ["DIFF_PARTS": "4", "PART_BYTES": "25000"])
            #expect(result.status == 0, "\(result.stderr)")
            let comments = try Self.comments(out)
            // 25 kB each: parts 1+2, then 3+4 and the footer.
            #expect(comments.count == 2)
            #expect(comments.allSatisfy { Self.size($0) < 60000 })
            #expect(!comments.joined().contains("<!-- accessctl: part"))
            #expect(comments.first?.hasPrefix("**Diff: stand-in summary**\npart 1\n") == true)
            let all = comments.joined(separator: "\n")
            let positions = (1...4).compactMap { all.range(of: "part \($0)\n")?.lowerBound }
            #expect(positions.count == 4 && positions == positions.sorted())
            #expect(comments.last?.contains("(merge base)") == true)

            let big = try Self.check(scratch, ["--repo", repo, "--base", "main", "--head", "change", "--out", out],
                                     stub: true, environment: ["DIFF_PARTS": "3", "PART_BYTES": "59000"])
            #expect(big.status == 0, "\(big.stderr)")
            let alone = try Self.comments(out)
            #expect(alone.count == 3, "one comment per part of almost 60,000 bytes; stale comment files removed")
            #expect(alone.allSatisfy { Self.size($0) < 60000 })
        }
    }

    @Test("--fmt warn adds a note after the diff; --fmt fail puts it first and exits 2")
    func layoutCheck() throws {
        try Scratch.with { scratch in
            try Self.stub(scratch)
            let repo = try Self.repository(scratch) { s in try s.write("access/README.md", "changed\n") }
            let out = scratch.path("out")
            let arguments = ["--repo", repo, "--base", "main", "--head", "change", "--out", out]
            let warn = try Self.check(scratch, arguments + ["--fmt", "warn"], stub: true, environment: ["FMT_EXIT": "2"])
            #expect(warn.status == 0, "\(warn.stderr)")
            let advisory = try Self.text(out + "/comment-1.md")
            #expect(advisory.hasPrefix("**Diff: stand-in summary**"))
            #expect(advisory.contains("(advisory).\n\n```text\ngroups/sales.yaml\n```\n"), "temporary path not removed: \(advisory)")
            #expect(try Self.text(out + "/result") == "ok\n")

            let fail = try Self.check(scratch, arguments + ["--fmt", "fail"], stub: true, environment: ["FMT_EXIT": "2"])
            #expect(fail.status == 2, "\(fail.stderr)")
            #expect(try Self.text(out + "/comment-1.md").hasPrefix("**Layout:** some files are not in canonical layout."))
            #expect(try Self.text(out + "/result") == "unformatted\n")

            let clean = try Self.check(scratch, arguments + ["--fmt", "fail"], stub: true)
            #expect(clean.status == 0, "\(clean.stderr)")
            #expect(!(try Self.text(out + "/comment-1.md")).contains("Layout"))
        }
    }

    @Test("--snapshot adds the live plan; a snapshot that fails is noted but does not fail the check; diff errors do")
    func snapshotAndErrors() throws {
        try Scratch.with { scratch in
            try Self.stub(scratch)
            let repo = try Self.repository(scratch) { s in try s.write("access/README.md", "changed\n") }
            try scratch.write("live-state.json", "{}\n")
            let out = scratch.path("out")
            let arguments = ["--repo", repo, "--base", "main", "--head", "change", "--out", out]
            let plan = try Self.check(scratch, arguments + ["--snapshot", scratch.path("live-state.json")], stub: true)
            #expect(plan.status == 0, "\(plan.stderr)")
            let comment = try Self.text(out + "/comment-1.md")
            #expect(comment.contains("### Plan against the live state\n"))
            #expect(comment.contains("**Plan: 1 to add** (stand-in)"))
            #expect(Self.exists(out + "/plan.md"))

            for (snapshot, environment) in [(scratch.path("live-state.json"), ["PLAN_EXIT": "1"]), (scratch.path("missing.json"), [:])] {
                let failed = try Self.check(scratch, arguments + ["--snapshot", snapshot], stub: true, environment: environment)
                #expect(failed.status == 0, "\(failed.stderr)")
                #expect(failed.stderr.contains("warning: the plan against the live snapshot failed"))
                #expect(try Self.text(out + "/comment-1.md").contains("Not available: `accessctl plan --live-snapshot` failed"))
                #expect(!Self.exists(out + "/plan.md"))
            }

            let broken = try Self.check(scratch, arguments, stub: true, environment: ["DIFF_EXIT": "1"])
            #expect(broken.status == 1)
            #expect(try Self.text(out + "/result") == "error\n")
            #expect(try Self.text(out + "/comment-1.md").contains("accessctl diff exited with 1: error: diff broke"))
        }
    }

    // MARK: the GitHub Actions workflow

    /// The `run:` script of each step of the workflow, by step name (python3-ruamel.yaml).
    static func workflowScripts() throws -> [String: String] {
        let program = """
            import json, sys
            from ruamel.yaml import YAML
            workflow = YAML(typ="safe", pure=True).load(open(sys.argv[1], encoding="utf-8"))
            steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
            print(json.dumps({s.get("name", str(i)): s["run"] for i, s in enumerate(steps) if "run" in s}))
            """
        let result = try Command.run("/usr/bin/python3", ["-c", program, workflow])
        try #require(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode([String: String].self, from: Data(result.stdout.utf8))
    }

    @Test("no run: script of the workflow interpolates an expression (untrusted values come in through env)")
    func noExpressionsInScripts() throws {
        let scripts = try Self.workflowScripts()
        #expect(scripts.count >= 5)
        for (name, script) in scripts {
            #expect(!script.contains("${{"), "step '\(name)' interpolates an expression into its script")
        }
    }

    /// A stand-in `gh api` over a JSON file of comments; --jq goes through jq.
    static func fakeGh(_ scratch: Scratch) throws {
        try scratch.write("gh-bin/gh", #"""
            #!/usr/bin/python3
            import json, os, subprocess, sys
            state = os.environ["FAKE_GH_STATE"]
            args = sys.argv[1:]
            assert args.pop(0) == "api", sys.argv
            method, jq, body, path = "GET", None, None, None
            while args:
                a = args.pop(0)
                if a == "--paginate": continue
                elif a in ("--method", "-X"): method = args.pop(0)
                elif a == "--jq": jq = args.pop(0)
                elif a in ("-F", "--field"):
                    key, value = args.pop(0).split("=", 1)
                    assert key == "body" and value.startswith("@"), value
                    body = open(value[1:], encoding="utf-8").read()
                else: path = a
            data = json.load(open(state, encoding="utf-8"))
            with open(state + ".log", "a") as log: log.write(f"{method} {path}\n")
            issue, comment = "repos/acme/access/issues/7/comments", "repos/acme/access/issues/comments/"
            if method == "GET" and path == issue + "?per_page=100":
                out = json.dumps(data["comments"])
                if jq: subprocess.run(["jq", "-r", jq], input=out, text=True, check=True)
                else: print(out)
            elif method == "POST" and path == issue:
                data["comments"].append({"id": data["next"], "user": {"login": "github-actions[bot]"}, "body": body})
                data["next"] += 1
            elif method in ("PATCH", "DELETE") and path.startswith(comment):
                id = int(path[len(comment):])
                [target] = [c for c in data["comments"] if c["id"] == id]
                assert target["user"]["login"] == "github-actions[bot]", "not ours"
                if method == "PATCH": target["body"] = body
                else: data["comments"].remove(target)
            else:
                sys.exit(f"gh: unexpected call {method} {path}")
            json.dump(data, open(state, "w", encoding="utf-8"))
            """# + "\n", executable: true)
    }

    @Test("the comment step edits its comments in place, adds and deletes parts, and leaves other comments alone")
    func commentStep() throws {
        let jq = ["/usr/bin/jq", "/bin/jq"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(jq != nil, "jq is missing: scripts/test installs it")
        let script = try #require(try Self.workflowScripts()["Post or update the pull-request comment"])
        try Scratch.with { scratch in
            try Self.fakeGh(scratch)
            try scratch.write("step.sh", script)
            let bot = "github-actions[bot]"
            func comment(_ id: Int, _ login: String, _ body: String) -> [String: Any] {
                ["id": id, "user": ["login": login], "body": body]
            }
            let initial: [String: Any] = ["next": 10, "comments": [
                comment(1, "mallory", "<!-- accessctl-diff -->\nlooks like ours, is not"),
                comment(2, bot, "<!-- accessctl-diff -->\r\nold main (stored with CRLF)"),
                comment(3, bot, "<!-- accessctl-diff: part 2 -->\nold part 2"),
                comment(4, bot, "<!-- accessctl-diff: part 3 -->\nold part 3"),
                comment(5, bot, "another workflow's comment"),
            ]]
            try scratch.write("state.json", String(decoding: try JSONSerialization.data(withJSONObject: initial), as: UTF8.self))

            func run(_ parts: [String]) throws -> [Int: (String, String)] {
                try? FileManager.default.removeItem(atPath: scratch.path("tmp"))
                for (index, part) in parts.enumerated() { try scratch.write("tmp/accessctl-check/comment-\(index + 1).md", part) }
                let result = try Command.run("/bin/bash", ["--noprofile", "--norc", "-eo", "pipefail", scratch.path("step.sh")], environment: [
                    "PATH": scratch.path("gh-bin") + ":" + Self.systemPath, "GH_TOKEN": "t", "PR_NUMBER": "7",
                    "GITHUB_REPOSITORY": "acme/access", "RUNNER_TEMP": scratch.path("tmp"),
                    "FAKE_GH_STATE": scratch.path("state.json"),
                ])
                #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
                let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.path("state.json")))) as? [String: Any]
                var comments: [Int: (String, String)] = [:]
                for case let c as [String: Any] in state?["comments"] as? [Any] ?? [] {
                    comments[c["id"] as? Int ?? -1] = ((c["user"] as? [String: Any])?["login"] as? String ?? "", c["body"] as? String ?? "")
                }
                return comments
            }

            // Two parts: the main comment and part 2 are edited, part 3 deleted.
            var comments = try run(["new main\n", "new part 2\n"])
            #expect(comments.keys.sorted() == [1, 2, 3, 5])
            #expect(comments[1]?.1 == "<!-- accessctl-diff -->\nlooks like ours, is not")
            #expect(comments[2]?.1 == "<!-- accessctl-diff -->\nnew main\n")
            #expect(comments[3]?.1 == "<!-- accessctl-diff: part 2 -->\nnew part 2\n")
            #expect(comments[5]?.1 == "another workflow's comment")
            #expect(try !Self.text(scratch.path("state.json.log")).contains("POST"))

            // Three parts: part 3 is posted.
            comments = try run(["main again\n", "part 2 again\n", "part 3 again\n"])
            #expect(comments.keys.sorted() == [1, 2, 3, 5, 10])
            #expect(comments[10]?.1 == "<!-- accessctl-diff: part 3 -->\npart 3 again\n")

            // One part: parts 2 and 3 are deleted; the main comment stays where it is.
            comments = try run(["short now\n"])
            #expect(comments.keys.sorted() == [1, 2, 5])
            #expect(comments[2]?.1 == "<!-- accessctl-diff -->\nshort now\n")
        }
    }
}
