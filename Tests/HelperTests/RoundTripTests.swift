#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol
import Testing
import TestSupport

@Suite("install-service-env: inspect and apply round trip", .enabled(if: geteuid() == 0, "runs the helper as root"))
struct RoundTripTests {
    /// (mtime seconds, nanoseconds, inode) of a path.
    static func stamp(_ path: String) -> [Int]? {
        HomesTree.lstatOf(path).map { [Int($0.st_mtim.tv_sec), Int($0.st_mtim.tv_nsec), Int($0.st_ino)] }
    }

    @Test("apply writes exactly the requested files, inspect reads them back, and a repeat writes nothing")
    func roundTrip() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), bob = tree.home("bob")
        let rules = alice + "/.claude_rules"
        // alice already has a rules directory (mode 0755: the helper tightens it) with files
        // that are not the helper's: they must never change.
        try tree.makeDirectory(rules, uid: tree.uid("alice"), mode: 0o755)
        try tree.writeFile(rules + "/km_notes.md", "# notes from another sync\n", uid: tree.uid("alice"), mode: 0o644)
        try tree.writeFile(rules + "/README", "not a skill\n", uid: tree.uid("alice"), mode: 0o600)
        let foreign = tree.snapshot(under: rules + "/km_notes.md").merging(tree.snapshot(under: rules + "/README")) { a, _ in a }

        let envAlice = tree.serviceEnv("alice"), envBob = tree.serviceEnv("bob")
        let alpha = "# alpha skill \(tree.secret("alpha"))\n", beta = "# beta skill \(tree.secret("beta"))\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: envAlice, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta])
        builder.user("bob", serviceEnv: envBob, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta])
        #expect(builder.contents.count == 2) // shared skill texts are sent once

        let outside = tree.snapshot(excluding: [alice, bob])
        let first = try tree.apply(builder.request)
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        for name in ["alice", "bob"] {
            let report = try #require(first.report(name))
            #expect(report.ok, "\(report.error ?? "")")
            #expect(Set(report.written ?? []) == [".service_env", ".claude_rules/sc_alpha.md", ".claude_rules/sc_beta.md"])
            #expect(report.removed == [])
        }

        // inspect: digests and modes as requested.
        let inspected = try tree.inspect(["alice", "bob"])
        #expect(inspected.status == 0, "\(inspected.stdout) \(inspected.stderr)")
        for (name, env) in [("alice", envAlice), ("bob", envBob)] {
            let report = try #require(inspected.report(name))
            #expect(report.ok)
            #expect(report.serviceEnv == .present(digest(env), mode: "0600"))
            #expect(report.claudeRules == .present(nil, mode: "0700"))
            #expect(report.skills == ["sc_alpha.md": .present(digest(alpha), mode: "0600"),
                                      "sc_beta.md": .present(digest(beta), mode: "0600")])
            #expect(report.written == nil && report.removed == nil)
            // and on disk: regular files owned by the user, modes 0600 / 0700, exact content.
            let home = tree.home(name), uid = tree.uid(name)
            for (path, mode, content) in [(home + "/.service_env", 0o600, env), (home + "/.claude_rules/sc_alpha.md", 0o600, alpha),
                                          (home + "/.claude_rules/sc_beta.md", 0o600, beta), (home + "/.claude_rules", 0o700, nil)] {
                let info = try #require(HomesTree.lstatOf(path), "\(path) missing")
                #expect(info.st_mode & S_IFMT == (content == nil ? S_IFDIR : S_IFREG), "\(path)")
                #expect(info.st_mode & 0o7777 == mode_t(mode), "\(path) mode \(String(info.st_mode & 0o7777, radix: 8))")
                #expect(info.st_uid == uid && info.st_gid == uid, "\(path) owner \(info.st_uid):\(info.st_gid)")
                if let content { #expect(tree.read(path) == content, "\(path)") }
            }
            // no temp files left behind
            let names = try FileManager.default.contentsOfDirectory(atPath: home + "/.claude_rules")
            #expect(!names.contains { $0.hasSuffix(".accessctl-tmp") }, "\(names)")
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: home)).contains { $0.hasSuffix(".accessctl-tmp") })
        }
        #expect(tree.snapshot(under: rules + "/km_notes.md").merging(tree.snapshot(under: rules + "/README")) { a, _ in a } == foreign)

        // The same request again: nothing written, nothing touched.
        let watched = ["alice", "bob"].flatMap { [tree.home($0), tree.home($0) + "/.service_env", tree.home($0) + "/.claude_rules",
                                                   tree.home($0) + "/.claude_rules/sc_alpha.md", tree.home($0) + "/.claude_rules/sc_beta.md"] }
        let stamps = watched.map(Self.stamp)
        let again = try tree.apply(builder.request)
        #expect(again.status == 0)
        for name in ["alice", "bob"] {
            let report = try #require(again.report(name))
            #expect(report.ok)
            #expect(report.written == [], "\(name) rewritten: \(report.written ?? [])")
            #expect(report.removed == [])
            #expect(report.serviceEnv == .present(digest(name == "alice" ? envAlice : envBob), mode: "0600"))
        }
        #expect(watched.map(Self.stamp) == stamps, "mtimes or inodes changed on a no-op apply")

        // One skill changes for alice only: just that file is written.
        let beta2 = "# beta skill, version 2 \(tree.secret("beta2"))\n"
        var changed = RequestBuilder()
        changed.user("alice", serviceEnv: envAlice, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta2])
        changed.user("bob", serviceEnv: envBob, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta])
        let aliceAlpha = Self.stamp(rules + "/sc_alpha.md"), aliceEnv = Self.stamp(alice + "/.service_env")
        let bobStamps = watched.filter { $0.hasPrefix(bob) }.map(Self.stamp)
        let third = try tree.apply(changed.request)
        #expect(third.status == 0)
        #expect(third.report("alice")?.written == [".claude_rules/sc_beta.md"])
        #expect(third.report("alice")?.removed == [])
        #expect(third.report("alice")?.skills?["sc_beta.md"] == .present(digest(beta2), mode: "0600"))
        #expect(third.report("bob")?.written == [])
        #expect(tree.read(rules + "/sc_beta.md") == beta2)
        #expect(Self.stamp(rules + "/sc_alpha.md") == aliceAlpha)
        #expect(Self.stamp(alice + "/.service_env") == aliceEnv)
        #expect(watched.filter { $0.hasPrefix(bob) }.map(Self.stamp) == bobStamps)

        // alice loses sc_alpha.md: removed, and reported as removed.
        var fewer = RequestBuilder()
        fewer.user("alice", serviceEnv: envAlice, skills: ["sc_beta.md": beta2])
        let fourth = try tree.apply(fewer.request)
        #expect(fourth.status == 0)
        #expect(fourth.report("alice")?.removed == [".claude_rules/sc_alpha.md"])
        #expect(fourth.report("alice")?.written == [])
        #expect(fourth.report("alice")?.skills == ["sc_beta.md": .present(digest(beta2), mode: "0600")])
        #expect(!HomesTree.exists(rules + "/sc_alpha.md"))
        #expect(tree.read(rules + "/sc_beta.md") == beta2)

        // service_env null: .service_env removed.
        var noEnv = RequestBuilder()
        noEnv.user("alice", serviceEnv: nil, skills: ["sc_beta.md": beta2])
        let fifth = try tree.apply(noEnv.request)
        #expect(fifth.status == 0)
        #expect(fifth.report("alice")?.removed == [".service_env"])
        #expect(fifth.report("alice")?.serviceEnv == .absent)
        #expect(!HomesTree.exists(alice + "/.service_env"))

        // No connection left at all: no sc_*.md, no .service_env; foreign files stay.
        var nothing = RequestBuilder()
        nothing.user("alice", serviceEnv: nil)
        let sixth = try tree.apply(nothing.request)
        #expect(sixth.status == 0)
        #expect(sixth.report("alice")?.removed == [".claude_rules/sc_beta.md"])
        #expect(sixth.report("alice")?.skills == [:])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: rules)) == ["km_notes.md", "README"])

        #expect(tree.snapshot(under: rules + "/km_notes.md").merging(tree.snapshot(under: rules + "/README")) { a, _ in a } == foreign,
                "files not named sc_*.md were touched")
        // bob was only ever in the first three requests; nothing outside the two homes changed.
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice, bob]))
    }

    @Test("inspect of a user with nothing reports absent files")
    func inspectEmpty() throws {
        let tree = try HomesTree()
        let before = tree.snapshot()
        let run = try tree.inspect(["carol"])
        #expect(run.status == 0)
        let report = try #require(run.report("carol"))
        #expect(report.ok)
        #expect(report.serviceEnv == .absent)
        #expect(report.claudeRules == .absent)
        #expect(report.skills == [:])
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }

    @Test("a user whose rules directory does not exist gets one only when they have skills")
    func rulesDirectoryOnlyWhenNeeded() throws {
        let tree = try HomesTree()
        var builder = RequestBuilder()
        builder.user("carol", serviceEnv: tree.serviceEnv())
        let run = try tree.apply(builder.request)
        #expect(run.status == 0)
        #expect(run.report("carol")?.written == [".service_env"])
        #expect(!HomesTree.exists(tree.home("carol") + "/.claude_rules"))
    }
}
