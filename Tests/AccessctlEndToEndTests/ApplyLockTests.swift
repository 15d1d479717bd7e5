
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The lock names its real holder (issue 15, point 3): two applies started at the same
/// instant, with and without a stale line a SIGKILLed apply left in the lock file; the
/// refused one names the live holder's pid, never its own and never a dead one.
@Suite("the apply lock names its live holder", .enabled(if: geteuid() == 0, "runs the root helper"))
struct ApplyLockTests {
    /// Starts two applies at once, each holding the lock for `hold` seconds once it has it.
    static func simultaneousPair(_ setup: ApplyCommandTests.Setup, hold: Int = 2) throws
        -> [(pid: Int32, status: Int32, stderr: String)] {
        var processes: [(Process, String)] = []
        var env = ProcessInfo.processInfo.environment.merging(AcmeServer.secretEnvironment) { _, new in new }
        env["NO_COLOR"] = "1"
        env["ACCESSCTL_FAULT"] = "hold-lock:\(hold)"
        for index in 0..<2 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Project.accessctlFaults)
            process.arguments = ["apply", "--config", setup.server.config, "--auto-approve"]
            process.environment = env
            let errPath = setup.server.scratch.path("pair-\(index).err")
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errPath)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            processes.append((process, errPath))
        }
        // Both forked back to back: they reach the lock within a millisecond of each other.
        for (process, _) in processes { try process.run() }
        return try processes.map { process, errPath in
            process.waitUntilExit()
            return (process.processIdentifier, process.terminationStatus, try String(contentsOfFile: errPath, encoding: .utf8))
        }
    }

    /// The pid of a process that has exited (so no live process has it, for a while).
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func check(_ results: [(pid: Int32, status: Int32, stderr: String)], notNaming dead: Int32? = nil) {
        let winners = results.filter { $0.status == 0 }
        let losers = results.filter { $0.status == 1 }
        #expect(winners.count == 1 && losers.count == 1, "\(results)")
        guard let winner = winners.first, let loser = losers.first else { return }
        #expect(loser.stderr.contains("another apply holds the lock"), "\(loser.stderr)")
        #expect(loser.stderr.contains("pid \(winner.pid) on "), "names the live holder: \(loser.stderr)")
        #expect(loser.stderr.contains("accessctl") && loser.stderr.contains(", since "), "\(loser.stderr)")
        #expect(!loser.stderr.contains("pid \(loser.pid) "), "\(loser.stderr)")
        if let dead { #expect(!loser.stderr.contains("pid \(dead) "), "names a dead pid: \(loser.stderr)") }
    }

    @Test("two applies started at the same instant: the refused one names the other, five times in five")
    func simultaneousStarts() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 43500)
            for _ in 0..<5 { Self.check(try Self.simultaneousPair(setup, hold: 1)) }
            try setup.expectConverged()
        }
    }

    @Test("a stale line left by a SIGKILLed apply is never named: the refused one of a pair names the live holder")
    func staleLine() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 43600)
            for _ in 0..<3 {
                let dead = try Self.deadPID()
                // What a SIGKILLed apply leaves behind: its line, and no lock.
                try "pid \(dead) on somehost, accessctl apply --auto-approve, since 2026-01-01T00:00:00Z\n"
                    .write(toFile: setup.server.database + ".lock", atomically: false, encoding: .utf8)
                Self.check(try Self.simultaneousPair(setup, hold: 1), notNaming: dead)
            }
            // status says the lock is free, whatever the file holds.
            let dead = try Self.deadPID()
            try "pid \(dead) on somehost, accessctl apply, since 2026-01-01T00:00:00Z\n"
                .write(toFile: setup.server.database + ".lock", atomically: false, encoding: .utf8)
            let status = try setup.server.accessctl(["status", "--config", setup.server.config])
            #expect(status.stdout.contains("lock:            free"), "\(status.stdout)")
        }
    }

    @Test("status names the live holder while an apply runs")
    func statusNamesHolder() throws {
        try Scratch.with { scratch in
            let setup = try ApplyCommandTests.Setup(scratch, firstUID: 43700)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Project.accessctlFaults)
            process.arguments = ["apply", "--config", setup.server.config, "--auto-approve"]
            process.environment = ProcessInfo.processInfo.environment.merging(AcmeServer.secretEnvironment) { _, new in new }
                .merging(["ACCESSCTL_FAULT": "hold-lock:3"]) { _, new in new }
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            var named = false
            for _ in 0..<40 where !named {
                usleep(100_000)
                let status = try setup.server.accessctl(["status", "--config", setup.server.config])
                named = status.stdout.contains("lock:            held by pid \(process.processIdentifier) on ")
            }
            process.waitUntilExit()
            #expect(named)
            #expect(process.terminationStatus == 0)
        }
    }
}
