#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol

/// A throwaway tree of fake home directories for running the root helper (the real
/// `install-service-env`, or HelperCore's functions) as root, with test uids and no real accounts:
///
///     <base>/                 0755 root
///       passwd                0644 root   (given to the helper with --passwd-file)
///       root/                 0755 root   (given with --homes-root)
///         home/               0755 root
///           <name>/           the user's home, owned by the user
///         etc/                0755 root
///           shadow-like       0600 root   "victim" file, unreadable by the test users
///           passwd-like       0644 root   "victim" file, readable by the test users
///         rootdir/            0700 root   "victim" directory, empty
///         drop/               0777 root   world-writable, empty: a symlink into it would let
///                                         the helper create files there if it followed links
///
/// Every path from `/` to a home is traversable by the test uids, because the helper does all
/// its file work with the target user's credentials. The whole tree is removed (as root) when
/// the fixture goes away.
public final class HomesTree {
    /// The test accounts every tree has: name -> uid (gid = uid).
    public static let standardUsers: [(name: String, uid: uid_t)] = [("alice", 23001), ("bob", 23002), ("carol", 23003)]

    public let base: String
    public var root: String { base + "/root" }
    public var passwdPath: String { base + "/passwd" }
    public var shadowLike: String { root + "/etc/shadow-like" }
    public var passwdLike: String { root + "/etc/passwd-like" }
    public var rootDir: String { root + "/rootdir" }
    public var dropDir: String { root + "/drop" }

    public private(set) var passwdLines: [String] = []
    public private(set) var uids: [String: uid_t] = [:]
    /// Strings that must never appear in any helper output (file contents sent in requests).
    public private(set) var secrets: [String] = []

    /// Builds the tree with the standard users, each with an empty home of mode 0700.
    public init(standardHomes: Bool = true) throws {
        base = "/tmp/accessctl-helpertest-\(UUID().uuidString)"
        try posix(mkdir(base, 0o755), "mkdir \(base)")
        do {
            try makeDirectory(base, mode: 0o755) // mkdir is subject to the umask
            try makeDirectory(root, mode: 0o755)
            try makeDirectory(root + "/home", mode: 0o755)
            try makeDirectory(root + "/etc", mode: 0o755)
            try writeFile(shadowLike, "root:$6$not-a-real-hash:19000:0:99999:7:::\n", uid: 0, mode: 0o600)
            try writeFile(passwdLike, "root:x:0:0:root:/root:/bin/sh\n", uid: 0, mode: 0o644)
            try makeDirectory(rootDir, mode: 0o700)
            try makeDirectory(dropDir, mode: 0o777)
            for user in Self.standardUsers {
                try addUser(user.name, uid: user.uid, createHome: standardHomes)
            }
        } catch {
            removeTree()
            throw error
        }
    }

    deinit { removeTree() }

    private func removeTree() {
        // As root every entry can be removed whatever its owner and mode.
        try? FileManager.default.removeItem(atPath: base)
        if FileManager.default.fileExists(atPath: base) {
            _ = try? Command.run("/bin/rm", ["-rf", "--one-file-system", base])
        }
    }

    // MARK: - Accounts and homes

    public func home(_ name: String) -> String { root + "/home/" + name }
    public func uid(_ name: String) -> uid_t { uids[name]! }

    /// Adds a passwd line `name:x:uid:gid::/home/<homeName>:/bin/sh` and, optionally, creates
    /// the home (owned by `owner` ?? uid, with `mode`).
    public func addUser(_ name: String, uid: uid_t, gid: gid_t? = nil, homeName: String? = nil, createHome: Bool = true,
                 homeMode: mode_t = 0o700, homeOwner: uid_t? = nil) throws {
        let homeName = homeName ?? name
        passwdLines.append("\(name):x:\(uid):\(gid ?? uid)::/home/\(homeName):/bin/sh")
        uids[name] = uid
        try writeFile(passwdPath, passwdLines.joined(separator: "\n") + "\n", uid: 0, mode: 0o644)
        if createHome {
            try makeDirectory(home(homeName), uid: homeOwner ?? uid, gid: homeOwner ?? gid ?? uid, mode: homeMode)
        }
    }

    /// Registers and returns a unique marker that must never appear in helper output.
    public func secret(_ label: String = "") -> String {
        let marker = "SECRET_MARKER_\(UUID().uuidString)\(label)"
        secrets.append(marker)
        return marker
    }

    /// A `.service_env` text carrying a fresh secret marker.
    public func serviceEnv(_ label: String = "") -> String {
        "# Managed by accessctl; local edits are overwritten.\nPO_API_KEY='\(secret(label))'\n"
    }

    // MARK: - Files, as root

    public func makeDirectory(_ path: String, uid: uid_t = 0, gid: gid_t? = nil, mode: mode_t) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw FixtureError("mkdir \(path): \(String(cString: strerror(errno)))") }
        try posix(lchown(path, uid, gid ?? uid), "chown \(path)")
        try posix(chmod(path, mode), "chmod \(path)")
    }

    public func writeFile(_ path: String, _ content: String, uid: uid_t, gid: gid_t? = nil, mode: mode_t = 0o600) throws {
        try writeFile(path, Array(content.utf8), uid: uid, gid: gid, mode: mode)
    }

    public func writeFile(_ path: String, _ bytes: [UInt8], uid: uid_t, gid: gid_t? = nil, mode: mode_t = 0o600) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FixtureError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard n > 0 else { throw FixtureError("write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        try posix(fchown(fd, uid, gid ?? uid), "chown \(path)")
        try posix(fchmod(fd, mode), "chmod \(path)")
    }

    public func symlink(_ target: String, at path: String, uid: uid_t) throws {
        try posix(Glibc.symlink(target, path), "symlink \(path)")
        try posix(lchown(path, uid, uid), "chown \(path)")
    }

    public func hardLink(_ existing: String, at path: String) throws {
        try posix(link(existing, path), "link \(path)")
    }

    public func fifo(at path: String, uid: uid_t) throws {
        try posix(mkfifo(path, 0o600), "mkfifo \(path)")
        try posix(lchown(path, uid, uid), "chown \(path)")
    }

    /// The text of a file (read as root), or nil if it cannot be read.
    public func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Snapshots

    /// One line per entry of the tree (lstat; never following links): type, mode, owner,
    /// size, mtime, inode and the SHA-256 of a regular file's content or a link's target.
    /// Entries at or under any of `excluding` (absolute paths) are left out. `under` picks a
    /// subtree (default: the whole tree).
    public func snapshot(excluding: [String] = [], under start: String? = nil) -> [String: String] {
        var entries: [String: String] = [:]
        func walk(_ path: String) {
            if excluding.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { return }
            var info = stat()
            guard lstat(path, &info) == 0 else {
                entries[path] = "lstat failed: \(String(cString: strerror(errno)))"
                return
            }
            let type = info.st_mode & S_IFMT
            var detail = ""
            switch type {
            case S_IFREG:
                detail = "file " + (FileManager.default.contents(atPath: path).map { SHA256.hex(Array($0)) } ?? "unreadable")
            case S_IFLNK:
                detail = "link -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")
            case S_IFDIR: detail = "dir"
            case S_IFIFO: detail = "fifo"
            default: detail = "other \(type)"
            }
            entries[path] = "\(detail) mode=\(String(info.st_mode & 0o7777, radix: 8)) uid=\(info.st_uid) gid=\(info.st_gid) "
                + "size=\(info.st_size) mtime=\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) ino=\(info.st_ino)"
            if type == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                for name in names { walk(path + "/" + name) }
            }
        }
        walk(start ?? base)
        return entries
    }

    /// The snapshot of everything strictly inside `directory` (not the directory's own entry,
    /// whose mtime a temp file created and removed again changes).
    public func snapshot(inside directory: String) -> [String: String] {
        var entries = snapshot(under: directory)
        entries[directory] = nil
        return entries
    }

    // MARK: - Small helpers

    public static func lstatOf(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    public static func exists(_ path: String) -> Bool { lstatOf(path) != nil }
}

/// Builds apply requests: skill texts are carried once in `contents` under their digest.
public struct RequestBuilder {
    public var contents: [String: String] = [:]
    public var users: [ApplyRequest.UserFiles] = []

    public init() {}

    /// Adds a user; `skills` maps file name -> text.
    public mutating func user(_ name: String, serviceEnv: String?, skills: [String: String] = [:]) {
        var digests: [String: String] = [:]
        for (file, text) in skills {
            let digest = SHA256.hex(Array(text.utf8))
            contents[digest] = text
            digests[file] = digest
        }
        users.append(.init(user: name, serviceEnv: serviceEnv, skills: digests))
    }

    public var request: ApplyRequest { ApplyRequest(contents: contents, users: users) }
}

// MARK: - Accounts and homes the helper must refuse

/// A user name a request may carry that the helper must refuse, and what its error says.
public struct BadUser: Sendable, CustomStringConvertible {
    public var name: String
    /// Expected in the per-user error.
    public var message: String
    public var description: String { name.debugDescription }

    public init(name: String, message: String) {
        self.name = name
        self.message = message
    }

    /// Every kind of bad or unknown name; `HomesTree.withBadAccounts()` gives each that
    /// passwd(5) can hold an account.
    public static let refused: [BadUser] = [
        BadUser(name: "root", message: "refusing to manage root"),
        BadUser(name: "../root", message: "invalid user name"),
        BadUser(name: "alice/../bob", message: "invalid user name"),
        BadUser(name: "-rf", message: "invalid user name"),
        BadUser(name: "0", message: "invalid user name"),
        BadUser(name: "alice\n", message: "invalid user name"),
        BadUser(name: "Alice", message: "invalid user name"),
        BadUser(name: "", message: "invalid user name"),
        BadUser(name: String(repeating: "a", count: 33), message: "invalid user name"),
        BadUser(name: "nobody_here", message: "no such user"),
        BadUser(name: "lowuid", message: "below the minimum"),
        BadUser(name: "toor", message: "below the minimum"),
        BadUser(name: "gidzero", message: "primary group 0"),
    ]
}

extension HomesTree {
    /// A tree where every bad name that passwd(5) can hold resolves to a real, writable home,
    /// so that only the helper's checks stand between the request and a write.
    public static func withBadAccounts() throws -> HomesTree {
        let tree = try HomesTree()
        let accounts: [(String, uid_t, gid_t)] = [
            ("root", 23010, 23010), ("../root", 23011, 23011), ("alice/../bob", 23012, 23012), ("-rf", 23013, 23013),
            ("0", 23014, 23014), ("Alice", 23015, 23015), (String(repeating: "a", count: 33), 23016, 23016),
            ("lowuid", 500, 500), ("toor", 0, 0), ("gidzero", 23017, 0),
        ]
        for (index, (name, uid, gid)) in accounts.enumerated() {
            try tree.addUser(name, uid: uid, gid: gid, homeName: "victim\(index)")
        }
        return tree
    }
}

/// A home directory the helper must not write into.
public enum BadHome: String, CaseIterable, Sendable, CustomStringConvertible {
    case worldWritable = "mode 0777"
    case groupWritable = "mode 0775"
    case foreignOwner = "owned by uid 23009 (mode 0755)"
    case foreignOwnerPrivate = "owned by uid 23009 (mode 0700)"
    case symlinkToOtherHome = "a symbolic link to another user's home"
    case regularFile = "a regular file"
    public var description: String { rawValue }
}

extension HomesTree {
    /// Makes `name`'s home (not made yet) a bad one of `kind`. The link points to bob's home,
    /// which must exist: made world-writable, a helper that followed the link could write there.
    public func makeBadHome(_ kind: BadHome, for name: String = "alice") throws {
        let home = home(name)
        switch kind {
        case .worldWritable: try makeDirectory(home, uid: uid(name), mode: 0o777)
        case .groupWritable: try makeDirectory(home, uid: uid(name), mode: 0o775)
        case .foreignOwner: try makeDirectory(home, uid: 23009, mode: 0o755)
        case .foreignOwnerPrivate: try makeDirectory(home, uid: 23009, mode: 0o700)
        case .symlinkToOtherHome: try symlink(self.home("bob"), at: home, uid: uid(name))
        case .regularFile: try writeFile(home, "", uid: uid(name))
        }
    }
}

public func posix(_ result: Int32, _ what: @autoclosure () -> String) throws {
    if result != 0 { throw FixtureError("\(what()): \(String(cString: strerror(errno)))") }
}
