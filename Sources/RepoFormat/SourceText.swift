import StrictYAML

/// The bytes of one YAML file with a line table, for finding comments and blank lines.
///
/// Lines are separated by LF only: the formatter turns CR LF into LF before building this,
/// and refuses files with any other line break, so lines and columns agree with libyaml's marks.
struct SourceText {
    let bytes: [UInt8]
    /// Byte offset of the start of each line; `lineStarts[0]` is line 1.
    private(set) var lineStarts: [Int] = [0]
    /// Whether each line is pure ASCII (columns then equal byte offsets).
    private(set) var asciiLine: [Bool] = []

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var ascii = true
        for (i, b) in bytes.enumerated() {
            if b == 0x0A {
                asciiLine.append(ascii)
                lineStarts.append(i + 1)
                ascii = true
            } else if b >= 0x80 {
                ascii = false
            }
        }
        asciiLine.append(ascii)
    }

    /// Number of lines (a final newline starts one more, empty, line).
    var lineCount: Int { lineStarts.count }

    /// Offset of the first byte of `line` (1-based); the end of the text past the last line.
    func start(ofLine line: Int) -> Int {
        line >= 1 && line <= lineStarts.count ? lineStarts[line - 1] : bytes.count
    }

    /// Offset of the line break ending `line`, or the end of the text.
    func end(ofLine line: Int) -> Int {
        line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
    }

    /// Byte offset of a mark (columns count Unicode scalars, as libyaml does).
    func offset(_ mark: Mark) -> Int {
        let begin = start(ofLine: mark.line)
        let end = end(ofLine: mark.line)
        if mark.line <= asciiLine.count, asciiLine[mark.line - 1] { return min(begin + mark.column - 1, end) }
        var i = begin, column = 1
        while i < end, column < mark.column {
            i += 1
            while i < end, bytes[i] & 0xC0 == 0x80 { i += 1 }
            column += 1
        }
        return i
    }

    /// The 1-based column (in Unicode scalars) of a byte offset on `line`.
    func column(ofOffset offset: Int, line: Int) -> Int {
        let begin = start(ofLine: line)
        if line <= asciiLine.count, asciiLine[line - 1] { return offset - begin + 1 }
        var column = 1
        for i in begin..<offset where bytes[i] & 0xC0 != 0x80 { column += 1 }
        return column
    }

    /// The line's bytes without its line break.
    func line(_ line: Int) -> ArraySlice<UInt8> { bytes[start(ofLine: line)..<end(ofLine: line)] }

    /// Whether the line holds only spaces and tabs (or nothing).
    func isBlank(_ line: Int) -> Bool {
        self.line(line).allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// The number of leading spaces of a line.
    func leadingSpaces(_ line: Int) -> Int {
        self.line(line).prefix { $0 == 0x20 }.count
    }

    /// Text of a byte range, with trailing spaces and tabs removed.
    func trimmedText(_ from: Int, _ to: Int) -> String {
        var end = to
        while end > from, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return String(decoding: bytes[from..<end], as: UTF8.self)
    }
}

/// A comment found in the source: from `#` to the end of its line.
struct SourceComment: Sendable, Hashable {
    var line: Int
    /// 1-based column of `#`, in Unicode scalars.
    var column: Int
    /// Byte offset of `#`.
    var offset: Int
    /// The comment from `#` on, without trailing spaces.
    var text: String
    /// Whether only spaces (or a document marker `---`/`...`) precede it on its line.
    var fullLine: Bool
}

/// A byte range of the source that holds a scalar (keys included).
struct ScalarSpan {
    var start: Int
    var end: Int
    /// For a block scalar (`|`, `>`): where its header line ends; comments may follow the
    /// indicators there.
    var headerEnd: Int?
}

extension SourceText {
    /// Every comment outside the given scalar spans, in source order. libyaml does not report
    /// comments, so they are found here: outside scalars, `#` always starts a comment.
    func comments(outside spans: [ScalarSpan]) -> [SourceComment] {
        var result: [SourceComment] = []
        var position = 0
        func scan(_ from: Int, _ to: Int) {
            var i = max(from, position)
            while i < to {
                if bytes[i] == UInt8(ascii: "#") {
                    var end = i
                    while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                    result.append(comment(at: i, end: end))
                    i = end
                    position = max(position, end)
                    continue
                }
                i += 1
            }
            position = max(position, to)
        }
        for span in spans {
            if span.start > position { scan(position, span.start) }
            if let header = span.headerEnd { scan(span.start, header) }
            position = max(position, span.end)
        }
        scan(position, bytes.count)
        return result
    }

    private func comment(at offset: Int, end: Int) -> SourceComment {
        // The line holding `offset`: binary search in the line table.
        var low = 0, high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        let line = low + 1
        let before = bytes[lineStarts[low]..<offset].filter { $0 != 0x20 && $0 != 0x09 }
        let fullLine = before.isEmpty || before.elementsEqual("---".utf8) || before.elementsEqual("...".utf8)
        return SourceComment(line: line, column: column(ofOffset: offset, line: line), offset: offset,
                             text: trimmedText(offset, end), fullLine: fullLine)
    }
}
