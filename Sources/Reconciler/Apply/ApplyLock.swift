import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The apply lock: `flock` on `<database>.lock`. The holder writes its pid, host, command
/// and start time into the file while it holds the lock (and empties it on release), so a
/// second run can say who holds it. The kernel releases the lock when the holder exits,
/// however it exits, so a crash never leaves a stale lock — but a SIGKILLed holder leaves
/// its line behind, and a new holder writes its own a moment after taking the lock. So the
/// line is believed only when the kernel's lock table (`/proc/locks`) says that its pid
/// holds the lock: a refused run names the live holder, never a dead one.
public final class ApplyLock {
    private let fd: Int32
    public let path: String

    /// Takes the lock, waiting up to `timeout` seconds (0: fail at once).
    public init(database: String, timeout: Double = 0, command: String) throws(ApplyError) {
        path = database + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .failed("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                throw .failed("cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            if Date() >= deadline {
                // The holder may have finished meanwhile: then the lock is taken after all.
                guard let holder = ApplyLock.describeHolder(fd: fd) else { continue }
                close(fd)
                throw .locked("another apply holds the lock \(path): \(holder)")
            }
            usleep(100_000)
        }
        self.fd = fd
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let started = ISO8601DateFormatter().string(from: Date())
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let info = "pid \(getpid()) on \(hostName), \(command), since \(started)\n"
        ftruncate(fd, 0)
        _ = info.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock (also released when the process exits).
    public func release() {
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Who holds the lock on the file open at `fd` (which does not hold it), or nil when
    /// nobody does any more. Waits up to a second for the holder's line to name the pid the
    /// kernel reports (a new holder writes it just after taking the lock); after that, names
    /// the pid with its command line from `/proc`.
    static func describeHolder(fd: Int32) -> String? {
        let deadline = Date().addingTimeInterval(1)
        var pid: pid_t?
        repeat {
            guard let holder = kernelHolder(fd: fd) else {
                // Without a lock table to ask (no /proc), the lock itself tells whether it is held.
                if flock(fd, LOCK_SH | LOCK_NB) == 0 {
                    flock(fd, LOCK_UN)
                    return nil
                }
                return line(fd: fd).flatMap { line in linePID(line).map { processIsAlive($0) ? line : nil } ?? nil }
                    ?? "a process whose details are not known (no lock table in /proc/locks)"
            }
            pid = holder
            if let line = line(fd: fd), linePID(line) == holder { return line }
            usleep(20_000)
        } while Date() < deadline
        guard let pid else { return nil }
        return "pid \(pid) (\(commandLine(of: pid) ?? "command unknown")); it has not written its details into the lock file"
    }

    /// The pid that holds an exclusive `flock` on the file open at `fd`, from the kernel's
    /// lock table, or nil when none does (or the table cannot be read).
    static func kernelHolder(fd: Int32) -> pid_t? {
        var info = stat()
        guard fstat(fd, &info) == 0,
              let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let dev = UInt64(info.st_dev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        for row in table.split(separator: "\n") {
            // `1: FLOCK  ADVISORY  WRITE 27232 fe:00:16220210 0 EOF`; waiters have `->` after the number.
            let fields = row.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", let holder = pid_t(fields[4]) else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, UInt64(id[0], radix: 16) == major, UInt64(id[1], radix: 16) == minor,
                  UInt64(id[2]) == UInt64(info.st_ino) else { continue }
            return holder
        }
        return nil
    }

    /// The holder's line in the lock file, with control characters shown as `?`.
    static func line(fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : inert(text)
    }

    /// The pid of a line `pid 123 on host, ...`.
    static func linePID(_ line: String) -> pid_t? {
        guard line.hasPrefix("pid ") else { return nil }
        return pid_t(line.dropFirst(4).prefix { $0.isNumber })
    }

    static func processIsAlive(_ pid: pid_t) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    /// `/proc/<pid>/cmdline` with its NUL separators as spaces (at most 200 characters).
    static func commandLine(of pid: pid_t) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return String(inert(text).prefix(200))
    }

    /// The text with C0 controls and DEL as `?`, so a holder's line prints as one inert line.
    private static func inert(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }
}

extension ApplyLock {
    /// Who holds the apply lock of `database`, or nil when nobody does.
    public static func holder(database: String) -> String? {
        let path = database + ".lock"
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return describeHolder(fd: fd)
    }
}
