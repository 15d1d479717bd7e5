import StrictYAML

/// A value of a file written by `accessctl import`.
enum YAMLValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case bool(Bool)
    /// A list of strings (ids); written in flow style when it fits on the line.
    case list([String])
    /// A nested mapping, keys in the order given.
    case mapping([YAMLEntry])
}

/// One `key: value` line (or block) of a mapping, with comment lines written above it.
struct YAMLEntry: Sendable, Hashable {
    var key: String
    var value: YAMLValue
    var comment: [String] = []

    init(_ key: String, _ value: YAMLValue, comment: [String] = []) {
        self.key = key
        self.value = value
        self.comment = comment
    }
}

/// The YAML that `accessctl import` writes: two-space indentation, keys in the order given
/// (the documented order of each file kind), lists of ids in flow style (`[a, b]`) unless the
/// line would be longer than ``maxFlowWidth`` columns, then in block style, one item a line.
/// Every string is written so that the strict loader (YAML 1.2 core schema) reads back
/// exactly that string: plain when that is unambiguous, double-quoted otherwise.
///
/// ``document(_:)`` is the only entry point, so that import can later be routed through
/// `accessctl fmt` without touching the importer.
enum ImportYAML {
    /// Lines longer than this put a list in block style.
    static let maxFlowWidth = 100

    /// The text of a file whose top level is `entries`, ending with a newline.
    static func document(_ entries: [YAMLEntry]) -> String {
        var out = ""
        mapping(entries, indent: 0, into: &out)
        return out
    }

    private static func mapping(_ entries: [YAMLEntry], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for entry in entries {
            for line in entry.comment { out += pad + (line.isEmpty ? "#" : "# " + line) + "\n" }
            let key = pad + scalar(entry.key, flow: false) + ":"
            switch entry.value {
            case .string(let text): out += key + " " + scalar(text, flow: false) + "\n"
            case .int(let value): out += key + " " + String(value) + "\n"
            case .bool(let value): out += key + " " + (value ? "true" : "false") + "\n"
            case .list(let items):
                let flow = "[" + items.map { scalar($0, flow: true) }.joined(separator: ", ") + "]"
                if items.isEmpty || key.unicodeScalars.count + 1 + flow.unicodeScalars.count <= maxFlowWidth {
                    out += key + " " + flow + "\n"
                } else {
                    out += key + "\n"
                    for item in items { out += pad + "  - " + scalar(item, flow: false) + "\n" }
                }
            case .mapping(let nested):
                if nested.isEmpty {
                    out += key + " {}\n"
                } else {
                    out += key + "\n"
                    mapping(nested, indent: indent + 2, into: &out)
                }
            }
        }
    }

    /// `text` as a YAML scalar that reads back as exactly `text`, a string. Plain when it is
    /// safe in the context (`flow`: an item of a `[...]` list), otherwise double-quoted.
    static func scalar(_ text: String, flow: Bool) -> String {
        isPlainSafe(text, flow: flow) ? text : ScalarText.doubleQuoted(text)
    }

    /// Conservative: plain only for printable text without YAML indicators where they would
    /// mean something, and only when the core schema reads it as a string (not `true`,
    /// `null`, `0o17`, `1e3`, ...).
    static func isPlainSafe(_ text: String, flow: Bool) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if first == " " || last == " " || last == ":" { return false }
        if "-?:,[]{}#&*!|>'\"%@`~".unicodeScalars.contains(first) { return false }
        if text.contains(": ") || text.contains(" #") || text.hasPrefix("...") || text.hasPrefix("---") { return false }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "/", "-", "+", "=", "(", ")", ";", "$", "^", "<", ">", "?", "!", "&", "*", "'", "%", "@", "~":
                continue
            case " ", ":", "#":
                // Allowed inside block values (": " and " #" are excluded above); in a flow
                // list they are quoted, to keep items obviously separate.
                if flow { return false }
            case ",", "[", "]", "{", "}":
                if flow { return false }
            default:
                // Letters and digits of other scripts are fine; anything else (controls,
                // format characters, quotes, backslashes, exotic spaces) is quoted.
                guard scalar.value > 0x7F, scalar.properties.isAlphabetic || scalar.properties.numericType != nil else {
                    return false
                }
            }
        }
        // YAML 1.1 booleans are strings to accessctl, but quoting them keeps other tools
        // (older YAML libraries, editors set to YAML 1.1) from reading a boolean.
        if yaml11Booleans.contains(text) { return false }
        return Scalar(text: text, style: .plain, mark: .start).value == .string(text)
    }

    static let yaml11Booleans: Set<String> = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    ]
}
