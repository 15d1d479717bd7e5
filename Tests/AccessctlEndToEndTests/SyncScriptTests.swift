import Foundation
import Testing
import TestSupport

/// contrib/sync-service-env.sh run with /bin/sh (dash on Debian) on scratch files.
@Suite("contrib/sync-service-env.sh")
struct SyncScriptTests {
    static let script = Project.root + "/contrib/sync-service-env.sh"
    static let start = "# --- SERVICE CONNECTOR START ---"
    static let end = "# --- SERVICE CONNECTOR END ---"
    static let header = "# Managed by accessctl; local edits are overwritten.\n"

    static func block(_ lines: String...) -> String {
        ([start] + lines + [end]).map { $0 + "\n" }.joined()
    }

    @discardableResult
    static func sync(_ scratch: Scratch, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try Command.run("/bin/sh", [script] + arguments, environment: environment, in: scratch.root)
    }

    static func read(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    static func text(_ path: String) throws -> String { String(decoding: try read(path), as: UTF8.self) }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    static func setMode(_ path: String, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    static func entries(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test("no block yet: the block is appended, foreign lines and the mode are kept")
    func appends() throws {
        try Scratch.with { scratch in
            try scratch.write("home/.service_env", Self.header + "CRM_KEY='k1'\nERP_TOKEN='k2'\n")
            let foreign = "# my settings\nDEBUG=1\n\nexport PATH_EXTRA='/opt/x'\n"
            try scratch.write("project/.env", foreign)
            try Self.setMode(scratch.path("project/.env"), 0o640)
            let result = try Self.sync(scratch, [scratch.path("home/.service_env"), scratch.path("project/.env")])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.contains("k1") && !result.stderr.contains("k1"))
            #expect(try Self.text(scratch.path("project/.env")) == foreign + Self.block("CRM_KEY='k1'", "ERP_TOKEN='k2'"))
            #expect(try Self.mode(scratch.path("project/.env")) == 0o640)
            #expect(try Self.entries(scratch.path("project")) == [".env"])
        }
    }

    @Test("defaults: $HOME/.service_env into ./.env")
    func defaults() throws {
        try Scratch.with { scratch in
            try scratch.write(".service_env", Self.header + "A='1'\n")
            let result = try Command.run("/bin/sh", [Self.script], environment: ["HOME": scratch.root],
                                         in: scratch.root + "/p", createDirectory: scratch.root + "/p")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path("p/.env")) == Self.block("A='1'"))
        }
    }

    @Test("a foreign last line without a newline gets one before the appended block")
    func missingFinalNewline() throws {
        try Scratch.with { scratch in
            try scratch.write("src", "A='1'\n")
            try scratch.write(".env", "X=1\nY=2")
            let result = try Self.sync(scratch, ["src", ".env"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path(".env")) == "X=1\nY=2\n" + Self.block("A='1'"))
        }
    }

    @Test("an existing block is replaced in place, lines before and after kept")
    func replacesInPlace() throws {
        try Scratch.with { scratch in
            try scratch.write("src", Self.header + "NEW_KEY='n'\n")
            let before = "# top\nA=1\n\n", after = "\n# bottom\nZ='last'"
            try scratch.write(".env", before + Self.block("OLD_KEY='o'", "OLD2='p'") + after)
            let result = try Self.sync(scratch, ["src", ".env"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path(".env")) == before + Self.block("NEW_KEY='n'") + after)
        }
    }

    @Test("source missing: the block is removed and nothing else changes")
    func removesBlock() throws {
        try Scratch.with { scratch in
            let before = "# top\nA=1\n", after = "B=2\n# end, no newline"
            try scratch.write(".env", before + Self.block("OLD_KEY='o'") + after)
            try Self.setMode(scratch.path(".env"), 0o640)
            let result = try Self.sync(scratch, [scratch.path("missing"), ".env"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path(".env")) == before + after)
            #expect(try Self.mode(scratch.path(".env")) == 0o640)
            // No block and no source: the file is not touched; no .env is not created.
            let again = try Self.sync(scratch, [scratch.path("missing"), ".env"])
            #expect(again.status == 0)
            #expect(try Self.text(scratch.path(".env")) == before + after)
            #expect(try Self.sync(scratch, [scratch.path("missing"), "other.env"]).status == 0)
            #expect(!FileManager.default.fileExists(atPath: scratch.path("other.env")))
        }
    }

    @Test("no .env yet: it is created with mode 600")
    func createsTarget() throws {
        try Scratch.with { scratch in
            try scratch.write("src", Self.header + "K='v'\n")
            let result = try Self.sync(scratch, ["src", ".env"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path(".env")) == Self.block("K='v'"))
            #expect(try Self.mode(scratch.path(".env")) == 0o600)
        }
    }

    @Test("an unreadable source (a directory) fails and leaves .env untouched")
    func unreadableSource() throws {
        try Scratch.with { scratch in
            try FileManager.default.createDirectory(atPath: scratch.path("src"), withIntermediateDirectories: true)
            let original = "A=1\n" + Self.block("OLD='o'") + "B=2"
            try scratch.write("p/.env", original)
            let result = try Self.sync(scratch, ["src", "p/.env"])
            #expect(result.status != 0)
            #expect(!result.stderr.isEmpty)
            #expect(try Self.text(scratch.path("p/.env")) == original)
            #expect(try Self.entries(scratch.path("p")) == [".env"])
        }
    }

    @Test("a failure midway (mv fails after the temp file is written) leaves .env untouched, no temp files")
    func failingMove() throws {
        try Scratch.with { scratch in
            try scratch.write("src", "NEW='n'\n")
            let original = "A=1\n" + Self.block("OLD='o'") + "B=2\n"
            try scratch.write("p/.env", original)
            try Self.setMode(scratch.path("p/.env"), 0o640)
            try scratch.write("bin/mv", "#!/bin/sh\necho 'mv: simulated failure' >&2\nexit 1\n", executable: true)
            let path = scratch.path("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let result = try Self.sync(scratch, ["src", "p/.env"], environment: ["PATH": path])
            #expect(result.status != 0)
            #expect(result.stderr.contains("simulated failure"))
            #expect(try Self.text(scratch.path("p/.env")) == original)
            #expect(try Self.mode(scratch.path("p/.env")) == 0o640)
            #expect(try Self.entries(scratch.path("p")) == [".env"])
        }
    }

    @Test("malformed markers (a start without an end) fail and leave .env untouched")
    func unterminatedBlock() throws {
        try Scratch.with { scratch in
            try scratch.write("src", "NEW='n'\n")
            let original = "A=1\n\(Self.start)\nOLD='o'\nB=2\n"
            try scratch.write(".env", original)
            let result = try Self.sync(scratch, ["src", ".env"])
            #expect(result.status != 0)
            #expect(try Self.text(scratch.path(".env")) == original)
            #expect(try Self.entries(scratch.root).sorted() == [".env", "src"])
        }
    }

    @Test("hostile source lines are not copied")
    func hostileSource() throws {
        try Scratch.with { scratch in
            let source = Self.header + [
                "GOOD='ok $(not expanded)'",
                "EVIL=$(rm -rf /)",
                Self.end,
                Self.start,
                "X='a'; rm",
                "lower='x'",
                " LEADING='x'",
                "QUOTE='a'b'",
                "DOUBLE=\"x\"",
                "TAIL='x' ",
                "# COMMENT='x'",
                "LAST_GOOD='y'",
            ].joined(separator: "\n") + "\n"
            try scratch.write("src", source)
            try scratch.write(".env", "A=1\n")
            let result = try Self.sync(scratch, ["src", ".env"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try Self.text(scratch.path(".env")) == "A=1\n" + Self.block("GOOD='ok $(not expanded)'", "LAST_GOOD='y'"))
        }
    }

    @Test("running twice gives the same bytes")
    func idempotent() throws {
        try Scratch.with { scratch in
            try scratch.write("src", Self.header + "K1='a'\nK2='b'\n")
            try scratch.write(".env", "# x\nA=1\n\nB=2")
            #expect(try Self.sync(scratch, ["src", ".env"]).status == 0)
            let first = try Self.read(scratch.path(".env"))
            #expect(try Self.sync(scratch, ["src", ".env"]).status == 0)
            #expect(try Self.read(scratch.path(".env")) == first)
        }
    }

    @Test("the script is POSIX sh (dash -n)", .enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/dash")))
    func dashSyntax() throws {
        let result = try Command.run("/bin/dash", ["-n", Self.script])
        #expect(result.status == 0, "\(result.stderr)")
    }
}
