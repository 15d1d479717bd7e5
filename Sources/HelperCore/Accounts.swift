#if canImport(Glibc)
import Glibc
#endif
import HelperProtocol

/// A Unix account the helper may write for.
struct Account: Equatable {
    var name: String
    var uid: uid_t
    var gid: gid_t
    /// The home directory as configured (absolute).
    var home: String
}

/// Looks accounts up by name.
protocol AccountDirectory {
    func account(named name: String) throws(HelperError) -> Account?
}

/// The system's account database, through `getpwnam_r` (so NSS sources such as LDAP work).
struct SystemAccounts: AccountDirectory {
    func account(named name: String) throws(HelperError) -> Account? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var size = 16 * 1024
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let status = getpwnam_r(name, &entry, &buffer, size, &result)
            if status == ERANGE && size < 1 << 20 { size *= 4; continue }
            if status != 0 { throw HelperError("cannot look up user: \(String(cString: strerror(status)))") }
            guard result != nil else { return nil }
            return Account(name: String(cString: entry.pw_name), uid: entry.pw_uid, gid: entry.pw_gid,
                           home: String(cString: entry.pw_dir))
        }
    }
}

/// A passwd(5) file, for tests only (`--passwd-file`).
struct PasswdFileAccounts: AccountDirectory {
    private var accounts: [String: Account] = [:]

    init(path: String) throws(HelperError) {
        let bytes = try readFile(path, limit: 64 << 20)
        // Byte-level parsing: a benchmark passwd file has 100,000 lines.
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var fields: [Range<Int>] = []
            var fieldStart = start
            for i in start...end where i == end || bytes[i] == 0x3A {
                fields.append(fieldStart..<i)
                fieldStart = i + 1
            }
            start = end + 1
            guard fields.count == 7 else { continue }
            func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
            guard let uid = uid_t(text(fields[2])), let gid = gid_t(text(fields[3])) else { continue }
            let name = text(fields[0])
            if accounts[name] == nil {
                accounts[name] = Account(name: name, uid: uid, gid: gid, home: text(fields[5]))
            }
        }
    }

    func account(named name: String) throws(HelperError) -> Account? { accounts[name] }
}

/// The lowest uid the helper writes for: UID_MIN from /etc/login.defs, else 1000.
func minimumUID(loginDefs path: String = "/etc/login.defs") -> uid_t {
    guard let bytes = try? readFile(path, limit: 1 << 20) else { return 1000 }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if words.count >= 2, words[0] == "UID_MIN", let value = uid_t(words[1]), value > 0 { return value }
    }
    return 1000
}

/// Reads a whole file (following no links), refusing one larger than `limit`.
func readFile(_ path: String, limit: Int) throws(HelperError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
    guard fd >= 0 else { throw HelperError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    return try readAll(fd, limit: limit, what: path)
}

/// Reads a descriptor to its end, refusing more than `limit` bytes.
func readAll(_ fd: Int32, limit: Int, what: String) throws(HelperError) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw HelperError("cannot read \(what): \(String(cString: strerror(errno)))")
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > limit { throw HelperError("\(what) is larger than \(limit) bytes") }
    }
}

/// An error with a message for the response; never contains file contents.
public struct HelperError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
