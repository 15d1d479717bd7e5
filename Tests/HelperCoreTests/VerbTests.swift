#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HelperCore
import HelperProtocol
import Testing
import TestSupport

/// A verb and its request, as an exit test carries it into the child process.
enum VerbCall: Codable, Sendable {
    case inspect(InspectRequest)
    case apply(ApplyRequest)
}

/// Runs a verb of HelperCore on the tree in a child process (an exit test), as
/// `install-service-env` does it: root's credentials, umask 077, the tree's passwd file and
/// homes root. The child writes the response JSON to stdout and fails (exit 70) unless it
/// is back to root's uid, gid and groups afterwards. No registered secret may appear in the
/// response.
func runVerb(_ call: VerbCall, in tree: HomesTree, sourceLocation: SourceLocation = #_sourceLocation) async throws -> HelperResponse {
    let result = try await #require(processExitsWith: .success, observing: [\.standardOutputContent],
                                    sourceLocation: sourceLocation) { [call, passwd = tree.passwdPath as String, root = tree.root as String] in
        let credentials = try Credentials.ofRoot()
        umask(0o077)
        let helper = try Helper(options: HelperOptions(passwdFile: passwd, homesRoot: root), credentials: credentials)
        let response = switch call {
        case .inspect(let request): try helper.inspect(request)
        case .apply(let request): try helper.apply(request)
        }
        guard geteuid() == 0, getegid() == 0, try Credentials.ofRoot().rootGroups == credentials.rootGroups else { exit(70) }
        FileHandle.standardOutput.write(Data(Helper.encode(response)))
    }
    let output = String(decoding: result.standardOutputContent, as: UTF8.self)
    for secret in tree.secrets {
        #expect(!output.contains(secret), "the response contains a file content (secret \(secret))", sourceLocation: sourceLocation)
    }
    return try JSONDecoder().decode(HelperResponse.self, from: Data(result.standardOutputContent))
}

extension HelperResponse {
    func report(_ user: String) -> UserReport? { users.first { $0.user == user } }
}

/// `inspect` and `apply` called as functions, with the real switch to each user's
/// credentials; each call runs in a child process (see Support.swift for why).
@Suite("HelperCore: inspect and apply as the user", .enabled(if: geteuid() == 0, "switches to test uids"))
struct VerbTests {
    @Test("apply writes 0600 files owned by the user and a 0700 .claude_rules, leaves no temp file; inspect reads them back; a repeat writes nothing")
    func applyThenInspect() async throws {
        let tree = try HomesTree()
        let env = tree.serviceEnv("alice"), alpha = "# alpha \(tree.secret())\n", beta = "# beta \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta])
        builder.user("bob", serviceEnv: nil, skills: ["sc_alpha.md": alpha])
        let outside = tree.snapshot(excluding: [tree.home("alice"), tree.home("bob")])

        let first = try await runVerb(.apply(builder.request), in: tree)
        let alice = try #require(first.report("alice")), bob = try #require(first.report("bob"))
        #expect(alice.ok && bob.ok, "\(alice.error ?? "") \(bob.error ?? "")")
        #expect(alice.written == [".service_env", ".claude_rules/sc_alpha.md", ".claude_rules/sc_beta.md"])
        #expect(bob.written == [".claude_rules/sc_alpha.md"] && bob.removed == [])
        #expect(alice.serviceEnv == .present(sha(env), mode: "0600"))
        for (name, files) in [("alice", [".service_env": env, ".claude_rules/sc_alpha.md": alpha, ".claude_rules/sc_beta.md": beta]),
                              ("bob", [".claude_rules/sc_alpha.md": alpha])] {
            let home = tree.home(name)
            for (path, content) in files {
                let info = try #require(HomesTree.lstatOf(home + "/" + path), "\(name) \(path)")
                #expect(info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o7777 == 0o600, "\(name) \(path)")
                // Created with the user's effective ids, not root's (the helper never chowns).
                #expect(info.st_uid == tree.uid(name) && info.st_gid == tree.uid(name), "\(name) \(path)")
                #expect(tree.read(home + "/" + path) == content, "\(name) \(path)")
            }
            let rules = try #require(HomesTree.lstatOf(home + "/.claude_rules"))
            #expect(rules.st_mode & 0o7777 == 0o700 && rules.st_uid == tree.uid(name))
            #expect(tempFiles(under: home).isEmpty, "\(tempFiles(under: home))")
        }
        #expect(!HomesTree.exists(tree.home("bob") + "/.service_env"))

        let inspected = try await runVerb(.inspect(InspectRequest(users: ["alice", "bob", "carol"])), in: tree)
        #expect(inspected.users == [
            UserReport(user: "alice", ok: true, serviceEnv: .present(sha(env), mode: "0600"), claudeRules: .present(nil, mode: "0700"),
                       skills: ["sc_alpha.md": .present(sha(alpha), mode: "0600"), "sc_beta.md": .present(sha(beta), mode: "0600")]),
            UserReport(user: "bob", ok: true, serviceEnv: .absent, claudeRules: .present(nil, mode: "0700"),
                       skills: ["sc_alpha.md": .present(sha(alpha), mode: "0600")]),
            UserReport(user: "carol", ok: true, serviceEnv: .absent, claudeRules: .absent, skills: [:]),
        ])

        let before = tree.snapshot()
        let again = try await runVerb(.apply(builder.request), in: tree)
        #expect(again.users.map(\.ok) == [true, true])
        #expect(again.users.map(\.written) == [[], []] && again.users.map(\.removed) == [[], []])
        #expect(again.report("alice")?.skills == inspected.report("alice")?.skills)
        #expect(tree.snapshot() == before, "an apply with nothing to change touched the tree")
        #expect(tree.snapshot(excluding: [tree.home("alice"), tree.home("bob")]) == outside)
    }

    @Test("apply removes what is no longer wanted (a link itself, not its target) and stale temp files; other files stay")
    func applyRemoves() async throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice"), rules = home + "/.claude_rules"
        try tree.writeFile(home + "/.service_env", "OLD='1'\n", uid: uid)
        try tree.makeDirectory(rules, uid: uid, mode: 0o755)
        try tree.writeFile(rules + "/sc_keep.md", "# keep\n", uid: uid)
        try tree.writeFile(rules + "/sc_old.md", "# old\n", uid: uid)
        try tree.symlink(tree.shadowLike, at: rules + "/sc_linked.md", uid: uid)
        try tree.writeFile(rules + "/" + Helper.tempName(for: "sc_gone.md"), "half-written by a crashed run", uid: uid)
        try tree.writeFile(rules + "/km_notes.md", "# another tool's\n", uid: uid, mode: 0o644)
        try tree.writeFile(home + "/.bashrc", "# mine\n", uid: uid)
        let foreign = tree.snapshot(under: rules + "/km_notes.md").merging(tree.snapshot(under: home + "/.bashrc")) { a, _ in a }
        let victims = tree.snapshot(under: tree.root + "/etc")

        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: nil, skills: ["sc_keep.md": "# keep\n"])
        let response = try await runVerb(.apply(builder.request), in: tree)
        let report = try #require(response.report("alice"))
        #expect(report.ok, "\(report.error ?? "")")
        #expect(report.written == []) // sc_keep.md had the content and mode already
        #expect(Set(report.removed ?? []) == [".service_env", ".claude_rules/sc_old.md", ".claude_rules/sc_linked.md"])
        #expect(report.serviceEnv == .absent)
        #expect(report.skills == ["sc_keep.md": .present(sha("# keep\n"), mode: "0600")])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: rules)) == ["sc_keep.md", "km_notes.md"])
        #expect(HomesTree.lstatOf(rules).map { $0.st_mode & 0o7777 } == 0o700)
        #expect(tree.snapshot(under: rules + "/km_notes.md").merging(tree.snapshot(under: home + "/.bashrc")) { a, _ in a } == foreign)
        #expect(tree.snapshot(under: tree.root + "/etc") == victims)
    }

    @Test("apply replaces a .service_env that is a link (symbolic or hard) to root's file with a new file; root's file stays")
    func applyReplacesLinks() async throws {
        let tree = try HomesTree()
        try tree.symlink(tree.shadowLike, at: tree.home("alice") + "/.service_env", uid: tree.uid("alice"))
        try tree.hardLink(tree.passwdLike, at: tree.home("bob") + "/.service_env")
        let victims = tree.snapshot(under: tree.root + "/etc")
        var builder = RequestBuilder()
        let envs = ["alice": tree.serviceEnv("alice"), "bob": tree.serviceEnv("bob")]
        for name in ["alice", "bob"] { builder.user(name, serviceEnv: envs[name], skills: [:]) }

        let inspected = try await runVerb(.inspect(InspectRequest(users: ["alice", "bob"])), in: tree)
        #expect(inspected.report("alice")?.serviceEnv == .unsafe("is a symbolic link"))
        #expect(inspected.report("bob")?.serviceEnv == .unsafe("is owned by uid 0, not by the user"))

        let response = try await runVerb(.apply(builder.request), in: tree)
        for name in ["alice", "bob"] {
            let report = try #require(response.report(name))
            #expect(report.ok && report.written == [".service_env"], "\(report)")
            let info = try #require(HomesTree.lstatOf(tree.home(name) + "/.service_env"))
            #expect(info.st_mode & S_IFMT == S_IFREG && info.st_nlink == 1 && info.st_uid == tree.uid(name))
            #expect(tree.read(tree.home(name) + "/.service_env") == envs[name])
        }
        // root's files: the same content, mode, owner and inode; the hard link's count is back to one.
        #expect(tree.snapshot(under: tree.root + "/etc") == victims)
        #expect(HomesTree.lstatOf(tree.passwdLike)?.st_nlink == 1)
    }

    @Test("apply: a user refused in pass 1 gets nothing written; the others in the request are applied")
    func applyRefusedUser() async throws {
        let tree = try HomesTree()
        try tree.symlink(tree.rootDir, at: tree.home("alice") + "/.claude_rules", uid: tree.uid("alice"))
        try tree.makeDirectory(tree.home("bob") + "/.service_env", uid: tree.uid("bob"), mode: 0o700)
        let carolEnv = tree.serviceEnv("carol")
        let skill = "# skill \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv("alice"), skills: ["sc_a.md": skill])
        builder.user("bob", serviceEnv: tree.serviceEnv("bob"), skills: ["sc_a.md": skill])
        builder.user("carol", serviceEnv: carolEnv, skills: ["sc_a.md": skill])
        var request = builder.request
        // dave's skill refers to a content the request does not carry.
        try tree.addUser("dave", uid: 23004)
        request.users.append(.init(user: "dave", serviceEnv: "D=1\n", skills: ["sc_a.md": sha("not sent")]))
        let homes = ["alice", "bob", "dave"].map { tree.snapshot(inside: tree.home($0)) }
        let rootDir = tree.snapshot(under: tree.rootDir)

        let response = try await runVerb(.apply(request), in: tree)
        #expect(response.users.map(\.user) == ["alice", "bob", "carol", "dave"])
        #expect(response.report("alice")?.error == ".claude_rules is a symbolic link; refusing to follow it")
        #expect(response.report("bob")?.error == ".service_env is a directory; not replaced")
        #expect(response.report("dave")?.error
            == "skill sc_a.md refers to content \"\(sha("not sent"))\" that the request does not carry")
        #expect(response.report("carol") == UserReport(
            user: "carol", ok: true, serviceEnv: .present(sha(carolEnv), mode: "0600"), claudeRules: .present(nil, mode: "0700"),
            skills: ["sc_a.md": .present(sha(skill), mode: "0600")], written: [".service_env", ".claude_rules/sc_a.md"], removed: []))
        #expect(["alice", "bob", "dave"].map { tree.snapshot(inside: tree.home($0)) } == homes)
        #expect(tree.snapshot(under: tree.rootDir) == rootDir)
    }

    @Test("inspect reads with the user's permissions, not root's: what the user cannot read or list is unsafe")
    func inspectAsUser() async throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/.service_env", "A='1'\n", uid: uid, mode: 0o000)
        try tree.makeDirectory(home + "/.claude_rules", uid: uid, mode: 0o300)
        try tree.writeFile(home + "/.claude_rules/sc_a.md", "# a\n", uid: uid)
        try tree.makeDirectory(tree.home("bob") + "/.claude_rules", uid: tree.uid("bob"), mode: 0o700)
        try tree.writeFile(tree.home("bob") + "/.claude_rules/sc_b.md", "# b\n", uid: tree.uid("bob"), mode: 0o200)

        let response = try await runVerb(.inspect(InspectRequest(users: ["alice", "bob"])), in: tree)
        #expect(response.report("alice") == UserReport(
            user: "alice", ok: true, serviceEnv: .unsafe("cannot be read with the user's permissions"),
            claudeRules: .unsafe("cannot open .claude_rules: Permission denied"), skills: [:]))
        #expect(response.report("bob")?.skills == ["sc_b.md": .unsafe("cannot be read with the user's permissions")])
    }
}
