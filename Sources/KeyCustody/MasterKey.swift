import Crypto
import Platform

/// The 256-bit master key that seals every API key the live database stores.
///
/// It lives in a file of exactly 32 random bytes, meant to be a systemd credential
/// (`LoadCredentialEncrypted=`, made with `systemd-creds encrypt`), named by `key_file:` in
/// the server configuration. Its ``id`` (a fingerprint of the key, `sha256:` + 12 hex) is
/// what the database records and what messages show; the key's bytes are shown nowhere.
public struct MasterKey: Sendable {
    /// The size of a master key, in bytes.
    public static let size = 32

    let key: SymmetricKey
    /// `sha256:` + 12 hex of SHA-256 over a label and the key: names the key in the database,
    /// in `status` and in messages, without revealing it.
    public let id: String
    /// The file it was read from, for messages; nil for a key made in memory.
    public let path: String?

    init(bytes: [UInt8], path: String? = nil) {
        key = SymmetricKey(data: bytes)
        self.path = path
        id = Self.identifier(of: bytes)
    }

    /// A new random key (the system's CSPRNG, through swift-crypto).
    public static func generate() -> MasterKey {
        MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// Reads the key file at `path`: a regular file (never a symbolic link) of exactly 32
    /// bytes that no group or other user may read (mode 0400 or 0600, as systemd gives a
    /// credential). Each refusal names the file and says how to fix it.
    public static func load(path: String) throws(MasterKeyError) -> MasterKey {
        let info: FileInfo
        do { info = try FileInfo(path: path, followLinks: false) } catch {
            if error.errno == .noSuchFile {
                throw MasterKeyError(path: path, "does not exist (make a key with `accessctl state init-key --out \(path)`, or point key_file: at the credential)")
            }
            throw MasterKeyError(path: path, "cannot be read: \(error.reason)")
        }
        if info.kind == .symbolicLink {
            throw MasterKeyError(path: path, "is a symbolic link; name the file itself")
        }
        let bytes: [UInt8]
        do { bytes = try Files.readRegularFile(atPath: path, limit: 4096) } catch {
            switch error {
            case .notRegularFile: throw MasterKeyError(path: path, "is not a regular file")
            case .tooLarge: throw MasterKeyError(path: path, "is larger than 4096 bytes; a master key is exactly \(size) bytes")
            default: throw MasterKeyError(path: path, "cannot be read: \(error.reason)")
            }
        }
        // Checked on what was read: a file replaced in between is judged by its own mode.
        if let now = try? FileInfo(path: path, followLinks: false), now.permissions & 0o077 != 0 {
            throw MasterKeyError(path: path, "has mode \(octal(now.permissions)): group or other users may read it; "
                + "restrict it with `chmod 600 \(path)` (a systemd credential is 0400 already)")
        }
        guard bytes.count == size else {
            throw MasterKeyError(path: path, "holds \(bytes.count) bytes; a master key is exactly \(size) random bytes "
                + "(make one with `accessctl state init-key`; do not add a newline)")
        }
        return MasterKey(bytes: bytes, path: path)
    }

    /// Writes the key to a new file at `path` with mode 0600. Refuses to replace anything
    /// that is there (`O_EXCL`, never following a link); the file is synced before it returns.
    public func write(toNewFile path: String) throws(MasterKeyError) {
        let file: OpenFile
        do {
            file = try OpenFile(path: path, access: .write, creating: .exclusive(permissions: 0o600))
        } catch {
            if error.errno == .exists {
                throw MasterKeyError(path: path, "exists already; a key file is never overwritten (choose another path, or remove the old key once nothing needs it)")
            }
            throw MasterKeyError(path: path, "cannot be created: \(error.reason)")
        }
        do {
            try file.setPermissions(0o600)
            try key.withUnsafeBytes { try file.write(Array($0)) }
            try file.sync()
            try file.close()
        } catch let error as PlatformError {
            throw MasterKeyError(path: path, "cannot be written: \(error.reason)")
        } catch {
            throw MasterKeyError(path: path, "cannot be written: \(error)")
        }
    }

    private static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// A key file that cannot be used, with the file and the reason.
public struct MasterKeyError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "master key file \(path) \(reason)" }
}

extension MasterKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `master key sha256:…`: the id only, in every description and in reflection, so that
    /// no log, error or dump of a value can show the key's bytes.
    public var description: String { "master key \(id)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
}
