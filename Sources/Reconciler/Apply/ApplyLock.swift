import Foundation
import Platform

/// The apply lock: `flock` on `<database>.lock`. The holder writes its pid, host, command
/// and start time into the file while it holds the lock (and empties it on release), so a
/// second run can say who holds it. The kernel releases the lock when the holder exits,
/// however it exits, so a crash never leaves a stale lock — but a SIGKILLed holder leaves
/// its line behind, and a new holder writes its own a moment after taking the lock. So the
/// line is believed only when the kernel's lock table (`/proc/locks`) says that its pid
/// holds the lock: a refused run names the live holder, never a dead one.
public final class ApplyLock {
    private let file: OpenFile
    public let path: String

    /// Takes the lock, waiting up to `timeout` seconds (0: fail at once).
    public init(database: String, timeout: Double = 0, command: String) throws(ApplyError) {
        path = database + ".lock"
        let file: OpenFile
        do { file = try OpenFile(path: path, access: .readWrite, creating: .ifMissing(permissions: 0o600)) } catch {
            throw .failed("cannot open the lock file \(path): \(error.reason)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do { if try file.tryLock(.exclusive) { break } } catch { throw .failed("cannot lock \(path): \(error.reason)") }
            if Date() >= deadline {
                // The holder may have finished meanwhile: then the lock is taken after all.
                guard let holder = ApplyLock.describeHolder(file) else { continue }
                throw .locked("another apply holds the lock \(path): \(holder)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        self.file = file
        let started = ISO8601DateFormatter().string(from: Date())
        let info = "pid \(OS.processID) on \(OS.hostName), \(command), since \(started)\n"
        try? file.truncate(toSize: 0)
        try? file.write(Array(info.utf8), atOffset: 0)
    }

    /// Releases the lock (also released when the process exits).
    public func release() {
        try? file.truncate(toSize: 0)
        file.unlock()
        try? file.close()
    }

    /// Who holds the lock on `file` (which does not hold it), or nil when nobody does any
    /// more. Waits up to a second for the holder's line to name the pid the kernel reports
    /// (a new holder writes it just after taking the lock); after that, names the pid with
    /// its command line from `/proc`.
    static func describeHolder(_ file: OpenFile) -> String? {
        let deadline = Date().addingTimeInterval(1)
        var pid: Int32?
        repeat {
            guard let holder = kernelHolder(file) else {
                // Without a lock table to ask (no /proc), the lock itself tells whether it is held.
                if (try? file.tryLock(.shared)) == true {
                    file.unlock()
                    return nil
                }
                return line(file).flatMap { line in linePID(line).map { OS.processExists($0) ? line : nil } ?? nil }
                    ?? "a process whose details are not known (no lock table in /proc/locks)"
            }
            pid = holder
            if let line = line(file), linePID(line) == holder { return line }
            Thread.sleep(forTimeInterval: 0.02)
        } while Date() < deadline
        guard let pid else { return nil }
        return "pid \(pid) (\(commandLine(of: pid) ?? "command unknown")); it has not written its details into the lock file"
    }

    /// The pid that holds an exclusive `flock` on `file`, from the kernel's lock table, or
    /// nil when none does (or the table cannot be read).
    static func kernelHolder(_ file: OpenFile) -> Int32? {
        guard let info = try? file.info(),
              let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let dev = info.device
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        for row in table.split(separator: "\n") {
            // `1: FLOCK  ADVISORY  WRITE 27232 fe:00:16220210 0 EOF`; waiters have `->` after the number.
            let fields = row.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", let holder = Int32(fields[4]) else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, UInt64(id[0], radix: 16) == major, UInt64(id[1], radix: 16) == minor,
                  UInt64(id[2]) == info.inode else { continue }
            return holder
        }
        return nil
    }

    /// The holder's line in the lock file, with control characters shown as `?`.
    static func line(_ file: OpenFile) -> String? {
        guard let bytes = try? file.read(upTo: 512, atOffset: 0), !bytes.isEmpty else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : inert(text)
    }

    /// The pid of a line `pid 123 on host, ...`.
    static func linePID(_ line: String) -> Int32? {
        guard line.hasPrefix("pid ") else { return nil }
        return Int32(line.dropFirst(4).prefix { $0.isNumber })
    }

    /// `/proc/<pid>/cmdline` with its NUL separators as spaces (at most 200 characters).
    static func commandLine(of pid: Int32) -> String? {
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
        guard let file = try? OpenFile(path: database + ".lock", access: .read) else { return nil }
        if (try? file.tryLock(.shared)) == true {
            file.unlock()
            return nil
        }
        return describeHolder(file)
    }
}
