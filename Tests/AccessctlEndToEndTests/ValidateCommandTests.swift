import Foundation
import TestSupport
import Testing

/// Runs the built `accessctl` binary, as a user or CI would.
private func accessctl(_ arguments: String..., environment: [String: String] = ["NO_COLOR": "1"]) throws -> CommandResult {
    try Command.run(Project.accessctl, arguments, environment: environment)
}

private let acme = Project.root + "/examples/acme"

@Suite("accessctl validate (end to end)")
struct ValidateCommandTests {
    @Test func exampleRepositoryIsValid() throws {
        let result = try accessctl("validate", "--repo", acme)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout == "valid: 19 files in directory \(acme)\n")
        #expect(result.stderr.isEmpty)
    }

    @Test func exampleCommittedToGitIsValidAtEveryRefForm() throws {
        try Scratch.with { scratch in
            try scratch.copyTree(acme, to: "acme")
            try scratch.commitAll(in: "acme")
            let commit = try scratch.git("rev-parse", "HEAD", in: "acme")
            try scratch.git("tag", "v1", in: "acme")
            for ref in ["HEAD", "main", "v1", commit, String(commit.prefix(8))] {
                let result = try accessctl("validate", "--repo", scratch.path("acme"), "--ref", ref)
                #expect(result.status == 0, "\(ref): \(result.stdout)\(result.stderr)")
                #expect(result.stdout == "valid: 19 files in \(ref) (commit \(commit.prefix(12)))\n")
            }
            // A bare clone reads the same.
            try scratch.git("clone", "-q", "--bare", "acme", "acme.git")
            let bare = try accessctl("validate", "--repo", scratch.path("acme.git"), "--ref", "main")
            #expect(bare.status == 0, "\(bare.stdout)\(bare.stderr)")
        }
    }

    @Test func brokenRepositoryReportsEveryProblemSortedWithExitOne() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "broken")
            try scratch.write("broken/users/maria.lopez.yaml", "email: not-an-email\nactive: yes\ncolor: blue\n")
            try scratch.write("broken/group/x.yaml", "members: []\n")
            let result = try accessctl("validate", "--repo", repo)
            #expect(result.status == 1)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.dropLast() == [
                "group/x.yaml:1:1: error: unknown file; did you mean 'groups/x.yaml'?",
                "users/maria.lopez.yaml:1:1: error: user id 'maria.lopez' is not a valid Unix account name (it must match ^[a-z_][a-z0-9_-]{0,31}$); set 'unix_user'",
                "users/maria.lopez.yaml:1:8: error: 'email' value 'not-an-email' is not an email address (name@example.com)",
                "users/maria.lopez.yaml:2:9: error: 'active' must be a boolean (true or false), not a string ('yes')",
                "users/maria.lopez.yaml:3:1: error: unknown key 'color' in a user file; known keys: email, unix_user, active, connections",
            ])
            #expect(lines.last?.hasPrefix("invalid: 5 errors") == true)
        }
    }

    @Test func jsonFormat() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "broken")
            try scratch.write("broken/accessctl.yaml", "version: 2\n")
            let result = try accessctl("validate", "--repo", repo, "--format", "json")
            #expect(result.status == 1)
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["valid"] as? Bool == false)
            #expect(object?["format_version"] as? Int == 1)
            let diagnostics = object?["diagnostics"] as? [[String: Any]]
            #expect(diagnostics?.count == 1)
            #expect(diagnostics?.first?["path"] as? String == "accessctl.yaml")
            #expect(diagnostics?.first?["line"] as? Int == 1)
            #expect(diagnostics?.first?["column"] as? Int == 10)
            #expect(diagnostics?.first?["severity"] as? String == "error")
            #expect((diagnostics?.first?["message"] as? String)?.hasPrefix("unsupported format version 2") == true)
        }
        let valid = try accessctl("validate", "--repo", acme, "--format", "json")
        #expect(valid.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == true)
        #expect((object?["summary"] as? [String: Any])?["files"] as? Int == 19)
    }

    @Test func unreadableSourcesAreErrorsWithExitOne() throws {
        let missing = try accessctl("validate", "--repo", "/nonexistent/repo")
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: cannot read /nonexistent/repo"))
        #expect(missing.stdout.isEmpty)

        let notGit = try accessctl("validate", "--repo", acme + "/users", "--ref", "HEAD")
        #expect(notGit.status == 1)
        #expect(notGit.stderr.contains("could not find repository"))

        try Scratch.with { scratch in
            try scratch.copyTree(acme, to: "acme")
            try scratch.commitAll(in: "acme")
            let badRef = try accessctl("validate", "--repo", scratch.path("acme"), "--ref", "no-such-branch")
            #expect(badRef.status == 1)
            #expect(badRef.stderr.contains("no-such-branch"))
        }
    }

    @Test func usageErrorsExitSixtyFour() throws {
        let badFormat = try accessctl("validate", "--repo", acme, "--format", "xml")
        #expect(badFormat.status == 64)
        #expect(badFormat.stderr.contains("xml"))
        let unknownFlag = try accessctl("validate", "--frobnicate")
        #expect(unknownFlag.status == 64)
        let unknownCommand = try accessctl("frobnicate")
        #expect(unknownCommand.status == 64)
    }

    @Test func helpReadsWell() throws {
        let top = try accessctl("--help")
        #expect(top.status == 0)
        #expect(top.stdout.contains("USAGE: accessctl <subcommand>"))
        #expect(top.stdout.contains("validate"))
        let validate = try accessctl("validate", "--help")
        #expect(validate.status == 0)
        for text in ["--repo <dir>", "--ref <ref>", "--format <format>", "Exit codes"] {
            #expect(validate.stdout.contains(text), "missing \(text)")
        }
        let version = try accessctl("--version")
        #expect(version.status == 0 && !version.stdout.isEmpty)
    }

    @Test func colourOnlyWhenAskedOfATerminal() throws {
        // Output to a pipe is never coloured, with or without NO_COLOR.
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "broken")
            try scratch.write("broken/accessctl.yaml", "version: 2\n")
            let plain = try accessctl("validate", "--repo", repo, environment: [:])
            #expect(!plain.stdout.contains("\u{1B}["))
        }
    }
}

@Suite("accessctl explain and who-can (end to end)")
struct QueryCommandTests {
    private func accessctl(_ arguments: String...) throws -> CommandResult {
        try Command.run(Project.accessctl, arguments, environment: ["NO_COLOR": "1"])
    }

    @Test func explainAndWhoCanAtARef() throws {
        try Scratch.with { scratch in
            try scratch.copyTree(Project.root + "/examples/acme", to: "acme")
            try scratch.commitAll(in: "acme")
            let repo = scratch.path("acme")
            let explain = try accessctl("explain", "user", "ana.garcia", "--repo", repo, "--ref", "main")
            #expect(explain.status == 0, "\(explain.stderr)")
            #expect(explain.stdout.contains("groups: Admin, Everyone, data-platform"))
            #expect(explain.stdout.contains("service crm  via data-platform"))
            #expect(explain.stdout.contains("crm  (listed in users/ana.garcia.yaml)"))
            let json = try accessctl("explain", "user", "ana.garcia", "--repo", repo, "--ref", "main", "--format", "json")
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(object?["unix_user"] as? String == "agarcia")
            let whoCan = try accessctl("who-can", "service", "crm", "--repo", repo, "--ref", "main")
            #expect(whoCan.status == 0)
            #expect(whoCan.stdout.hasPrefix("service crm: 6 users"))
            #expect(whoCan.stdout.contains("kenji  via sales  [connected]"))
            let unknown = try accessctl("explain", "user", "nobody", "--repo", repo)
            #expect(unknown.status == 1)
            let usage = try accessctl("explain", "group", "x", "--repo", repo)
            #expect(usage.status == 64)
        }
    }
}
