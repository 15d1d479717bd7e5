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
    public var description: String {
        "\(path):\(line):\(column): \(severity.rawValue): \(message)"
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
