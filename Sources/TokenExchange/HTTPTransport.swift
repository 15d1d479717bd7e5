import AccessModel
import TokenProtocol
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP exchange as the token client sees it.
enum TransferOutcome: Sendable {
    /// The service answered (any status except a redirect); `body` is at most the limit.
    case response(status: Int, contentType: String?, body: Data)
    /// The service answered with a redirect (never followed). `location` is safe to print.
    case redirect(status: Int, location: String?)
    /// No connection (TCP and TLS) within the connect timeout.
    case connectTimeout
    /// The request's deadline passed.
    case deadline
    /// The body grew past the limit (or announced a larger length); reading stopped there.
    case tooLarge
    /// A transport error: connection refused, reset, DNS, TLS, ...
    case network(NetworkFailure)
    /// The caller's task was cancelled.
    case cancelled
}

/// Why a request got no HTTP answer, from the typed error of the HTTP stack.
struct NetworkFailure: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case refused, unresolved, unreachable, lost, badResponse
        /// The TLS handshake failed before the certificate was judged (not TLS, no common version).
        case tlsHandshake
        /// The server's certificate was refused (not trusted, or not for the host).
        case tlsCertificate
        /// Anything else; `detail` names the error type.
        case other
    }

    var kind: Kind
    /// Plain words about the cause, or nil. Never holds a secret or a response body.
    var detail: String?

    init(_ kind: Kind, _ detail: String? = nil) {
        self.kind = kind
        self.detail = detail
    }

    /// Whether a retry may go another way: a TLS failure will not.
    var isTransient: Bool { kind != .tlsHandshake && kind != .tlsCertificate }

    var summary: String {
        switch kind {
        case .refused: return "could not connect (connection refused)"
        case .unresolved: return "could not resolve the host name"
        case .unreachable: return "could not connect (no route to the host)"
        case .lost: return "the connection was lost"
        case .badResponse: return "bad HTTP response"
        case .tlsHandshake: return "TLS handshake failed"
        case .tlsCertificate: return "TLS certificate refused"
        case .other: return "network error"
        }
    }
}

/// The HTTP client of one run of the token client: one `HTTPClient` (its connection pool,
/// on SwiftNIO's shared event loops) for every request of the run, shut down at its end by
/// `run`. It refuses redirects, caps bodies while they stream in, and enforces connect and
/// total deadlines.
///
/// - Connections: HTTP/1.1 with keep-alive, up to twice `concurrency` per host (the token
///   client never has more than `concurrency` requests out, so a request never queues for
///   a connection). A failed connection attempt fails its requests at once
///   (`retryConnectionEstablishment` off): the token client retries with its own backoff
///   and attempt count, and a TLS failure is not retried at all.
/// - Deadlines: the connect timeout covers TCP and the TLS handshake; the total deadline
///   covers the whole attempt, head and body (async-http-client's own deadline ends with
///   the head, so a racing timer cancels a body that trickles past it).
/// - Trust: the system store, or `settings.trustRoots` instead of it.
final class HTTPTransport: Sendable {
    private let client: HTTPClient
    private let maxResponseBytes: Int
    private let trust: String

    private init(client: HTTPClient, settings: ExchangeSettings) {
        self.client = client
        maxResponseBytes = settings.maxResponseBytes
        trust = settings.trustRoots.map { "the trust roots of \($0.path.escapingControlCharacters)" }
            ?? "the system trust store"
    }

    /// Runs `body` with a transport whose connections time out after `connectTimeout`
    /// seconds, then shuts the client down (closing its connections) and returns what
    /// `body` returned.
    static func run<R: Sendable>(settings: ExchangeSettings, connectTimeout: Double,
                                 _ body: (HTTPTransport) async -> R) async -> R {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .duration(connectTimeout), read: nil)
        var pool = HTTPClient.Configuration.ConnectionPool(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(settings.concurrency * 2, 2))
        pool.retryConnectionEstablishment = false
        configuration.connectionPool = pool
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let roots = settings.trustRoots { tls.trustRoots = .certificates(roots.certificates) }
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result = await body(HTTPTransport(client: client, settings: settings))
        do {
            try await client.shutdown()
        } catch {
            // Only a second shutdown throws, and this is the only one.
            assertionFailure("HTTPClient shut down twice: \(error)")
        }
        return result
    }

    /// One request: `method` to `url` with `headers` and `body`, abandoned at `deadline`.
    func perform(_ method: HTTPMethod, _ url: URL, headers: [(String, String)], body: Data? = nil,
                 deadline: NIODeadline) async -> TransferOutcome {
        if Task.isCancelled { return .cancelled }
        let now = NIODeadline.now()
        guard deadline > now else { return .deadline }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let remaining = deadline - now
        let prepared = request
        return await withTaskGroup(of: TransferOutcome?.self) { group in
            group.addTask { await self.attempt(prepared, url: url, deadline: deadline) }
            group.addTask {
                do {
                    try await Task.sleep(nanoseconds: UInt64(max(remaining.nanoseconds, 0)))
                    return .deadline
                } catch {
                    return nil  // the attempt ended first, or the caller was cancelled
                }
            }
            var outcome = TransferOutcome.cancelled
            while let next = await group.next() {
                guard let next else { continue }
                outcome = next
                break
            }
            group.cancelAll()
            return outcome
        }
    }

    private func attempt(_ request: HTTPClientRequest, url: URL, deadline: NIODeadline) async -> TransferOutcome {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            return outcome(of: error, host: url.host ?? "")
        }
        let status = Int(response.status.code)
        if (300...399).contains(status) {
            // Not read: the body is dropped with the response, and its connection closed.
            let location = response.headers.first(name: "Location").flatMap { URL(string: $0, relativeTo: url) }
            return .redirect(status: status, location: Self.safeLocation(location))
        }
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > maxResponseBytes {
            return .tooLarge
        }
        var body = ByteBuffer()
        do {
            for try await chunk in response.body {
                // Leaving the loop ends the stream: nothing past the cap is read.
                guard body.readableBytes + chunk.readableBytes <= maxResponseBytes else { return .tooLarge }
                body.writeImmutableBuffer(chunk)
            }
        } catch {
            return outcome(of: error, host: url.host ?? "")
        }
        if Task.isCancelled { return .cancelled }
        return .response(status: status, contentType: response.headers.first(name: "Content-Type"),
                         body: Data(body.readableBytesView))
    }

    /// The outcome of an error thrown by the HTTP client, by the error's type.
    private func outcome(of error: any Error, host: String) -> TransferOutcome {
        if error is CancellationError { return .cancelled }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout: return .connectTimeout
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .deadline
            case .cancelled: return .cancelled
            case .remoteConnectionClosed, .uncleanShutdown: return .network(NetworkFailure(.lost))
            default: return .network(NetworkFailure(.other, error.shortDescription))
            }
        }
        if let failure = TLSFailure.classify(error, host: host, trust: trust) { return .network(failure) }
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.lazy.compactMap({ Self.socketFailure($0.error) }).first {
                return .network(failure)
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil || error.connectionErrors.isEmpty {
                return .network(NetworkFailure(.unresolved))
            }
            return .network(NetworkFailure(.other, "connection failed"))
        }
        if let failure = Self.socketFailure(error) { return .network(failure) }
        if error is HTTPParserError { return .network(NetworkFailure(.badResponse)) }
        if let error = error as? ChannelError {
            if case .connectTimeout = error { return .connectTimeout }
            return .network(NetworkFailure(.lost))
        }
        return .network(NetworkFailure(.other, String(describing: type(of: error))))
    }

    /// A socket error by its errno: refused, reset, unreachable; nil for anything else.
    private static func socketFailure(_ error: any Error) -> NetworkFailure? {
        guard let error = error as? IOError else { return nil }
        switch POSIXErrorCode(rawValue: error.errnoCode) {
        case .ECONNREFUSED: return NetworkFailure(.refused)
        case .ECONNRESET, .EPIPE, .ECONNABORTED: return NetworkFailure(.lost)
        case .ENETUNREACH, .EHOSTUNREACH: return NetworkFailure(.unreachable)
        default: return NetworkFailure(.other, "errno \(error.errnoCode)")
        }
    }

    /// A redirect target fit for an error message: scheme, host, port and path only (no
    /// user info, query or fragment), escaped and shortened.
    static func safeLocation(_ url: URL?) -> String? {
        guard let url = url?.absoluteURL, let components = URLComponents(url: url, resolvingAgainstBaseURL: true),
              let scheme = components.scheme else { return nil }
        var text = scheme + "://" + (components.host ?? "")
        if let port = components.port { text += ":\(port)" }
        text += components.percentEncodedPath
        if components.percentEncodedQuery != nil { text += "?…" }
        let excerpt = Redaction.excerpt(text, limit: 120)
        return String(excerpt.dropFirst().dropLast())
    }
}

/// TLS failures told apart by the type of NIOSSL's error and BoringSSL's error code, never
/// by the text of a message.
enum TLSFailure {
    // BoringSSL's error codes (include/openssl/err.h and ssl.h): a packed code holds the
    // library in its top byte and the reason in its low 12 bits.
    static let libSSL: UInt32 = 16
    static let certificateVerifyFailed: UInt32 = 125
    static let wrongVersionNumber: UInt32 = 247
    static let unsupportedProtocol: UInt32 = 240
    static let noCiphersAvailable: UInt32 = 175
    static let noSharedCipher: UInt32 = 184
    /// A reason of 1000 + N is TLS alert N sent by the peer.
    static let alertOffset: UInt32 = 1000

    /// The failure for a TLS error of the handshake, or nil when `error` is not one.
    /// `host` is the host the certificate was checked for, `trust` what it was checked against.
    static func classify(_ error: any Error, host: String, trust: String) -> NetworkFailure? {
        if let extra = error as? NIOSSLExtraError {
            if extra == .failedToValidateHostname {
                return NetworkFailure(.tlsCertificate, "not issued for \(host.escapingControlCharacters)")
            }
            return NetworkFailure(.tlsHandshake)
        }
        guard let error = error as? NIOSSLError else { return nil }
        switch error {
        case .handshakeFailed(let boring):
            return handshake(boring, trust: trust)
        case .noCertificateToValidate:
            return NetworkFailure(.tlsCertificate, "the server sent no certificate")
        case .uncleanShutdown:
            // The peer closed without a TLS goodbye: a lost connection, retried.
            return NetworkFailure(.lost)
        default:
            return NetworkFailure(.tlsHandshake)
        }
    }

    private static func handshake(_ error: BoringSSLError, trust: String) -> NetworkFailure {
        let stack: NIOBoringSSLErrorStack
        switch error {
        case .sslError(let errors), .unknownError(let errors): stack = errors
        case .zeroReturn, .syscallError:
            return NetworkFailure(.tlsHandshake, "the connection closed during the handshake")
        default: return NetworkFailure(.tlsHandshake)
        }
        if stack.contains(.eofDuringHandshake) {
            return NetworkFailure(.tlsHandshake, "the connection closed during the handshake")
        }
        let reasons = stack.compactMap(packedCode).filter { $0 >> 24 == libSSL }.map { $0 & 0xFFF }
        if reasons.contains(certificateVerifyFailed) {
            return NetworkFailure(.tlsCertificate, "not verified by \(trust)")
        }
        if reasons.contains(wrongVersionNumber) {
            return NetworkFailure(.tlsHandshake, "the server did not answer in TLS")
        }
        if reasons.contains(where: { [unsupportedProtocol, noCiphersAvailable, noSharedCipher].contains($0) }) {
            return NetworkFailure(.tlsHandshake, "no TLS version or cipher in common with the server")
        }
        if let alert = reasons.first(where: { $0 > alertOffset }) {
            return NetworkFailure(.tlsHandshake, "the server refused it with TLS alert \(alert - alertOffset)")
        }
        return NetworkFailure(.tlsHandshake)
    }

    /// BoringSSL's packed error code of `error`. NIOSSL stores it in a private field and
    /// offers only a description (text, which is not matched here), so it is read through
    /// reflection; nil if a NIOSSL release stores it otherwise, and the failure is then a
    /// plain "TLS handshake failed" (the tests of a refused certificate notice that).
    static func packedCode(_ error: BoringSSLInternalError) -> UInt32? {
        func child(_ value: Any, _ label: String?) -> Any? {
            Mirror(reflecting: value).children.first { label == nil || $0.label == label }?.value
        }
        guard let backing = child(error, "backing"), let info = child(backing, "boringSSLErrorInfo") else { return nil }
        return child(info, nil) as? UInt32
    }
}

extension TimeAmount {
    /// `seconds` (a fraction allowed) as a time amount.
    static func duration(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64((seconds * 1e9).rounded())) }
}
