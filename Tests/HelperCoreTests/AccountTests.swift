#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HelperCore
import HelperProtocol
import Testing
import TestSupport

/// Accounts: the passwd file of tests, the system database, UID_MIN, and the checks of
/// `resolve` that stand between a name in a request and a home directory.
@Suite("HelperCore: accounts")
struct AccountTests {
    /// A Helper over a passwd file. Its credentials are never used: `resolve` switches no uid.
    static func helper(passwd: String, homesRoot: String? = nil) throws -> Helper {
        try Helper(options: HelperOptions(passwdFile: passwd, homesRoot: homesRoot), credentials: Credentials(rootGroups: []))
    }

    @Test("a passwd file: 7-field lines with numeric ids are accounts, the first of a name wins, the rest is skipped")
    func passwdFile() throws {
        try Scratch.with { scratch in
            try scratch.write("passwd", """
                alice:x:23001:23001:Alice:/home/alice:/bin/sh

                # a comment is a line with the wrong number of fields
                short:x:23002:23002
                toolong:x:23003:23003:::/home/toolong:/bin/sh
                badid:x:2300x:23004::/home/badid:/bin/sh
                negative:x:-1:23005::/home/negative:/bin/sh
                alice:x:23099:23099::/home/other:/bin/sh
                bob:x:23002:100::/srv/bob:
                carol:x:23003:23003::/home/carol:/bin/sh
                """)
            let accounts = try PasswdFileAccounts(path: scratch.path("passwd"))
            #expect(try accounts.account(named: "alice") == Account(name: "alice", uid: 23001, gid: 23001, home: "/home/alice"))
            #expect(try accounts.account(named: "bob") == Account(name: "bob", uid: 23002, gid: 100, home: "/srv/bob"))
            // The last line has no newline.
            #expect(try accounts.account(named: "carol")?.home == "/home/carol")
            for name in ["short", "toolong", "badid", "negative", "nobody", ""] {
                #expect(try accounts.account(named: name) == nil, "\(name)")
            }
        }
    }

    @Test("a passwd file behind a symbolic link, missing, or too large is refused")
    func passwdFileRefused() throws {
        try Scratch.with { scratch in
            try scratch.write("real", "alice:x:23001:23001::/home/alice:/bin/sh\n")
            try posix(symlink(scratch.path("real"), scratch.path("link")), "symlink")
            let link = helperError { () throws(HelperError) in try PasswdFileAccounts(path: scratch.path("link")) }
            #expect(link == "cannot open \(scratch.path("link")): Too many levels of symbolic links")
            let missing = helperError { () throws(HelperError) in try PasswdFileAccounts(path: scratch.path("none")) }
            #expect(missing == "cannot open \(scratch.path("none")): No such file or directory")

            try scratch.write("big", [UInt8](repeating: 0x41, count: 100_001))
            #expect(helperError { () throws(HelperError) in try readFile(scratch.path("big"), limit: 100_000) }
                == "\(scratch.path("big")) is larger than 100000 bytes")
            #expect(try readFile(scratch.path("big"), limit: 100_001).count == 100_001)
        }
    }

    @Test("readAll reads a descriptor to its end across many chunks")
    func readAllChunks() throws {
        try Scratch.with { scratch in
            let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try scratch.write("data", bytes)
            let fd = open(scratch.path("data"), O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            #expect(try readAll(fd, limit: 1 << 20, what: "data") == bytes)
        }
    }

    @Test("UID_MIN from login.defs (spaces or tabs), else 1000")
    func minimumUIDs() throws {
        try Scratch.with { scratch in
            let cases: [(String, uid_t)] = [
                ("UID_MIN 2000\n", 2000),
                ("# defaults\nMAIL_DIR /var/mail\nUID_MIN\t\t 1500\nUID_MAX 60000\n", 1500),
                ("#UID_MIN 5\n", 1000),
                ("UID_MIN 0\n", 1000),
                ("UID_MIN lots\n", 1000),
                ("UID_MIN\n", 1000),
                ("", 1000),
            ]
            for (index, (text, expected)) in cases.enumerated() {
                try scratch.write("login.defs.\(index)", text)
                #expect(minimumUID(loginDefs: scratch.path("login.defs.\(index)")) == expected, "\(text.debugDescription)")
            }
            #expect(minimumUID(loginDefs: scratch.path("missing")) == 1000)
        }
    }

    @Test("the system database: root is uid 0 with its home, an unknown name is nil")
    func systemAccounts() throws {
        let root = try #require(try SystemAccounts().account(named: "root"))
        #expect(root.uid == 0 && root.gid == 0)
        #expect(root.home.hasPrefix("/"))
        #expect(try SystemAccounts().account(named: "accessctl-no-such-user") == nil)
    }

    @Test("resolve: a good account gives its home under the homes root")
    func resolveGood() throws {
        try Scratch.with { scratch in
            try scratch.write("passwd", "alice:x:23001:23002::/home/alice:/bin/sh\n")
            let (account, home) = try Self.helper(passwd: scratch.path("passwd"), homesRoot: "/tmp/tree").resolve("alice")
            #expect(account == Account(name: "alice", uid: 23001, gid: 23002, home: "/home/alice"))
            #expect(home == "/tmp/tree/home/alice")
            #expect(try Self.helper(passwd: scratch.path("passwd")).resolve("alice").1 == "/home/alice")
        }
    }

    @Test("resolve refuses bad and unknown names, root, system uids and group 0, the name shown escaped",
          .enabled(if: geteuid() == 0, "chowns test homes"), arguments: BadUser.refused)
    func resolveRefused(_ bad: BadUser) throws {
        let tree = try HomesTree.withBadAccounts()
        let helper = try Self.helper(passwd: tree.passwdPath, homesRoot: tree.root)
        let message = try #require(helperError { () throws(HelperError) in try helper.resolve(bad.name) })
        #expect(message.contains(bad.message), "\(message)")
        #expect(!message.contains("\n"), "\(message.debugDescription)")
    }

    @Test("resolve refuses a home that is not a clean absolute path")
    func unusableHomes() throws {
        let homes = ["home/relative", "/", "", "/home/../etc", "/home/./x", "/home//x", "/home/x/"]
        try Scratch.with { scratch in
            try scratch.write("passwd", homes.enumerated().map { "u\($0.offset):x:\(23100 + $0.offset):23100::\($0.element):/bin/sh\n" }.joined())
            let helper = try Self.helper(passwd: scratch.path("passwd"), homesRoot: scratch.root)
            for (index, home) in homes.enumerated() {
                #expect(helperError { () throws(HelperError) in try helper.resolve("u\(index)") }
                    == "user u\(index) has an unusable home directory \(home.debugDescription)")
            }
        }
    }
}
