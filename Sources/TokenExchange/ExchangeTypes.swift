import AccessModel

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

/// One key to issue: `userEmail` asks `service` for a key living `service.ttlDays` days.
/// `requestID` is the idempotency key; it is sent unchanged on every retry.
public struct ExchangeRequest: Sendable, Hashable {
    public var service: Service
    public var userEmail: String
    public var requestID: String

    public init(service: Service, userEmail: String, requestID: String) {
        self.service = service
        self.userEmail = userEmail
        self.requestID = requestID
    }
}

/// A key a service issued.
public struct IssuedKey: Sendable, Hashable {
    public var apiKey: Secret
    public var tokenID: String
    /// Unix seconds.
    public var expiresAt: Int64

    public init(apiKey: Secret, tokenID: String, expiresAt: Int64) {
        self.apiKey = apiKey
        self.tokenID = tokenID
        self.expiresAt = expiresAt
    }
}

/// One token to revoke. It names the service by id, URL and secret variable rather than
/// by a `Service`, because a token may outlive its service's entry in the desired state.
public struct RevokeRequest: Sendable, Hashable {
    /// The service id; it prefixes error messages.
    public var serviceID: String
    public var revokeURL: String
    public var secretEnv: String
    public var tokenID: String

    public init(serviceID: String, revokeURL: String, secretEnv: String, tokenID: String) {
        self.serviceID = serviceID
        self.revokeURL = revokeURL
        self.secretEnv = secretEnv
        self.tokenID = tokenID
    }

    public init(service: Service, tokenID: String) {
        self.init(serviceID: service.id, revokeURL: service.tokenRevokeURL, secretEnv: service.secretEnv,
                  tokenID: tokenID)
    }

    public init(service: LiveService, tokenID: String) {
        self.init(serviceID: service.id, revokeURL: service.tokenRevokeURL, secretEnv: service.secretEnv,
                  tokenID: tokenID)
    }
}

/// Why a request to a service failed. The message names the service and the cause; it
/// never contains a shared secret, a key or a response body (at most a short, escaped
/// excerpt of the service's own error message).
public struct ExchangeError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// No shared secret for the service, an unusable one, or one `secret_origins` does not
        /// allow at the service's URL; nothing was sent.
        case missingSecret
        /// The request could not be built (a bad URL); nothing was sent.
        case invalidRequest
        /// The service could not be reached (after the allowed attempts).
        case network
        /// The request ran out of time.
        case timeout
        /// The service answered with an error status.
        case httpStatus
        /// The service answered with a redirect, which is never followed.
        case redirect
        /// The response body was larger than the limit.
        case responseTooLarge
        /// The response was not the JSON the protocol requires.
        case malformedResponse
        /// The response carried a key, token id or expiry that is refused.
        case invalidKey
        /// The caller's task was cancelled.
        case cancelled
    }

    public var kind: Kind
    /// `<service>: <what went wrong>`.
    public var message: String
    /// The HTTP status of the last answer, when there was one.
    public var httpStatus: Int?
    /// HTTP attempts made (0 when nothing was sent).
    public var attempts: Int

    public init(kind: Kind, message: String, httpStatus: Int? = nil, attempts: Int = 0) {
        self.kind = kind
        self.message = message
        self.httpStatus = httpStatus
        self.attempts = attempts
    }

    public var description: String { message }
}
