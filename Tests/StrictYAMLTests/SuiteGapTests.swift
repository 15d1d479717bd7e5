import StrictYAML
import Testing

private func problems(_ text: String) -> [String] {
    StrictYAML.parse(Array(text.utf8)).problems.map(\.description)
}

private let comment = "a comment needs a space before '#' (as written, the text from '#' to the end of the line "
    + "is silently dropped); put a space before '#', or put the value in quotes if '#' is part of it"

/// What libyaml 0.2.5 accepts although YAML forbids it, found by the official YAML test
/// suite; each would change what an access file means.
@Suite("What libyaml lets through")
struct SuiteGapTests {
    @Test func commentWithoutSpaceAfterAComma() {
        // libyaml reads this as [crm].
        #expect(problems("connections: [crm,#billing\n]\n") == ["1:19: \(comment)"])
        // Suite case CVW2.
        #expect(problems("---\n[ a, b, c,#invalid\n]\n") == ["2:11: \(comment)"])
    }

    @Test func commentWithoutSpaceAfterAQuotedScalar() {
        // libyaml reads this as a@b.com; suite case SU5Z.
        #expect(problems("email: \"a@b.com\"#note\n") == ["1:17: \(comment)"])
        #expect(problems("key: \"value\"# invalid comment\n") == ["1:13: \(comment)"])
        #expect(problems("a: 'q'#x\n") == ["1:7: \(comment)"])
    }

    @Test func commentWithoutSpaceAfterFlowIndicators() {
        // Suite case 9JBA: after the end of a flow sequence.
        #expect(problems("---\n[ a, b, c, ]#invalid\n") == ["2:13: \(comment)"])
        #expect(problems("a: {b: c}#d\n") == ["1:10: \(comment)"])
        #expect(problems("a: [#c\n  b]\n") == ["1:5: \(comment)"])
        #expect(problems("a: {#c\n  b: 1}\n") == ["1:5: \(comment)"])
        // After a JSON-like key's ':' (libyaml takes ':' right after a quoted key as the indicator).
        #expect(problems("{\"a\":#b\n}\n") == ["1:6: \(comment)"])
    }

    @Test func commentWithoutSpaceAfterABlockScalarHeader() {
        // Suite case X4QW.
        #expect(problems("block: ># comment\n  scalar\n") == ["1:9: \(comment)"])
        #expect(problems("a: |-#x\n  text\n") == ["1:6: \(comment)"])
    }

    @Test func aCommentThatCausesASyntaxErrorIsReportedWithIt() {
        let found = problems("a: [b,#c\n")
        #expect(found.first == "1:7: \(comment)")
        #expect(found.count == 2)
    }

    @Test func hashesThatAreNotCommentsKeepWorking() throws {
        let valid = [
            "a: b#c\n", "a: [b#c, d]\n", "url: http://x.example/#/a?b=c\n", "a: \"x#y\"\n", "a: 'x #y'\n",
            "key: value # note\n", "a: [b, #c\n  d]\n", "# c#d\na: 1 # e#f\n", "a: |\n  x#y\n  #z\n",
            "a: | # header comment\n  text\n", "a: \"q\" # c\n", "a: [x] # c\n", "#top\na: 1\n",
        ]
        for text in valid {
            #expect(problems(text).isEmpty, "\(text.debugDescription)")
        }
        guard case .mapping(let m) = StrictYAML.parse(Array("a: b#c\nd: [e#f]\n".utf8)).root,
              case .scalar(let a) = m.entries[0].value, case .sequence(let d) = m.entries[1].value,
              case .scalar(let e) = d.items[0] else { Issue.record("wrong tree"); return }
        #expect(a.text == "b#c" && e.text == "e#f")
    }

    @Test func theTreeIsStillBuiltSoOtherProblemsAreReportedToo() {
        let d = StrictYAML.parse(Array("a: [x,#y\n]\na: &q 2\n".utf8))
        #expect(d.root != nil)
        #expect(d.problems.map(\.mark) == [Mark(line: 1, column: 7), Mark(line: 3, column: 1), Mark(line: 3, column: 4)])
    }

    @Test func explicitKeyInAFlowMapping() {
        // libyaml reads this as the key 'table'.
        #expect(problems("grants: {?table: x}\n") == [
            "1:10: '?' before a key inside brackets marks an explicit key, and YAML drops it ('?table' is read as the key 'table'); "
                + "remove the '?', or write \"?table\" in quotes if the '?' is part of the key",
        ])
        // Suite case 652Z (YAML reads the key '?foo'; libyaml reads 'foo').
        #expect(problems("{ ?foo: bar,\nbar: 42\n}\n").map { String($0.prefix(46)) }
            == ["1:3: '?' before a key inside brackets marks an"])
    }

    @Test func explicitKeyInAFlowSequence() {
        // Suite case HM87: YAML reads [?x] as the text '?x'; libyaml as a mapping {x: null}.
        #expect(problems("[?x]\n").count == 1)
        #expect(problems("[?x]\n").first?.hasPrefix("1:2: '?' before a key inside brackets") == true)
        #expect(problems("[? a]\n").first?.hasPrefix("1:2: '?' before a key inside brackets") == true)
        // Its other half, [:x], is a syntax error in libyaml; it gets a plain message.
        #expect(problems("[:x]\n") == [
            "1:2: ':' cannot start a value inside brackets, and a key needs text before ': '; put the value in quotes if it starts with ':'",
        ])
    }

    @Test func explicitKeyInBlockStyle() {
        #expect(problems("? a\n: b\n") == [
            "1:1: explicit keys ('? ' at the start of a line) are not allowed; write the key and its value on one line as 'key: value'",
        ])
        // A complex key is reported once, as before.
        #expect(problems("? [a, b]\n: 1\n") == ["1:3: keys must be plain text, not a list"])
    }

    @Test func questionMarksInValuesKeepWorking() {
        for text in ["a: what?\n", "a: ?x\n", "a: \"?x\"\n", "a: [\"?x\"]\n", "q: is it? yes\n", "a: x?y\n"] {
            #expect(problems(text).isEmpty, "\(text.debugDescription)")
        }
    }
}
