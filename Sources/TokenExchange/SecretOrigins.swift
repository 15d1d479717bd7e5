import TokenProtocol
import DesiredRepo
/// Where each shared secret may be sent: `secret_origins` of the server configuration.
///
/// The repository says where a service lives, so without this list whoever can change the
/// repository can point a service (with its own `secret_env`, or another service's) at a
/// host they control and receive that secret. With it, the server's operator decides: a
/// secret goes only to an origin listed for it, and a secret not listed goes nowhere.
public struct SecretOrigins: Sendable, Hashable {
    /// Secret name -> its allowed origins, each as ``origin(of:)`` writes it.
    public var allowed: [String: Set<String>]

    public init(_ allowed: [String: Set<String>]) {
        self.allowed = allowed
    }

    /// The origin of a URL the validator accepts (`https://`, or `http://` to a loopback
    /// host): scheme and authority in lower case, without the default port. Nil for
    /// anything else.
    public static func origin(of url: String) -> String? {
        guard Rules.urlProblem(url) == nil else { return nil }
        let scheme = url.hasPrefix("https://") ? "https" : "http"
        let authority = url.dropFirst(scheme.count + 3).prefix { $0 != "/" && $0 != "?" && $0 != "#" }.lowercased()
        let defaultPort = scheme == "https" ? ":443" : ":80"
        let trimmed = authority.hasSuffix(defaultPort) ? String(authority.dropLast(defaultPort.count)) : authority
        return scheme + "://" + trimmed
    }

    /// Why the secret `name` may not be sent to `url`, or nil when it may.
    public func refusal(secret name: String, url: String) -> String? {
        let origin = Self.origin(of: url) ?? url
        guard let origins = allowed[name] else {
            return "the server configuration's secret_origins does not list \(name), so it is sent nowhere"
        }
        if origins.contains(origin) { return nil }
        return "the server configuration's secret_origins allows \(name) only for \(origins.sorted().joined(separator: ", ")), not \(origin)"
    }
}
