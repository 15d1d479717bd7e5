import CYAML

/// Checks libyaml lets through because it does not follow the YAML specification there
/// (found by the official YAML test suite), each of which changes what a file means:
///
/// - a `#` that directly follows a token starts a comment in libyaml, though YAML requires
///   a space before it: `[crm,#billing` + newline + `]` reads as `[crm]`,
///   `"a@b.com"#note` as `a@b.com` (suite cases CVW2, SU5Z, 9JBA, X4QW);
/// - `?` at the start of a key inside brackets makes an explicit key: `{?table: x}` reads
///   as the key `table` (cases 652Z, HM87); explicit keys in block style (`? key`) are
///   refused too, as the strict format writes `key: value`.
///
/// Comments are not events, so this runs libyaml's scanner once more over the file and
/// looks at the source between tokens, where only blanks, line breaks and comments can be.
/// It runs only when ``mayBeNeeded(_:)`` finds a `#` right after something other than a
/// blank, or a `?` where a token could start; an ordinary file is scanned once.
enum TokenChecks {
    /// Whether the file has a byte the checks could report; `false` for most files.
    static func mayBeNeeded(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            if b == UInt8(ascii: "#") {
                if i > 0 && !isBlankOrBreak(bytes[i - 1]) { return true }
            } else if b == UInt8(ascii: "?") {
                if i == 0 { return true }
                switch bytes[i - 1] {
                case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","),
                     UInt8(ascii: ":"), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: "'"):
                    return true
                default: break
                }
            }
            i += 1
        }
        return false
    }

    private static func isBlankOrBreak(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    private struct Token {
        var type: yaml_token_type_t
        var start: Mark
        var end: Mark
        var text: String
    }

    /// The problems of `bytes`. `nonScalarKeys` are the marks of keys already reported as
    /// not plain text, whose `?` is not reported a second time.
    static func problems(_ bytes: UnsafeBufferPointer<UInt8>, nonScalarKeys: Set<Mark>) -> [Problem] {
        let (tokens, complete) = scan(bytes)
        let source = SourceText(bytes)
        var problems: [Problem] = []
        var cursor = 0
        var flowLevel = 0
        for (k, token) in tokens.enumerated() {
            let start = source.offset(of: token.start)
            if start > cursor { problems += commentProblems(source, from: cursor, to: start) }
            cursor = max(cursor, source.offset(of: token.end))
            switch token.type {
            case YAML_FLOW_SEQUENCE_START_TOKEN, YAML_FLOW_MAPPING_START_TOKEN:
                flowLevel += 1
            case YAML_FLOW_SEQUENCE_END_TOKEN, YAML_FLOW_MAPPING_END_TOKEN:
                flowLevel = max(0, flowLevel - 1)
            case YAML_KEY_TOKEN where token.end != token.start:
                // An explicit key: the `?` itself (a simple key's KEY token is empty).
                let next = k + 1 < tokens.count ? tokens[k + 1] : nil
                if let next, nonScalarKeys.contains(next.start) { break }
                if flowLevel > 0 {
                    var key = next?.type == YAML_SCALAR_TOKEN ? next!.text : ""
                    if key.count > 30 || key.contains(where: { $0 == "'" || $0 == "\"" || $0.isNewline }) { key = "" }
                    let example = key.isEmpty ? "" : " ('?\(key)' is read as the key '\(key)')"
                    let fix = key.isEmpty ? "put the key in quotes if the '?' is part of it"
                        : "write \"?\(key)\" in quotes if the '?' is part of the key"
                    problems.append(Problem(mark: token.start, message:
                        "'?' before a key inside brackets marks an explicit key, and YAML drops it\(example); remove the '?', or \(fix)"))
                } else {
                    problems.append(Problem(mark: token.start, message:
                        "explicit keys ('? ' at the start of a line) are not allowed; write the key and its value on one line as 'key: value'"))
                }
            case YAML_SCALAR_TOKEN:
                // `|#note`: libyaml takes a comment right after a block scalar's header.
                let b = source.bytes
                var i = start
                if i < b.count, b[i] == UInt8(ascii: "|") || b[i] == UInt8(ascii: ">") {
                    i += 1
                    while i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") || (0x30...0x39).contains(b[i]) {
                        i += 1
                    }
                    if i < b.count, b[i] == UInt8(ascii: "#") {
                        problems.append(Problem(mark: source.mark(ofByte: i), message: commentMessage))
                    }
                }
            default:
                break
            }
        }
        // After a scanner error the rest of the file was never tokenized; leave it alone.
        if complete, cursor < bytes.count { problems += commentProblems(source, from: cursor, to: bytes.count) }
        return problems
    }

    static let commentMessage = "a comment needs a space before '#' (as written, the text from '#' to the end of the line "
        + "is silently dropped); put a space before '#', or put the value in quotes if '#' is part of it"

    /// Comment starts in `from..<to` (a stretch between two tokens) with no blank before them.
    private static func commentProblems(_ source: SourceText, from: Int, to: Int) -> [Problem] {
        let b = source.bytes
        var problems: [Problem] = []
        var inComment = false
        var i = from
        while i < to {
            let c = b[i]
            if c == 0x0A || c == 0x0D {
                inComment = false
            } else if !inComment && c == UInt8(ascii: "#") {
                inComment = true
                if i > 0 && !isBlankOrBreak(b[i - 1]) {
                    problems.append(Problem(mark: source.mark(ofByte: i), message: commentMessage))
                }
            }
            i += 1
        }
        return problems
    }

    /// libyaml's tokens of the file, and whether the scan reached the end without an error.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> ([Token], Bool) {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else { return ([], false) }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count)
        var tokens: [Token] = []
        while true {
            var token = yaml_token_t()
            guard yaml_parser_scan(&parser, &token) != 0 else { return (tokens, false) }
            defer { yaml_token_delete(&token) }
            if token.type == YAML_STREAM_END_TOKEN { return (tokens, true) }
            var text = ""
            if token.type == YAML_SCALAR_TOKEN, let value = token.data.scalar.value {
                text = String(decoding: UnsafeBufferPointer(start: value, count: token.data.scalar.length), as: UTF8.self)
            }
            tokens.append(Token(type: token.type,
                                start: Mark(line: Int(token.start_mark.line) + 1, column: Int(token.start_mark.column) + 1),
                                end: Mark(line: Int(token.end_mark.line) + 1, column: Int(token.end_mark.column) + 1),
                                text: text))
            if token.type == YAML_NO_TOKEN { return (tokens, false) }
        }
    }
}
