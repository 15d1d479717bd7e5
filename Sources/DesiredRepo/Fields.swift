import AccessModel
import StrictYAML

/// A value with the position it was read from, kept for cross-file checks.
package struct Located<Value: Sendable>: Sendable {
    package var value: Value
    package var mark: Mark
}

/// Collects the diagnostics of one file.
package struct FileDiagnostics {
    package let path: String
    package var items: [Diagnostic] = []

    package init(path: String) { self.path = path }

    package mutating func error(_ mark: Mark, _ message: String) {
        items.append(Diagnostic(path: path, line: mark.line, column: mark.column, severity: .error, message: message))
    }

    package mutating func warning(_ mark: Mark, _ message: String) {
        items.append(Diagnostic(path: path, line: mark.line, column: mark.column, severity: .warning, message: message))
    }
}

/// Typed, strict access to the keys of one mapping. Unknown keys are reported when it is made;
/// each accessor reports a missing required key or a value of the wrong type.
package struct Fields {
    package let mapping: Mapping
    /// What the mapping is, for messages: "a user file", "'policy'".
    package let context: String

    /// Reads `node` as a mapping with the given known keys; reports anything else.
    package init?(_ node: Node?, context: String, known: [String], into diagnostics: inout FileDiagnostics) {
        guard let node else {
            diagnostics.error(.start, "\(context) is empty; expected a mapping with keys \(known.joined(separator: ", "))")
            return nil
        }
        guard case .mapping(let mapping) = node else {
            diagnostics.error(node.mark, "\(context) must be a mapping (key: value), not \(node.typeName)")
            return nil
        }
        self.mapping = mapping
        self.context = context
        for entry in mapping.entries where !known.contains(entry.key.text) {
            let hint = Suggest.closest(to: entry.key.text, in: known).map { "; did you mean '\($0)'?" }
                ?? "; known keys: \(known.joined(separator: ", "))"
            diagnostics.error(entry.key.mark, "unknown key '\(entry.key.text)' in \(context)\(Rules.nonASCIINote(entry.key.text))\(hint)")
        }
    }

    package func entry(_ key: String) -> MappingEntry? { mapping.entry(key) }

    private func missing(_ key: String, _ diagnostics: inout FileDiagnostics) {
        diagnostics.error(mapping.mark, "missing required key '\(key)' in \(context)")
    }

    /// A string value. Plain scalars that resolve to another type (`true`, `12`, `~`) are type errors.
    package func string(_ key: String, required: Bool = false, nonEmpty: Bool = true,
                into diagnostics: inout FileDiagnostics) -> Located<String>? {
        guard let entry = entry(key) else {
            if required { missing(key, &diagnostics) }
            return nil
        }
        return Fields.string(entry.value, name: "'\(key)'", nonEmpty: nonEmpty, into: &diagnostics)
    }

    /// Reads a node as a string; `name` names it in messages.
    package static func string(_ node: Node, name: String, nonEmpty: Bool = true,
                       into diagnostics: inout FileDiagnostics) -> Located<String>? {
        guard case .scalar(let scalar) = node else {
            diagnostics.error(node.mark, "\(name) must be a string, not \(node.typeName)")
            return nil
        }
        switch scalar.value {
        case .string(let text):
            if nonEmpty && text.allSatisfy(\.isWhitespace) {
                diagnostics.error(scalar.mark, "\(name) must not be empty or blank")
                return nil
            }
            return Located(value: text, mark: scalar.mark)
        case .null:
            diagnostics.error(scalar.mark, "\(name) must be a string, not null\(scalar.text.isEmpty ? " (no value)" : " (\(Masked.typed(scalar.text)))")")
            return nil
        case let other:
            if Masked.isPlainWord(scalar.text) {
                diagnostics.error(scalar.mark, "\(name) must be a string, not \(other.typeName) (\(scalar.text)); quote it if you mean the text: \"\(scalar.text)\"")
            } else {
                diagnostics.error(scalar.mark, "\(name) must be a string, not \(other.typeName) \(Masked.describe(scalar.text)); quote it if you mean the text")
            }
            return nil
        }
    }

    /// A node's type and text for a type error: "a string ('yes')", "null", "a list".
    private static func shown(_ node: Node) -> String {
        guard case .scalar(let scalar) = node else { return node.typeName }
        return scalar.value == .null ? "null" : "\(scalar.value.typeName) (\(Masked.typed(scalar.text)))"
    }

    /// A boolean: only `true` or `false` (YAML 1.2); `yes`, `no`, `on`, `off` are type errors.
    package func bool(_ key: String, into diagnostics: inout FileDiagnostics) -> Bool? {
        guard let entry = entry(key) else { return nil }
        if case .scalar(let scalar) = entry.value, case .bool(let value) = scalar.value { return value }
        diagnostics.error(entry.value.mark, "'\(key)' must be a boolean (true or false), not \(Fields.shown(entry.value))")
        return nil
    }

    /// An integer within `range`.
    package func int(_ key: String, in range: ClosedRange<Int>, required: Bool = false,
             into diagnostics: inout FileDiagnostics) -> Located<Int>? {
        guard let entry = entry(key) else {
            if required { missing(key, &diagnostics) }
            return nil
        }
        guard case .scalar(let scalar) = entry.value, case .int(let parsed) = scalar.value else {
            diagnostics.error(entry.value.mark, "'\(key)' must be an integer, not \(Fields.shown(entry.value))")
            return nil
        }
        guard let value = parsed, range.contains(value) else {
            diagnostics.error(scalar.mark, "'\(key)' must be from \(range.lowerBound) to \(range.upperBound), not \(Masked.isPlainWord(scalar.text) ? scalar.text : Masked.describe(scalar.text))")
            return nil
        }
        return Located(value: value, mark: scalar.mark)
    }

    /// A list of non-empty strings, each checked against `pattern`; duplicates are errors.
    /// Returns nil when the key is absent.
    package func stringList(_ key: String, pattern: Rules.Pattern?, itemName: String,
                    into diagnostics: inout FileDiagnostics) -> (items: [Located<String>], mark: Mark)? {
        guard let entry = entry(key) else { return nil }
        return Fields.stringList(entry.value, name: "'\(key)'", pattern: pattern, itemName: itemName, into: &diagnostics)
    }

    package static func stringList(_ node: Node, name: String, pattern: Rules.Pattern?, itemName: String,
                           into diagnostics: inout FileDiagnostics) -> (items: [Located<String>], mark: Mark)? {
        guard case .sequence(let sequence) = node else {
            var message = "\(name) must be a list, not \(node.typeName)"
            if case .scalar(let s) = node, s.value == .null { message += "; write [] for an empty list" }
            else if case .scalar(let s) = node {
                // The text is repeated only when it is a well-formed item (it may be a secret).
                if let pattern, pattern.matches(s.text) {
                    message += "; write [\(s.text)] for a list of one item"
                } else {
                    message += "; write the item in brackets, [like-this], for a list of one item"
                }
            }
            diagnostics.error(node.mark, message)
            return nil
        }
        var items: [Located<String>] = []
        var seen: [String: Mark] = [:]
        items.reserveCapacity(sequence.items.count)
        seen.reserveCapacity(sequence.items.count)
        for item in sequence.items {
            guard let text = string(item, name: "each item of \(name)", into: &diagnostics) else { continue }
            if let pattern, !pattern.matches(text.value) {
                diagnostics.error(text.mark, "item \(Masked.describe(text.value)) of \(name) is not a valid \(itemName): must match \(pattern.source)\(Rules.nonASCIINote(text.value))")
                continue
            }
            if let first = seen[text.value] {
                diagnostics.error(text.mark, "'\(text.value)' is listed twice in \(name) (first at line \(first.line), column \(first.column))")
                continue
            }
            seen[text.value] = text.mark
            items.append(text)
        }
        return (items, sequence.mark)
    }
}
