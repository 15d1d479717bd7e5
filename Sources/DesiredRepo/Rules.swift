/// The shapes of identifiers and values in the repository format, as hand-written matchers
/// (they run for every file of large repositories, so no regex engine is involved).
public enum Rules {
    /// A rule: its pattern for messages, and the matcher.
    public struct Pattern: Sendable {
        public let source: String
        let first: @Sendable (UInt8) -> Bool
        let rest: @Sendable (UInt8) -> Bool
        let maxLength: Int

        public func matches(_ text: String) -> Bool {
            let utf8 = text.utf8
            guard let head = utf8.first, utf8.count <= maxLength, first(head) else { return false }
            return utf8.dropFirst().allSatisfy(rest)
        }
    }

    static func lower(_ c: UInt8) -> Bool { c >= 97 && c <= 122 }
    static func upper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    static func digit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isAny(_ c: UInt8, _ set: String) -> Bool { set.utf8.contains(c) }

    public static let serviceID = Pattern(
        source: "^[a-z][a-z0-9_]{0,62}$", first: lower,
        rest: { lower($0) || digit($0) || $0 == 95 }, maxLength: 63)
    public static let userID = Pattern(
        source: "^[a-z_][a-z0-9_.-]{0,63}$", first: { lower($0) || $0 == 95 },
        rest: { lower($0) || digit($0) || isAny($0, "_.-") }, maxLength: 64)
    public static let groupID = Pattern(
        source: "^[A-Za-z][A-Za-z0-9_-]{0,63}$", first: { lower($0) || upper($0) },
        rest: { lower($0) || upper($0) || digit($0) || isAny($0, "_-") }, maxLength: 64)
    public static let unixUser = Pattern(
        source: "^[a-z_][a-z0-9_-]{0,31}$", first: { lower($0) || $0 == 95 },
        rest: { lower($0) || digit($0) || isAny($0, "_-") }, maxLength: 32)
    public static let envVar = Pattern(
        source: "^[A-Z_][A-Z0-9_]{0,127}$", first: { upper($0) || $0 == 95 },
        rest: { upper($0) || digit($0) || $0 == 95 }, maxLength: 128)
    public static let resourceType = Pattern(
        source: "^[a-z][a-z0-9_]{0,31}$", first: lower,
        rest: { lower($0) || digit($0) || $0 == 95 }, maxLength: 32)
    public static let resourceID = Pattern(
        source: "^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,254}$", first: { lower($0) || upper($0) || digit($0) || $0 == 95 },
        rest: { lower($0) || upper($0) || digit($0) || isAny($0, "_.:/@-") }, maxLength: 255)
    public static let keyPrefix = Pattern(
        source: "^[A-Za-z0-9._~+/=:@%-]{1,32}$", first: keyCharacter, rest: keyCharacter, maxLength: 32)

    /// "; it contains U+0430 CYRILLIC SMALL LETTER A, which is not ASCII" when `text` holds a
    /// character outside ASCII, else "". Identifiers are ASCII, and a look-alike or invisible
    /// character would otherwise make a message such as "'maria' must match ^[a-z_]..." baffling.
    static func nonASCIINote(_ text: String) -> String {
        guard let scalar = text.unicodeScalars.first(where: { !$0.isASCII }) else { return "" }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return "; it contains \(code)\(scalar.properties.name.map { " " + $0 } ?? ""), which is not ASCII"
    }

    /// Characters allowed in an API key (and so in a key prefix).
    @Sendable static func keyCharacter(_ c: UInt8) -> Bool {
        lower(c) || upper(c) || digit(c) || isAny(c, "._~+/=:@%-")
    }

    /// Service accounts of a Debian system (base-passwd and common packages). The root
    /// helper also refuses any uid below UID_MIN; this list catches the mistake earlier.
    public static let systemAccounts: Set<String> = [
        "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
        "www-data", "backup", "list", "irc", "gnats", "nobody", "messagebus", "sshd", "postgres",
        "mysql", "redis", "postfix", "ntp", "syslog", "tss", "uuidd", "tcpdump", "dnsmasq",
        "statd", "avahi", "polkitd", "accessctl",
    ]

    /// Variable names a shell, the dynamic loader or a language runtime treats specially.
    /// Writing one of these into `~/.service_env` could change how the user's programs run.
    static let reservedEnvNames: Set<String> = [
        "PATH", "HOME", "SHELL", "IFS", "BASH_ENV", "ENV", "USER", "LOGNAME", "CDPATH",
        "PS1", "PS2", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "TMPDIR",
        "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH",
        "JAVA_TOOL_OPTIONS", "GCONV_PATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS",
    ]
    static let reservedEnvPrefixes = ["LD_", "PYTHON", "DYLD_", "BASH_FUNC_", "GIT_", "SSH_"]

    /// Why `name` may not be used as a variable, or nil when it may.
    public static func reservedEnvReason(_ name: String) -> String? {
        if reservedEnvNames.contains(name) {
            return "'\(name)' is a variable the shell or runtime treats specially"
        }
        if let prefix = reservedEnvPrefixes.first(where: { name.hasPrefix($0) }) {
            return "variables starting with '\(prefix)' are treated specially by the loader, shell or runtime"
        }
        return nil
    }

    /// Checks an email address's shape: `local@domain.tld`, ASCII, at most 254 characters.
    public static func isEmail(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count <= 254, let at = utf8.firstIndex(of: 64), at > 0, at < utf8.count - 1 else { return false }
        let local = utf8[..<at], domain = utf8[(at + 1)...]
        guard local.count <= 64, local.allSatisfy({ lower($0) || upper($0) || digit($0) || isAny($0, ".!#$%&'*+/=?^_`{|}~-") }),
              local.first != 46, local.last != 46 else { return false }
        let labels = domain.split(separator: 46, omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != 45 && label.last != 45
                && label.allSatisfy { lower($0) || upper($0) || digit($0) || $0 == 45 }
        }
    }

    /// Why `text` is not an acceptable service URL, or nil when it is: `https://`, or
    /// `http://` to a loopback host; no credentials, spaces or control characters.
    public static func urlProblem(_ text: String) -> String? {
        if text.utf8.count > 2048 { return "URL is longer than 2048 characters" }
        if text.utf8.contains(where: { $0 <= 32 || $0 == 127 || $0 >= 128 }) {
            return "URL contains spaces, control or non-ASCII characters"
        }
        let secure: Bool
        let rest: Substring
        if text.hasPrefix("https://") { secure = true; rest = text.dropFirst(8) }
        else if text.hasPrefix("http://") { secure = false; rest = text.dropFirst(7) }
        else { return "URL must start with https:// (http:// only for loopback hosts)" }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.contains("@") { return "URL must not contain credentials (user@host)" }
        var host = Substring(authority)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return "URL has an unclosed IPv6 address" }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return "URL has a malformed host" }
                port = after.dropFirst()
            }
            host = host[...close]
        } else if let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        if host.isEmpty { return "URL has no host" }
        if !host.hasPrefix("["), !host.utf8.allSatisfy({ lower($0) || upper($0) || digit($0) || $0 == 45 || $0 == 46 }) {
            return "URL host \(Masked.describe(String(host))) has characters a host name cannot have"
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number), port.utf8.allSatisfy(digit) else {
                return "URL port \(Masked.describe(String(port))) is not a number from 1 to 65535"
            }
        }
        if !secure && !isLoopback(host) {
            return "http:// is allowed only for loopback hosts (localhost, 127.0.0.0/8, [::1]); use https://"
        }
        return nil
    }

    static func isLoopback(_ host: Substring) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "[::1]" { return true }
        let parts = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127"
            && parts.allSatisfy { part in
                (1...3).contains(part.utf8.count) && part.utf8.allSatisfy(digit) && Int(part)! <= 255
            }
    }

    /// Why `path` is not an acceptable skill path, or nil when it is: relative, `/`-separated,
    /// no empty, `.`-prefixed or `..` components, no backslash or control characters.
    public static func skillPathProblem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.hasPrefix("/") { return "must be relative to services/, not absolute" }
        if path.utf8.contains(where: { $0 < 32 || $0 == 127 || $0 == 92 }) {
            return "contains a backslash or control character"
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if component == ".." { return "must not contain '..'" }
            if component.isEmpty { return "has an empty component" }
            if component.hasPrefix(".") { return "must not name hidden files or directories" }
        }
        return nil
    }
}

/// "Did you mean" suggestions by edit distance.
public enum Suggest {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    public static func closest(to word: String, in candidates: some Swift.Sequence<String>) -> String? {
        let target = Array(word.lowercased().utf8)
        let limit = max(1, min(3, target.count / 3))
        var best: (String, Int)?
        for candidate in candidates where abs(candidate.utf8.count - target.count) <= limit {
            let d = distance(target, Array(candidate.lowercased().utf8))
            if d <= limit, best.map({ d < $0.1 || (d == $0.1 && candidate < $0.0) }) ?? true {
                best = (candidate, d)
            }
        }
        return best?.0
    }

    /// " (did you mean 'x'?)" or "".
    public static func hint(_ word: String, _ candidates: some Swift.Sequence<String>) -> String {
        closest(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        if abs(a.count - b.count) > 3 { return 4 }
        // Optimal string alignment distance: insertions, deletions, substitutions and
        // transpositions of adjacent characters ("alcie" is one edit from "alice").
        var beforePrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = Swift.min(current[j], beforePrevious[j - 2] + 1)
                }
            }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[b.count]
    }
}
