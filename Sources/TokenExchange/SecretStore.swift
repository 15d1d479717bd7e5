import AccessModel
import TokenProtocol
import Foundation
import Platform

/// Where the shared secrets of the services come from: the environment variable named by a
/// service's `secret_env`, or else the file of that name in `$CREDENTIALS_DIRECTORY`
/// (systemd `LoadCredential=`). A secret is never printed; the store only hands out
/// `Secret` values.
public struct SecretStore: Sendable {
    /// The largest credential file read.
    public static let maxFileBytes = 64 * 1024

    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The credentials directory systemd gave this process, if any.
    public var credentialsDirectory: String? {
        guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else { return nil }
        return dir
    }

    /// The secret named `name`, or nil when neither the variable nor the credential exists
    /// (or the credential file is unusable: not a regular file, larger than 64 KiB, not UTF-8).
    public func secret(named name: String) -> Secret? {
        if case .success(let secret) = lookup(named: name) { return secret }
        return nil
    }

    /// Why a secret could not be found; the text names the variable, never a value.
    enum Problem: Error, Sendable, Hashable {
        case badName
        case missing
        case unusableFile(String)
        case unusableValue(String)
    }

    /// The secret named `name`, or why there is none.
    func lookup(named name: String) -> Result<Secret, Problem> {
        guard Self.isValidName(name) else { return .failure(.badName) }
        if let value = environment[name], !value.isEmpty {
            return .success(Secret(value))
        }
        guard let dir = credentialsDirectory else { return .failure(.missing) }
        let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
        switch Self.readCredential(path) {
        case .success(let value?): return .success(Secret(value))
        case .success(nil): return .failure(.missing)
        case .failure(let problem): return .failure(problem)
        }
    }

    /// A variable name: letters, digits and `_`, not starting with a digit. Anything else
    /// (a `/`, a `..`) could reach outside the credentials directory.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              name.utf8.count <= 255 else { return false }
        return name.utf8.allSatisfy { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F
        }
    }

    /// Reads a credential file: not through a symbolic link, a regular file, at most
    /// `maxFileBytes`, UTF-8; one trailing newline (LF or CRLF) is dropped. `nil` when the
    /// file (or its directory) does not exist, or is empty.
    private static func readCredential(_ path: String) -> Result<String?, Problem> {
        var content: [UInt8]
        do {
            content = try Files.readRegularFile(atPath: path, limit: maxFileBytes)
        } catch {
            switch error {
            case .system(_, _, .noSuchFile), .system(_, _, .notDirectory): return .success(nil)
            case .symbolicLink, .system(_, _, .tooManySymbolicLinks): return .failure(.unusableFile("is a symbolic link"))
            case .system: return .failure(.unusableFile("cannot be read (\(error.reason))"))
            case .notRegularFile: return .failure(.unusableFile("is not a regular file"))
            case .tooLarge: return .failure(.unusableFile("is larger than \(maxFileBytes) bytes"))
            }
        }
        if content.last == 0x0A {
            content.removeLast()
            if content.last == 0x0D { content.removeLast() }
        }
        guard let text = String(bytes: content, encoding: .utf8) else {
            return .failure(.unusableFile("is not UTF-8 text"))
        }
        return .success(text.isEmpty ? nil : text)
    }
}

extension SecretStore.Problem {
    /// The error of a request whose service has no usable secret named `name`.
    func error(service: String, name: String) -> ExchangeError {
        let text: String
        switch self {
        case .badName:
            text = "\(service): secret_env \(Redaction.excerpt(name, limit: 64)) is not a valid variable name"
        case .missing:
            text = "\(service): no shared secret: set \(name) or provide the credential \(name)"
        case .unusableFile(let why):
            text = "\(service): no shared secret: the credential file \(name) \(why)"
        case .unusableValue(let why):
            text = "\(service): the shared secret \(name) \(why)"
        }
        return ExchangeError(kind: .missingSecret, message: text)
    }
}
