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

    struct Refused: Sendable, CustomStringConvertible {
        var name: String
        var message: String
        var description: String { name.debugDescription }
    }

    /// Every account here is in the passwd file; only resolve's checks refuse them.
    static let refused: [Refused] = [
        Refused(name: "root", message: "refusing to manage root"),
        Refused(name: "Alice", message: #"invalid user name "Alice": must match ^[a-z_][a-z0-9_-]{0,31}$"#),
        Refused(name: "-rf", message: #"invalid user name "-rf": must match ^[a-z_][a-z0-9_-]{0,31}$"#),
        Refused(name: "a/../b", message: #"invalid user name "a/../b": must match ^[a-z_][a-z0-9_-]{0,31}$"#),
        Refused(name: String(repeating: "a", count: 33), message: "invalid user name \"\(String(repeating: "a", count: 33))\": must match ^[a-z_][a-z0-9_-]{0,31}$"),
        Refused(name: "toor", message: "user toor has uid 0, below the minimum \(minimumUID()); refusing"),
        Refused(name: "daemon2", message: "user daemon2 has uid 2, below the minimum \(minimumUID()); refusing"),
        Refused(name: "wheel", message: "user wheel has primary group 0; refusing"),
        Refused(name: "relative", message: #"user relative has an unusable home directory "home/relative""#),
        Refused(name: "slash", message: #"user slash has an unusable home directory "/""#),
        Refused(name: "empty", message: #"user empty has an unusable home directory """#),
        Refused(name: "dotdot", message: #"user dotdot has an unusable home directory "/home/../etc""#),
        Refused(name: "dot", message: #"user dot has an unusable home directory "/home/./dot""#),
        Refused(name: "double", message: #"user double has an unusable home directory "/home//double""#),
        Refused(name: "trailing", message: #"user trailing has an unusable home directory "/home/trailing/""#),
        Refused(name: "nobody_here", message: #"no such user "nobody_here""#),
    ]

    @Test("resolve refuses bad names, root, system uids, group 0 and unusable homes", arguments: refused)
    func resolveRefused(_ refused: Refused) throws {
        try Scratch.with { scratch in
            try scratch.write("passwd", """
                root:x:23010:23010::/home/root:/bin/sh
                Alice:x:23011:23011::/home/Alice:/bin/sh
                -rf:x:23012:23012::/home/rf:/bin/sh
                a/../b:x:23013:23013::/home/b:/bin/sh
                \(String(repeating: "a", count: 33)):x:23014:23014::/home/a:/bin/sh
                toor:x:0:0::/root:/bin/sh
                daemon2:x:2:2::/home/daemon2:/bin/sh
                wheel:x:23015:0::/home/wheel:/bin/sh
                relative:x:23016:23016::home/relative:/bin/sh
                slash:x:23017:23017::/:/bin/sh
                empty:x:23018:23018:::/bin/sh
                dotdot:x:23019:23019::/home/../etc:/bin/sh
                dot:x:23020:23020::/home/./dot:/bin/sh
                double:x:23021:23021::/home//double:/bin/sh
                trailing:x:23022:23022::/home/trailing/:/bin/sh

                """)
            let helper = try Self.helper(passwd: scratch.path("passwd"), homesRoot: scratch.root)
            #expect(helperError { () throws(HelperError) in try helper.resolve(refused.name) } == refused.message)
        }
    }
}
