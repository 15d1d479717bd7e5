import KeyCustody
import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Keys sealed at rest (issue 17, point 1), through the real binary, the real helper and
/// the mock token service: nothing but the homes holds a plain key; the master key's file
/// is checked; a plain-text database is sealed in place; `state rekey` moves every key to
/// a new master key; a wrong key is refused without touching the data.
@Suite("key custody: keys sealed at rest, master key files, migration, rekey",
       .enabled(if: geteuid() == 0, "runs the root helper"))
struct KeyCustodyTests {
    typealias Setup = ApplyCommandTests.Setup

    /// Every key the homes hold (the values of each `.service_env`).
    static func homeKeys(_ server: AcmeServer) throws -> [String] {
        var keys: [String] = []
        for user in server.desired.users {
            guard let text = try? String(contentsOfFile: server.home(user.unixUser) + "/.service_env", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.contains("=") && !line.hasPrefix("#") {
                var value = String(line.split(separator: "=", maxSplits: 1)[1])
                if value.hasPrefix("'") || value.hasPrefix("\"") { value = String(value.dropFirst().dropLast()) }
                keys.append(value)
            }
        }
        return keys
    }

    /// The database file and its companions, as bytes, and `sqlite3 .dump` of it.
    static func rawContents(_ database: String) throws -> (bytes: [Data], dump: String) {
        let bytes = ["", "-wal", "-shm"].compactMap { FileManager.default.contents(atPath: database + $0) }
        let dump = try Command.run("/usr/bin/sqlite3", [database, ".dump"])
        #expect(dump.status == 0, "\(dump.stderr)")
        return (bytes, dump.stdout)
    }

    static func expectNoKey(in database: String, keys: [String], _ comment: Comment) throws {
        let (bytes, dump) = try rawContents(database)
        #expect(!keys.isEmpty, comment)
        for key in keys {
            #expect(!dump.contains(key), "\(comment): the dump shows \(Secret(key).fingerprint)")
            for data in bytes { #expect(data.range(of: Data(key.utf8)) == nil, "\(comment): the file holds \(Secret(key).fingerprint)") }
        }
    }

    @Test("an encrypted server: the homes get the keys; the database file, its WAL and its dump hold none")
    func sealedAtRest() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47000)
            let apply = try setup.apply()
            #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
            let keys = try Self.homeKeys(setup.server)
            try Self.expectNoKey(in: setup.server.database, keys: keys, "after the first apply")
            // The database opens with its master key, and its keys are the homes' keys.
            #expect(Set(try setup.server.keys()) == Set(keys))
            let dump = try Self.rawContents(setup.server.database).dump
            #expect(dump.contains("'aes-256-gcm','\(setup.server.masterKey.id)'"), "\(dump.suffix(2000))")
            try setup.expectConverged("sealed")
        }
    }

    @Test("a wrong, missing, short or readable key file is refused by name, exit 1, and the database is untouched")
    func badKeyFiles() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47100)
            #expect(try setup.apply().status == 0)
            let before = try Self.rawContents(setup.server.database).dump
            let other = MasterKey.generate()
            try other.write(toNewFile: scratch.path("other.key"))
            try scratch.write("short.key", "0123456789")
            chmod(scratch.path("short.key"), 0o600)
            try Data(repeating: 7, count: 32).write(to: URL(fileURLWithPath: scratch.path("open.key")))
            chmod(scratch.path("open.key"), 0o644)
            let cases: [(String, String)] = [
                (scratch.path("other.key"), "master key \(other.id) (\(scratch.path("other.key"))) does not open database"),
                (scratch.path("missing.key"), "master key file \(scratch.path("missing.key")) does not exist"),
                (scratch.path("short.key"), "master key file \(scratch.path("short.key")) holds 10 bytes; a master key is exactly 32"),
                (scratch.path("open.key"), "master key file \(scratch.path("open.key")) has mode 0644"),
            ]
            for (file, message) in cases {
                for command in [["apply", "--auto-approve"], ["plan"]] {
                    let run = try setup.server.accessctl(command + ["--config", setup.server.config, "--key-file", file])
                    #expect(run.status == 1, "\(command) \(file): \(run.stdout)\(run.stderr)")
                    #expect(run.stderr.contains(message), "\(run.stderr)")
                }
            }
            // encryption: none on a sealed database is refused too.
            try scratch.write("plain.yaml", try String(contentsOfFile: setup.server.config, encoding: .utf8)
                .replacingOccurrences(of: "key_file: \(setup.server.keyFile)", with: "encryption: none"))
            let plain = try setup.server.accessctl(["plan", "--config", scratch.path("plain.yaml")])
            #expect(plain.status == 1)
            #expect(plain.stderr.contains("holds keys sealed with master key \(setup.server.masterKey.id), but the configuration says encryption: none"),
                    "\(plain.stderr)")
            #expect(try Self.rawContents(setup.server.database).dump == before, "nothing was written")
            // No key material in any message.
            for key in try Self.homeKeys(setup.server) { #expect(!plain.stderr.contains(key)) }
        }
    }

    @Test("a configuration without key_file or encryption: none is refused with what to do")
    func keyModeMustBeExplicit() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47200)
            try scratch.write("nokey.yaml", try String(contentsOfFile: setup.server.config, encoding: .utf8)
                .replacingOccurrences(of: "key_file: \(setup.server.keyFile)", with: ""))
            let run = try setup.server.accessctl(["apply", "--auto-approve", "--config", scratch.path("nokey.yaml")])
            #expect(run.status == 1)
            #expect(run.stderr.contains("no master key: set 'key_file'"), "\(run.stderr)")
            #expect(run.stderr.contains("accessctl state init-key --out FILE"))
            #expect(!FileManager.default.fileExists(atPath: setup.server.database), "nothing was created")
        }
    }

    @Test("state init-key writes 32 bytes with mode 600 and never overwrites")
    func initKey() throws {
        try Scratch.with { scratch in
            let path = scratch.path("new.key")
            let first = try Command.run(Project.accessctl, ["state", "init-key", "--out", path])
            #expect(first.status == 0, "\(first.stderr)")
            let key = try MasterKey.load(path: path)
            #expect(first.stderr.contains("wrote master key \(key.id)"))
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
            #expect(FileManager.default.contents(atPath: path)?.count == 32)
            let before = FileManager.default.contents(atPath: path)
            let second = try Command.run(Project.accessctl, ["state", "init-key", "--out", path])
            #expect(second.status == 1)
            #expect(second.stderr.contains("exists already; a key file is never overwritten"), "\(second.stderr)")
            #expect(FileManager.default.contents(atPath: path) == before)
        }
    }

    @Test("a plain-text database is sealed in place by the first run with a key; the plan stays no changes")
    func migratesPlaintext() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47300, encrypted: false)
            #expect(try setup.apply().status == 0)
            let keys = try Self.homeKeys(setup.server)
            let plainDump = try Self.rawContents(setup.server.database).dump
            #expect(keys.contains { plainDump.contains($0) }, "encryption: none stores the keys as they are")
            // Switch the server to a key: the next apply seals every key, and changes nothing else.
            let key = MasterKey.generate()
            try key.write(toNewFile: scratch.path("master.key"))
            try scratch.write("config.yaml", try String(contentsOfFile: setup.server.config, encoding: .utf8)
                .replacingOccurrences(of: "encryption: none", with: "key_file: \(scratch.path("master.key"))"))
            let plan = try setup.plan("--detailed-exitcode")
            #expect(plan.status == 0, "a plain-text database plans with a key: \(plan.stdout)\(plan.stderr)")
            let apply = try setup.apply()
            #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
            #expect(apply.stderr.contains("sealed \(keys.count) stored keys of database \(setup.server.database) with master key \(key.id)"),
                    "\(apply.stderr)")
            try Self.expectNoKey(in: setup.server.database, keys: keys, "after sealing")
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: .sealed(key))
            #expect(Set(state.connections.compactMap { $0.apiKey?.revealed }) == Set(keys))
            let again = try setup.plan("--detailed-exitcode")
            #expect(again.status == 0, "\(again.stdout)")
            let log = try Command.run("/usr/bin/sqlite3", [setup.server.database, "SELECT action, detail FROM custody_log"])
            #expect(log.stdout.contains("sealed|sealed \(keys.count) plain-text keys with master key \(key.id)"), "\(log.stdout)")
        }
    }

    @Test("state rekey: every key under the new master key in one transaction; the old key opens nothing")
    func rekey() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 47400)
            #expect(try setup.apply().status == 0)
            let keys = try Self.homeKeys(setup.server)
            let new = try Command.run(Project.accessctl, ["state", "init-key", "--out", scratch.path("new.key")])
            #expect(new.status == 0)
            let newKey = try MasterKey.load(path: scratch.path("new.key"))
            let same = try setup.server.accessctl(["state", "rekey", "--config", setup.server.config, "--new-key-file", setup.server.keyFile])
            #expect(same.status == 1)
            #expect(same.stderr.contains("holds the current master key"), "\(same.stderr)")
            let rekey = try setup.server.accessctl(["state", "rekey", "--config", setup.server.config,
                                                    "--new-key-file", scratch.path("new.key")])
            #expect(rekey.status == 0, "\(rekey.stderr)")
            #expect(rekey.stderr.contains("re-sealed \(keys.count) keys"), "\(rekey.stderr)")
            let old = try setup.plan()
            #expect(old.status == 1)
            #expect(old.stderr.contains("its keys are sealed with master key \(newKey.id)"), "\(old.stderr)")
            let plan = try setup.plan("--detailed-exitcode", "--key-file", scratch.path("new.key"))
            #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
            try Self.expectNoKey(in: setup.server.database, keys: keys, "after the rekey")
            let state = try LiveStore.snapshot(path: setup.server.database, sealing: .sealed(newKey))
            #expect(Set(state.connections.compactMap { $0.apiKey?.revealed }) == Set(keys))
        }
    }

    /// Runs accessctl with `arguments` and SIGKILLs it after `milliseconds` if it is still
    /// running; returns whether it was killed.
    static func killed(_ arguments: [String], after milliseconds: Int) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Project.accessctl)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(useconds_t(milliseconds * 1000))
        let running = process.isRunning
        if running { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return running
    }

    /// A database of `count` connections with plain keys, and the keys.
    static func plainDatabase(_ path: String, count: Int) throws -> [String: String] {
        let store = try LiveStore(path: path, sealing: .plaintext)
        var keys: [String: String] = [:]
        try store.write { w in
            for i in 0..<count {
                let key = "TESTKEY-\(i)-" + String(repeating: "k", count: 40)
                keys["user\(i)"] = key
                try w.upsert(LiveConnection(user: "user\(i)", service: "crm", status: .active, requestID: "r\(i)",
                                            tokenID: "t\(i)", apiKey: Secret(key), issuedAt: 1, expiresAt: 2_000_000_000))
            }
        }
        try store.close()
        return keys
    }

    /// Every key of the database, opened with whichever of `candidates` sealed it (or none,
    /// for plain text); a mix, or a key that opens with neither, fails the test.
    static func expectWhole(_ path: String, keys: [String: String], candidates: [MasterKey], _ comment: Comment) throws {
        let custody = try LiveStore(path: path, sealing: .withoutKeys).custody()
        let sealing: KeySealing
        switch custody {
        case .plaintext: sealing = .plaintext
        case .sealed(let id):
            let key = try #require(candidates.first { $0.id == id }, comment)
            sealing = .sealed(key)
        }
        let state = try LiveStore.snapshot(path: path, sealing: sealing)
        #expect(Dictionary(uniqueKeysWithValues: state.connections.map { ($0.user, $0.apiKey?.revealed ?? "") }) == keys, comment)
    }

    @Test("SIGKILL at any moment of sealing and of rekey: the database is wholly in the old form or the new, and the next run finishes")
    func killedMigrationAndRekey() throws {
        try Scratch.with { scratch in
            let database = scratch.path("live.db")
            let keys = try Self.plainDatabase(database, count: 20_000)
            let first = MasterKey.generate(), second = MasterKey.generate()
            try first.write(toNewFile: scratch.path("first.key"))
            try second.write(toNewFile: scratch.path("second.key"))
            let rekey = ["state", "rekey", "--database", database, "--key-file", scratch.path("first.key"),
                         "--new-key-file", scratch.path("second.key"), "--config", scratch.path("none.yaml")]
            try scratch.write("none.yaml", "{}\n")
            var killed = 0
            for delay in [5, 20, 40, 60, 90, 120, 160, 220, 300] {
                if try Self.killed(rekey, after: delay) { killed += 1 }
                try Self.expectWhole(database, keys: keys, candidates: [first, second], "killed after \(delay) ms")
                // A finished rekey is undone for the next round, so each round starts sealed or plain.
                if case .sealed(let id) = try LiveStore(path: database, sealing: .withoutKeys).custody(), id == second.id {
                    let back = try LiveStore(path: database, sealing: .sealed(second))
                    _ = try back.rekey(to: first, now: 1, actor: "test")
                    try back.close()
                }
            }
            #expect(killed > 0, "at least one run was killed mid-way")
            let finish = try Command.run(Project.accessctl, rekey)
            #expect(finish.status == 0, "\(finish.stderr)")
            try Self.expectWhole(database, keys: keys, candidates: [second], "after a full run")
            try Self.expectNoKey(in: database, keys: Array(keys.values.prefix(50)), "after the rekey")
        }
    }
}

extension KeyCustodyTests {
    @Test("SIGKILL during state backup: no backup file at all, or a whole one that opens with every key; the database is untouched")
    func killedBackup() throws {
        try Scratch.with { scratch in
            let database = scratch.path("live.db")
            let keys = try Self.plainDatabase(database, count: 20_000)
            try scratch.write("none.yaml", "encryption: none\n")
            var killed = 0
            for (round, delay) in [2, 10, 25, 50, 100, 200].enumerated() {
                let out = scratch.path("backup-\(round).db")
                if try Self.killed(["state", "backup", "--database", database, "--config", scratch.path("none.yaml"), "--out", out],
                                   after: delay) { killed += 1 }
                if FileManager.default.fileExists(atPath: out) {
                    try Self.expectWhole(out, keys: keys, candidates: [], "backup killed after \(delay) ms")
                }
            }
            #expect(killed > 0, "at least one backup was killed mid-way")
            // The live file's contents are the same (a finished backup only appends its record
            // to custody_log, through the WAL).
            let state = try LiveStore.snapshot(path: database, sealing: .plaintext)
            #expect(Dictionary(uniqueKeysWithValues: state.connections.map { ($0.user, $0.apiKey?.revealed ?? "") }) == keys)
            // A backup to each name again completes and clears what the killed ones left.
            for round in 0..<6 {
                let out = scratch.path("backup-\(round).db")
                try? FileManager.default.removeItem(atPath: out)
                let again = try Command.run(Project.accessctl, ["state", "backup", "--database", database, "--config",
                                                                scratch.path("none.yaml"), "--out", out])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(again.stderr.contains("keys IN PLAIN TEXT"), "\(again.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root).filter { $0.contains(".partial-") } == [])
        }
    }
}

extension KeyCustodyTests {
    @Test("key_file: $CREDENTIALS_DIRECTORY/<name> is the credential of the running unit; outside a unit it says how to run")
    func credentialsDirectory() throws {
        try Scratch.with { scratch in
            let setup = try Setup(scratch, firstUID: 48000)
            #expect(try setup.apply().status == 0)
            try FileManager.default.createDirectory(atPath: scratch.path("credentials"), withIntermediateDirectories: false)
            try FileManager.default.copyItem(atPath: setup.server.keyFile, toPath: scratch.path("credentials/master-key"))
            try scratch.write("unit.yaml", try String(contentsOfFile: setup.server.config, encoding: .utf8)
                .replacingOccurrences(of: "key_file: \(setup.server.keyFile)", with: "key_file: $CREDENTIALS_DIRECTORY/master-key"))
            let inUnit = try setup.server.accessctl(["plan", "--detailed-exitcode", "--config", scratch.path("unit.yaml")],
                                                    environment: ["CREDENTIALS_DIRECTORY": scratch.path("credentials")])
            #expect(inUnit.status == 0, "\(inUnit.stdout)\(inUnit.stderr)")
            let outside = try setup.server.accessctl(["plan", "--config", scratch.path("unit.yaml")], environment: ["CREDENTIALS_DIRECTORY": ""])
            #expect(outside.status == 1)
            #expect(outside.stderr.contains("'key_file' is $CREDENTIALS_DIRECTORY/master-key, but CREDENTIALS_DIRECTORY is not set"),
                    "\(outside.stderr)")
        }
    }
}
