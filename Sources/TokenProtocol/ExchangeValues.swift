import AccessModel

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
