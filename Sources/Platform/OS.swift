#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about this process, its user, other processes and the machine; signals to processes.
public enum OS {
    /// This process's id (`getpid`).
    public static var processID: Int32 { getpid() }

    /// Whether a process with id `pid` exists (`kill(pid, 0)`); another user's process
    /// counts. False for a pid of 0 or less, which names a group, not a process.
    public static func processExists(_ pid: Int32) -> Bool {
        pid > 0 && (systemKill(pid, 0) == 0 || Errno.current == .notPermitted)
    }

    /// Ends the process `pid` at once with `SIGKILL` (`kill`): it cannot catch the signal,
    /// run exit handlers or flush anything, and the kernel closes its files and releases
    /// its locks. `OS.kill(OS.processID)` ends this process as a crash would.
    ///
    /// - throws: `.system` with the errno: ``Errno/notPermitted`` for another user's
    ///   process, `ESRCH` when there is no such process, `EINVAL` for a pid of 0 or less
    ///   (which would name a group of processes, or all of them).
    public static func kill(_ pid: Int32) throws(PlatformError) {
        guard pid > 0 else { throw .system(operation: "kill", path: "process \(pid)", errno: Errno(rawValue: EINVAL)) }
        guard systemKill(pid, SIGKILL) == 0 else { throw .current("kill", "process \(pid)") }
    }

    /// The user id this process acts as (`geteuid`).
    public static var effectiveUserID: UInt32 { UInt32(geteuid()) }

    /// The group id this process acts as (`getegid`).
    public static var effectiveGroupID: UInt32 { UInt32(getegid()) }

    /// The name of the account with user id `uid` (`getpwuid_r`), or nil when there is none
    /// (or the user database cannot be read).
    public static func userName(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            let code = getpwuid_r(uid_t(uid), &entry, &buffer, buffer.count, &result)
            if code == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard code == 0, result != nil, let name = entry.pw_name else { return nil }
            return String(cString: name)
        }
    }

    /// The machine's host name (`gethostname`); empty if it cannot be read.
    public static var hostName: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the open file `descriptor` is a terminal (`isatty`); 0, 1 and 2 are standard
    /// input, output and error.
    public static func isTerminal(_ descriptor: Int32) -> Bool {
        isatty(descriptor) == 1
    }
}

private func systemKill(_ pid: Int32, _ signal: Int32) -> Int32 { kill(pid, signal) }
