import Foundation

/// The command line.
struct Options {
    var port: UInt16?
    var ledger: String?
    var host = "127.0.0.1"
    var defaultSecret: String?
    var secrets: [String: String] = [:]
    var keyPrefixes: [String: String] = [:]
    var faults = Faults()
    var seed: UInt64?
    var portFile: String?
    var verbose = false

    static let usage = """
        usage: token-service-mock --port N --ledger FILE [options]

        A token-exchange service for tests and demos. Loopback only.

          --port N                 port to listen on; 0 picks a free one
          --ledger FILE            append-only JSON-lines record of issued and revoked tokens
          --host ADDR              loopback address to bind (default 127.0.0.1; 127.x.y.z, ::1, localhost)
          --port-file FILE         write the port number here once listening
          --secret VALUE           shared secret accepted for every service without its own
          --secret SERVICE=VALUE   shared secret of one service (repeatable)
          --key-prefix SERVICE=P   prefix of that service's keys (default: SERVICE_)
          --seed N                 seed of the fault dice (default: random, printed on stderr)
          --verbose                one line per exchange/revoke on stderr (fingerprints, never keys)

        faults (probabilities 0...1 per request; change at runtime with POST /_faults):
          --error-rate R           503 before doing anything (exchange and revoke)
          --revoke-error-rate R    503 on revoke only
          --lost-response-rate R   do the work and record it, then answer 503
          --latency-ms N           sleep N ms before answering each exchange and revoke
          --malformed-rate R       200 with a body that is not JSON
          --oversized-rate R       200 with a ~1 MiB JSON body
          --trickle-rate R         the real answer, sent one byte per 100 ms (~30 s at most)
          --redirect-rate R        302 to http://HOST:PORT/elsewhere
          --html-rate R            200 text/html login page
          --bad-key-rate R         200 with an api_key a client must refuse (newline, quote, ${HOME}, ...)

        Routes: POST /<service>/api/internal/token-exchange, POST /<service>/api/internal/token-revoke,
        GET /<service>/healthz, GET /_ledger, GET|POST /_faults.
        """

    struct UsageError: Error, CustomStringConvertible { let description: String }

    /// A service name (the first path segment): a letter or digit, then letters, digits,
    /// `_`, `-` or `.`; at most 64 characters. accessctl's own ids (`^[a-z][a-z0-9_]{0,62}$`)
    /// all qualify. Names starting with `_` are the mock's own endpoints.
    static func isServiceName(_ s: Substring) -> Bool {
        func alnum(_ b: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
        }
        guard let first = s.utf8.first, alnum(first), s.utf8.count <= 64 else { return false }
        return s.utf8.allSatisfy { alnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    static func parse(_ arguments: [String]) throws -> Options? {
        var o = Options()
        var args = arguments[...]
        while let arg = args.popFirst() {
            if arg == "-h" || arg == "--help" { return nil }
            guard arg.hasPrefix("--") else { throw UsageError(description: "unexpected argument \(arg)") }
            var name = String(arg.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if name == "verbose" {
                guard inline == nil else { throw UsageError(description: "--verbose takes no value") }
                o.verbose = true
                continue
            }
            guard let value = inline ?? args.popFirst() else { throw UsageError(description: "--\(name) needs a value") }
            switch name {
            case "port":
                guard let p = UInt16(value) else { throw UsageError(description: "--port: not a port number: \(value)") }
                o.port = p
            case "ledger": o.ledger = value
            case "host": o.host = value
            case "port-file": o.portFile = value
            case "seed":
                guard let s = UInt64(value) else { throw UsageError(description: "--seed: not a non-negative integer: \(value)") }
                o.seed = s
            case "secret":
                if let eq = value.firstIndex(of: "="), isServiceName(value[..<eq]) {
                    let secret = String(value[value.index(after: eq)...])
                    guard !secret.isEmpty else { throw UsageError(description: "--secret \(value[..<eq])=: empty secret") }
                    o.secrets[String(value[..<eq])] = secret
                } else {
                    guard !value.isEmpty else { throw UsageError(description: "--secret: empty secret") }
                    o.defaultSecret = value
                }
            case "key-prefix":
                guard let eq = value.firstIndex(of: "="), isServiceName(value[..<eq]) else {
                    throw UsageError(description: "--key-prefix: expected SERVICE=PREFIX, got \(value)")
                }
                let prefix = String(value[value.index(after: eq)...])
                guard prefix.utf8.count <= 64, prefix.utf8.allSatisfy(isKeyCharacter) else {
                    throw UsageError(description: "--key-prefix: the prefix must be at most 64 characters of [A-Za-z0-9._~+/=:@%-]")
                }
                o.keyPrefixes[String(value[..<eq])] = prefix
            case "latency-ms":
                guard let n = Int(value), n >= 0, n <= Faults.maxLatencyMs else {
                    throw UsageError(description: "--latency-ms: expected an integer in 0...\(Faults.maxLatencyMs)")
                }
                o.faults.latencyMs = n
            default:
                let key = name.replacingOccurrences(of: "-", with: "_")
                guard let path = Faults.rateNames.first(where: { $0.0 == key })?.1 else {
                    throw UsageError(description: "unknown option --\(name)")
                }
                guard let r = Double(value), r >= 0, r <= 1 else { throw UsageError(description: "--\(name): expected a number in 0...1") }
                o.faults[keyPath: path] = r
            }
        }
        guard o.port != nil else { throw UsageError(description: "--port is required") }
        guard o.ledger != nil else { throw UsageError(description: "--ledger is required") }
        return o
    }
}

/// A resolved loopback address to bind, or nil when `host` is not loopback.
enum BindAddress {
    case v4(String)
    case v6(String)

    init?(host: String) {
        let h = host == "localhost" ? "127.0.0.1" : host
        var a4 = in_addr()
        if inet_pton(AF_INET, h, &a4) == 1 {
            // 127.0.0.0/8 (the first byte of the network-order address)
            guard UInt32(bigEndian: a4.s_addr) >> 24 == 127 else { return nil }
            self = .v4(h)
            return
        }
        let bare = h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
        var a6 = in6_addr()
        if inet_pton(AF_INET6, bare, &a6) == 1 {
            let bytes = withUnsafeBytes(of: a6) { Array($0) }
            guard bytes == Array(repeating: 0, count: 15) + [1] else { return nil }
            self = .v6(bare)
            return
        }
        return nil
    }

    /// The URL authority for a port: `127.0.0.1:8080` or `[::1]:8080`.
    func authority(port: UInt16) -> String {
        switch self {
        case .v4(let a): return "\(a):\(port)"
        case .v6(let a): return "[\(a)]:\(port)"
        }
    }
}
