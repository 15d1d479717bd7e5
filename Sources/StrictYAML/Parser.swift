import CYAML

/// Limits applied before and while parsing.
public struct Limits: Sendable, Hashable {
    /// Largest accepted file, in bytes.
    public var maxBytes: Int
    /// Deepest accepted nesting of mappings and sequences.
    public var maxDepth: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 32) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}

/// The outcome of parsing one file: the document (if it could be built) and every problem.
///
/// `root` is `nil` when the file holds no document (empty, or only comments) or when a
/// fatal problem (syntax error, encoding error, size or depth cap) stopped the parse.
/// Non-fatal strictness problems (duplicate keys, anchors, tags, ...) are reported and the
/// offending node is still represented, so one run reports them all.
public struct Document: Sendable {
    public var root: Node?
    public var problems: [Problem]
}

/// A strict YAML reader built on libyaml's event API.
///
/// Rejected: duplicate keys, anchors, aliases, merge keys, explicit tags, directives,
/// complex (non-scalar) keys, explicit keys (`?`), comments with no blank before `#`,
/// more than one document, byte-order marks, NUL bytes,
/// invalid UTF-8, files over ``Limits/maxBytes`` and nesting over ``Limits/maxDepth``.
/// Scalars resolve by the YAML 1.2 core schema (see ``Scalar/value``).
public enum StrictYAML {
    /// Parses `bytes` as one strict YAML document.
    public static func parse(_ bytes: [UInt8], limits: Limits = Limits()) -> Document {
        if bytes.count > limits.maxBytes {
            return Document(root: nil, problems: [Problem(
                mark: .start,
                message: "file is \(bytes.count) bytes; the limit is \(limits.maxBytes) bytes")])
        }
        if let problem = encodingProblem(bytes) {
            return Document(root: nil, problems: [problem])
        }
        return bytes.withUnsafeBufferPointer { buffer in
            var reader = EventReader(buffer: buffer, limits: limits)
            return reader.read()
        }
    }

    /// Rejects a byte-order mark, NUL bytes and invalid UTF-8, with the position of the first bad byte.
    public static func encodingProblem(_ bytes: [UInt8]) -> Problem? {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            return Problem(mark: .start, message: "file starts with a byte-order mark; save it as UTF-8 without BOM")
        }
        if bytes.count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) {
            return Problem(mark: .start, message: "file is UTF-16; only UTF-8 is accepted")
        }
        var line = 1, column = 1, i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                if b == 0 {
                    return Problem(mark: Mark(line: line, column: column), message: "NUL byte; the file must be UTF-8 text")
                }
                // Line breaks as libyaml counts them: LF, CR LF, and a lone CR.
                if b == 0x0A || (b == 0x0D && (i + 1 == n || bytes[i + 1] != 0x0A)) {
                    line += 1; column = 1
                } else if b != 0x0D {
                    column += 1
                }
                i += 1
                continue
            }
            let width: Int
            var scalar: UInt32
            switch b {
            case 0xC2...0xDF: width = 2; scalar = UInt32(b & 0x1F)
            case 0xE0...0xEF: width = 3; scalar = UInt32(b & 0x0F)
            case 0xF0...0xF4: width = 4; scalar = UInt32(b & 0x07)
            default: width = 0; scalar = 0
            }
            var valid = width > 0 && i + width <= n
            if valid {
                for k in 1..<width {
                    let c = bytes[i + k]
                    if c & 0xC0 != 0x80 { valid = false; break }
                    scalar = scalar << 6 | UInt32(c & 0x3F)
                }
            }
            // Reject overlong forms, surrogates and values past U+10FFFF.
            if valid {
                let minimum: UInt32 = width == 3 ? 0x800 : (width == 4 ? 0x10000 : 0x80)
                valid = scalar >= minimum && scalar <= 0x10FFFF && !(0xD800...0xDFFF).contains(scalar)
            }
            if !valid {
                let hex = String(b, radix: 16, uppercase: true)
                return Problem(mark: Mark(line: line, column: column),
                               message: "invalid UTF-8 (byte 0x\(hex.count == 1 ? "0" + hex : hex)); the file must be UTF-8 text")
            }
            i += width
            // NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to libyaml too.
            if scalar == 0x85 || scalar == 0x2028 || scalar == 0x2029 { line += 1; column = 1 } else { column += 1 }
        }
        return nil
    }
}

/// Turns libyaml events into a `Node` tree, collecting problems.
private struct EventReader {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: Limits
    var problems: [Problem] = []
    /// Where keys that are not scalars start (already reported; see ``TokenChecks``).
    var nonScalarKeys: Set<Mark> = []

    init(buffer: UnsafeBufferPointer<UInt8>, limits: Limits) {
        self.buffer = buffer
        self.limits = limits
    }

    /// Thrown internally to stop at a fatal problem (already recorded).
    struct Stop: Error {}

    mutating func read() -> Document {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else {
            return Document(root: nil, problems: [Problem(mark: .start, message: "out of memory")])
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)
        var root: Node?
        do {
            var event = try next(&parser)
            guard event.type == YAML_STREAM_START_EVENT else { throw Stop() }
            yaml_event_delete(&event)
            var documents = 0
            while true {
                event = try next(&parser)
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                guard event.type == YAML_DOCUMENT_START_EVENT else { throw Stop() }
                documents += 1
                let mark = Self.mark(event.start_mark)
                if documents > 1 {
                    problems.append(Problem(mark: mark, message: "a second YAML document ('---'); a file holds exactly one"))
                    throw Stop()
                }
                if event.data.document_start.version_directive != nil
                    || event.data.document_start.tag_directives.start != event.data.document_start.tag_directives.end {
                    problems.append(Problem(mark: mark, message: "YAML directives (%YAML, %TAG) are not allowed"))
                }
                var first = try next(&parser)
                let node = try node(from: &first, parser: &parser, depth: 0)
                root = node
                var end = try next(&parser)
                yaml_event_delete(&end)
            }
        } catch {
            root = nil
        }
        finishProblems()
        return Document(root: root, problems: problems)
    }

    /// Adds the problems of ``TokenChecks`` and puts all problems in source order.
    private mutating func finishProblems() {
        if TokenChecks.mayBeNeeded(buffer) {
            problems += TokenChecks.problems(buffer, nonScalarKeys: nonScalarKeys)
        }
        problems = problems.enumerated().sorted { a, b in
            a.element.mark != b.element.mark ? a.element.mark < b.element.mark : a.offset < b.offset
        }.map(\.element)
    }

    private static func mark(_ m: yaml_mark_t) -> Mark {
        Mark(line: Int(m.line) + 1, column: Int(m.column) + 1)
    }

    private mutating func next(_ parser: inout yaml_parser_t) throws(Stop) -> yaml_event_t {
        var event = yaml_event_t()
        if yaml_parser_parse(&parser, &event) == 0 {
            problems.append(syntaxProblem(parser))
            throw Stop()
        }
        return event
    }

    /// libyaml's error in plain words (see ``SyntaxMessages``), at libyaml's position.
    private func syntaxProblem(_ parser: yaml_parser_t) -> Problem {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        let messages = SyntaxMessages(source: SourceText(buffer))
        if parser.error == YAML_READER_ERROR {
            return Problem(mark: offsetMark(parser.problem_offset),
                           message: messages.readerMessage(problem: problem, offset: parser.problem_offset))
        }
        let mark = Self.mark(parser.problem_mark)
        return Problem(mark: mark, message: messages.message(
            problem: problem, context: parser.context.map { String(cString: $0) }, mark: mark,
            contextMark: Self.mark(parser.context_mark)))
    }

    /// Line and column of a byte offset (reader errors carry only an offset).
    private func offsetMark(_ offset: Int) -> Mark {
        var line = 1, column = 1
        let end = min(offset, buffer.count)
        for i in 0..<end {
            let b = buffer[i]
            if b == 0x0A || (b == 0x0D && (i + 1 == end || buffer[i + 1] != 0x0A)) {
                line += 1; column = 1
            } else if b != 0x0D && b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return Mark(line: line, column: column)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private mutating func checkProperties(anchor: UnsafeMutablePointer<yaml_char_t>?,
                                          tag: UnsafeMutablePointer<yaml_char_t>?, mark: Mark) {
        if let anchor {
            problems.append(Problem(mark: mark, message: "anchors are not allowed ('&\(String(cString: anchor))'); write the value out"))
        }
        if let tag {
            // libyaml expands the `!!` shorthand; show the tag as it was written.
            var text = String(cString: tag)
            if text.hasPrefix("tag:yaml.org,2002:") { text = "!!" + text.dropFirst(18) }
            problems.append(Problem(mark: mark, message: "explicit tags are not allowed ('\(text)')"))
        }
    }

    /// Builds the node that starts with `event` (consumed and freed here), reading its children.
    private mutating func node(from event: inout yaml_event_t, parser: inout yaml_parser_t, depth: Int) throws(Stop) -> Node {
        defer { yaml_event_delete(&event) }
        let mark = Self.mark(event.start_mark)
        switch event.type {
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            checkProperties(anchor: data.anchor, tag: data.tag, mark: mark)
            let style: ScalarStyle
            switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            return .scalar(Scalar(text: Self.string(data.value, data.length), style: style, mark: mark,
                                  end: Self.mark(event.end_mark)))
        case YAML_ALIAS_EVENT:
            let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
            problems.append(Problem(mark: mark, message: "aliases are not allowed ('*\(name)'); write the value out"))
            return .scalar(Scalar(text: "", style: .plain, mark: mark))
        case YAML_SEQUENCE_START_EVENT:
            try enter(depth: depth, mark: mark)
            checkProperties(anchor: event.data.sequence_start.anchor, tag: event.data.sequence_start.tag, mark: mark)
            let isFlow = event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
            var items: [Node] = []
            var end = mark
            while true {
                var child = try next(&parser)
                if child.type == YAML_SEQUENCE_END_EVENT {
                    end = Self.mark(child.end_mark)
                    yaml_event_delete(&child)
                    break
                }
                items.append(try node(from: &child, parser: &parser, depth: depth + 1))
            }
            return .sequence(Sequence(items: items, mark: mark, isFlow: isFlow, end: end))
        case YAML_MAPPING_START_EVENT:
            try enter(depth: depth, mark: mark)
            checkProperties(anchor: event.data.mapping_start.anchor, tag: event.data.mapping_start.tag, mark: mark)
            let isFlow = event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
            var entries: [MappingEntry] = []
            var firstSeen: [String: Mark] = [:]
            var end = mark
            while true {
                var keyEvent = try next(&parser)
                if keyEvent.type == YAML_MAPPING_END_EVENT {
                    end = Self.mark(keyEvent.end_mark)
                    yaml_event_delete(&keyEvent)
                    break
                }
                let keyNode = try node(from: &keyEvent, parser: &parser, depth: depth + 1)
                var valueEvent = try next(&parser)
                let value = try node(from: &valueEvent, parser: &parser, depth: depth + 1)
                guard case .scalar(let key) = keyNode else {
                    nonScalarKeys.insert(keyNode.mark)
                    problems.append(Problem(mark: keyNode.mark, message: "keys must be plain text, not \(keyNode.typeName)"))
                    continue
                }
                if key.style == .plain && key.text == "<<" {
                    problems.append(Problem(mark: key.mark, message: "merge keys ('<<') are not allowed; write the keys out"))
                    continue
                }
                if let first = firstSeen[key.text] {
                    problems.append(Problem(mark: key.mark, message: "duplicate key '\(key.text)' (first at line \(first.line), column \(first.column))"))
                    continue
                }
                firstSeen[key.text] = key.mark
                entries.append(MappingEntry(key: key, value: value))
            }
            return .mapping(Mapping(entries: entries, mark: mark, isFlow: isFlow, end: end))
        default:
            problems.append(Problem(mark: mark, message: "unexpected YAML event"))
            throw Stop()
        }
    }

    private mutating func enter(depth: Int, mark: Mark) throws(Stop) {
        if depth >= limits.maxDepth {
            problems.append(Problem(mark: mark, message: "nesting deeper than \(limits.maxDepth) levels"))
            throw Stop()
        }
    }
}
