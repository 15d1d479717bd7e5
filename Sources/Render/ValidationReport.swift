import AccessModel
import Foundation
import DesiredRepo

/// Renders the result of `accessctl validate`.
public enum ValidationReport {
    /// One diagnostic per line, then a summary line. `color` adds ANSI colours to severities.
    public static func text(_ result: LoadResult, color: Bool = false) -> String {
        var out = ""
        for diagnostic in result.diagnostics {
            var line = diagnostic.description
            if color {
                let code = diagnostic.severity == .error ? "\u{1B}[1;31m" : "\u{1B}[1;33m"
                let word = diagnostic.severity.rawValue
                line = "\(diagnostic.path.escapingControlCharacters):\(diagnostic.line):\(diagnostic.column): \(code)\(word)\u{1B}[0m: \(diagnostic.message.escapingControlCharacters)"
            }
            out += line + "\n"
        }
        out += summary(result) + "\n"
        return out
    }

    /// "valid: 42 files at commit 1a2b3c4d5e6f, 1 warning" or "invalid: 3 errors, 1 warning in 42 files ...".
    public static func summary(_ result: LoadResult) -> String {
        let errors = result.diagnostics.errorCount, warnings = result.diagnostics.warningCount
        let files = "\(result.fileCount) file\(result.fileCount == 1 ? "" : "s")"
        let counts = [plural(errors, "error"), plural(warnings, "warning")].compactMap { $0 }.joined(separator: ", ")
        let place: String
        switch result.origin {
        case .git(_, let ref, let commit): place = "\(ref) (commit \(commit.prefix(12)))"
        case .directory(let path): place = "directory \(path)"
        }
        if result.isValid {
            return "valid: \(files) in \(place)" + (counts.isEmpty ? "" : ", \(counts)")
        }
        return "invalid: \(counts) in \(files) in \(place)"
    }

    private static func plural(_ n: Int, _ word: String) -> String? {
        n == 0 ? nil : "\(n) \(word)\(n == 1 ? "" : "s")"
    }

    struct Document: Encodable {
        struct Source: Encodable {
            var kind: String
            var path: String
            var ref: String?
            var commit: String?
        }
        struct Summary: Encodable {
            var files: Int
            var errors: Int
            var warnings: Int
        }
        var format_version = 1
        var valid: Bool
        var source: Source
        var summary: Summary
        var diagnostics: [Diagnostic]
    }

    /// A JSON document: `{"format_version":1,"valid":…,"source":…,"summary":…,"diagnostics":[…]}`.
    public static func json(_ result: LoadResult) -> String {
        let source: Document.Source
        switch result.origin {
        case .git(let path, let ref, let commit): source = .init(kind: "git", path: path, ref: ref, commit: commit)
        case .directory(let path): source = .init(kind: "directory", path: path)
        }
        let document = Document(
            valid: result.isValid, source: source,
            summary: .init(files: result.fileCount, errors: result.diagnostics.errorCount,
                           warnings: result.diagnostics.warningCount),
            diagnostics: result.diagnostics)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
