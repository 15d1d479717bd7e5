/// How serious a diagnostic is. Errors make a repository invalid; warnings do not.
public enum Severity: String, Sendable, Hashable, Codable, Comparable {
    case error
    case warning

    public static func < (a: Severity, b: Severity) -> Bool {
        a == .error && b == .warning
    }
}

/// One finding about a file of the desired-state repository, at a 1-based line and column.
///
/// Problems that concern a whole file (a missing file, a file too large, a symbolic link)
/// are reported at line 1, column 1, so every diagnostic has the same shape for tools that
/// parse `path:line:column: severity: message`.
public struct Diagnostic: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// Repository-relative path, `/`-separated.
    public var path: String
    public var line: Int
    public var column: Int
    public var severity: Severity
    public var message: String

    public init(path: String, line: Int = 1, column: Int = 1, severity: Severity, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.severity = severity
        self.message = message
    }

    /// `path:line:column: severity: message`, the form compilers and linters use.
    ///
    /// Paths and messages quote repository content, so control characters (which could
    /// rewrite a terminal line or forge a CI log command) are shown escaped.
    public var description: String {
        "\(path.escapingControlCharacters):\(line):\(column): \(severity.rawValue): \(message.escapingControlCharacters)"
    }

    /// Sorted by path (byte order), then position, then severity and message, so output is stable.
    public static func < (a: Diagnostic, b: Diagnostic) -> Bool {
        if a.path != b.path { return a.path.utf8.lexicographicallyPrecedes(b.path.utf8) }
        if a.line != b.line { return a.line < b.line }
        if a.column != b.column { return a.column < b.column }
        if a.severity != b.severity { return a.severity < b.severity }
        return a.message < b.message
    }
}

extension Array where Element == Diagnostic {
    /// The number of errors.
    public var errorCount: Int { lazy.filter { $0.severity == .error }.count }
    /// The number of warnings.
    public var warningCount: Int { lazy.filter { $0.severity == .warning }.count }
}

extension String {
    /// The text with C0 and C1 control characters, DEL and Unicode bidirectional controls
    /// written as `\u{…}` escapes, so it prints as one inert line on a terminal or in a log.
    public var escapingControlCharacters: String {
        func isControl(_ v: UInt32) -> Bool {
            v < 0x20 || (0x7F...0x9F).contains(v) || (0x202A...0x202E).contains(v)
                || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F || v == 0x061C
        }
        guard unicodeScalars.contains(where: { isControl($0.value) }) else { return self }
        var out = ""
        for scalar in unicodeScalars {
            if isControl(scalar.value) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
