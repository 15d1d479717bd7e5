import AccessModel
import TokenProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// The client side of the token-exchange protocol: issues keys, revokes tokens and checks
/// health, many requests at once with bounded concurrency.
///
/// Each request fails on its own: the result arrays hold one `Result` per request, in
/// request order. Errors are `ExchangeError`s whose messages never contain a shared secret,
/// a key or a response body. Network errors and 5xx answers are retried with exponential
/// backoff and jitter (the same `request_id` every time); nothing else is retried.
/// Redirects are never followed. A refused answer that reports a key issued (status "ok"
/// and a usable `token_id`) has that token revoked at once, so no refused key stays live.
///
/// Each call (`exchange`, `revoke`, `health`) runs on one HTTP client of its own, a pool of
/// keep-alive connections shared by all its requests, which is shut down before it returns.
public final class TokenClient: Sendable {
    public let settings: ExchangeSettings
    private let secrets: SecretStore
    private let encoder: JSONEncoder

    public init(settings: ExchangeSettings = ExchangeSettings(), secrets: SecretStore) {
        let settings = settings.normalized
        self.settings = settings
        self.secrets = secrets
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    // MARK: - Public API

    /// Exchanges keys for all requests with at most `settings.concurrency` in flight; the
    /// results are in request order. `progress` is called after each completion with
    /// (done, total).
    public func exchange(_ requests: [ExchangeRequest],
                         progress: (@Sendable (Int, Int) -> Void)? = nil) async -> [Result<IssuedKey, ExchangeError>] {
        let secrets = resolveSecrets(requests.map { ($0.service.id, $0.service.secretEnv) })
        return await HTTPTransport.run(settings: settings, connectTimeout: settings.connectTimeout) { transport in
            await boundedMap(requests, progress: progress) { request in
                let secret = secrets[Self.secretKey(service: request.service.id, name: request.service.secretEnv)]!
                return await self.exchangeOne(request, secret: secret, transport: transport)
            }
        }
    }

    /// Revokes tokens; 200 `{"status":"ok"}`, 204, and 404 or 410 (already gone) are success.
    /// Results are in request order.
    public func revoke(_ requests: [RevokeRequest],
                       progress: (@Sendable (Int, Int) -> Void)? = nil) async -> [Result<Void, ExchangeError>] {
        let secrets = resolveSecrets(requests.map { ($0.serviceID, $0.secretEnv) })
        return await HTTPTransport.run(settings: settings, connectTimeout: settings.connectTimeout) { transport in
            await boundedMap(requests, progress: progress) { request in
                let secret = secrets[Self.secretKey(service: request.serviceID, name: request.secretEnv)]!
                return await self.revokeOne(request, secret: secret, transport: transport)
            }
        }
    }

    /// GET `url`, without credentials; a 2xx answer means healthy. One attempt, within the
    /// total timeout. `service` (an id) prefixes the error message.
    public func health(_ url: String, service: String? = nil) async -> Result<Void, ExchangeError> {
        let target = Self.httpURL(url)
        let label = service ?? target.map { url in url.host.map { $0 + (url.port.map { ":\($0)" } ?? "") } ?? "" }
            .map { Redaction.excerpt($0, limit: 80) } ?? "health check"
        guard let target else {
            return .failure(ExchangeError(kind: .invalidRequest, message: "\(label): health_url is not an http(s) URL"))
        }
        let headers = [("Accept", "application/json"), ("User-Agent", Self.userAgent)]
        let deadline = NIODeadline.now() + .duration(settings.totalTimeout)
        // No connect timeout of its own: the total one ends a connection that never comes.
        let outcome = await HTTPTransport.run(settings: settings, connectTimeout: settings.totalTimeout + 1) { transport in
            await transport.perform(.GET, target, headers: headers, deadline: deadline)
        }
        switch outcome {
        case .response(let status, _, _) where (200...299).contains(status):
            return .success(())
        case .response(let status, _, let body):
            return .failure(ExchangeError(kind: .httpStatus, message: "\(label): health check answered HTTP \(status)"
                + Self.excerptNote(body, secrets: []), httpStatus: status, attempts: 1))
        default:
            return .failure(failure(for: outcome, label: label, attempts: 1))
        }
    }

    // MARK: - One request

    private func exchangeOne(_ request: ExchangeRequest, secret: Result<Secret, ExchangeError>,
                             transport: HTTPTransport) async -> Result<IssuedKey, ExchangeError> {
        let service = request.service
        let label = service.id
        let shared: Secret
        switch secret {
        case .success(let s): shared = s
        case .failure(let e): return .failure(e)
        }
        guard let url = Self.httpURL(service.tokenExchangeURL) else {
            return .failure(ExchangeError(kind: .invalidRequest,
                                          message: "\(label): token_exchange_url is not an http(s) URL"))
        }
        if let refused = originRefusal(service: label, secretEnv: service.secretEnv, url: service.tokenExchangeURL) {
            return .failure(refused)
        }
        let body = ExchangeBody(userEmail: request.userEmail, ttlDays: service.ttlDays, requestID: request.requestID)
        let sent = await send(post(url, body: body, secret: shared, label: label), label: label, secret: shared,
                              transport: transport)
        switch sent {
        case .failure(let error):
            return .failure(error)
        case .success(let answer):
            let parsed = ResponseValidation.exchangeAnswer(status: answer.status, contentType: answer.contentType,
                                                           body: answer.body, service: service, secret: shared,
                                                           attempts: answer.attempts)
            guard case .failure(let refusal) = parsed,
                  let issued = ResponseValidation.issuedToken(contentType: answer.contentType, body: answer.body)
            else { return parsed }
            return .failure(await revokeRefused(issued, refusal: refusal, service: service, secret: shared,
                                                transport: transport))
        }
    }

    /// Revokes the token of a refused answer that reports a key issued: the service holds a
    /// live key that accessctl never stores or writes, which would otherwise stay valid and
    /// unknown. Returns `refusal` with what became of the key added to its message.
    private func revokeRefused(_ issued: (tokenID: String, apiKey: String?), refusal: ExchangeError,
                               service: Service, secret: Secret, transport: HTTPTransport) async -> ExchangeError {
        var error = refusal
        let token = Redaction.excerpt(issued.tokenID, limit: 64, redacting: [secret.revealed, issued.apiKey].compactMap { $0 })
        switch await revokeOne(RevokeRequest(service: service, tokenID: issued.tokenID), secret: .success(secret),
                               transport: transport) {
        case .success:
            error.message += "; the key it issued (token \(token)) was revoked"
        case .failure(let failure):
            let prefix = "\(service.id): "
            let cause = failure.message.hasPrefix(prefix) ? String(failure.message.dropFirst(prefix.count)) : failure.message
            error.message += "; revoking the key it issued (token \(token)) failed: \(cause)"
        }
        return error
    }

    private func revokeOne(_ request: RevokeRequest, secret: Result<Secret, ExchangeError>,
                           transport: HTTPTransport) async -> Result<Void, ExchangeError> {
        let label = request.serviceID
        let shared: Secret
        switch secret {
        case .success(let s): shared = s
        case .failure(let e): return .failure(e)
        }
        guard let url = Self.httpURL(request.revokeURL) else {
            return .failure(ExchangeError(kind: .invalidRequest, message: "\(label): token_revoke_url is not an http(s) URL"))
        }
        if let refused = originRefusal(service: label, secretEnv: request.secretEnv, url: request.revokeURL) {
            return .failure(refused)
        }
        let sent = await send(post(url, body: RevokeBody(tokenID: request.tokenID), secret: shared, label: label),
                              label: label, secret: shared, accept: [404, 410], transport: transport)
        return sent.flatMap { answer in
            ResponseValidation.revokeAnswer(status: answer.status, contentType: answer.contentType, body: answer.body,
                                            serviceID: label, secret: shared, attempts: answer.attempts)
        }
    }

    // MARK: - Sending with retries

    /// A final answer: a 2xx status, or one of `accept`.
    private struct Answer {
        var status: Int
        var contentType: String?
        var body: Data
        var attempts: Int
    }

    /// A POST with a JSON body and the shared secret as a bearer.
    private struct Outgoing {
        var url: URL
        var headers: [(String, String)]
        var body: Data
    }

    /// Sends `request` until it gets a final answer, the attempts run out, or the total
    /// timeout passes. Retries only network errors, connect timeouts and 5xx answers.
    private func send(_ outgoing: Result<Outgoing, ExchangeError>, label: String, secret: Secret, accept: Set<Int> = [],
                      transport: HTTPTransport) async -> Result<Answer, ExchangeError> {
        let request: Outgoing
        switch outgoing {
        case .success(let r): request = r
        case .failure(let error): return .failure(error)
        }
        let deadline = NIODeadline.now() + .duration(settings.totalTimeout)
        var attempt = 0
        while true {
            attempt += 1
            let outcome = await transport.perform(.POST, request.url, headers: request.headers, body: request.body,
                                                  deadline: deadline)
            var retryable: ExchangeError
            switch outcome {
            case .response(let status, let type, let body) where (200...299).contains(status) || accept.contains(status):
                return .success(Answer(status: status, contentType: type, body: body, attempts: attempt))
            case .response(let status, _, let body) where (500...599).contains(status):
                retryable = ExchangeError(kind: .httpStatus, message: "\(label): HTTP \(status)", httpStatus: status,
                                          attempts: attempt)
                retryable.message += Self.attemptsNote(attempt) + Self.excerptNote(body, secrets: [secret.revealed])
            case .response(let status, _, let body):
                return .failure(ExchangeError(kind: .httpStatus, message: "\(label): HTTP \(status)"
                    + Self.excerptNote(body, secrets: [secret.revealed]), httpStatus: status, attempts: attempt))
            case .network(let network) where network.isTransient:
                retryable = failure(for: outcome, label: label, attempts: attempt)
            case .connectTimeout:
                retryable = failure(for: outcome, label: label, attempts: attempt)
            default:
                return .failure(failure(for: outcome, label: label, attempts: attempt))
            }
            if attempt >= settings.attempts { return .failure(retryable) }
            let delay = settings.backoff * pow(2, Double(attempt - 1)) * Double.random(in: 0.5...1.5)
            if NIODeadline.now() + .duration(delay) >= deadline { return .failure(retryable) }
            do {
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            } catch {
                return .failure(ExchangeError(kind: .cancelled, message: "\(label): cancelled", attempts: attempt))
            }
        }
    }

    /// The error for an outcome that is not an HTTP answer.
    private func failure(for outcome: TransferOutcome, label: String, attempts: Int) -> ExchangeError {
        switch outcome {
        case .response(let status, _, _):
            return ExchangeError(kind: .httpStatus, message: "\(label): HTTP \(status)", httpStatus: status,
                                 attempts: attempts)
        case .redirect(let status, let location):
            let target = location ?? "an unknown location"
            return ExchangeError(kind: .redirect, message: "\(label): redirect (HTTP \(status)) to \(target) refused",
                                 httpStatus: status, attempts: attempts)
        case .connectTimeout:
            return ExchangeError(kind: .network, message: "\(label): could not connect within "
                + "\(Self.seconds(settings.connectTimeout))" + Self.attemptsNote(attempts), attempts: attempts)
        case .deadline:
            return ExchangeError(kind: .timeout, message: "\(label): timed out after \(Self.seconds(settings.totalTimeout))"
                + (attempts > 1 ? " (\(attempts) attempts)" : ""), attempts: attempts)
        case .tooLarge:
            return ExchangeError(kind: .responseTooLarge,
                                 message: "\(label): response larger than \(settings.maxResponseBytes) bytes",
                                 attempts: attempts)
        case .network(let failure):
            return ExchangeError(kind: .network, message: "\(label): \(failure.summary)"
                + (failure.detail.map { " (\($0))" } ?? "") + Self.attemptsNote(attempts), attempts: attempts)
        case .cancelled:
            return ExchangeError(kind: .cancelled, message: "\(label): cancelled", attempts: attempts)
        }
    }

    // MARK: - Helpers

    /// The secret of every distinct (service, `secret_env`) pair, each variable or file read
    /// once per call. Keyed by `secretKey(service:name:)`.
    private func resolveSecrets(_ pairs: [(service: String, name: String)]) -> [String: Result<Secret, ExchangeError>] {
        var byName: [String: Result<Secret, SecretStore.Problem>] = [:]
        var out: [String: Result<Secret, ExchangeError>] = [:]
        for (service, name) in pairs {
            let key = Self.secretKey(service: service, name: name)
            guard out[key] == nil else { continue }
            let found: Result<Secret, SecretStore.Problem>
            if let cached = byName[name] {
                found = cached
            } else {
                found = secrets.lookup(named: name).flatMap { secret in
                    secret.revealed.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) ? .success(secret)
                        : .failure(.unusableValue("has characters that cannot go in an HTTP header "
                            + "(space, control or non-ASCII)"))
                }
                byName[name] = found
            }
            out[key] = found.mapError { $0.error(service: service, name: name) }
        }
        return out
    }

    private static func secretKey(service: String, name: String) -> String { service + "\u{0}" + name }

    /// The error when `settings.secretOrigins` does not let the secret `secretEnv` go to
    /// `url`; nothing is sent then.
    private func originRefusal(service: String, secretEnv: String, url: String) -> ExchangeError? {
        guard let why = settings.secretOrigins?.refusal(secret: secretEnv, url: url) else { return nil }
        return ExchangeError(kind: .missingSecret, message: "\(service): shared secret not sent: \(why)")
    }

    /// Runs `operation` over `items` with at most `settings.concurrency` in flight; results in order.
    private func boundedMap<T: Sendable, R: Sendable>(_ items: [T], progress: (@Sendable (Int, Int) -> Void)?,
                                                      _ operation: @escaping @Sendable (T) async -> R) async -> [R] {
        let total = items.count
        guard total > 0 else { return [] }
        return await withTaskGroup(of: (Int, R).self) { group in
            var results = [R?](repeating: nil, count: total)
            var next = 0
            while next < min(settings.concurrency, total) {
                let index = next
                group.addTask { (index, await operation(items[index])) }
                next += 1
            }
            var done = 0
            while let (index, result) = await group.next() {
                results[index] = result
                done += 1
                progress?(done, total)
                if next < total {
                    let index = next
                    group.addTask { (index, await operation(items[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }

    private static let userAgent = "accessctl/\(AccessctlVersion.current)"

    /// The POST of `body` as JSON to `url`, with the secret as a bearer.
    private func post(_ url: URL, body: some Encodable, secret: Secret, label: String) -> Result<Outgoing, ExchangeError> {
        let data: Data
        do {
            data = try encoder.encode(body)
        } catch {
            // Strings and integers always encode.
            return .failure(ExchangeError(kind: .invalidRequest, message: "\(label): the request body cannot be encoded"))
        }
        let headers = [("Authorization", "Bearer \(secret.revealed)"), ("Content-Type", "application/json"),
                       ("Accept", "application/json"), ("User-Agent", Self.userAgent)]
        return .success(Outgoing(url: url, headers: headers, body: data))
    }

    /// `text` as an absolute http or https URL with a host, or nil.
    static func httpURL(_ text: String) -> URL? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return nil }
        return url
    }

    private static func attemptsNote(_ attempts: Int) -> String {
        attempts > 1 ? " after \(attempts) attempts" : ""
    }

    /// ` (<excerpt of the service's error message>)` when the body is a JSON object with one.
    private static func excerptNote(_ body: Data, secrets: [String]) -> String {
        ResponseValidation.errorExcerpt(body: body, redacting: secrets).map { " (\($0))" } ?? ""
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e9 ? "\(Int(value)) s" : "\(value) s"
    }
}

/// The body of an exchange (docs/protocol.md).
private struct ExchangeBody: Encodable {
    var userEmail: String
    var ttlDays: Int
    var requestID: String

    enum CodingKeys: String, CodingKey {
        case userEmail = "user_email", ttlDays = "ttl_days", requestID = "request_id"
    }
}

/// The body of a revoke.
private struct RevokeBody: Encodable {
    var tokenID: String

    enum CodingKeys: String, CodingKey {
        case tokenID = "token_id"
    }
}
