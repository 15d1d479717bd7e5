import AccessModel
import Foundation

/// Short, safe renderings of untrusted text for error messages.
package enum Redaction {
    /// At most `limit` characters of `text`, quoted, with control and non-ASCII characters
    /// escaped and every occurrence of a `secrets` value replaced by `[redacted]`.
    /// With `tokens`, long runs that look like credentials are redacted too (for text a
    /// service wrote, which may echo a credential we do not know).
    package static func excerpt(_ text: String, limit: Int = 80, redacting secrets: [String] = [], tokens: Bool = false) -> String {
        var text = text
        for secret in secrets where secret.count >= 4 {
            text = text.replacingOccurrences(of: secret, with: "[redacted]")
        }
        if tokens { text = redactTokens(text) }
        var out = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (scalar.value >= 0x80 && scalar.value < 0xA0)
                    || scalar.properties.generalCategory == .format
                    || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            count += 1
        }
        return out + "\""
    }

    /// `text` with every long run of key characters that mixes letters and digits (what an
    /// API key or a bearer token looks like) replaced by `[redacted]`: an error message
    /// from a service may echo a credential we do not know about.
    static func redactTokens(_ text: String, minimumLength: Int = 20) -> String {
        var out = String.UnicodeScalarView()
        var run = String.UnicodeScalarView()
        func flush() {
            let hasDigit = run.contains { $0.properties.numericType != nil }
            let hasLetter = run.contains { $0.properties.isAlphabetic }
            if run.count >= minimumLength && hasDigit && hasLetter {
                out.append(contentsOf: "[redacted]".unicodeScalars)
            } else {
                out.append(contentsOf: run)
            }
            run = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            if scalar.isASCII && ResponseValidation.isKeyByte(UInt8(scalar.value)) {
                run.append(scalar)
            } else {
                flush()
                out.append(scalar)
            }
        }
        flush()
        return String(out)
    }

    /// A name for a character that is not allowed somewhere, which does not reveal much
    /// of the value it came from.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "newline"
        case "\r": return "carriage return"
        case "\t": return "tab"
        case " ": return "space"
        case "\"": return "double quote"
        case "'": return "single quote"
        case "`": return "backquote"
        case "\\": return "backslash"
        case "$": return "dollar sign"
        case "{", "}": return "brace"
        case "(", ")": return "parenthesis"
        case ";": return "semicolon"
        case "#": return "hash"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F { return "control character" }
            if scalar.value >= 0x80 { return "non-ASCII character" }
            return "'\(Character(scalar))'"
        }
    }
}

/// Why a response is refused (secret-free text, without the service prefix).
package struct Refusal: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

/// The strict checks on what a service returns (docs/protocol.md). The token client runs
/// every answer through them; `exchangeAnswer` and `revokeAnswer` are public for the fuzz
/// target `fuzz-tokenresponse`.
public enum ResponseValidation {
    static let keyAlphabet = "[A-Za-z0-9._~+/=:@%-]"
    static let keyLength = 8...4096
    static let tokenIDLength = 1...256

    static func isKeyByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// Why `key` is refused, or nil. The reason never contains the key.
    static func keyProblem(_ key: String, prefix: String?) -> String? {
        if let bad = key.unicodeScalars.first(where: { $0.value >= 0x80 || !isKeyByte(UInt8($0.value)) }) {
            return "api_key has characters outside \(keyAlphabet) (\(Redaction.describe(bad)))"
        }
        let length = key.utf8.count
        guard keyLength.contains(length) else {
            return "api_key is \(length) characters long; expected \(keyLength.lowerBound) to \(keyLength.upperBound)"
        }
        if let prefix, !prefix.isEmpty, !key.hasPrefix(prefix) {
            return "api_key does not start with the service's key_prefix \(Redaction.excerpt(prefix, limit: 40))"
        }
        return nil
    }

    /// Why `tokenID` is refused, or nil: 1 to 256 printable ASCII characters, no spaces.
    static func tokenIDProblem(_ tokenID: String) -> String? {
        let length = tokenID.unicodeScalars.count
        guard tokenIDLength.contains(length) else {
            return "token_id is \(length) characters long; "
                + "expected \(tokenIDLength.lowerBound) to \(tokenIDLength.upperBound)"
        }
        if let bad = tokenID.unicodeScalars.first(where: { $0.value < 0x21 || $0.value > 0x7E }) {
            return "token_id has characters outside printable ASCII (\(Redaction.describe(bad)))"
        }
        return nil
    }

    /// The body as a JSON object, or why it is not one.
    static func jsonObject(_ body: Data, contentType: String?) -> Result<[String: Any], Refusal> {
        func typeNote() -> String { contentType.map { " (content type \(Redaction.excerpt($0, limit: 40)))" } ?? "" }
        guard !body.isEmpty else { return .failure(Refusal("response body is empty\(typeNote())")) }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: []) else {
            return .failure(Refusal("response is not JSON\(typeNote())"))
        }
        guard let object = value as? [String: Any] else { return .failure(Refusal("response is not a JSON object")) }
        return .success(object)
    }

    /// A short excerpt of the service's own error message in `object`, if it has one.
    static func errorExcerpt(_ object: [String: Any], redacting secrets: [String]) -> String? {
        for field in ["error_description", "error", "message", "detail"] {
            if let text = object[field] as? String, !text.isEmpty {
                return Redaction.excerpt(text, limit: 80, redacting: secrets, tokens: true)
            }
            if let nested = object[field] as? [String: Any], let text = nested["message"] as? String, !text.isEmpty {
                return Redaction.excerpt(text, limit: 80, redacting: secrets, tokens: true)
            }
        }
        return nil
    }

    /// The excerpt of an error body: its JSON error field, if any. Never the body itself.
    package static func errorExcerpt(body: Data, redacting secrets: [String]) -> String? {
        guard !body.isEmpty, let value = try? JSONSerialization.jsonObject(with: body, options: []),
              let object = value as? [String: Any] else { return nil }
        var all = secrets
        if let key = object["api_key"] as? String { all.append(key) }
        return errorExcerpt(object, redacting: all)
    }
}

// MARK: - Exchange and revoke answers

extension ResponseValidation {
    /// The key an exchange's final answer issues, or why the answer is refused: `status`
    /// is the answer's (a 2xx), `secret` the shared secret sent with the request (a key
    /// equal to it is refused, and no message shows it), `now` the time in Unix seconds
    /// (`expires_at` must be later). Errors name `service.id` and carry `status` and
    /// `attempts`.
    public static func exchangeAnswer(status: Int, contentType: String?, body: Data, service: Service, secret: Secret,
                                      attempts: Int = 1, now: Int64 = Int64(Date().timeIntervalSince1970))
        -> Result<IssuedKey, ExchangeError> {
        func refuse(_ kind: ExchangeError.Kind, _ text: String) -> Result<IssuedKey, ExchangeError> {
            .failure(ExchangeError(kind: kind, message: "\(service.id): \(text)", httpStatus: status, attempts: attempts))
        }
        let object: [String: Any]
        switch jsonObject(body, contentType: contentType) {
        case .failure(let refusal): return refuse(.malformedResponse, refusal.text)
        case .success(let o): object = o
        }
        guard object["status"] as? String == "ok" else {
            var secrets = [secret.revealed]
            if let key = object["api_key"] as? String { secrets.append(key) }
            return refuse(.malformedResponse, "response status is not \"ok\"" + objectNote(object, secrets: secrets))
        }
        guard let key = object["api_key"] as? String else {
            return refuse(.malformedResponse, "response has no string \"api_key\"")
        }
        guard let tokenID = object["token_id"] as? String else {
            return refuse(.malformedResponse, "response has no string \"token_id\"")
        }
        guard let expiry = object["expires_at"] as? String else {
            return refuse(.malformedResponse, "response has no string \"expires_at\"")
        }
        if let problem = keyProblem(key, prefix: service.keyPrefix) {
            return refuse(.invalidKey, problem)
        }
        if key == secret.revealed {
            return refuse(.invalidKey, "api_key is the shared secret")
        }
        if let problem = tokenIDProblem(tokenID) {
            return refuse(.invalidKey, problem)
        }
        guard let expiresAt = RFC3339.parse(expiry) else {
            return refuse(.invalidKey, "expires_at is not an RFC 3339 date-time")
        }
        guard expiresAt > now else {
            return refuse(.invalidKey, "expires_at \(Redaction.excerpt(expiry, limit: 40)) is not in the future")
        }
        return .success(IssuedKey(apiKey: Secret(key), tokenID: tokenID, expiresAt: expiresAt))
    }

    /// The token id (and key, if any) of an exchange's answer that reports a key issued,
    /// status "ok" with a usable `token_id`, or nil. A refused answer of that kind leaves a
    /// live key at the service, which the token client revokes.
    public static func issuedToken(contentType: String?, body: Data) -> (tokenID: String, apiKey: String?)? {
        guard case .success(let object) = jsonObject(body, contentType: contentType),
              object["status"] as? String == "ok", let tokenID = object["token_id"] as? String,
              tokenIDProblem(tokenID) == nil else { return nil }
        return (tokenID, object["api_key"] as? String)
    }

    /// Whether a revoke's final answer confirms the revocation: 204, 404 and 410 (already
    /// gone) do, another status (a 2xx) only with the JSON object `{"status":"ok"}`. Errors
    /// name `serviceID` and never show `secret`.
    public static func revokeAnswer(status: Int, contentType: String?, body: Data, serviceID: String, secret: Secret,
                                    attempts: Int = 1) -> Result<Void, ExchangeError> {
        if status == 204 || status == 404 || status == 410 { return .success(()) }
        switch jsonObject(body, contentType: contentType) {
        case .failure(let refusal):
            return .failure(ExchangeError(kind: .malformedResponse, message: "\(serviceID): revoke: \(refusal.text)",
                                          httpStatus: status, attempts: attempts))
        case .success(let object):
            guard object["status"] as? String == "ok" else {
                return .failure(ExchangeError(kind: .malformedResponse,
                                              message: "\(serviceID): revoke: response status is not \"ok\""
                                                  + objectNote(object, secrets: [secret.revealed]),
                                              httpStatus: status, attempts: attempts))
            }
            return .success(())
        }
    }

    /// ` (status "…": <excerpt of the service's error message>)`, or nothing.
    static func objectNote(_ object: [String: Any], secrets: [String]) -> String {
        var parts: [String] = []
        if let status = object["status"] as? String {
            parts.append("status \(Redaction.excerpt(status, limit: 20, redacting: secrets, tokens: true))")
        }
        if let error = errorExcerpt(object, redacting: secrets) { parts.append(error) }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: ": ") + ")"
    }
}

/// RFC 3339 date-times (`2026-01-31T12:00:00Z`, `2026-01-31T12:00:00.123+02:00`).
package enum RFC3339 {
    /// Unix seconds (fractions dropped), or nil when `text` is not an RFC 3339 date-time.
    static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 40 else { return nil }
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8...) -> Bool {
            guard i < b.count, c.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
              expect(0x54, 0x74), let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A),
              let second = digits(2) else { return nil }
        if i < b.count, b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > start else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign = b[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(0x3A), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60 else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offset)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
