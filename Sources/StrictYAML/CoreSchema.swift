/// Resolution of plain scalars under the YAML 1.2 core schema (not YAML 1.1: `yes`, `no`,
/// `on`, `off` and dates stay strings). Hand-written matchers: no regex engine on the hot path.
enum CoreSchema {
    static func resolve(_ text: String) -> ScalarValue {
        var utf8 = text.utf8
        guard let first = utf8.first else { return .null }
        // Fast path: most scalars are words starting with a letter that is not n/N/t/T/f/F.
        switch first {
        case UInt8(ascii: "~"):
            return utf8.count == 1 ? .null : .string(text)
        case UInt8(ascii: "n"), UInt8(ascii: "N"):
            return text == "null" || text == "Null" || text == "NULL" ? .null : .string(text)
        case UInt8(ascii: "t"), UInt8(ascii: "T"):
            return text == "true" || text == "True" || text == "TRUE" ? .bool(true) : .string(text)
        case UInt8(ascii: "f"), UInt8(ascii: "F"):
            return text == "false" || text == "False" || text == "FALSE" ? .bool(false) : .string(text)
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."):
            break
        default:
            return .string(text)
        }
        if let number = number(&utf8, text) { return number }
        return .string(text)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    private static func number(_ utf8: inout String.UTF8View, _ text: String) -> ScalarValue? {
        let bytes = Array(utf8)
        // 0o17 and 0x1F (no sign in the core schema).
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "o") || bytes[1] == UInt8(ascii: "x") {
            let radix = bytes[1] == UInt8(ascii: "o") ? 8 : 16
            let digits = String(decoding: bytes[2...], as: UTF8.self)
            let valid = bytes[2...].allSatisfy { c in
                radix == 8 ? (c >= 48 && c <= 55) : (isDigit(c) || (c | 0x20 >= 97 && c | 0x20 <= 102))
            }
            return valid ? .int(Int(digits, radix: radix)) : nil
        }
        var i = 0
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") { i = 1 }
        let rest = bytes[i...]
        // Infinity and NaN.
        let word = String(decoding: rest, as: UTF8.self)
        if word == ".inf" || word == ".Inf" || word == ".INF" {
            return .float(bytes[0] == UInt8(ascii: "-") ? -.infinity : .infinity)
        }
        if i == 0, word == ".nan" || word == ".NaN" || word == ".NAN" { return .float(.nan) }
        // [-+]?[0-9]+
        if !rest.isEmpty, rest.allSatisfy(isDigit) {
            return .int(Int(text.hasPrefix("+") ? String(text.dropFirst()) : text))
        }
        // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
        var j = i
        var intDigits = 0
        while j < bytes.count, isDigit(bytes[j]) { j += 1; intDigits += 1 }
        var fracDigits = 0
        if j < bytes.count, bytes[j] == UInt8(ascii: ".") {
            j += 1
            while j < bytes.count, isDigit(bytes[j]) { j += 1; fracDigits += 1 }
        }
        guard intDigits > 0 || fracDigits > 0 else { return nil }
        if j < bytes.count, bytes[j] == UInt8(ascii: "e") || bytes[j] == UInt8(ascii: "E") {
            j += 1
            if j < bytes.count, bytes[j] == UInt8(ascii: "-") || bytes[j] == UInt8(ascii: "+") { j += 1 }
            var expDigits = 0
            while j < bytes.count, isDigit(bytes[j]) { j += 1; expDigits += 1 }
            guard expDigits > 0 else { return nil }
        }
        guard j == bytes.count else { return nil }
        return .float(Double(text) ?? .nan)
    }
}
