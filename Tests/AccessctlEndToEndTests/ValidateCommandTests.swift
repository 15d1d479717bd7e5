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
        #expect(result.stdout == "valid: 20 files in directory \(acme)\n")
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
                #expect(result.stdout == "valid: 20 files in \(ref) (commit \(commit.prefix(12)))\n")
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
                "users/maria.lopez.yaml:1:8: error: 'email' value (12 characters, sha256:eba038945cb8, starts \"not\") is not an email address (name@example.com)",
                "users/maria.lopez.yaml:2:9: error: 'active' must be a boolean (true or false), not a string ('yes')",
                "users/maria.lopez.yaml:3:1: error: unknown key 'color' in a user file; known keys: email, unix_user, active, connections",
            ])
            #expect(lines.last?.hasPrefix("invalid: 5 errors") == true)
        }
    }

    /// Fixture 128's keys (from the fixture corpus): none may appear in any output.
    static let plantedSecrets = [
        "sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ", "sk_test_51HxYzAbCdEfGhIjKlMnOpQr", "sk_live_4f9a0b1c2d3e4f5a6b7c8d9e",
        "ghp_R2d2C3poX9wQ7eLm4KsT8vBn1ZyHa6JuFg0i",
        "github_pat_11AAQX7YQ0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789abcdefGHIJKLmnop",
        "xoxb-2048417893-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "bill_8fJ2kL9qXz3mN7pR4tW6", "Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    ]

    @Test("keys committed anywhere are errors at their position, masked in text, JSON and from git; allowed lines pass")
    func committedSecretsAreCaughtAndNeverPrinted() throws {
        let fixture = Project.root + "/Tests/Fixtures/invalid/128-secrets-in-values"
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(Project.root + "/Tests/Fixtures/base", to: "repo")
            _ = try scratch.copyTree(fixture + "/overlay", to: "repo")
            try scratch.commitAll(in: "repo")
            let expected = try String(contentsOfFile: fixture + "/expected.txt", encoding: .utf8)
            for arguments in [["--repo", repo], ["--repo", repo, "--ref", "HEAD"], ["--repo", repo, "--format", "json"]] {
                let result = try Command.run(Project.accessctl, ["validate"] + arguments, environment: ["NO_COLOR": "1"])
                #expect(result.status == 1, "\(arguments)")
                for secret in Self.plantedSecrets {
                    #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "\(arguments): \(secret) printed")
                }
                if !arguments.contains("json") {
                    #expect(result.stdout.hasPrefix(expected), "\(arguments):\n\(result.stdout)")
                } else {
                    #expect(result.stdout.contains("this looks like a Stripe secret key (34 characters"))
                }
            }
            // The allowed lines are quiet; so is every base file.
            let text = try Command.run(Project.accessctl, ["validate", "--repo", repo], environment: ["NO_COLOR": "1"]).stdout
            #expect(!text.contains("users/erin.yaml:8:"), "\(text)")
            #expect(!text.contains("services/orders.md:13:"), "\(text)")
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
        #expect((object?["summary"] as? [String: Any])?["files"] as? Int == 20)
    }

    @Test func unreadableSourcesAreErrorsWithExitOne() throws {
        let missing = try accessctl("validate", "--repo", "/nonexistent/repo")
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: cannot read /nonexistent/repo"))
        #expect(missing.stdout.isEmpty)

        let notGit = try accessctl("validate", "--repo", acme + "/users", "--ref", "HEAD")
        #expect(notGit.status == 1)
        #expect(notGit.stderr.contains("\(acme)/users is not a git repository"))

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
            let usage = try accessctl("explain", "grup", "x", "--repo", repo)
            #expect(usage.status == 64)
            #expect(usage.stderr.contains("cannot explain 'grup': use explain user ID, explain group NAME or explain service ID; did you mean 'group'?"), "\(usage.stderr)")
        }
    }

    @Test func explainGroupAndServiceInTextAndJSONMatchTheGoldenFiles() throws {
        try Scratch.with { scratch in
            try scratch.copyTree(acme, to: "acme")
            try scratch.commitAll(in: "acme")
            let repo = scratch.path("acme")
            for (arguments, golden) in [(["group", "finance"], "explain-group-finance"), (["group", "Everyone"], "explain-group-Everyone"),
                                        (["service", "invoicing"], "explain-service-invoicing"), (["service", "crm"], "explain-service-crm")] {
                for (format, suffix) in [("text", "txt"), ("json", "json")] {
                    let result = try Command.run(Project.accessctl, ["explain"] + arguments + ["--repo", repo, "--ref", "main", "--format", format],
                                                 environment: ["NO_COLOR": "1"])
                    #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
                    try PlanCommandTests.expectGolden("\(golden).\(suffix)", result.stdout, scratch: scratch)
                }
            }
        }
    }

    @Test func unknownNamesAreErrorsWithADidYouMean() throws {
        let cases: [([String], String)] = [
            (["explain", "group", "finanse"], "error: unknown group 'finanse': there is no groups/finanse.yaml; did you mean 'finance'?\n"),
            (["explain", "group", "everyone"], "error: unknown group 'everyone': there is no groups/everyone.yaml; did you mean 'Everyone'?\n"),
            (["explain", "service", "invoicng"], "error: unknown service 'invoicng': there is no services/invoicng.yaml; did you mean 'invoicing'?\n"),
            (["explain", "service", "billing_portal"], "error: unknown service 'billing_portal': there is no services/billing_portal.yaml; give a service id: the name of a file in services/, without .yaml\n"),
            (["explain", "user", "maria.lopes"], "error: unknown user 'maria.lopes': there is no users/maria.lopes.yaml; did you mean 'maria.lopez'?\n"),
            (["who-can", "tabel", "finance.invoices"], "error: unknown resource type 'tabel': resource_types of accessctl.yaml lists service, plugin, table, knowledge; did you mean 'table'?\n"),
            (["who-can", "database", "finance"], "error: unknown resource type 'database': resource_types of accessctl.yaml lists service, plugin, table, knowledge\n"),
            (["who-can", "service", "crmm"], "error: unknown service 'crmm': there is no services/crmm.yaml; did you mean 'crm'?\n"),
            (["who-can", "table", "finance.invoice"], "error: unknown table id 'finance.invoice': catalogs/table.yaml does not list it; did you mean 'finance.invoices'?\n"),
        ]
        for (arguments, message) in cases {
            let result = try Command.run(Project.accessctl, arguments + ["--repo", acme], environment: ["NO_COLOR": "1"])
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr == message, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        // A type without a catalog takes any id: nobody holds it.
        let plugin = try accessctl("who-can", "plugin", "acme-tools/unheard-of", "--repo", acme)
        #expect(plugin.status == 0 && plugin.stdout == "plugin acme-tools/unheard-of: 0 users\n")
        let table = try accessctl("who-can", "table", "finance.payments", "--repo", acme)
        #expect(table.status == 0 && table.stdout == "table finance.payments: 3 users\n  john.doe  via finance\n  maria.lopez  via finance\n  priya  via finance\n", "\(table.stdout)")
    }

    @Test func aGrantOfAnIdMissingFromItsCatalogFailsValidationAndNoCatalogMeansNoCheck() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            let finance = try String(contentsOfFile: repo + "/groups/finance.yaml", encoding: .utf8)
            try scratch.write("acme/groups/finance.yaml", finance.replacingOccurrences(of: "finance.payments,", with: "finance.paymnts,"))
            let invalid = try accessctl("validate", "--repo", repo)
            #expect(invalid.status == 1)
            #expect(invalid.stdout.hasPrefix("groups/finance.yaml:7:29: error: unknown table id 'finance.paymnts': catalogs/table.yaml does not list it; did you mean 'finance.payments'?\n"), "\(invalid.stdout)")
            // Without the catalog the same id is only checked for its shape, as before catalogs.
            try FileManager.default.removeItem(atPath: repo + "/catalogs")
            let valid = try accessctl("validate", "--repo", repo)
            #expect(valid.status == 0, "\(valid.stdout)")
        }
    }
}
