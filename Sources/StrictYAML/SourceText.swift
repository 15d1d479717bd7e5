/// Lines and positions of the raw bytes of a file, counted as libyaml counts them: lines
/// end at LF, CR LF, a lone CR, NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR, and columns
/// count Unicode scalars. Built only on the slow paths (a syntax error, a file that needs
/// the token checks), never for an ordinary valid file.
struct SourceText {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Byte offset of the first byte of each line; `lineStarts[0]` is line 1.
    private(set) var lineStarts: [Int] = [0]
    /// Byte offset just past each line's content (where its line break starts).
    private(set) var lineEnds: [Int] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            var breakWidth = 0
            if b == 0x0A {
                breakWidth = 1
            } else if b == 0x0D {
                breakWidth = i + 1 < n && bytes[i + 1] == 0x0A ? 2 : 1
            } else if b == 0xC2, i + 1 < n, bytes[i + 1] == 0x85 {
                breakWidth = 2
            } else if b == 0xE2, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 {
                breakWidth = 3
            }
            if breakWidth > 0 {
                lineEnds.append(i)
                i += breakWidth
                lineStarts.append(i)
            } else {
                i += 1
            }
        }
        lineEnds.append(n)
    }

    var lineCount: Int { lineStarts.count }

    /// The bytes of `line` (1-based) without its line break; empty past the end.
    func lineBytes(_ line: Int) -> UnsafeBufferPointer<UInt8> {
        guard line >= 1, line <= lineCount else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(rebasing: bytes[lineStarts[line - 1]..<lineEnds[line - 1]])
    }

    /// The text of `line` without its line break.
    func lineText(_ line: Int) -> String {
        String(decoding: lineBytes(line), as: UTF8.self)
    }

    /// The line's text with leading and trailing blanks removed, shortened for a message.
    func shownLine(_ line: Int, limit: Int = 40) -> String {
        let text = lineText(line).trimmingBlanks
        return text.count > limit ? String(text.prefix(limit - 3)) + "..." : text
    }

    /// The byte offset of the character at `mark`; the end of its line if the line is shorter.
    func offset(of mark: Mark) -> Int {
        guard mark.line >= 1 else { return 0 }
        guard mark.line <= lineCount else { return bytes.count }
        var i = lineStarts[mark.line - 1]
        let end = lineEnds[mark.line - 1]
        var column = 1
        while column < mark.column && i < end {
            i += 1
            while i < end && bytes[i] & 0xC0 == 0x80 { i += 1 }
            column += 1
        }
        return i
    }

    /// The mark of the character at byte `offset`.
    func mark(ofByte offset: Int) -> Mark {
        // The last line starting at or before `offset`.
        var low = 0, high = lineCount - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        var column = 1
        var i = lineStarts[low]
        while i < offset && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return Mark(line: low + 1, column: column)
    }

    /// The Unicode scalar at `mark`, or `nil` at the end of its line or of the file.
    func character(at mark: Mark) -> Unicode.Scalar? {
        guard mark.line >= 1, mark.line <= lineCount else { return nil }
        let i = offset(of: mark)
        guard i < lineEnds[mark.line - 1] else { return nil }
        var iterator = UnsafeBufferPointer(rebasing: bytes[i..<lineEnds[mark.line - 1]]).makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
        return nil
    }

    /// The column of the first character of `line` that is not a space or a tab, or `nil`
    /// if the line is blank or holds only a comment.
    func indentation(_ line: Int) -> Int? {
        var column = 1
        for b in lineBytes(line) {
            if b == 0x20 || b == 0x09 { column += 1; continue }
            return b == UInt8(ascii: "#") ? nil : column
        }
        return nil
    }

    /// The nearest line before `line` that holds more than blanks and a comment.
    func previousContentLine(before line: Int) -> Int? {
        var l = line - 1
        while l >= 1 {
            if indentation(l) != nil { return l }
            l -= 1
        }
        return nil
    }

    /// Whether only spaces and tabs come before `mark` on its line.
    func startsLine(_ mark: Mark) -> Bool {
        guard mark.line >= 1, mark.line <= lineCount else { return false }
        let start = lineStarts[mark.line - 1]
        return bytes[start..<offset(of: mark)].allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// Whether nothing but blanks, line breaks and comments comes at or after `mark`.
    func onlyCommentsFollow(_ mark: Mark) -> Bool {
        guard mark.line <= lineCount else { return true }
        if let rest = restOfLine(from: mark), !rest.isEmpty, !rest.hasPrefix("#") { return false }
        var l = mark.line + 1
        while l <= lineCount {
            if indentation(l) != nil { return false }
            l += 1
        }
        return true
    }

    /// The text of `mark`'s line from `mark` on, without leading blanks.
    func restOfLine(from mark: Mark) -> String? {
        guard mark.line >= 1, mark.line <= lineCount else { return nil }
        let i = offset(of: mark)
        let text = String(decoding: bytes[i..<lineEnds[mark.line - 1]], as: UTF8.self)
        return String(text.drop { $0 == " " || $0 == "\t" })
    }

    /// The last character before `mark` on its line that is not a blank, with its column.
    func lastNonBlank(before mark: Mark) -> (Character, Int)? {
        guard mark.line >= 1, mark.line <= lineCount else { return nil }
        let text = String(decoding: bytes[lineStarts[mark.line - 1]..<offset(of: mark)], as: UTF8.self)
        let scalars = Array(text.unicodeScalars)
        var k = scalars.count - 1
        while k >= 0, scalars[k] == " " || scalars[k] == "\t" { k -= 1 }
        guard k >= 0 else { return nil }
        return (Character(scalars[k]), k + 1)
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingBlanks: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: isBlank).reversed().drop(while: isBlank).reversed())
    }
}
