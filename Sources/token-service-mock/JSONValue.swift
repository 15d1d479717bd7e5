import Foundation

/// A parsed JSON value that keeps the difference between booleans, integers, other numbers
/// and strings, so that request bodies can be checked strictly (`"ttl_days": "90"` and
/// `"ttl_days": true` are both wrong).
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// The top-level object of `data`, or nil when it is not a JSON object.
    static func object(_ data: Data) -> [String: JSONValue]? {
        guard case let .object(o)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
        return o
    }

    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// The body of a token exchange, checked.
struct ExchangeBody {
    var userEmail: String
    var ttlDays: Int
    var requestID: String

    static func parse(_ data: Data) -> Result<ExchangeBody, BodyError> {
        guard let o = JSONValue.object(data) else { return .failure(BodyError("body must be a JSON object")) }
        if let extra = o.keys.sorted().first(where: { !["user_email", "ttl_days", "request_id"].contains($0) }) {
            return .failure(BodyError("unknown field \(jsonString(extra))"))
        }
        guard case let .string(email)? = o["user_email"] else { return .failure(BodyError("user_email must be a string")) }
        guard isEmailShaped(email) else { return .failure(BodyError("user_email is not an email address")) }
        guard case let .int(ttl)? = o["ttl_days"] else { return .failure(BodyError("ttl_days must be an integer")) }
        guard (1...3650).contains(ttl) else { return .failure(BodyError("ttl_days must be in 1...3650")) }
        guard case let .string(requestID)? = o["request_id"] else { return .failure(BodyError("request_id must be a string")) }
        guard !requestID.isEmpty, requestID.count <= 200,
              !requestID.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return .failure(BodyError("request_id must be 1 to 200 characters without control characters"))
        }
        return .success(ExchangeBody(userEmail: email, ttlDays: ttl, requestID: requestID))
    }

    private static func isEmailShaped(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return s.utf8.count <= 320 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && !s.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7F }
    }
}

/// The body of a revoke, checked.
struct RevokeBody {
    var tokenID: String

    static func parse(_ data: Data) -> Result<RevokeBody, BodyError> {
        guard let o = JSONValue.object(data) else { return .failure(BodyError("body must be a JSON object")) }
        if let extra = o.keys.sorted().first(where: { $0 != "token_id" }) {
            return .failure(BodyError("unknown field \(jsonString(extra))"))
        }
        guard case let .string(id)? = o["token_id"], !id.isEmpty, id.count <= 200 else {
            return .failure(BodyError("token_id must be a non-empty string"))
        }
        return .success(RevokeBody(tokenID: id))
    }
}

struct BodyError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
