/// libyaml's syntax errors in plain words: what is wrong and how to fix it.
///
/// libyaml names the state its scanner or parser was in ("did not find expected key",
/// "found character that cannot start any token"); the same words cover several mistakes,
/// so the source text around the mark tells them apart. The mark stays libyaml's; where it
/// lies after the mistake (the end of the file for an unclosed quote), the message names
/// the place to look. An error with no mapping keeps libyaml's words after
/// "YAML syntax error:". The list is in docs/format.md ("When the YAML cannot be read").
struct SyntaxMessages {
    let source: SourceText

    /// The message for libyaml's `problem` at `mark`, raised `context` (e.g. "while
    /// parsing a block mapping") at `contextMark`.
    func message(problem: String, context: String?, mark: Mark, contextMark: Mark) -> String {
        if let plain = plainMessage(problem: problem, context: context ?? "", mark: mark, contextMark: contextMark) {
            return plain
        }
        var message = "YAML syntax error: \(problem)"
        if let context { message += " (\(context) at \(contextMark))" }
        return message
    }

    /// The message for a reader error (a character libyaml refuses) at byte `offset`.
    func readerMessage(problem: String, offset: Int) -> String {
        if problem == "control characters are not allowed" {
            var code = "a control character"
            if let scalar = source.character(at: source.mark(ofByte: offset)) {
                var hex = String(scalar.value, radix: 16, uppercase: true)
                while hex.count < 4 { hex = "0" + hex }
                code = "U+" + hex
            }
            return "control character \(code) is not allowed in a YAML file; remove it"
        }
        return "YAML syntax error: \(problem)"
    }

    private static let tabMessage = "tab character: YAML indents with spaces; replace the tab with spaces"

    private func at(_ m: Mark) -> String { "line \(m.line), column \(m.column)" }

    private func plainMessage(problem: String, context: String, mark: Mark, contextMark: Mark) -> String? {
        let here = source.character(at: mark)
        switch problem {
        // Scanner errors.
        case "found character that cannot start any token":
            switch here {
            case "\t": return Self.tabMessage
            case "@", "`":
                return "'\(here!)' is reserved in YAML and cannot start a value; put the value in quotes"
            case "%":
                return "'%' cannot start a value ('%' starts a directive, only at the start of a line, and directives are not allowed); put the value in quotes"
            default: return nil
            }
        case "found a tab character that violates indentation":
            return Self.tabMessage
        case "found a tab character where an indentation space is expected":
            return "tab character in the indentation of the text block that starts at \(at(contextMark)): YAML indents with spaces; replace the tab with spaces"
        case "found unexpected end of stream" where context == "while scanning a quoted scalar":
            let quote = source.character(at: contextMark) == "'" ? "'" : "\""
            let inner = quote == "'" ? "inside '...' a ' is written twice ('')" : "inside \"...\" a \" is written \\\""
            return "the quoted value that starts at \(at(contextMark)) is never closed: the file ends inside it; "
                + "add the closing \(quote) at the end of the value (\(inner))"
        case "found unexpected document indicator" where context == "while scanning a quoted scalar":
            return "a line inside the quoted value that starts at \(at(contextMark)) begins with '---' or '...', which ends a YAML document; "
                + "close the quote before that line, or indent the line"
        case "found unknown escape character":
            let next = source.character(at: Mark(line: mark.line, column: mark.column + 1)).map { String($0) } ?? ""
            return "'\\\(next)' is not an escape YAML knows inside \"...\"; write '\\\\' for a backslash, "
                + "or use single quotes ('...'), where '\\' is plain text"
        case "did not find expected hexdecimal number":
            return "an escape '\\x', '\\u' or '\\U' needs 2, 4 or 8 hex digits (0-9, a-f); fix the escape, or write '\\\\' for a backslash"
        case "found invalid Unicode character escape code":
            return "this escape is not a Unicode character (a surrogate, or above U+10FFFF); write the character itself instead"
        case "did not find expected comment or line break" where context == "while scanning a block scalar":
            return "text after '|' or '>' on the same line: a text block starts on the next line; move the text there, indented"
        case "found an indentation indicator equal to 0":
            return "the indentation number after '|' or '>' must be 1 to 9; remove the 0"
        case "found unexpected ':'":
            return "':' inside brackets must be followed by a space when it separates a key from its value; "
                + "add the space, or put the text in quotes if ':' is part of it"
        case "mapping keys are not allowed in this context":
            return "'? ' would start an explicit key here, which is not allowed; put the value in quotes if it starts with '?'"
        case "block sequence entries are not allowed in this context":
            return "a list item ('- ') cannot start on the same line as the key before it; put each item on a line of its own "
                + "below the key, indented, or put the value in quotes if it starts with '- '"
        case "mapping values are not allowed in this context":
            return mappingValueHere(mark)
        case "could not find expected ':'" where context == "while scanning a simple key":
            return notKeyValue(line: contextMark.line)
        // Parser errors.
        case "did not find expected key":
            return expectedKey(mark, mapping: contextMark)
        case "did not find expected '-' indicator":
            return expectedListItem(mark, list: contextMark)
        case "did not find expected ',' or ']'":
            return flowNotClosed(mark, opened: contextMark, what: "list", open: "[", close: "]", other: "}")
        case "did not find expected ',' or '}'":
            return flowNotClosed(mark, opened: contextMark, what: "mapping", open: "{", close: "}", other: "]")
        case "did not find expected node content":
            if source.onlyCommentsFollow(mark) {
                return "the file ends inside brackets: a '[' or '{' above is never closed; add the closing ']' or '}' after its last item"
            }
            switch here {
            case ":":
                return "':' cannot start a value inside brackets, and a key needs text before ': '; put the value in quotes if it starts with ':'"
            case ",":
                return "an empty item: a ',' right after '[', '{' or another ','; remove the extra ','"
            case "]", "}":
                return "'\(here!)' closes nothing: no '\(here == "]" ? "[" : "{")' before it is still open; remove it"
            default:
                return nil
            }
        case "did not find expected <document start>":
            return "more text after the end of the file's top-level value; "
                + "a file holds one mapping of 'key: value' lines: check the brackets and the indentation above"
        default:
            break
        }
        if context.contains("anchor") || context.contains("alias") {
            return "'&' starts an anchor and '*' an alias, which are not allowed; put the value in quotes if it starts with '&' or '*'"
        }
        if context.contains("tag") {
            return "'!' starts a tag, which is not allowed; put the value in quotes if it starts with '!'"
        }
        if context.contains("directive") {
            return "'%' at the start of a line starts a directive, which is not allowed; remove the line, or put the value in quotes"
        }
        return nil
    }

    /// "mapping values are not allowed in this context": a `: ` where libyaml cannot start
    /// a key; `mark` is at that `:`.
    private func mappingValueHere(_ mark: Mark) -> String? {
        let line = source.lineText(mark.line)
        let before = String(line.unicodeScalars.prefix(max(0, mark.column - 1)))
        // `a: b: c`: a second `: ` after a key on the same line.
        if let keyEnd = keyIndicator(in: before) {
            let key = String(before.prefix(keyEnd)).trimmingBlanks.trimmingListDash
            return "a second ': ' on one line: the value of '\(key)' cannot contain ': ' unless it is in quotes; "
                + "put the value in quotes, or put the inner key on a line of its own, indented"
        }
        guard let indent = source.indentation(mark.line), let previous = source.previousContentLine(before: mark.line),
              let previousIndent = source.indentation(previous) else { return nil }
        let previousText = source.lineText(previous)
        // `email: x` + `  active: true`: the more indented line continues the value above.
        if indent > previousIndent, let keyEnd = keyIndicator(in: previousText) {
            let key = String(previousText.prefix(keyEnd)).trimmingBlanks.trimmingListDash
            let value = String(previousText.dropFirst(keyEnd + 1)).trimmingBlanks
            if !value.isEmpty && !value.hasPrefix("#") {
                let keyColumn = previousIndent + (previousText.trimmingBlanks.hasPrefix("- ") ? 2 : 0)
                return "this line is indented more than the line above it (column \(indent) vs \(keyColumn)), "
                    + "so it reads as part of the value of '\(key)' on line \(previous); "
                    + "indent it like '\(key)' (column \(keyColumn)) if it is a key of its own"
            }
        }
        // `a:b` or `a` + `c: 1`: the line above is not `key: value` and runs on into this one.
        if indent == previousIndent, keyIndicator(in: previousText) == nil {
            return notKeyValue(line: previous)
        }
        return "': ' makes a key here, where no key can start; if ': ' is part of a value, put the value in quotes"
    }

    /// A line that is neither `key: value` nor a list item.
    private func notKeyValue(line: Int) -> String? {
        let text = source.lineText(line).trimmingBlanks
        let shown = source.shownLine(line)
        if text.hasPrefix("-"), let second = text.dropFirst().first, second != " ", second != "\t" {
            let rest = text.drop { $0 == "-" }
            return "a list item needs a space after '-' (line \(line): write '- \(rest.prefix(20))', not '\(String(text.prefix(22)))')"
        }
        if let colon = text.firstIndex(of: ":"), text.index(after: colon) < text.endIndex,
           !text.hasPrefix("\""), !text.hasPrefix("'") {
            let key = text[..<colon], value = text[text.index(after: colon)...]
            return "':' needs a space after it to separate a key from its value (line \(line): write '\(key.prefix(20)): \(value.prefix(20))', "
                + "not '\(shown)')"
        }
        return "line \(line) ('\(shown)') is neither 'key: value' nor a list item ('- item'); add ': ' after the key, or remove the line"
    }

    /// "did not find expected key": a block mapping at `mapping` met something else at `mark`.
    private func expectedKey(_ mark: Mark, mapping: Mark) -> String? {
        let here = source.character(at: mark)
        if !source.startsLine(mark) {
            return afterValue(mark, expected: "a line holds one 'key: value'")
        }
        if here == ":" {
            return "a line that starts with ':' has no key before it; write 'key: value' on one line"
        }
        if here == "-" && mark.column == mapping.column {
            return "a list item ('- ') among the keys of a mapping; a list must be the value of a key: "
                + "write 'key:' and indent the items under it"
        }
        return indentationMessage(mark, expected: mapping.column, what: here == "-" ? "lines" : "keys")
    }

    /// "did not find expected '-' indicator": a block list at `list` met something else at `mark`.
    private func expectedListItem(_ mark: Mark, list: Mark) -> String? {
        let here = source.character(at: mark)
        if !source.startsLine(mark) {
            return afterValue(mark, expected: "a list item holds one value")
        }
        if here == "-", let next = source.character(at: Mark(line: mark.line, column: mark.column + 1)), next != " " {
            return notKeyValue(line: mark.line)
        }
        if mark.column != list.column {
            return indentationMessage(mark, expected: list.column, what: "list items")
        }
        return "this line is in the list that starts at \(at(list)) but does not start with '- '; "
            + "start it with '- ' to make it an item, or end the list before it (a list ends at a line indented less than its items)"
    }

    /// Text after a complete value on the same line (`a: 'it's'`, `a: [1]]`, `a: "x" y`).
    private func afterValue(_ mark: Mark, expected: String) -> String? {
        let here = source.character(at: mark)
        if let (last, column) = source.lastNonBlank(before: mark), last == "'" || last == "\"" {
            let inner = last == "'" ? "to put a ' inside '...', write it twice ('')" : "to put a \" inside \"...\", write \\\""
            return "text after the closing quote at column \(column): a quoted value ends at its closing quote; "
                + "\(inner), or put the whole value in the other kind of quotes"
        }
        if here == "]" || here == "}" {
            return "'\(here!)' closes nothing: no '\(here == "]" ? "[" : "{")' before it is still open; remove it"
        }
        let shown = source.restOfLine(from: mark).map { String($0.prefix(20)) } ?? ""
        return "unexpected '\(shown)' after the value; \(expected): put the whole value in quotes, or move the rest to a line of its own"
    }

    /// A line whose indentation fits no collection above it.
    private func indentationMessage(_ mark: Mark, expected: Int, what: String) -> String {
        var columns = [expected]
        if let previous = source.previousContentLine(before: mark.line), let p = source.indentation(previous),
           p != expected, p != mark.column {
            columns.append(p)
        }
        let shown = columns.sorted().map(String.init).joined(separator: " or ")
        return "this line is indented differently from the \(what) above it (column \(mark.column) vs \(shown)); "
            + "indent it exactly like the \(what == "list items" ? "item" : what == "keys" ? "key" : "line") it belongs with, using spaces"
    }

    /// An unclosed bracket, or something between items that is not `,`.
    private func flowNotClosed(_ mark: Mark, opened: Mark, what: String, open: String, close: String, other: String) -> String {
        let here = source.character(at: mark)
        let collection = "the \(what) opened with '\(open)' at \(at(opened))"
        if source.onlyCommentsFollow(mark) {
            return "\(collection) is never closed; add '\(close)' after its last item"
        }
        if mark.line != opened.line {
            return "\(collection) is not closed before \(at(mark)); separate its items with ',' and close it with '\(close)' "
                + "before the next key"
        }
        if here.map({ String($0) }) == other {
            return "'\(other)' does not close \(collection); close it with '\(close)'"
        }
        if let (last, column) = source.lastNonBlank(before: mark), last == "'" || last == "\"" {
            let inner = last == "'" ? "to put a ' inside '...', write it twice ('')" : "to put a \" inside \"...\", write \\\""
            return "text after the closing quote at column \(column) in \(collection); a quoted item ends at its closing quote: \(inner)"
        }
        if here == ":" {
            return "unexpected ':' in \(collection); put an item that contains ': ' in quotes"
        }
        return "expected ',' between the items of \(collection), or '\(close)' to close it"
    }

    /// The offset (in characters) of the first `:` in `text` that is followed by a blank or
    /// ends the text, outside quotes: where a key ends.
    private func keyIndicator(in text: String) -> Int? {
        let scalars = Array(text.unicodeScalars)
        var quote: Unicode.Scalar?
        var k = 0
        while k < scalars.count {
            let c = scalars[k]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                if k == 0 || scalars[k - 1] == " " || scalars[k - 1] == "-" { quote = c }
            } else if c == "#" && (k == 0 || scalars[k - 1] == " ") {
                return nil
            } else if c == ":" && (k + 1 == scalars.count || scalars[k + 1] == " " || scalars[k + 1] == "\t") {
                return k
            }
            k += 1
        }
        return nil
    }
}

private extension String {
    /// `- key` without the list dash.
    var trimmingListDash: String {
        hasPrefix("- ") ? String(dropFirst(2)).trimmingBlanks : self
    }

}
