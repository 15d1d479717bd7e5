import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange as the token client sees it.
enum TransferOutcome: Sendable {
    /// The service answered (any status except a redirect); `body` is at most the limit.
    case response(status: Int, contentType: String?, body: Data)
    /// The service answered with a redirect (never followed). `location` is safe to print.
    case redirect(status: Int, location: String?)
    /// Not sent within the connect timeout.
    case connectTimeout
    /// The request's deadline passed.
    case deadline
    /// The body grew past the limit (or announced a larger length); the transfer was cancelled.
    case tooLarge
    /// A transport error (connection refused, reset, DNS, TLS, ...), with libcurl's reason
    /// for a TLS failure (`self-signed certificate`, `wrong version number`).
    case network(URLError.Code, reason: String? = nil)
    /// The caller's task was cancelled.
    case cancelled
}

/// A URLSession with one delegate that serves every task of the session: it refuses
/// redirects, caps bodies, and enforces connect and total deadlines by cancelling tasks.
///
/// The session keeps connections alive and allows twice `concurrency` of them per host, so
/// a batch of exchanges with one service reuses a small pool of connections.
///
/// What FoundationNetworking (libcurl underneath) does not do, and how this copes:
/// - it ignores the disposition of `didReceive response` and never pauses a transfer, so a
///   refused response is stopped with `cancel()`;
/// - a cancel lands only between libcurl's read batches, and at loopback speed that can take
///   a few hundred milliseconds, in which a 50 MB body is read to its end (measured); the
///   bytes past the limit are dropped here, so memory stays bounded, not the bytes read, as
///   long as the delegate queue keeps draining: see `Canceller`;
/// - it reports every TLS failure as `URLError.unknown` with libcurl's text; `tlsFailure`
///   tells them apart by that text;
/// - it does not tell the delegate about 301, 302, 303 and 307 responses before their body
///   is read (it keeps that body itself), only through `willPerformHTTPRedirection`,
///   which refuses them; 308 and other 3xx come as responses and are cancelled at once;
/// - it has no separate connect timeout, and its request timeout counts whole seconds: the
///   connect phase is bounded here (until the request body is sent) and so is the total.
final class HTTPTransport: Sendable {
    private let session: URLSession
    private let delegate: TransferDelegate
    let maxResponseBytes: Int

    init(settings: ExchangeSettings) {
        let configuration = URLSessionConfiguration.ephemeral
        // Above the in-flight bound (the token client never has more than `concurrency`
        // requests out): with the limit equal to it, libcurl closed and reopened connections
        // and stalled queued transfers (3000 exchanges at 50 ms latency took 43 s instead of
        // 13 s at a concurrency of 16).
        configuration.httpMaximumConnectionsPerHost = max(settings.concurrency * 2, 2)
        configuration.timeoutIntervalForRequest = (settings.totalTimeout + 1).rounded(.up)
        configuration.timeoutIntervalForResource = (settings.totalTimeout + 1).rounded(.up)
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpCookieStorage = nil
        configuration.urlCredentialStorage = nil
        let delegate = TransferDelegate(maxResponseBytes: settings.maxResponseBytes)
        let queue = OperationQueue()
        queue.name = "accessctl.exchange.delegate"
        // Serial, so the chunks of one body arrive in order.
        queue.maxConcurrentOperationCount = 1
        self.delegate = delegate
        self.maxResponseBytes = settings.maxResponseBytes
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
    }

    deinit {
        session.invalidateAndCancel()
    }

    /// Sends `request` and waits for the outcome. The attempt is abandoned at `deadline`,
    /// or when its body has not been sent `connectTimeout` seconds from now (a request with a
    /// body only: FoundationNetworking reports nothing between connecting and the answer
    /// otherwise).
    func perform(_ request: URLRequest, connectTimeout: Double?, deadline: DispatchTime) async -> TransferOutcome {
        if Task.isCancelled { return .cancelled }
        var request = request
        let remaining = Double(deadline.uptimeNanoseconds &- min(DispatchTime.now().uptimeNanoseconds,
                                                                  deadline.uptimeNanoseconds)) / 1e9
        if remaining <= 0 { return .deadline }
        // FoundationNetworking's own timer, in whole seconds: only a backstop behind ours.
        request.timeoutInterval = (remaining + 1).rounded(.up)

        let transfer = Transfer()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TransferOutcome, Never>) in
                transfer.lock.lock()
                transfer.continuation = continuation
                let early = transfer.abortReason
                transfer.lock.unlock()
                if let early {
                    // Cancelled before it started: nothing is sent.
                    transfer.finish(early)
                    return
                }
                let task = session.dataTask(with: request)
                delegate.register(transfer, for: task.taskIdentifier)
                transfer.lock.lock()
                transfer.task = task
                transfer.lock.unlock()
                var timers: [(DispatchTime, DispatchWorkItem)] = []
                if let connectTimeout, request.httpBody != nil, DispatchTime.now() + connectTimeout < deadline {
                    let connectAt = DispatchTime.now() + connectTimeout
                    timers.append((connectAt, DispatchWorkItem { [weak transfer] in
                        transfer?.abort(.connectTimeout, onlyIfUnsent: true)
                    }))
                }
                timers.append((deadline, DispatchWorkItem { [weak transfer] in transfer?.abort(.deadline) }))
                transfer.lock.lock()
                transfer.timers = timers.map(\.1)
                transfer.lock.unlock()
                for (when, item) in timers { DispatchQueue.global().asyncAfter(deadline: when, execute: item) }
                task.resume()
            }
        } onCancel: {
            transfer.abort(.cancelled)
        }
    }
}

/// Cancels tasks one at a time on a queue of its own. FoundationNetworking's `cancel()`
/// waits (`workQueue.sync`) until libcurl's read loop yields, which at loopback speed can be
/// when a body has been read to its end. Called on the delegate queue it stalls that queue,
/// and every chunk read meanwhile waits there in memory (five 50 MB bodies took accessctl
/// to 270 MB); called on the shared pool, several waiting cancels can starve the delegate
/// queue of threads just as well. Here at most one thread waits, and memory stays flat.
private enum Canceller {
    static let queue = DispatchQueue(label: "accessctl.exchange.cancel")

    static func cancel(_ task: URLSessionTask) {
        queue.async { task.cancel() }
    }
}

/// The state of one task. Every mutable field is guarded by `lock`.
private final class Transfer: @unchecked Sendable {
    let lock = NSLock()
    var task: URLSessionDataTask?
    var continuation: CheckedContinuation<TransferOutcome, Never>?
    var timers: [DispatchWorkItem] = []
    var status = 0
    var contentType: String?
    var body = Data()
    var sent = false
    var finished = false
    var redirected: (status: Int, location: String?)?
    /// Why the transfer was cancelled on purpose; it wins over the error that follows.
    var abortReason: TransferOutcome?

    /// Cancels the task for `reason`, unless the task already ended or was already aborted.
    /// Before the task starts, it only records the reason; the task is then never started.
    func abort(_ reason: TransferOutcome, onlyIfUnsent: Bool = false) {
        lock.lock()
        guard !finished, abortReason == nil, !(onlyIfUnsent && sent) else {
            lock.unlock()
            return
        }
        abortReason = reason
        let task = self.task
        lock.unlock()
        if let task { Canceller.cancel(task) }
    }

    /// Resumes the waiting caller once; later calls do nothing.
    func finish(_ outcome: TransferOutcome) {
        lock.lock()
        finished = true
        let continuation = self.continuation
        self.continuation = nil
        let timers = self.timers
        self.timers = []
        self.task = nil
        lock.unlock()
        for timer in timers { timer.cancel() }
        continuation?.resume(returning: outcome)
    }
}

private final class TransferDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var transfers: [Int: Transfer] = [:]
    private let maxResponseBytes: Int

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    func register(_ transfer: Transfer, for id: Int) {
        lock.lock()
        transfers[id] = transfer
        lock.unlock()
    }

    private func transfer(_ id: Int, remove: Bool = false) -> Transfer? {
        lock.lock()
        defer { lock.unlock() }
        return remove ? transfers.removeValue(forKey: id) : transfers[id]
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didSendBodyData bytesSent: Int64,
                    totalBytesSent: Int64, totalBytesExpectedToSend: Int64) {
        guard let t = transfer(task.taskIdentifier) else { return }
        t.lock.lock()
        t.sent = true
        t.lock.unlock()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        if let t = transfer(task.taskIdentifier) {
            t.lock.lock()
            t.sent = true
            t.redirected = (response.statusCode, Self.safeLocation(request.url))
            t.lock.unlock()
        }
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        guard let t = transfer(dataTask.taskIdentifier) else {
            completionHandler(.cancel)
            return
        }
        let http = response as? HTTPURLResponse
        t.lock.lock()
        t.sent = true
        t.status = http?.statusCode ?? 0
        t.contentType = http?.value(forHTTPHeaderField: "Content-Type")
        var refuse = false
        if let status = http?.statusCode, (300...399).contains(status) {
            // Refuse before the body: a redirect's body is otherwise buffered unbounded.
            t.redirected = (status, Self.safeLocation(http?.value(forHTTPHeaderField: "Location")
                .flatMap { URL(string: $0, relativeTo: response.url) }))
            t.abortReason = .redirect(status: status, location: t.redirected?.location)
            refuse = true
        } else if response.expectedContentLength > Int64(maxResponseBytes) {
            t.abortReason = .tooLarge
            refuse = true
        }
        t.lock.unlock()
        // FoundationNetworking ignores the disposition (it never pauses the transfer), so
        // a refused response is stopped by cancelling the task.
        completionHandler(refuse ? .cancel : .allow)
        if refuse { Canceller.cancel(dataTask) }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let t = transfer(dataTask.taskIdentifier) else { return }
        t.lock.lock()
        guard t.abortReason == nil else {
            t.lock.unlock()
            return
        }
        if t.body.count + data.count > maxResponseBytes {
            t.abortReason = .tooLarge
            t.body = Data()
            t.lock.unlock()
            Canceller.cancel(dataTask)
            return
        }
        t.body.append(data)
        t.lock.unlock()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let t = transfer(task.taskIdentifier, remove: true) else { return }
        t.lock.lock()
        let outcome: TransferOutcome
        if let reason = t.abortReason {
            outcome = reason
        } else if let redirect = t.redirected {
            outcome = .redirect(status: redirect.status, location: redirect.location)
        } else if let error {
            let code = (error as? URLError)?.code ?? URLError.Code.unknown
            if code == .timedOut {
                outcome = .deadline
            } else {
                outcome = (code == .unknown ? Self.tlsFailure(error) : nil) ?? .network(code)
            }
        } else if let http = task.response as? HTTPURLResponse, (300...399).contains(http.statusCode) {
            outcome = .redirect(status: http.statusCode, location: Self.safeLocation(
                http.value(forHTTPHeaderField: "Location").flatMap { URL(string: $0, relativeTo: http.url) }))
        } else {
            let status = t.status != 0 ? t.status : (task.response as? HTTPURLResponse)?.statusCode ?? 0
            outcome = .response(status: status, contentType: t.contentType, body: t.body)
        }
        t.body = Data()
        t.lock.unlock()
        t.finish(outcome)
    }

    /// The outcome of an `unknown` transport error whose libcurl text is a certificate
    /// refusal ("SSL certificate problem: self-signed certificate") or a failed handshake
    /// ("OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number"), with the
    /// reason libcurl gives; nil for anything else, including TLS errors after the
    /// handshake ("SSL_read: ... unexpected eof", a reset), which are transient network
    /// errors and retried.
    static func tlsFailure(_ error: any Error) -> TransferOutcome? {
        let text = (error as NSError).localizedDescription
        func after(_ marker: String) -> String? {
            guard let range = text.range(of: marker) else { return nil }
            let rest = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
            return rest.isEmpty ? nil : rest
        }
        let transient = ["SSL_read", "SSL_write", "SSL_ERROR_SYSCALL", "unexpected eof", "Connection reset"]
        if transient.contains(where: text.contains) { return nil }
        for marker in ["SSL certificate problem:", "certificate verify failed", "no alternative certificate subject name"]
        where text.contains(marker) {
            return .network(.serverCertificateUntrusted, reason: after("SSL certificate problem:") ?? marker)
        }
        for marker in ["SSL routines::", "SSL routines:", "SSL connect error", "TLS connect error", "handshake failure"]
        where text.contains(marker) {
            return .network(.secureConnectionFailed, reason: after("SSL routines::") ?? marker)
        }
        return nil
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
