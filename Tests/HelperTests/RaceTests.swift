#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol
import Synchronization
import Testing
import TestSupport

/// renameat2(2); RENAME_EXCHANGE swaps two names atomically, so `.claude_rules` always exists.
@_silgen_name("renameat2")
private func renameat2(_ olddirfd: Int32, _ oldpath: UnsafePointer<CChar>, _ newdirfd: Int32,
                       _ newpath: UnsafePointer<CChar>, _ flags: UInt32) -> Int32
private let RENAME_EXCHANGE: UInt32 = 1 << 1

@Suite("install-service-env: races", .enabled(if: geteuid() == 0, "runs the helper as root"))
struct RaceTests {
    final class Swapper: @unchecked Sendable {
        let stop = Atomic<Bool>(false)
        let swaps = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
    }

    @Test(".claude_rules swapped with symlinks to root-owned directories during 500 applies: nothing written outside the home",
          .timeLimit(.minutes(2)))
    func swapRulesDuringApply() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), uid = tree.uid("alice")
        try tree.makeDirectory(alice + "/.claude_rules", uid: uid, mode: 0o700)
        try tree.writeFile(alice + "/.claude_rules/km_notes.md", "not the helper's\n", uid: uid)
        // The decoys: one to a root-only directory, one to a world-writable root-owned
        // directory (where the helper, running as alice, could create files if it followed).
        try tree.symlink(tree.rootDir, at: alice + "/.alt1", uid: uid)
        try tree.symlink(tree.dropDir, at: alice + "/.alt2", uid: uid)
        // And another real directory of alice's, to exercise the same-directory check between
        // the helper's passes.
        try tree.makeDirectory(alice + "/.alt3", uid: uid, mode: 0o700)
        let outside = tree.snapshot(excluding: [alice])

        let homeFD = open(alice, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(homeFD >= 0)
        defer { close(homeFD) }
        let swapper = Swapper()
        let thread = Thread {
            // One cycle: rules -> link to rootdir -> rules -> link to drop -> rules -> other dir -> rules.
            while !swapper.stop.load(ordering: .relaxed) {
                for decoy in [".alt1", ".alt1", ".alt2", ".alt2", ".alt3", ".alt3"] {
                    if renameat2(homeFD, ".claude_rules", homeFD, decoy, RENAME_EXCHANGE) == 0 {
                        swapper.swaps.add(1, ordering: .relaxed)
                    } else {
                        swapper.failures.add(1, ordering: .relaxed)
                    }
                }
            }
            swapper.done.signal()
        }
        thread.start()

        let env = tree.serviceEnv()
        var succeeded = 0, refused = 0, lastWritten: String?
        var refusals: [String: Int] = [:]
        var unexpected: [String] = []
        let started = Date()
        for i in 0..<500 {
            let skill = "race \(i) \(tree.secret())\n"
            var builder = RequestBuilder()
            builder.user("alice", serviceEnv: env, skills: ["sc_race.md": skill])
            let run = try tree.apply(builder.request)
            guard let report = run.report("alice") else { unexpected.append("no report: \(run.stdout) \(run.stderr)"); continue }
            if report.ok {
                succeeded += 1
                #expect(run.status == 0)
                if report.written?.contains(".claude_rules/sc_race.md") == true { lastWritten = skill }
                else { unexpected.append("ok but not written: \(run.stdout)") }
            } else {
                refused += 1
                #expect(run.status == 3)
                let error = report.error ?? ""
                refusals[error.contains("replaced") ? "replaced during the apply" : error.contains("not a directory") ? "not a directory" : "other", default: 0] += 1
                if !(error.contains("not a directory") || error.contains("symbolic link") || error.contains("replaced")) {
                    unexpected.append(error)
                }
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        swapper.stop.store(true, ordering: .relaxed)
        swapper.done.wait()

        #expect(swapper.failures.load(ordering: .relaxed) == 0)
        #expect(swapper.swaps.load(ordering: .relaxed) > 500, "the swapper barely ran")
        #expect(unexpected.isEmpty, "\(unexpected.prefix(5))")
        // Not a guarantee, but with the directory in place half of the time some applies win.
        #expect(succeeded > 0, "no apply ever succeeded (refused \(refused))")

        // Nothing outside the home changed; the decoy targets are still empty.
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree.rootDir).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree.dropDir).isEmpty)
        // Every cycle ends with the real directory back in place; it holds the last skill written.
        let rules = try #require(HomesTree.lstatOf(alice + "/.claude_rules"))
        #expect(rules.st_mode & S_IFMT == S_IFDIR)
        #expect(tree.read(alice + "/.claude_rules/km_notes.md") == "not the helper's\n")
        if let lastWritten {
            let found = [alice + "/.claude_rules/sc_race.md", alice + "/.alt3/sc_race.md"].map { tree.read($0) }
            #expect(found.contains(lastWritten), "the last skill written is in neither directory")
        }
        let other = try FileManager.default.contentsOfDirectory(atPath: alice + "/.alt3")
        #expect(other.allSatisfy { $0 == "sc_race.md" || $0.hasPrefix(".accessctl-tmp-") }, "\(other)")
        #expect(tree.read(alice + "/.service_env") == env)
        print("race: \(succeeded) applied, \(refused) refused \(refusals), \(swapper.swaps.load(ordering: .relaxed)) swaps in \(Int(elapsed)) s")
    }
}
