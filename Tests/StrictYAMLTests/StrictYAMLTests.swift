import StrictYAML
import Testing

private func parse(_ text: String, limits: Limits = Limits()) -> Document {
    StrictYAML.parse(Array(text.utf8), limits: limits)
}

/// The problems as "line:column: message" strings, for compact expectations.
private func problems(_ text: String, limits: Limits = Limits()) -> [String] {
    parse(text, limits: limits).problems.map(\.description)
}

private func root(_ text: String) -> Mapping? {
    if case .mapping(let m) = parse(text).root { return m }
    return nil
}

@Suite("Tree and marks")
struct TreeTests {
    @Test func mappingSequenceAndScalarsWithMarks() throws {
        let m = try #require(root("name: PO\nlist:\n  - a\n  - 'b'\nnested:\n  key: \"v\"\n"))
        #expect(m.mark == Mark(line: 1, column: 1))
        #expect(m.entries.map(\.key.text) == ["name", "list", "nested"])
        let list = try #require(m.entry("list"))
        guard case .sequence(let seq) = list.value else { Issue.record("not a sequence"); return }
        #expect(seq.items.map(\.mark) == [Mark(line: 3, column: 5), Mark(line: 4, column: 5)])
        guard case .scalar(let b) = seq.items[1] else { Issue.record("not a scalar"); return }
        #expect(b.style == .singleQuoted && b.text == "b")
        guard case .mapping(let nested) = try #require(m.entry("nested")).value else { Issue.record("no mapping"); return }
        #expect(nested.entries[0].key.mark == Mark(line: 6, column: 3))
        #expect(nested.entries[0].value.mark == Mark(line: 6, column: 8))
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let m = try #require(root("name: \"é\"\némoji: 😀\n"))
        #expect(m.entries[1].value.mark == Mark(line: 2, column: 8))
    }

    @Test func flowCollections() throws {
        let m = try #require(root("members: [a, b]\ngrants: {service: [x]}\n"))
        guard case .sequence(let s) = m.entries[0].value else { Issue.record("no list"); return }
        #expect(s.items.count == 2)
        #expect(s.items[1].mark == Mark(line: 1, column: 14))
    }

    @Test func crlfLineEndingsAreAccepted() throws {
        let m = try #require(root("a: 1\r\nb: two\r\n"))
        #expect(m.entries[1].key.mark == Mark(line: 2, column: 1))
        guard case .scalar(let s) = m.entries[1].value else { Issue.record("no scalar"); return }
        #expect(s.text == "two")
    }

    @Test func emptyFileAndCommentsOnlyHaveNoRoot() {
        #expect(parse("").root == nil && parse("").problems.isEmpty)
        #expect(parse("# only a comment\n").root == nil && parse("# only a comment\n").problems.isEmpty)
    }

    @Test func blockScalarsAreStrings() throws {
        let m = try #require(root("a: |\n  true\nb: >\n  12\n"))
        #expect(m.entries.map { ($0.value, $0.value) }.allSatisfy { v, _ in
            if case .scalar(let s) = v { return s.value == .string(s.text) } else { return false }
        })
    }
}

@Suite("YAML 1.2 core schema")
struct CoreSchemaTests {
    private func value(_ yaml: String) -> ScalarValue? {
        guard case .scalar(let s) = root("v: \(yaml)\n")?.entries.first?.value else { return nil }
        return s.value
    }

    @Test(arguments: ["true", "True", "TRUE"]) func trueIsBoolean(_ text: String) { #expect(value(text) == .bool(true)) }
    @Test(arguments: ["false", "False", "FALSE"]) func falseIsBoolean(_ text: String) { #expect(value(text) == .bool(false)) }

    @Test(arguments: ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "2024-01-01", "1_000", "0b101", "tRUE"])
    func yamlOneOneWordsStayStrings(_ text: String) {
        #expect(value(text) == .string(text))
    }

    @Test(arguments: ["~", "null", "Null", "NULL", ""]) func nulls(_ text: String) { #expect(value(text) == .null) }

    @Test func integers() {
        #expect(value("0777") == .int(777))
        #expect(value("-12") == .int(-12))
        #expect(value("+5") == .int(5))
        #expect(value("0o17") == .int(15))
        #expect(value("0x1F") == .int(31))
        #expect(value("99999999999999999999999") == .int(nil))
    }

    @Test func floats() {
        #expect(value("1.5") == .float(1.5))
        #expect(value("-.5e3") == .float(-500))
        #expect(value(".inf") == .float(.infinity))
        #expect(value("-.Inf") == .float(-.infinity))
        if case .float(let nan) = value(".nan") { #expect(nan.isNaN) } else { Issue.record("not a float") }
        #expect(value("1e") == .string("1e"))
        #expect(value("1.2.3") == .string("1.2.3"))
    }

    @Test(arguments: ["'true'", "\"12\"", "'~'", "\"no\""]) func quotedScalarsAreStrings(_ text: String) {
        #expect(value(text) == .string(String(text.dropFirst().dropLast())))
    }
}

@Suite("Strictness rules")
struct StrictnessTests {
    @Test func duplicateKeysAtEveryLevel() {
        #expect(problems("a: 1\nb: 2\na: 3\n") == ["3:1: duplicate key 'a' (first at line 1, column 1)"])
        #expect(problems("g:\n  service: [x]\n  service: [y]\n") == ["3:3: duplicate key 'service' (first at line 2, column 3)"])
        #expect(problems("l:\n  - {k: 1, k: 2}\n") == ["2:12: duplicate key 'k' (first at line 2, column 6)"])
        #expect(problems("a: 1\n'a': 2\n") == ["2:1: duplicate key 'a' (first at line 1, column 1)"])
    }

    @Test func anchorsAndAliasesAreRejected() {
        #expect(problems("a: &x 1\nb: *x\n") == [
            "1:4: anchors are not allowed ('&x'); write the value out",
            "2:4: aliases are not allowed ('*x'); write the value out",
        ])
        #expect(problems("a: &m {k: v}\n") == ["1:4: anchors are not allowed ('&m'); write the value out"])
    }

    @Test func billionLaughsIsRejectedWithoutExpansion() {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        let document = parse(text)
        #expect(document.problems.count == 10 + 81)
        #expect(document.problems.allSatisfy { $0.message.hasPrefix("anchors") || $0.message.hasPrefix("aliases") })
    }

    @Test func mergeKeysAreRejected() {
        #expect(problems("base: {a: 1}\nother:\n  <<: {a: 1}\n  b: 2\n") == [
            "3:3: merge keys ('<<') are not allowed; write the keys out",
        ])
    }

    @Test func explicitTagsAreRejected() {
        #expect(problems("a: !!str 12\n") == ["1:4: explicit tags are not allowed ('!!str')"])
        #expect(problems("a: !custom x\n") == ["1:4: explicit tags are not allowed ('!custom')"])
        #expect(problems("a: !!map {}\n") == ["1:4: explicit tags are not allowed ('!!map')"])
    }

    @Test func directivesAndSecondDocumentsAreRejected() {
        #expect(problems("%YAML 1.1\n---\na: 1\n") == ["1:1: YAML directives (%YAML, %TAG) are not allowed"])
        #expect(problems("a: 1\n---\nb: 2\n") == ["2:1: a second YAML document ('---'); a file holds exactly one"])
        #expect(parse("a: 1\n---\nb: 2\n").root == nil)
    }

    @Test func complexKeysAreRejected() {
        #expect(problems("? [a, b]\n: 1\n") == ["1:3: keys must be plain text, not a list"])
    }

    @Test func allStrictnessProblemsAreReportedInOneRun() {
        let found = problems("a: &x 1\nb: *x\na: 2\nc: !!int 3\n")
        #expect(found.count == 4)
    }
}

@Suite("Encoding, size and depth caps")
struct LimitTests {
    @Test func byteOrderMarkIsRejected() {
        let d = StrictYAML.parse([0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8))
        #expect(d.root == nil)
        #expect(d.problems.map(\.description) == ["1:1: file starts with a byte-order mark; save it as UTF-8 without BOM"])
    }

    @Test func utf16IsRejected() {
        #expect(StrictYAML.parse([0xFF, 0xFE, 0x61, 0x00]).problems.map(\.description) == ["1:1: file is UTF-16; only UTF-8 is accepted"])
    }

    @Test func nulByteIsRejectedWithPosition() {
        let d = StrictYAML.parse(Array("a: 1\nb: x\u{0}y\n".utf8))
        #expect(d.problems.map(\.description) == ["2:5: NUL byte; the file must be UTF-8 text"])
    }

    @Test func invalidUTF8IsRejectedWithPosition() {
        #expect(StrictYAML.parse(Array("a: é\nb: ".utf8) + [0xFF, 0x0A]).problems.map(\.description)
            == ["2:4: invalid UTF-8 (byte 0xFF); the file must be UTF-8 text"])
        // Overlong encoding of '/', and a lone surrogate.
        #expect(StrictYAML.parse([0x61, 0x3A, 0x20, 0xC0, 0xAF]).problems.first?.mark == Mark(line: 1, column: 4))
        #expect(StrictYAML.parse([0x61, 0x3A, 0x20, 0xED, 0xA0, 0x80]).problems.first?.message.hasPrefix("invalid UTF-8") == true)
        // Truncated sequence at the end.
        #expect(StrictYAML.parse([0x61, 0x3A, 0x20, 0xE2, 0x82]).problems.count == 1)
    }

    @Test func controlCharactersAreASyntaxError() {
        let d = StrictYAML.parse(Array("a: x\u{1}\n".utf8))
        #expect(d.root == nil)
        #expect(d.problems.map(\.description) == ["1:5: control character U+0001 is not allowed in a YAML file; remove it"])
    }

    @Test func sizeCap() {
        let text = "a: " + String(repeating: "x", count: 100) + "\n"
        #expect(problems(text, limits: Limits(maxBytes: 50)) == ["1:1: file is 104 bytes; the limit is 50 bytes"])
        #expect(problems(text, limits: Limits(maxBytes: 104)).isEmpty)
    }

    @Test func depthCap() {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(problems(ok).isEmpty)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(problems(deep) == ["1:33: nesting deeper than 32 levels"])
        #expect(parse(deep).root == nil)
    }

    @Test func tenThousandLevelsStopEarly() {
        let deep = String(repeating: "- ", count: 10_000) + "x\n"
        let d = parse(deep)
        #expect(d.root == nil)
        #expect(d.problems.map(\.message) == ["nesting deeper than 32 levels"])
    }
}

@Suite("Syntax errors")
struct SyntaxErrorTests {
    @Test func stopTheParseWithOneProblemAtLibyamlsPosition() {
        let d = parse("a: 1\nb: [1, 2\nc: 3\n")
        #expect(d.root == nil)
        #expect(d.problems.map(\.description) == [
            "3:2: the list opened with '[' at line 2, column 4 is not closed before line 3, column 2; "
                + "separate its items with ',' and close it with ']' before the next key",
        ])
    }

    @Test func badIndentation() {
        let d = parse("a:\n  b: 1\n c: 2\n")
        #expect(d.problems.map(\.description) == [
            "3:2: this line is indented differently from the keys above it (column 2 vs 1 or 3); "
                + "indent it exactly like the key it belongs with, using spaces",
        ])
    }

    @Test func tabIndentation() {
        let d = parse("a:\n\tb: 1\n")
        #expect(d.problems.map(\.description) == ["2:1: tab character: YAML indents with spaces; replace the tab with spaces"])
    }

    @Test func unterminatedQuote() {
        let d = parse("a: 'open\n")
        #expect(d.problems.map(\.description) == [
            "2:1: the quoted value that starts at line 1, column 4 is never closed: the file ends inside it; "
                + "add the closing ' at the end of the value (inside '...' a ' is written twice (''))",
        ])
    }

    @Test func unmappedErrorsKeepLibyamlsWords() {
        // A %TAG directive naming an unknown handle: rare enough to have no mapping.
        let d = parse("%TAG !x! tag:example.com,2000:\n---\na: !y!b c\n")
        #expect(d.problems.map(\.description).last == "3:4: YAML syntax error: found undefined tag handle (while parsing a node at 3:4)")
    }
}
