import TestSupport
import Foundation
import Testing

/// The server's clone before and after a failed first fetch, through the real binary.
@Suite("accessctl: the server's clone before the first fetch")
struct FetchErrorTests {
    func config(_ scratch: Scratch, remote: String) -> String {
        """
        repository: \(scratch.path("server.git"))
        remote: \(remote)
        branch: main
        encryption: none
        database: \(scratch.path("live.db"))
        helper: ["/bin/false"]

        """
    }

    @Test("plan before the first apply --fetch says there is no clone yet, and what to run")
    func planBeforeFirstFetch() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["accessctl.yaml": "version: 1\n"])
            try scratch.write("config.yaml", config(scratch, remote: "file://" + scratch.path("origin")))
            let plan = try Command.run(Project.accessctl, ["plan", "--config", scratch.path("config.yaml")])
            #expect(plan.status == 1)
            #expect(plan.stderr.contains("no clone yet at \(scratch.path("server.git")): run `accessctl apply --fetch` first"),
                    "\(plan.stderr)")
            #expect(!plan.stderr.contains("failed to resolve path"))

            // A clone without the fetched branch (an empty bare repository).
            try scratch.git("init", "-q", "--bare", "server.git")
            let empty = try Command.run(Project.accessctl, ["plan", "--config", scratch.path("config.yaml")])
            #expect(empty.status == 1)
            #expect(empty.stderr.contains("has no fetched main yet (no refs/remotes/origin/main): run `accessctl apply --fetch` first"),
                    "\(empty.stderr)")
        }
    }

    @Test("a first fetch that fails leaves no clone behind; an empty directory stays, empty")
    func failedFirstFetch() throws {
        try Scratch.with { scratch in
            try scratch.write("config.yaml", config(scratch, remote: "file://" + scratch.path("nowhere")))
            let failed = try Command.run(Project.accessctl, ["plan", "--fetch", "--config", scratch.path("config.yaml")])
            #expect(failed.status == 1)
            #expect(failed.stderr.contains("there is no git repository at file://\(scratch.path("nowhere"))"), "\(failed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("server.git")))

            try FileManager.default.createDirectory(atPath: scratch.path("server.git"), withIntermediateDirectories: false)
            let again = try Command.run(Project.accessctl, ["plan", "--fetch", "--config", scratch.path("config.yaml")])
            #expect(again.status == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("server.git")).isEmpty)

            // A clone that worked once is kept when a later fetch fails.
            try scratch.repository("origin", files: ["accessctl.yaml": "version: 1\n"])
            try scratch.write("good.yaml", config(scratch, remote: "file://" + scratch.path("origin")))
            let good = try Command.run(Project.accessctl, ["plan", "--fetch", "--config", scratch.path("good.yaml")])
            #expect(good.stderr.contains("fetched main at"), "\(good.stderr)")
            let later = try Command.run(Project.accessctl, ["plan", "--fetch", "--config", scratch.path("config.yaml")])
            #expect(later.status == 1)
            #expect(try scratch.git("rev-parse", "refs/remotes/origin/main", in: "server.git").count == 40)
        }
    }
}
