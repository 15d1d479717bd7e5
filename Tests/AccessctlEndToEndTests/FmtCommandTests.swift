import Foundation
import TestSupport
import Testing

/// Runs the built `accessctl` binary, as an admin or CI would.
private func accessctl(_ arguments: String...) throws -> CommandResult {
    try Command.run(Project.accessctl, arguments, environment: ["NO_COLOR": "1"])
}

private let acme = Project.root + "/examples/acme"

/// Files of the shipped example (all canonical).
private let acmeFiles = [
    "accessctl.yaml", "groups/Admin.yaml", "groups/Everyone.yaml", "groups/data-platform.yaml", "groups/finance.yaml",
    "groups/sales.yaml", "catalogs/table.yaml", "services/crm.yaml", "services/invoicing.yaml", "services/purchase_orders.yaml",
    "users/john.doe.yaml", "users/omar.haddad.yaml", "users/tom.baker.yaml",
]

private func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

@Suite("accessctl fmt (end to end)")
struct FmtCommandTests {
    @Test func theShippedExampleIsCanonicalAndFmtLeavesItAlone() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            let check = try accessctl("fmt", "--repo", repo, "--check")
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.isEmpty && check.stderr.isEmpty)
            let fmt = try accessctl("fmt", "--repo", repo)
            #expect(fmt.status == 0 && fmt.stdout.isEmpty, "\(fmt.stdout)\(fmt.stderr)")
            for file in acmeFiles {
                #expect(try read(repo + "/" + file) == read(acme + "/" + file), "\(file)")
            }
            #expect(try read(repo + "/groups/finance.yaml").contains("# Everyone in finance works with purchase orders daily"))
        }
    }

    @Test func checkNamesAnUnsortedGroupAndFmtSortsIt() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            #expect(try accessctl("fmt", "--repo", repo).status == 0)
            try scratch.write("acme/groups/sales.yaml", "description: Sales\nmembers: [sofia, kenji, lucas.martin]\ngrants:\n  service: [crm]\nconnect: [crm]\n")
            let check = try accessctl("fmt", "--repo", repo, "--check")
            #expect(check.status == 2)
            #expect(check.stdout == "groups/sales.yaml\n")
            let diff = try accessctl("fmt", "--repo", repo, "--check", "--diff")
            #expect(diff.status == 2)
            #expect(diff.stdout == """
                --- a/groups/sales.yaml
                +++ b/groups/sales.yaml
                @@ -1,5 +1,5 @@
                 description: Sales
                -members: [sofia, kenji, lucas.martin]
                +members: [kenji, lucas.martin, sofia]
                 grants:
                   service: [crm]
                 connect: [crm]

                """)
            let fmt = try accessctl("fmt", "--repo", repo)
            #expect(fmt.status == 0)
            #expect(fmt.stdout == "groups/sales.yaml\n")
            #expect(try read(repo + "/groups/sales.yaml").contains("members: [kenji, lucas.martin, sofia]\n"))
            let second = try accessctl("fmt", "--repo", repo)
            #expect(second.status == 0 && second.stdout.isEmpty)
        }
    }

    @Test func aFileThatDoesNotParseIsReportedAndTheOthersAreFormatted() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            try scratch.write("acme/users/broken.yaml", "email: x@acme.example\nconnections: [crm\n")
            try scratch.write("acme/users/dup.yaml", "email: a@acme.example\nemail: b@acme.example\n")
            try scratch.write("acme/users/zed.yaml", "email: z@acme.example\nconnections: [invoicing, crm]\n")
            let result = try accessctl("fmt", "--repo", repo)
            #expect(result.status == 1)
            #expect(result.stderr == """
                users/broken.yaml:3:1: error: the list opened with '[' at line 2, column 14 is never closed; add ']' after its last item
                users/dup.yaml:2:1: error: duplicate key 'email' (first at line 1, column 1)

                """)
            #expect(result.stdout == "users/zed.yaml\n")
            #expect(try read(repo + "/users/broken.yaml") == "email: x@acme.example\nconnections: [crm\n")
            // Errors win over changes with --check.
            try scratch.write("acme/groups/sales.yaml", "members: [b, a]\n")
            let check = try accessctl("fmt", "--repo", repo, "--check")
            #expect(check.status == 1)
            #expect(check.stdout == "groups/sales.yaml\n")
        }
    }

    @Test func refusedCommentsLeaveTheFileUntouched() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            let text = "email: x@acme.example\nconnections: [crm,  # why\n  invoicing]\n"
            try scratch.write("acme/users/x.yaml", text)
            let result = try accessctl("fmt", "--repo", repo, "--check")
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("users/x.yaml:2:21: error: cannot format: comment inside a flow collection"))
            #expect(try read(repo + "/users/x.yaml") == text)
        }
    }

    @Test func aSymlinkedYAMLFileIsRefused() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            try scratch.write("outside.yaml", "email: z@acme.example\nconnections: [invoicing, crm]\n")
            try FileManager.default.createSymbolicLink(atPath: repo + "/users/zoe.yaml", withDestinationPath: scratch.path("outside.yaml"))
            let result = try accessctl("fmt", "--repo", repo)
            #expect(result.status == 1)
            #expect(result.stderr == "users/zoe.yaml:1:1: error: cannot format: a symbolic link; fmt formats only regular files and never follows links\n")
            #expect(try read(scratch.path("outside.yaml")) == "email: z@acme.example\nconnections: [invoicing, crm]\n")
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: repo + "/users/zoe.yaml")
            #expect(link == scratch.path("outside.yaml"))
        }
    }

    @Test func crlfFilesBecomeLF() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(acme, to: "acme")
            #expect(try accessctl("fmt", "--repo", repo).status == 0)
            try scratch.write("acme/users/kenji.yaml", "email: kenji.sato@acme.example\r\n")
            let diff = try accessctl("fmt", "--repo", repo, "--check", "--diff")
            #expect(diff.status == 2)
            #expect(diff.stdout.contains("-email: kenji.sato@acme.example\\u{D}\n+email: kenji.sato@acme.example\n"))
            #expect(try accessctl("fmt", "--repo", repo).stdout == "users/kenji.yaml\n")
            #expect(try read(repo + "/users/kenji.yaml") == "email: kenji.sato@acme.example\n")
        }
    }

    @Test func unreadableDirectoryAndUsage() throws {
        let missing = try accessctl("fmt", "--repo", "/nonexistent/repo")
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: cannot read /nonexistent/repo"))
        #expect(try accessctl("fmt", "--frobnicate").status == 64)
        let help = try accessctl("fmt", "--help")
        #expect(help.status == 0)
        for text in ["--repo <dir>", "--check", "--diff", "Exit codes", "2 with --check"] {
            #expect(help.stdout.contains(text), "missing \(text)")
        }
    }
}
