import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A token service on a loopback address that misbehaves exactly as a test tells it: a
/// small HTTP/1.1 server on raw sockets (a thread per connection, one request per
/// connection) whose answers come from a closure, so a test controls every byte sent. Input
/// that is not HTTP (a TLS handshake) gets a plain `400` and is recorded with no path. It
/// runs until `stop()`.
public final class HostileService: @unchecked Sendable {
    /// A request as the server read it.
    public struct Request: Sendable {
        /// The request path; nil for input that is not HTTP.
        public let path: String?
        /// The string fields of the JSON body (`user_email`, `request_id`, `token_id`).
        public let fields: [String: String]
        /// Everything read from the connection, headers included.
        public let raw: [UInt8]
    }

    /// What the server sends back.
    public enum Answer: Sendable {
        /// A whole response with a Content-Length; `headers` are extra `Name: value` lines.
        case response(status: Int, contentType: String, body: [UInt8], headers: [String] = [])
        /// `200` with a JSON content type and no length: `bytes` of a JSON-looking body in
        /// 64 KiB writes, then the connection is closed.
        case stream(bytes: Int)
        /// A whole JSON response whose body goes out one byte every `interval` seconds.
        case trickle(body: [UInt8], interval: Double)

        /// A `200` JSON response.
        public static func json(_ object: [String: Any]) -> Answer {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return .response(status: 200, contentType: "application/json", body: Array(data))
        }
    }

    public let host: String
    public let port: Int
    private let listener: Int32
    private let answer: @Sendable (Request) -> Answer
    private let lock = NSLock()
    private var _requests: [Request] = []
    private var stopped = false

    /// Listens on `host` (a loopback address) at a free port; `answer` decides every reply.
    public init(host: String = "127.0.0.1", answer: @escaping @Sendable (Request) -> Answer) throws {
        self.host = host
        self.answer = answer
        // Close-on-exec, here and for each connection: a child the test starts meanwhile
        // (accessctl, git) must not hold a connection open after the server closes it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw GitCLIError(arguments: ["socket"], status: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, host, &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw GitCLIError(arguments: ["bind \(host)"], status: errno)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// `http://host:port` (or another scheme) followed by `path`.
    public func url(_ path: String = "", scheme: String = "http") -> String { "\(scheme)://\(host):\(port)\(path)" }

    /// Every request read so far.
    public var requests: [Request] { lock.withLock { _requests } }

    /// Stops accepting; streams and trickles under way end at their next write.
    public func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        while !isStopped {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            Thread { [self] in serve(connection) }.start()
        }
        close(listener)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Self.read(fd)
        lock.withLock { _requests.append(request) }
        guard request.path != nil else {
            _ = Self.send(fd, Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            shutdown(fd, Int32(SHUT_WR))
            return
        }
        switch answer(request) {
        case .response(let status, let contentType, let body, let headers):
            let head = ["HTTP/1.1 \(status) Hostile", "Content-Type: \(contentType)", "Content-Length: \(body.count)",
                        "Connection: close"] + headers
            _ = Self.send(fd, Array((head.joined(separator: "\r\n") + "\r\n\r\n").utf8)) && Self.send(fd, body)
        case .stream(let bytes):
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                + #"{"status":"ok","padding":""#
            let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 64 * 1024)
            var sent = 0
            var open = Self.send(fd, Array(head.utf8))
            while open && sent < bytes && !isStopped {
                let part = chunk.prefix(bytes - sent)
                open = Self.send(fd, Array(part))
                sent += part.count
            }
        case .trickle(let body, let interval):
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
                + "Connection: close\r\n\r\n"
            var open = Self.send(fd, Array(head.utf8))
            for byte in body where open {
                usleep(useconds_t(interval * 1_000_000))
                open = !isStopped && Self.send(fd, [byte])
            }
        }
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Writes all of `bytes`; false when the peer is gone.
    private static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Reads one request: the head, then as many body bytes as its Content-Length says.
    /// Input that does not start like an HTTP request line is returned after one read.
    private static func read(_ fd: Int32) -> Request {
        var raw: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var headEnd: Int?
        var bodyLength = 0
        while raw.count < 256 * 1024 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            raw += buffer[0..<n]
            guard let first = raw.first, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else { break }
            if headEnd == nil, let end = raw.indices.dropLast(3).first(where: { raw[$0..<($0 + 4)] == [13, 10, 13, 10] }) {
                headEnd = end + 4
                let head = String(decoding: raw[0..<end], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    bodyLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let headEnd, raw.count >= headEnd + bodyLength { break }
        }
        guard let headEnd, let line = String(decoding: raw[0..<headEnd], as: UTF8.self).split(separator: "\r\n").first
        else { return Request(path: nil, fields: [:], raw: raw) }
        let parts = line.split(separator: " ")
        let object = (try? JSONSerialization.jsonObject(with: Data(raw[headEnd...]))) as? [String: Any] ?? [:]
        return Request(path: parts.count > 1 ? String(parts[1]) : "", fields: object.compactMapValues { $0 as? String },
                       raw: raw)
    }
}
