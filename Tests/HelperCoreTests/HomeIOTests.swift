#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HelperCore
import HelperProtocol
import Testing
import TestSupport

/// HomeIO's descriptor-relative operations on real homes of a `HomesTree`, as root: the
/// refusals depend on file types, owners and links, not on who asks.
@Suite("HelperCore: descriptor-relative file work in a home", .enabled(if: geteuid() == 0, "chowns test homes"))
struct HomeIOTests {
    @Test("openHome: the user's own directory, with its identity and mode")
    func openHomeGood() throws {
        let tree = try HomesTree()
        try tree.makeDirectory(tree.home("bob"), uid: tree.uid("bob"), mode: 0o750)
        let info = try #require(HomesTree.lstatOf(tree.home("bob")))
        try withHome(tree, "bob") { home in
            #expect(home.device == UInt64(info.st_dev) && home.inode == UInt64(info.st_ino))
            #expect(home.openedMode == 0o750)
            #expect(HomeIO.mode(of: home) == 0o750)
            #expect(fcntl(home.fd, F_GETFD) & FD_CLOEXEC != 0)
        }
    }

    @Test("openHome refuses what it must not write into", arguments: BadHome.allCases)
    func openHomeRefused(_ kind: BadHome) throws {
        let tree = try HomesTree(standardHomes: false)
        try tree.makeDirectory(tree.home("bob"), uid: tree.uid("bob"), mode: 0o777)
        try tree.makeBadHome(kind)
        let path = tree.home("alice"), alice = tree.uid("alice")
        let expected = switch kind {
        case .worldWritable: "home \(path) is writable by group or others (mode 0777); refusing to write there"
        case .groupWritable: "home \(path) is writable by group or others (mode 0775); refusing to write there"
        case .foreignOwner, .foreignOwnerPrivate: "home \(path) is owned by uid 23009, not by alice (uid \(alice))"
        case .symlinkToOtherHome: "home \(path) is a symbolic link"
        case .regularFile: "home \(path) is not a directory"
        }
        #expect(helperError { () throws(HelperError) in try HomeIO.openHome(path: path, account: account(tree, "alice")) } == expected)
    }

    @Test("openHome: a missing home is named with the system's reason")
    func openHomeMissing() throws {
        let tree = try HomesTree(standardHomes: false)
        let path = tree.home("alice")
        #expect(helperError { () throws(HelperError) in try HomeIO.openHome(path: path, account: account(tree, "alice")) }
            == "cannot open home \(path): No such file or directory")
    }

    @Test("openSubdirectory: absent is nil; a link, a file, a FIFO or another owner's directory is refused without hanging",
          .timeLimit(.minutes(1)))
    func openSubdirectory() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.makeDirectory(home + "/real", uid: uid, mode: 0o700)
        try tree.symlink(tree.rootDir, at: home + "/link", uid: uid)
        try tree.writeFile(home + "/file", "", uid: uid)
        try tree.fifo(at: home + "/fifo", uid: uid)
        try tree.makeDirectory(home + "/foreign", uid: tree.uid("bob"), mode: 0o700)
        try withHome(tree, "alice") { home in
            func open(_ name: String) -> String? {
                helperError { () throws(HelperError) in try HomeIO.openSubdirectory(home, name, owner: uid)?.close() }
            }
            #expect(try HomeIO.openSubdirectory(home, "absent", owner: uid) == nil)
            let real = try #require(try HomeIO.openSubdirectory(home, "real", owner: uid))
            defer { real.close() }
            #expect(real.openedMode == 0o700)
            #expect(open("real") == nil)
            #expect(open("link") == "link is a symbolic link; refusing to follow it")
            #expect(open("file")?.hasPrefix("file is not a directory") == true)
            #expect(open("fifo") == "fifo is not a directory (it is a FIFO)")
            #expect(open("foreign") == "foreign is owned by uid \(tree.uid("bob")), not by the user")
        }
    }

    @Test("state: absent, a safe file with digest and mode, or unsafe with the reason", .timeLimit(.minutes(1)))
    func states() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/regular", "hello\n", uid: uid)
        try tree.writeFile(home + "/readable", "", uid: uid, mode: 0o644)
        try tree.symlink(tree.shadowLike, at: home + "/link", uid: uid)
        try tree.symlink(home + "/nowhere", at: home + "/dangling", uid: uid)
        try tree.writeFile(home + "/original", "shared\n", uid: uid)
        try tree.hardLink(home + "/original", at: home + "/hardlink")
        try tree.hardLink(tree.passwdLike, at: home + "/rootlink")
        try tree.fifo(at: home + "/fifo", uid: uid)
        try tree.makeDirectory(home + "/dir", uid: uid, mode: 0o700)
        try tree.writeFile(home + "/foreign", "x\n", uid: tree.uid("bob"))
        try tree.writeFile(home + "/big", [UInt8](repeating: 0x61, count: HomeIO.readLimit + 1), uid: uid)
        try Self.socket(at: home + "/socket")
        let expected: [String: FileState] = [
            "absent": .absent,
            "regular": .present(sha("hello\n"), mode: "0600"),
            "readable": .present(sha(""), mode: "0644"),
            "link": .unsafe("is a symbolic link"),
            "dangling": .unsafe("is a symbolic link"),
            "original": .unsafe("has 2 hard links"),
            "hardlink": .unsafe("has 2 hard links"),
            "rootlink": .unsafe("is owned by uid 0, not by the user"),
            "fifo": .unsafe("is a FIFO"),
            "dir": .unsafe("is a directory"),
            "foreign": .unsafe("is owned by uid \(tree.uid("bob")), not by the user"),
            "big": .unsafe("is larger than \(HomeIO.readLimit) bytes"),
            "socket": .unsafe("is a socket or device"),
        ]
        try withHome(tree, "alice") { home in
            for (name, state) in expected {
                #expect(HomeIO.state(in: home, name, owner: uid) == state, "\(name)")
            }
            #expect(HomeIO.state(in: home, "regular", owner: uid, digest: false) == .present(nil, mode: "0600"))
            #expect(HomeIO.state(in: home, "link", owner: uid, digest: false) == .unsafe("is a symbolic link"))
        }
    }

    @Test("state: the digest is the SHA-256 of the whole content, around the read buffer's size and up to the limit")
    func digests() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        let chunk = HomeIO.chunkSize
        let sizes = [0, 1, 63, 64, chunk - 1, chunk, chunk + 1, 3 * chunk + 17, HomeIO.readLimit]
        var contents: [String: [UInt8]] = [:]
        for size in sizes {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ size) }
            contents["f\(size)"] = bytes
            try tree.writeFile(home + "/f\(size)", bytes, uid: uid)
        }
        try withHome(tree, "alice") { home in
            for (name, bytes) in contents {
                #expect(HomeIO.state(in: home, name, owner: uid) == .present(SHA256.hex(bytes), mode: "0600"), "\(name)")
            }
        }
    }

    @Test("createFile: a new file of mode 0600 with the exact bytes; a stale name, even a link, is removed first")
    func createFile() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/stale", "old content\n", uid: uid, mode: 0o644)
        try tree.symlink(tree.passwdLike, at: home + "/stalelink", uid: uid)
        let bytes = Array("A='1'\n".utf8) + [0xFF, 0x00, 0x0A]
        try withAliceHome(tree) { home in
            for name in ["new", "stale", "stalelink"] {
                try HomeIO.createFile(in: home, name, bytes)
                let info = try #require(HomesTree.lstatOf(tree.home("alice") + "/" + name))
                #expect(info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o7777 == 0o600 && info.st_nlink == 1, "\(name)")
                #expect(FileManager.default.contents(atPath: tree.home("alice") + "/" + name) == Data(bytes), "\(name)")
            }
            try tree.makeDirectory(tree.home("alice") + "/dir", uid: uid, mode: 0o700)
            #expect(helperError { () throws(HelperError) in try HomeIO.createFile(in: home, "dir", bytes) }
                == "cannot remove stale dir: Is a directory")
        }
    }

    @Test("rename replaces the target (a link itself, never what it points to); a failed rename removes the temp file")
    func rename() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/target", "old\n", uid: uid)
        try tree.writeFile(home + "/temp1", "new\n", uid: uid)
        try tree.symlink(tree.shadowLike, at: home + "/linked", uid: uid)
        try tree.writeFile(home + "/temp2", "over the link\n", uid: uid)
        try tree.makeDirectory(home + "/dir", uid: uid, mode: 0o700)
        try tree.writeFile(home + "/dir/inside", "", uid: uid)
        try tree.writeFile(home + "/temp3", "over a directory\n", uid: uid)
        try withAliceHome(tree) { home in
            try HomeIO.rename(in: home, "temp1", "target")
            try HomeIO.rename(in: home, "temp2", "linked")
            #expect(helperError { () throws(HelperError) in try HomeIO.rename(in: home, "temp3", "dir") }
                == "cannot replace dir: Is a directory")
            #expect(helperError { () throws(HelperError) in try HomeIO.rename(in: home, "absent", "target") }
                == "cannot replace target: No such file or directory")
        }
        #expect(tree.read(home + "/target") == "new\n")
        #expect(tree.read(home + "/linked") == "over the link\n")
        #expect(HomesTree.lstatOf(home + "/linked").map { $0.st_mode & S_IFMT } == S_IFREG)
        #expect(!HomesTree.exists(home + "/temp1") && !HomesTree.exists(home + "/temp2") && !HomesTree.exists(home + "/temp3"))
        #expect(HomesTree.exists(home + "/dir/inside"))
    }

    @Test("remove: a file or a link itself; an absent name is fine; a directory is refused and stays")
    func remove() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/file", "x\n", uid: uid)
        try tree.symlink(tree.passwdLike, at: home + "/link", uid: uid)
        try tree.makeDirectory(home + "/dir", uid: uid, mode: 0o700)
        try withAliceHome(tree) { home in
            try HomeIO.remove(in: home, "file")
            try HomeIO.remove(in: home, "link")
            try HomeIO.remove(in: home, "absent")
            #expect(helperError { () throws(HelperError) in try HomeIO.remove(in: home, "dir") } == "cannot remove dir: Is a directory")
        }
        #expect(!HomesTree.exists(home + "/file") && !HomesTree.exists(home + "/link"))
        #expect(HomesTree.exists(home + "/dir"))
    }

    @Test("names: every entry but . and .., links and dotfiles included, the handle still usable after")
    func names() throws {
        let tree = try HomesTree()
        let home = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(home + "/.hidden", "", uid: uid)
        try tree.writeFile(home + "/sc_a.md", "", uid: uid)
        try tree.symlink("/nowhere", at: home + "/link", uid: uid)
        try tree.makeDirectory(home + "/dir", uid: uid, mode: 0o700)
        try withHome(tree, "alice") { home in
            let first = try HomeIO.names(in: home), second = try HomeIO.names(in: home)
            #expect(Set(first) == [".hidden", "sc_a.md", "link", "dir"])
            #expect(second.count == 4) // a second listing starts from the top again
            #expect(HomeIO.state(in: home, "sc_a.md", owner: uid) == .present(sha(""), mode: "0600"))
        }
    }

    @Test("modes print as four octal digits; file types in words")
    func octalAndTypes() {
        #expect(octal(0o600) == "0600")
        #expect(octal(0o7) == "0007")
        #expect(octal(0o4755) == "4755")
        #expect(octal(S_IFDIR | 0o700) == "0700")
        #expect(fileTypeText(S_IFDIR) == "is a directory")
        #expect(fileTypeText(S_IFLNK) == "is a symbolic link")
        #expect(fileTypeText(S_IFIFO) == "is a FIFO")
        #expect(fileTypeText(S_IFSOCK) == "is a socket")
        #expect(fileTypeText(S_IFCHR) == "is a device" && fileTypeText(S_IFBLK) == "is a device")
    }

    @Test("describe: the managed files only, sc_*.md by name; an unsafe .claude_rules is reported, not entered")
    func describe() throws {
        let tree = try HomesTree()
        let alice = tree.home("alice"), uid = tree.uid("alice")
        try tree.writeFile(alice + "/.service_env", "A='1'\n", uid: uid)
        try tree.writeFile(alice + "/.bashrc", "not managed\n", uid: uid)
        try tree.makeDirectory(alice + "/.claude_rules", uid: uid, mode: 0o755)
        try tree.writeFile(alice + "/.claude_rules/sc_alpha.md", "# alpha\n", uid: uid, mode: 0o644)
        try tree.symlink(tree.shadowLike, at: alice + "/.claude_rules/sc_beta.md", uid: uid)
        for name in ["README", "km_notes.md", "sc_.md", "sc_Upper.md", Helper.tempName(for: "sc_alpha.md")] {
            try tree.writeFile(alice + "/.claude_rules/" + name, "x\n", uid: uid)
        }
        let report = try withHome(tree, "alice") { Helper.describe(home: $0, account: account(tree, "alice")) }
        #expect(report == UserReport(user: "alice", ok: true, serviceEnv: .present(sha("A='1'\n"), mode: "0600"),
                                     claudeRules: .present(nil, mode: "0755"),
                                     skills: ["sc_alpha.md": .present(sha("# alpha\n"), mode: "0644"),
                                              "sc_beta.md": .unsafe("is a symbolic link")]))

        let bob = tree.home("bob")
        try tree.symlink(tree.home("alice") + "/.claude_rules", at: bob + "/.claude_rules", uid: tree.uid("bob"))
        let linked = try withHome(tree, "bob") { Helper.describe(home: $0, account: account(tree, "bob")) }
        #expect(linked == UserReport(user: "bob", ok: true, serviceEnv: .absent,
                                     claudeRules: .unsafe(".claude_rules is a symbolic link; refusing to follow it"), skills: [:]))

        let empty = try withHome(tree, "carol") { Helper.describe(home: $0, account: account(tree, "carol")) }
        #expect(empty == UserReport(user: "carol", ok: true, serviceEnv: .absent, claudeRules: .absent, skills: [:]))
    }

    /// Binds a Unix socket at `path` (and closes it: the socket file stays).
    static func socket(at path: String) throws {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw FixtureError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try posix(result, "bind \(path)")
    }
}
