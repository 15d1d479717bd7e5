import Crypto

/// How the live database stores API keys: sealed under a master key, or in plain text
/// (only when the configuration says `encryption: none`).
public enum KeySealing: Sendable {
    /// Keys are stored as they are (`encryption: none`).
    case plaintext
    /// Keys are sealed with AES-256-GCM under the master key.
    case sealed(MasterKey)
    /// The command reads and writes no key (`status`, `runs`, `hold`): any custody is
    /// accepted, nothing about it is changed, and reading or writing a key is an error.
    case withoutKeys

    /// The master key, when keys are sealed.
    public var masterKey: MasterKey? {
        if case .sealed(let key) = self { return key }
        return nil
    }
}

/// Where a sealed key belongs: the row it was sealed for. It is the AES-GCM associated
/// data, so a ciphertext copied to another row (another user, service or token) does not
/// open.
public struct SealBinding: Sendable, Hashable {
    public var user: String
    public var service: String
    /// The service's id for the key (`token_id`); empty when the service gave none.
    public var tokenID: String

    public init(user: String, service: String, tokenID: String?) {
        self.user = user
        self.service = service
        self.tokenID = tokenID ?? ""
    }

    /// Version, then each field with its length, so that no two bindings share bytes.
    var associatedData: [UInt8] {
        var bytes = Array("accessctl-key-v1".utf8)
        for field in [user, service, tokenID] {
            let utf8 = Array(field.utf8)
            let count = UInt32(utf8.count)
            bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            bytes += utf8
        }
        return bytes
    }
}

/// A sealed key that does not open: the master key is not the one it was sealed with, the
/// row is not the one it was sealed for, or the bytes were changed.
public struct UnsealError: Error, Sendable, CustomStringConvertible {
    public var binding: SealBinding
    public var description: String {
        "the stored key of connection.\(binding.user).\(binding.service) does not open with this master key "
            + "(a different key sealed it, it was moved from another row, or it was changed)"
    }
}

extension MasterKey {
    /// The format byte in front of every sealed key: AES-256-GCM, 12-byte nonce, 16-byte tag.
    static let formatV1: UInt8 = 1

    /// Seals `plaintext` for `binding`: format byte, random nonce, ciphertext and tag.
    public func seal(_ plaintext: String, for binding: SealBinding) -> [UInt8] {
        // AES.GCM.seal fails only for a key of the wrong size, which MasterKey rules out.
        let box = try! AES.GCM.seal(Array(plaintext.utf8), using: key, nonce: AES.GCM.Nonce(),
                                    authenticating: binding.associatedData)
        return [Self.formatV1] + Array(box.combined!)
    }

    /// Opens a key sealed by ``seal(_:for:)`` for the same binding under the same master key.
    public func open(_ sealed: [UInt8], for binding: SealBinding) throws(UnsealError) -> String {
        guard sealed.first == Self.formatV1, sealed.count >= 1 + 12 + 16 else { throw UnsealError(binding: binding) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst())
            let plain = try AES.GCM.open(box, using: key, authenticating: binding.associatedData)
            guard let text = String(validating: plain, as: UTF8.self) else { throw UnsealError(binding: binding) }
            return text
        } catch {
            throw UnsealError(binding: binding)
        }
    }
}
