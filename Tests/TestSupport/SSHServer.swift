import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real OpenSSH server (`/usr/sbin/sshd`, package openssh-server) on a free loopback port,
/// for one test: its own host key and configuration in a directory of the scratch
/// directory, public-key logins only, as the user running the tests (root, when tests run
/// as root: `PermitRootLogin prohibit-password`). ``stop()`` (or deinit) kills it.
public final class SSHServer: @unchecked Sendable {
    public static let sshd = "/usr/sbin/sshd"
    public static let keygen = "/usr/bin/ssh-keygen"

    /// Whether sshd and ssh-keygen are installed.
    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: sshd) && FileManager.default.isExecutableFile(atPath: keygen)
    }

    public let port: Int
    /// The account logins are accepted for: the user running the tests.
    public let user: String
    /// The host key's public line (`ssh-ed25519 AAAA...`).
    public let hostKey: String
    /// The file of keys allowed to log in (``authorize(_:)`` appends to it).
    public let authorizedKeys: String
    /// What sshd wrote to stderr (`-e`), for failure messages.
    public let log: String
    /// sshd's process id; 0 once it was stopped.
    private var pid: pid_t
    private let lock = NSLock()

    /// Starts sshd with its files in `scratch`'s directory `name`; waits until it listens.
    public init(scratch: Scratch, name: String = "sshd") throws {
        let directory = scratch.path(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let hostKeyPath = directory + "/host_ed25519"
        try Self.run(Self.keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "test-sshd", "-f", hostKeyPath])
        hostKey = try String(contentsOfFile: hostKeyPath + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        authorizedKeys = directory + "/authorized_keys"
        _ = FileManager.default.createFile(atPath: authorizedKeys, contents: Data())
        user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        log = directory + "/sshd.log"
        // sshd's privilege separation directory (Debian's unit creates it at boot).
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        // A free port can be taken by another process before sshd binds it: try a few.
        var started: (pid_t, Int)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            let config = directory + "/sshd_config"
            try """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(hostKeyPath)
                PidFile none
                AuthorizedKeysFile \(authorizedKeys)
                StrictModes no
                UsePAM no
                PermitRootLogin prohibit-password
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                AllowUsers \(user)
                LogLevel VERBOSE

                """.write(toFile: config, atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: log, contents: Data())
            let pid = try Self.spawn([Self.sshd, "-D", "-e", "-f", config], standardError: log)
            switch Self.waitUntilListening(pid, log: log) {
            case true?: started = (pid, port)
            case false?: Self.kill(pid)
            case nil: break  // exited, and reaped
            }
            if started != nil { break }
        }
        guard let (pid, port) = started else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw GitCLIError(arguments: ["sshd did not start: \(text)"], status: 1)
        }
        self.pid = pid
        self.port = port
    }

    deinit { stop() }

    /// Stops sshd (SIGKILL) and waits for its supervising shell.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        if pid > 0 { Self.kill(pid) }
        pid = 0
    }

    /// SIGKILL to `pid`, a child not yet reaped (so its pid cannot have been reused), and
    /// reaps it.
    private static func kill(_ pid: pid_t) {
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Starts `arguments` with posix_spawn, standard input and output on /dev/null and
    /// standard error appended to `standardError`, with no signal blocked. Not Foundation's
    /// Process: sshd closes every descriptor it inherits, which Process takes for the child's
    /// exit, and then it blocks in waitpid so that no other child of the tests is reaped.
    private static func spawn(_ arguments: [String], standardError: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard result == 0 else { throw GitCLIError(arguments: ["posix_spawn"] + arguments, status: result) }
        return pid
    }

    /// Allows the public key line `publicKey` (`ssh-ed25519 AAAA... comment`) to log in.
    public func authorize(_ publicKey: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: authorizedKeys))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((publicKey.hasSuffix("\n") ? publicKey : publicKey + "\n").utf8))
    }

    /// The known_hosts line for this server, as `ssh-keyscan -p PORT 127.0.0.1` prints it.
    public var knownHostsLine: String { "[127.0.0.1]:\(port) \(hostKey)\n" }

    /// An `ssh://` URL of `path` on this server, logging in as ``user``.
    public func url(_ path: String) -> String { "ssh://\(user)@127.0.0.1:\(port)\(path)" }

    /// What sshd logged so far.
    public var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Makes a new key pair without a passphrase at `path` (and `path.pub`); returns the public line.
    @discardableResult
    public static func makeKey(at path: String, type: String = "ed25519") throws -> String {
        try run(keygen, ["-q", "-t", type, "-N", "", "-C", "deploy", "-f", path])
        return try String(contentsOfFile: path + ".pub", encoding: .utf8)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let result = try Command.run(tool, arguments)
        guard result.status == 0 else { throw GitCLIError(arguments: [tool] + arguments + [result.stderr], status: result.status) }
    }

    /// A loopback port nothing listens on now: bound with port 0, then released.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw GitCLIError(arguments: ["socket"], status: errno) }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw GitCLIError(arguments: ["bind"], status: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits up to 10 s for sshd's "Server listening" line: true when it came, false when it
    /// did not, nil when sshd exited first (it is reaped then).
    private static func waitUntilListening(_ pid: pid_t, log: String) -> Bool? {
        for _ in 0..<400 {
            if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("Server listening on") { return true }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return nil }
            usleep(25_000)
        }
        return false
    }
}
