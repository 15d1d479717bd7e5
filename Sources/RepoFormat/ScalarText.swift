import StrictYAML

/// How scalars are written in canonical layout. The text (the value) never changes; the
/// quoting style is kept when it can still be used:
/// - plain stays plain when it reads back as the same text (and so the same type); otherwise
///   a string is quoted (single quotes, or double quotes when it holds characters that need
///   escapes);
/// - single-quoted stays single-quoted unless the text has a line break or a control
///   character, then it is double-quoted;
/// - double-quoted stays double-quoted, re-escaped canonically (only `"`, `\`, line breaks,
///   tabs and non-printable characters are escaped);
/// - literal (`|`) and folded (`>`) block scalars stay block scalars, re-indented (see
///   ``BlockScalar``), or become double-quoted when that is not possible.
enum ScalarText {
    /// Characters that may not start a plain scalar.
    private static let indicators: Set<Unicode.Scalar> = [
        "-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`",
    ]
    private static let flowIndicators: Set<Unicode.Scalar> = [",", "[", "]", "{", "}"]

    /// Characters written escaped in double quotes and never written plain or single-quoted:
    /// C0 and C1 controls (tab included), DEL, the byte-order mark, the Unicode line and
    /// paragraph separators (line breaks to libyaml), the non-characters U+FFFE/U+FFFF, and
    /// the invisible characters that can make a reviewer read something else than what is
    /// there (bidirectional controls, zero-width characters, the Arabic letter mark).
    static func needsEscape(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFEFF || v == 0x2028 || v == 0x2029
            || v == 0xFFFE || v == 0xFFFF || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
            || (0x200B...0x200F).contains(v) || v == 0x061C
    }

    /// Whether `text` can be written as a plain scalar and read back as exactly `text`, in
    /// block context or (with `flow`) inside `[...]`. Conservative: when in doubt, no.
    static func plainSafe(_ text: String, flow: Bool) -> Bool {
        let scalars = text.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return false }
        if first == " " || last == " " { return false }
        if indicators.contains(first) {
            // `-1`, `-foo`: a dash followed by a non-space is a plain scalar.
            guard first == "-", let second = scalars.dropFirst().first, second != " ",
                  !(flow && flowIndicators.contains(second)) else { return false }
        }
        if text.hasPrefix("---") || text.hasPrefix("...") || last == ":" { return false }
        var previous: Unicode.Scalar = " "
        for c in scalars {
            if needsEscape(c) { return false }
            if c == " " && previous == ":" { return false }
            if c == "#" && previous == " " { return false }
            if flow && flowIndicators.contains(c) { return false }
            if flow && previous == ":" && flowIndicators.contains(c) { return false }
            previous = c
        }
        return true
    }

    /// Whether `text` can be written between single quotes on one line.
    static func singleQuotable(_ text: String) -> Bool {
        !text.unicodeScalars.contains(where: needsEscape)
    }

    static func singleQuoted(_ text: String) -> String {
        "'" + text.replacing("'", with: "''") + "'"
    }

    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\0": out += "\\0"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\u{0B}": out += "\\v"
            case "\u{0C}": out += "\\f"
            case "\r": out += "\\r"
            case "\u{1B}": out += "\\e"
            default:
                if needsEscape(c) {
                    let hex = String(c.value, radix: 16, uppercase: true)
                    out += c.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                        : "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    /// A string quoted in the style closest to how it was written.
    static func quoted(_ text: String, preferDouble: Bool) -> String {
        !preferDouble && singleQuotable(text) ? singleQuoted(text) : doubleQuoted(text)
    }

    /// The scalar on one line, or nil when it must be a block scalar or is an empty plain
    /// scalar (null written as nothing).
    static func inline(_ s: Scalar, flow: Bool) -> String? {
        switch s.style {
        case .plain:
            if s.text.isEmpty { return nil }
            if plainSafe(s.text, flow: flow) { return s.text }
            // Only a string can be quoted without changing its type.
            if case .string = s.value { return quoted(s.text, preferDouble: false) }
            return flow ? nil : s.text
        case .singleQuoted:
            return quoted(s.text, preferDouble: false)
        case .doubleQuoted:
            return doubleQuoted(s.text)
        case .literal, .folded:
            return nil
        }
    }

    /// A key on one line (keys are never block scalars).
    static func key(_ s: Scalar) -> String {
        switch s.style {
        case .plain:
            if plainSafe(s.text, flow: false) && s.text.utf8.count <= 1000 { return s.text }
            return quoted(s.text, preferDouble: false)
        case .singleQuoted, .literal, .folded:
            return quoted(s.text, preferDouble: false)
        case .doubleQuoted:
            return doubleQuoted(s.text)
        }
    }
}

/// Block scalars (`|`, `>`) in canonical layout: the header keeps its style and chomping
/// indicator, gets an indentation indicator only when the first content line starts with a
/// space, and the content is indented two spaces deeper than its key or `-`.
///
/// A literal scalar is written from its text (its lines are its text's lines). A folded
/// scalar is copied from the source line by line with the indentation changed, so the
/// author's line wrapping stays. Either returns nil when that is not possible (non-printable
/// characters, an unusual indentation), and the caller writes the text double-quoted.
enum BlockScalar {
    struct Rendered {
        var header: String
        /// Content lines, without indentation; empty strings are empty lines.
        var lines: [String]
    }

    static func render(_ s: Scalar, source: SourceText) -> Rendered? {
        guard s.text.contains(where: { $0 != "\n" }) else { return nil }
        for c in s.text.unicodeScalars where c != "\n" && c != "\t" && ScalarText.needsEscape(c) { return nil }
        return s.style == .literal ? literal(s.text) : folded(s, source: source)
    }

    private static func literal(_ text: String) -> Rendered {
        var body = Substring(text)
        var trailing = 0
        while body.hasSuffix("\n") { body = body.dropLast(); trailing += 1 }
        var lines = body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let chomp = trailing == 0 ? "-" : (trailing == 1 ? "" : "+")
        if trailing > 1 { lines += Array(repeating: "", count: trailing - 1) }
        return Rendered(header: "|" + indicator(lines) + chomp, lines: lines)
    }

    /// "2" when the first non-empty line starts with white space (auto-detection would take
    /// that space as indentation).
    private static func indicator(_ lines: [String]) -> String {
        guard let first = lines.first(where: { !$0.isEmpty }) else { return "" }
        return first.first == " " || first.first == "\t" ? "2" : ""
    }

    /// The chomping indicator of a block scalar's header in the source: "+", "-" or "".
    static func chomping(_ s: Scalar, source: SourceText) -> String {
        // Header: `|` or `>` then up to two indicators (indentation digit, chomping sign).
        let headerLine = source.line(s.mark.line)
        var i = source.offset(s.mark) + 1
        var chomp = ""
        while i < headerLine.endIndex, headerLine[i] == UInt8(ascii: "+") || headerLine[i] == UInt8(ascii: "-")
                || (headerLine[i] >= UInt8(ascii: "1") && headerLine[i] <= UInt8(ascii: "9")) {
            if headerLine[i] == UInt8(ascii: "+") { chomp = "+" }
            if headerLine[i] == UInt8(ascii: "-") { chomp = "-" }
            i += 1
        }
        return chomp
    }

    private static func folded(_ s: Scalar, source: SourceText) -> Rendered? {
        let chomp = chomping(s, source: source)
        // Content lines: after the header, up to the end mark (which is on the line after the
        // content, or after the last character at the end of the file).
        var last = s.end.line
        if s.end.column == 1 || source.bytes[source.start(ofLine: last)..<source.offset(s.end)]
            .allSatisfy({ $0 == 0x20 }) {
            last -= 1
        }
        guard last > s.mark.line else { return nil }
        let raw = ((s.mark.line + 1)...last).map { source.line($0) }
        // The source indentation: that of the first non-blank line, less the spaces the text
        // itself starts with (a more indented first line).
        guard let firstContent = raw.first(where: { !$0.allSatisfy { $0 == 0x20 } }) else { return nil }
        let textStart = s.text.drop { $0 == "\n" }
        let indent = firstContent.prefix { $0 == 0x20 }.count - textStart.prefix { $0 == " " }.count
        guard indent >= 1 else { return nil }
        var lines: [String] = []
        for line in raw {
            let spaces = line.prefix { $0 == 0x20 }.count
            if spaces == line.count && spaces <= indent {
                lines.append("")
            } else if spaces >= indent {
                lines.append(String(decoding: line.dropFirst(indent), as: UTF8.self))
            } else {
                return nil
            }
        }
        if chomp != "+" { while lines.last == "" { lines.removeLast() } }
        return Rendered(header: ">" + indicator(lines) + chomp, lines: lines)
    }
}
