import Foundation

/// A tiny JSON writer: the mock's responses and ledger lines are built by hand so that their
/// field order is stable and the hot path does not go through an encoder.
struct JSONObject {
    private var parts: [String] = []

    init() {}

    mutating func add(_ key: String, _ value: String) { parts.append(jsonString(key) + ":" + jsonString(value)) }
    mutating func add(_ key: String, _ value: Int) { parts.append(jsonString(key) + ":" + String(value)) }
    mutating func add(_ key: String, _ value: Double) { parts.append(jsonString(key) + ":" + formatNumber(value)) }
    mutating func add(_ key: String, _ value: UInt64) { parts.append(jsonString(key) + ":" + String(value)) }
    mutating func add(_ key: String, raw: String) { parts.append(jsonString(key) + ":" + raw) }

    var text: String { "{" + parts.joined(separator: ",") + "}" }
    var data: Data { Data(text.utf8) }
}

/// A JSON string literal for `value`, escaping quotes, backslashes and control characters.
func jsonString(_ value: String) -> String {
    var out = "\""
    out.reserveCapacity(value.utf8.count + 2)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

private func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}

/// `{"status":"error","error":message}`.
func errorBody(_ message: String) -> Data {
    var o = JSONObject()
    o.add("status", "error")
    o.add("error", message)
    return o.data
}

/// RFC 3339 UTC with second precision: `2026-11-21T20:00:00Z`.
func rfc3339(_ seconds: Int) -> String {
    var t = time_t(seconds)
    var parts = tm()
    gmtime_r(&t, &parts)
    func pad(_ v: Int32, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
}

func nowSeconds() -> Int { Int(Date().timeIntervalSince1970) }

/// Random identifiers from the system generator (never from the fault seed, so that two runs
/// with the same --seed and the same ledger cannot mint colliding keys).
enum RandomID {
    private static let base62 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func base62(count: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            let byte = UInt8.random(in: 0...255, using: &rng)
            if byte < 248 { out.append(base62[Int(byte % 62)]) }   // 248 = 4 * 62: no modulo bias
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(count: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(hexDigits[Int.random(in: 0..<16, using: &rng)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func tokenID() -> String { "tok_" + hex(count: 24) }
}

/// SplitMix64: a small seeded generator, so that fault injection is reproducible with --seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Writes a line to stderr (diagnostics; never a key).
func logError(_ message: String) {
    FileHandle.standardError.write(Data(("token-service-mock: " + message + "\n").utf8))
}

/// The characters a key may contain, per the protocol: `[A-Za-z0-9._~+/=:@%-]`.
func isKeyCharacter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "._~+/=:@%-".utf8.contains(byte)
    }
}
