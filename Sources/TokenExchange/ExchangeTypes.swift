import AccessModel
import TokenProtocol

/// How the token client talks to services: concurrency, timeouts, retries, limits.
public struct ExchangeSettings: Sendable, Hashable {
    /// Requests in flight at once (across all services of one call).
    public var concurrency = 32
    /// Seconds allowed for one attempt to reach the service and send the request.
    public var connectTimeout: Double = 5
    /// Seconds allowed for one request from its first attempt to its answer, retries and
    /// backoff included.
    public var totalTimeout: Double = 30
    /// Tries per request when the service cannot be reached or answers 5xx.
    public var attempts = 3
    /// Seconds before the first retry; doubled for each further retry, with jitter.
    public var backoff: Double = 0.2
    /// The largest response body read; a larger one fails the request.
    public var maxResponseBytes = 64 * 1024
    /// Where each shared secret may be sent; nil sends it wherever the service's URLs say.
    public var secretOrigins: SecretOrigins?
    /// The roots that services' TLS certificates must chain to (`http.ca_file`), instead of
    /// the system trust store; nil uses the system store.
    public var trustRoots: TrustRoots?

    public init() {}

    public init(concurrency: Int = 32, connectTimeout: Double = 5, totalTimeout: Double = 30, attempts: Int = 3,
                backoff: Double = 0.2, maxResponseBytes: Int = 64 * 1024) {
        self.concurrency = concurrency
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.attempts = attempts
        self.backoff = backoff
        self.maxResponseBytes = maxResponseBytes
    }

    /// The settings with every value clamped to something usable (at least one attempt,
    /// one request in flight, positive timeouts).
    var normalized: ExchangeSettings {
        var s = self
        s.concurrency = max(1, s.concurrency)
        s.attempts = max(1, s.attempts)
        s.totalTimeout = s.totalTimeout.isFinite && s.totalTimeout > 0 ? s.totalTimeout : 30
        s.connectTimeout = s.connectTimeout.isFinite && s.connectTimeout > 0 ? s.connectTimeout : s.totalTimeout
        s.backoff = s.backoff.isFinite && s.backoff >= 0 ? s.backoff : 0
        s.maxResponseBytes = max(1024, s.maxResponseBytes)
        return s
    }
}
