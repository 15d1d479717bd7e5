#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol
import Testing
import TestSupport

/// Homes prepared by a hostile user. Each test checks the specified outcome and that nothing
/// outside the homes the request may legitimately change was touched (tree hash before/after).
@Suite("install-service-env: hostile homes", .enabled(if: geteuid() == 0, "runs the helper as root"))
struct HostileHomeTests {
    enum RulesLinkTarget: String, CaseIterable, Sendable, CustomStringConvertible {
        case otherUsersRules = "another user's .claude_rules"
        case rootOwnedDirectory = "a root-owned 0700 directory"
        case worldWritableDirectory = "a root-owned world-writable directory"
        var description: String { rawValue }
    }

    /// alice's `.claude_rules` is a symlink; carol, in the same request, is fine.
    ///
    /// Known helper bug (this test fails on it): `openat(..., O_DIRECTORY | O_NOFOLLOW)` on a
    /// symlink fails with ENOTDIR on Linux, not ELOOP, so `HomeIO.openSubdirectory` reports
    /// ".claude_rules is not a directory" and its "is a symbolic link; refusing to follow it"
    /// branch is never taken. The refusal itself is correct; the message is not.
    @Test(".claude_rules a symbolic link: refused for that user, others applied", arguments: RulesLinkTarget.allCases)
    func rulesSymlink(_ target: RulesLinkTarget) throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), carol = tree.home("carol")
        let bobRules = tree.home("bob") + "/.claude_rules"
        try tree.makeDirectory(bobRules, uid: tree.uid("bob"), mode: 0o700)
        try tree.writeFile(bobRules + "/sc_alpha.md", "bob's alpha\n", uid: tree.uid("bob"))
        try tree.writeFile(bobRules + "/sc_stale.md", "bob's stale skill\n", uid: tree.uid("bob"))
        let path = switch target {
        case .otherUsersRules: bobRules
        case .rootOwnedDirectory: tree.rootDir
        case .worldWritableDirectory: tree.dropDir
        }
        try tree.symlink(path, at: alice + "/.claude_rules", uid: tree.uid("alice"))

        let inspected = try tree.inspect(["alice"])
        let state = try #require(inspected.report("alice")?.claudeRules)
        #expect(state.state == .unsafe)
        #expect(state.reason?.contains("symbolic link") == true, "\(state)")

        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv("alice"), skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        builder.user("carol", serviceEnv: tree.serviceEnv("carol"), skills: ["sc_alpha.md": "alpha for carol \(tree.secret())\n"])
        let outside = tree.snapshot(excluding: [alice, carol])
        let home = tree.snapshot(inside: alice)
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        let report = try #require(run.report("alice"))
        #expect(!report.ok)
        #expect(report.error?.contains("symbolic link") == true, "\(report.error ?? "no error")")
        #expect(run.report("carol")?.ok == true)
        #expect(Set(run.report("carol")?.written ?? []) == [".service_env", ".claude_rules/sc_alpha.md"])
        tree.expectUnchanged(home, tree.snapshot(inside: alice), "the refused user's home")
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice, carol]))
    }

    @Test(".claude_rules a directory owned by someone else (root, mode 0777): refused")
    func rulesOwnedByRoot() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice")
        try tree.makeDirectory(alice + "/.claude_rules", uid: 0, mode: 0o777)
        try tree.writeFile(alice + "/.claude_rules/sc_old.md", "root's\n", uid: 0, mode: 0o644)
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: nil, skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        let before = tree.snapshot()
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        #expect(run.report("alice")?.ok == false)
        #expect(run.report("alice")?.error?.contains("owned by uid 0") == true, "\(run.report("alice")?.error ?? "")")
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }

    enum EnvLinkTarget: String, CaseIterable, Sendable, CustomStringConvertible {
        case unreadableRootFile = "a root-owned 0600 file"
        case readableRootFile = "a root-owned 0644 file"
        case danglingInRootDirectory = "a dangling link into a root-owned directory"
        case danglingInWorldWritable = "a dangling link into a world-writable directory"
        var description: String { rawValue }
    }

    @Test(".service_env a symbolic link: reported unsafe, then replaced by a regular file", arguments: EnvLinkTarget.allCases)
    func serviceEnvSymlink(_ target: EnvLinkTarget) throws {
        let tree = try HomesTree()
        let alice = tree.home("alice")
        let path = switch target {
        case .unreadableRootFile: tree.shadowLike
        case .readableRootFile: tree.passwdLike
        case .danglingInRootDirectory: tree.root + "/etc/created-by-helper"
        case .danglingInWorldWritable: tree.dropDir + "/created-by-helper"
        }
        try tree.symlink(path, at: alice + "/.service_env", uid: tree.uid("alice"))
        let outside = tree.snapshot(excluding: [alice])

        let inspected = try tree.inspect(["alice"])
        #expect(inspected.status == 0)
        #expect(inspected.report("alice")?.serviceEnv == .unsafe("is a symbolic link"))

        let env = tree.serviceEnv()
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env)
        let run = try tree.apply(builder.request)
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.report("alice")?.written == [".service_env"])
        #expect(run.report("alice")?.serviceEnv == .present(digest(env), mode: "0600"))
        let info = try #require(HomesTree.lstatOf(alice + "/.service_env"))
        #expect(info.st_mode & S_IFMT == S_IFREG)
        #expect(info.st_uid == tree.uid("alice") && info.st_mode & 0o7777 == 0o600 && info.st_nlink == 1)
        #expect(tree.read(alice + "/.service_env") == env)
        if target == .danglingInRootDirectory || target == .danglingInWorldWritable {
            #expect(!HomesTree.exists(path), "the helper created the link's target")
        }
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
    }

    @Test(".service_env a symbolic link and service_env null: the link is removed, not its target")
    func serviceEnvSymlinkRemoved() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice")
        try tree.symlink(tree.passwdLike, at: alice + "/.service_env", uid: tree.uid("alice"))
        let outside = tree.snapshot(excluding: [alice])
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: nil)
        let run = try tree.apply(builder.request)
        #expect(run.status == 0)
        #expect(run.report("alice")?.removed == [".service_env"])
        #expect(!HomesTree.exists(alice + "/.service_env"))
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
    }

    enum HardLinkCase: String, CaseIterable, Sendable, CustomStringConvertible {
        case envToUnreadable = ".service_env -> root 0600 file"
        case envToReadable = ".service_env -> root 0644 file"
        case skillToReadable = ".claude_rules/sc_alpha.md -> root 0644 file"
        var description: String { rawValue }
    }

    @Test("a hard link to a root-owned file: reported unsafe; apply leaves the root file's inode alone",
          arguments: HardLinkCase.allCases)
    func hardLink(_ which: HardLinkCase) throws {
        let tree = try HomesTree()
        let alice = tree.home("alice")
        try tree.makeDirectory(alice + "/.claude_rules", uid: tree.uid("alice"), mode: 0o700)
        let (victim, name) = switch which {
        case .envToUnreadable: (tree.shadowLike, ".service_env")
        case .envToReadable: (tree.passwdLike, ".service_env")
        case .skillToReadable: (tree.passwdLike, ".claude_rules/sc_alpha.md")
        }
        try tree.hardLink(victim, at: alice + "/" + name)
        let victimBefore = try #require(HomesTree.lstatOf(victim))
        let victimContent = tree.read(victim)
        let outside = tree.snapshot(excluding: [alice])

        let inspected = try tree.inspect(["alice"])
        let report = try #require(inspected.report("alice"))
        let state = try #require(name == ".service_env" ? report.serviceEnv : report.skills?["sc_alpha.md"])
        #expect(state.state == .unsafe, "\(state)")
        #expect(state.sha256 == nil)
        let reason = state.reason ?? ""
        #expect(reason.contains("owned by uid 0") || reason.contains("hard links") || reason.contains("cannot be read"), "\(reason)")

        let env = tree.serviceEnv(), alpha = "alpha \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env, skills: ["sc_alpha.md": alpha])
        let run = try tree.apply(builder.request)
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.report("alice")?.written?.contains(name) == true)
        let after = try #require(HomesTree.lstatOf(victim))
        #expect(after.st_ino == victimBefore.st_ino)
        #expect(after.st_uid == 0 && after.st_gid == 0)
        #expect(after.st_mode == victimBefore.st_mode)
        #expect(after.st_nlink == 1, "the home still links to the root file")
        #expect(tree.read(victim) == victimContent)
        let mine = try #require(HomesTree.lstatOf(alice + "/" + name))
        #expect(mine.st_ino != victimBefore.st_ino)
        #expect(mine.st_mode & S_IFMT == S_IFREG && mine.st_mode & 0o7777 == 0o600)
        #expect(mine.st_uid == tree.uid("alice") && mine.st_nlink == 1)
        #expect(tree.read(alice + "/" + name) == (name == ".service_env" ? env : alpha))
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
    }

    enum NotADirectory: String, CaseIterable, Sendable, CustomStringConvertible {
        case regularFile = "a regular file"
        case fifo = "a FIFO"
        var description: String { rawValue }
    }

    @Test(".claude_rules not a directory: refused, without hanging", .timeLimit(.minutes(1)), arguments: NotADirectory.allCases)
    func rulesNotADirectory(_ kind: NotADirectory) throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), carol = tree.home("carol")
        switch kind {
        case .regularFile: try tree.writeFile(alice + "/.claude_rules", "just a file\n", uid: tree.uid("alice"))
        case .fifo: try tree.fifo(at: alice + "/.claude_rules", uid: tree.uid("alice"))
        }
        let inspected = try tree.inspect(["alice"], timeout: 10)
        #expect(inspected.elapsed < 10)
        #expect(inspected.report("alice")?.claudeRules?.state == .unsafe)

        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv(), skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        builder.user("carol", serviceEnv: tree.serviceEnv())
        let outside = tree.snapshot(excluding: [alice, carol])
        let home = tree.snapshot(inside: alice)
        let run = try tree.apply(builder.request, timeout: 10)
        #expect(run.elapsed < 10)
        #expect(run.status == 3)
        #expect(run.report("alice")?.ok == false)
        #expect(run.report("alice")?.error?.contains("not a directory") == true, "\(run.report("alice")?.error ?? "")")
        #expect(run.report("carol")?.ok == true)
        tree.expectUnchanged(home, tree.snapshot(inside: alice), "the refused user's home")
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice, carol]))

        // Also with no skills requested: still refused rather than silently ignored.
        var noSkills = RequestBuilder()
        noSkills.user("alice", serviceEnv: nil)
        let second = try tree.apply(noSkills.request, timeout: 10)
        #expect(second.status == 3)
        #expect(second.report("alice")?.ok == false)
    }

    @Test("FIFOs in place of managed files never block, and are replaced or removed", .timeLimit(.minutes(1)))
    func fifosInPlaceOfFiles() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), rules = alice + "/.claude_rules"
        try tree.makeDirectory(rules, uid: tree.uid("alice"), mode: 0o700)
        try tree.fifo(at: alice + "/.service_env", uid: tree.uid("alice"))
        try tree.fifo(at: rules + "/sc_alpha.md", uid: tree.uid("alice"))
        try tree.fifo(at: rules + "/sc_gone.md", uid: tree.uid("alice"))
        let outside = tree.snapshot(excluding: [alice])

        let inspected = try tree.inspect(["alice"], timeout: 10)
        #expect(inspected.report("alice")?.serviceEnv == .unsafe("is a FIFO"))
        #expect(inspected.report("alice")?.skills?["sc_alpha.md"] == .unsafe("is a FIFO"))

        let env = tree.serviceEnv(), alpha = "alpha \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env, skills: ["sc_alpha.md": alpha])
        let run = try tree.apply(builder.request, timeout: 10)
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.report("alice")?.removed == [".claude_rules/sc_gone.md"])
        #expect(tree.read(alice + "/.service_env") == env)
        #expect(tree.read(rules + "/sc_alpha.md") == alpha)
        #expect(!HomesTree.exists(rules + "/sc_gone.md"))
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
    }

    @Test("an unlisted sc_*.md symlink is removed (not followed); an sc_*.md directory is left and reported")
    func unlistedSkillEntries() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), rules = alice + "/.claude_rules"
        try tree.makeDirectory(rules, uid: tree.uid("alice"), mode: 0o700)
        try tree.makeDirectory(rules + "/sc_x.md", uid: tree.uid("alice"), mode: 0o700)
        try tree.writeFile(rules + "/sc_x.md/sc_inner.md", "inside a directory\n", uid: tree.uid("alice"))
        try tree.symlink(tree.shadowLike, at: rules + "/sc_y.md", uid: tree.uid("alice"))
        try tree.symlink(tree.rootDir, at: rules + "/sc_z.md", uid: tree.uid("alice"))
        try tree.hardLink(tree.passwdLike, at: rules + "/sc_w.md")
        let outside = tree.snapshot(excluding: [alice])
        let inner = tree.snapshot(under: rules + "/sc_x.md")

        let inspected = try tree.inspect(["alice"])
        let skills = try #require(inspected.report("alice")?.skills)
        #expect(skills["sc_x.md"] == .unsafe("is a directory"))
        #expect(skills["sc_y.md"] == .unsafe("is a symbolic link"))
        #expect(skills["sc_z.md"] == .unsafe("is a symbolic link"))

        let env = tree.serviceEnv(), alpha = "alpha \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env, skills: ["sc_alpha.md": alpha])
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        let report = try #require(run.report("alice"))
        #expect(!report.ok)
        #expect(report.error?.contains("sc_x.md") == true, "\(report.error ?? "")")
        #expect(Set(report.written ?? []) == [".service_env", ".claude_rules/sc_alpha.md"])
        #expect(Set(report.removed ?? []) == [".claude_rules/sc_w.md", ".claude_rules/sc_y.md", ".claude_rules/sc_z.md"])
        #expect(!HomesTree.exists(rules + "/sc_y.md") && !HomesTree.exists(rules + "/sc_z.md") && !HomesTree.exists(rules + "/sc_w.md"))
        tree.expectUnchanged(inner, tree.snapshot(under: rules + "/sc_x.md"), "the sc_x.md directory")
        #expect(tree.read(alice + "/.service_env") == env)
        #expect(tree.read(rules + "/sc_alpha.md") == alpha)
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))

        // Applying again: nothing left to do but the directory is still reported.
        let again = try tree.apply(builder.request)
        #expect(again.status == 3)
        #expect(again.report("alice")?.error?.contains("sc_x.md") == true)
        #expect(again.report("alice")?.written == [] && again.report("alice")?.removed == [])
    }

    @Test("a home the helper must not trust: refused, nothing written", arguments: BadHome.allCases)
    func badHome(_ kind: BadHome) throws {
        let tree = try HomesTree(standardHomes: false)
        let carol = tree.home("carol")
        try tree.makeDirectory(tree.home("bob"), uid: tree.uid("bob"), mode: 0o777)
        try tree.makeDirectory(carol, uid: tree.uid("carol"), mode: 0o700)
        try tree.makeBadHome(kind)
        let expected = switch kind {
        case .worldWritable, .groupWritable: "writable by group or others"
        case .foreignOwner: "owned by uid 23009"
        case .foreignOwnerPrivate: "home"
        case .symlinkToOtherHome: "symbolic link"
        case .regularFile: "not a directory"
        }
        let before = tree.snapshot(excluding: [carol])

        let inspected = try tree.inspect(["alice"])
        #expect(inspected.status == 3)
        #expect(inspected.report("alice")?.ok == false)

        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv(), skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        builder.user("carol", serviceEnv: tree.serviceEnv())
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        let report = try #require(run.report("alice"))
        #expect(!report.ok)
        #expect(report.error?.contains(expected) == true, "\(report.error ?? "")")
        #expect(report.written == nil && report.removed == nil)
        #expect(run.report("carol")?.ok == true)
        tree.expectUnchanged(before, tree.snapshot(excluding: [carol]), "tree outside the other user's home")
    }

    @Test("planted temp-file names (links to files outside the home) are never written through")
    func plantedTempFiles() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), rules = alice + "/.claude_rules", uid = tree.uid("alice")
        try tree.makeDirectory(rules, uid: uid, mode: 0o700)
        // The helper's temp name for a target: ".accessctl-tmp-" + 16 hex of the target's SHA-256.
        func temp(_ target: String) -> String { ".accessctl-tmp-" + SHA256.hex(Array(target.utf8)).prefix(16) }
        try tree.symlink(tree.dropDir + "/planted", at: alice + "/" + temp(".service_env"), uid: uid)
        try tree.symlink(tree.passwdLike, at: rules + "/" + temp("sc_alpha.md"), uid: uid)
        try tree.hardLink(tree.shadowLike, at: rules + "/" + temp("sc_beta.md"))
        try tree.symlink(tree.dropDir + "/stale", at: rules + "/.accessctl-tmp-0123456789abcdef", uid: uid)
        let outside = tree.snapshot(excluding: [alice])
        let env = tree.serviceEnv(), alpha = "alpha \(tree.secret())\n", beta = "beta \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: env, skills: ["sc_alpha.md": alpha, "sc_beta.md": beta])
        let run = try tree.apply(builder.request)
        #expect(run.status == 0, "\(run.stdout)")
        #expect(tree.read(alice + "/.service_env") == env)
        #expect(tree.read(rules + "/sc_alpha.md") == alpha)
        #expect(tree.read(rules + "/sc_beta.md") == beta)
        #expect(!HomesTree.exists(tree.dropDir + "/planted"))
        let left = try FileManager.default.contentsOfDirectory(atPath: rules).sorted()
        #expect(left == ["sc_alpha.md", "sc_beta.md"])
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
    }

    @Test(".service_env a directory: refused (neither replaced nor removed), the directory untouched",
          arguments: [true, false])
    func serviceEnvDirectory(_ wanted: Bool) throws {
        let tree = try HomesTree()
        let alice = tree.home("alice")
        try tree.makeDirectory(alice + "/.service_env", uid: tree.uid("alice"), mode: 0o700)
        try tree.writeFile(alice + "/.service_env/keep", "kept\n", uid: tree.uid("alice"))
        let before = tree.snapshot(excluding: [alice])
        let inside = tree.snapshot(under: alice + "/.service_env")
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: wanted ? tree.serviceEnv() : nil)
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        #expect(run.report("alice")?.error?.contains("is a directory") == true, "\(run.report("alice")?.error ?? "")")
        tree.expectUnchanged(inside, tree.snapshot(under: alice + "/.service_env"), ".service_env directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: alice) == [".service_env"])
        tree.expectUnchanged(before, tree.snapshot(excluding: [alice]))
    }
}
