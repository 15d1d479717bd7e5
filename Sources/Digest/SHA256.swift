import Crypto

/// SHA-256 (FIPS 180-4), shared by the root helper and the reconciler so that both compute
/// digests the same way: a thin wrapper over swift-crypto's `Crypto.SHA256` (BoringSSL, which
/// runs on the CPU's SHA instructions when it has them), with the one place that formats
/// digests as lowercase hex and key fingerprints as `sha256:` + hex.
public struct SHA256: Sendable {
    private var hasher = Crypto.SHA256()

    /// A hasher for an empty message.
    public init() {}

    /// Adds bytes to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Adds bytes to the message.
    public mutating func update<Bytes: Swift.Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest. The hasher should not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        Array(hasher.finalize())
    }

    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex<Bytes: Swift.Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hexString(hasher.finalize())
    }

    /// Lowercase hex of bytes.
    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension SHA256 {
    /// The tag before a digest shown or stored as text; spelled here only.
    public static let tag = "sha256:"

    /// A secret's fingerprint for display: `sha256:` and the first 12 hex digits of its
    /// digest. The only form in which a key may appear in plans, logs, errors and audit rows.
    public static func fingerprint<Bytes: Swift.Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        fingerprint(hexDigest: hex(bytes))
    }

    /// The fingerprint form (`sha256:` and 12 hex digits) of a digest already in hex.
    public static func fingerprint(hexDigest: some StringProtocol) -> String {
        tag + hexDigest.prefix(12)
    }

    /// A whole digest as text: `sha256:` and its 64 hex digits (the state digests of a plan).
    public static func tagged(_ digest: [UInt8]) -> String {
        tag + hexString(digest)
    }
}
