import Digest

extension MasterKey {
    /// The fingerprint of a key's bytes, domain-separated from the fingerprints of API keys.
    static func identifier(of bytes: [UInt8]) -> String {
        SHA256.fingerprint(Array("accessctl master key\u{0}".utf8) + bytes)
    }
}
