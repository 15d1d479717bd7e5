import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The apply lock: `flock` on `<database>.lock`. The holder writes its pid, host, command
/// and start time into the file, so a second run can say who holds it. The kernel releases
/// the lock when the holder exits, however it exits, so a crash never leaves a stale lock.
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
                let holder = ApplyLock.holder(fd: fd)
                close(fd)
                throw .locked("another apply holds the lock \(path)\(holder.isEmpty ? "" : ": \(holder)")")
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

    private static func holder(fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            .escapingControlCharactersForLock
    }

    /// Releases the lock (also released when the process exits).
    public func release() {
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}

private extension String {
    var escapingControlCharactersForLock: String {
        String(unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }
}
