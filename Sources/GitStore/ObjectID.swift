import CGit2

/// The SHA-1 name of a git object (commit, tree, blob or tag).
///
/// ``ObjectID`` values are always 40 lowercase hexadecimal characters. They
/// order like their hexadecimal text, which is also the byte order of the raw
/// id.
///
/// ```swift
/// let id = ObjectID(hex: "3b18e512dba79e4c8300dd08aeb37f8e728b8dad")
/// ```
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 40 lowercase hexadecimal characters of the id.
    public let hex: String

    /// Creates an id from its full hexadecimal text.
    ///
    /// Upper-case digits are accepted and lowercased. Abbreviated ids are
    /// rejected: resolve them with ``GitRepository/resolveCommit(_:)``.
    ///
    /// - parameter hex: Exactly 40 hexadecimal characters.
    /// - returns: nil if `hex` is not exactly 40 hexadecimal characters.
    public init?(hex: String) {
        guard hex.utf8.count == 40, hex.utf8.allSatisfy({ hexValue($0) != nil }) else { return nil }
        self.hex = hex.lowercased()
    }

    /// Creates an id from a libgit2 oid; nil if the pointer is NULL.
    init?(_ oid: UnsafePointer<git_oid>?) {
        guard let oid else { return nil }
        hex = withUnsafeBytes(of: oid.pointee.id) { raw in
            String(unsafeUninitializedCapacity: 40) { out in
                for (i, byte) in raw.prefix(20).enumerated() {
                    out[2 * i] = hexDigit(byte >> 4)
                    out[2 * i + 1] = hexDigit(byte & 0xF)
                }
                return 40
            }
        }
    }

    /// The libgit2 representation of the id.
    var oid: git_oid {
        var oid = git_oid()
        let text = Array(hex.utf8)
        withUnsafeMutableBytes(of: &oid.id) { raw in
            for i in 0..<min(20, raw.count) {
                let high = hexValue(text[2 * i]) ?? 0
                let low = hexValue(text[2 * i + 1]) ?? 0
                raw[i] = high << 4 | low
            }
        }
        return oid
    }

    /// The first seven hexadecimal characters, as `git log --oneline` shows them.
    public var abbreviated: String { String(hex.prefix(7)) }

    /// The full hexadecimal text.
    public var description: String { hex }

    /// Orders ids by their hexadecimal text.
    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        lhs.hex.utf8.lexicographicallyPrecedes(rhs.hex.utf8)
    }
}

/// The lowercase ASCII hexadecimal digit for a value below 16.
private func hexDigit(_ value: UInt8) -> UInt8 {
    value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
}

/// The value of an ASCII hexadecimal digit, or nil.
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
