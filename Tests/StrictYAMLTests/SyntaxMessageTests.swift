import StrictYAML
import Testing

/// libyaml's syntax errors as users meet them, each with its plain-words message at
/// libyaml's position (the list in docs/format.md, "When the YAML cannot be read").
private let cases: [(String, String)] = [
        ("a:\n\tb: 1\n",
         "2:1: tab character: YAML indents with spaces; replace the tab with spaces"),
        ("a:\n  b: 1\n\tc: 2\n",
         "3:1: tab character: YAML indents with spaces; replace the tab with spaces"),
        ("a:\n  b: 1\n  \tc: 2\n",
         "3:3: tab character: YAML indents with spaces; replace the tab with spaces"),
        ("a: |\n  x\n\ty\n",
         "3:1: tab character in the indentation of the text block that starts at line 1, column 4: YAML indents with spaces; replace the tab with spaces"),
        ("a:\n  b: 1\n c: 2\n",
         "3:2: this line is indented differently from the keys above it (column 2 vs 1 or 3); indent it exactly like the key it belongs with, using spaces"),
        ("grants:\n  table: [x]\n   knowledge: [y]\n",
         "3:4: this line is indented differently from the keys above it (column 4 vs 3); indent it exactly like the key it belongs with, using spaces"),
        ("email: erin@example.com\n  active: true\n",
         "2:9: this line is indented more than the line above it (column 3 vs 1), so it reads as part of the value of 'email' on line 1; indent it like 'email' (column 1) if it is a key of its own"),
        ("a:\n  b: 1\n   c: 2\n",
         "3:5: this line is indented more than the line above it (column 4 vs 3), so it reads as part of the value of 'b' on line 2; indent it like 'b' (column 3) if it is a key of its own"),
        ("list:\n  - a\n - b\n",
         "3:2: this line is indented differently from the lines above it (column 2 vs 1 or 3); indent it exactly like the line it belongs with, using spaces"),
        ("- a: 1\n  b: 2\n c: 3\n",
         "3:2: this line is indented differently from the list items above it (column 2 vs 1 or 3); indent it exactly like the item it belongs with, using spaces"),
        ("a: 'open\n",
         "2:1: the quoted value that starts at line 1, column 4 is never closed: the file ends inside it; add the closing ' at the end of the value (inside '...' a ' is written twice (''))"),
        ("a: \"open\nb: 2\n",
         "3:1: the quoted value that starts at line 1, column 4 is never closed: the file ends inside it; add the closing \" at the end of the value (inside \"...\" a \" is written \\\")"),
        ("a: 'it's'\n",
         "1:8: text after the closing quote at column 7: a quoted value ends at its closing quote; to put a ' inside '...', write it twice (''), or put the whole value in the other kind of quotes"),
        ("a: \"say \"hi\"\"\n",
         "1:10: text after the closing quote at column 9: a quoted value ends at its closing quote; to put a \" inside \"...\", write \\\", or put the whole value in the other kind of quotes"),
        ("a: \"\\q\"\n",
         "1:5: '\\q' is not an escape YAML knows inside \"...\"; write '\\\\' for a backslash, or use single quotes ('...'), where '\\' is plain text"),
        ("a: \"x\\xZZ\"\n",
         "1:8: an escape '\\x', '\\u' or '\\U' needs 2, 4 or 8 hex digits (0-9, a-f); fix the escape, or write '\\\\' for a backslash"),
        ("connections: [orders\n",
         "2:1: the list opened with '[' at line 1, column 14 is never closed; add ']' after its last item"),
        ("a: {b: 1\n",
         "2:1: the mapping opened with '{' at line 1, column 4 is never closed; add '}' after its last item"),
        ("members: [a, b\nnext: 1\n",
         "2:5: the list opened with '[' at line 1, column 10 is not closed before line 2, column 5; separate its items with ',' and close it with ']' before the next key"),
        ("a: [b}\n",
         "1:6: '}' does not close the list opened with '[' at line 1, column 4; close it with ']'"),
        ("a: [1]]\n",
         "1:7: ']' closes nothing: no '[' before it is still open; remove it"),
        ("a: [, b]\n",
         "1:5: an empty item: a ',' right after '[', '{' or another ','; remove the extra ','"),
        ("a: [\"a\" \"b\"]\n",
         "1:9: text after the closing quote at column 7 in the list opened with '[' at line 1, column 4; a quoted item ends at its closing quote: to put a \" inside \"...\", write \\\""),
        ("a: [b: c: d]\n",
         "1:9: unexpected ':' in the list opened with '[' at line 1, column 4; put an item that contains ': ' in quotes"),
        ("email:erin@example.com\nactive: true\n",
         "2:7: ':' needs a space after it to separate a key from its value (line 1: write 'email: erin@example.com', not 'email:erin@example.com')"),
        ("a: 1\nb:2\n",
         "3:1: ':' needs a space after it to separate a key from its value (line 2: write 'b: 2', not 'b:2')"),
        ("a: b: c\n",
         "1:5: a second ': ' on one line: the value of 'a' cannot contain ': ' unless it is in quotes; put the value in quotes, or put the inner key on a line of its own, indented"),
        ("a: - b\n",
         "1:4: a list item ('- ') cannot start on the same line as the key before it; put each item on a line of its own below the key, indented, or put the value in quotes if it starts with '- '"),
        ("list:\n- a\n-b\n",
         "4:1: a list item needs a space after '-' (line 3: write '- b', not '-b')"),
        ("list:\n  - a\n  -b: 1\n",
         "3:3: a list item needs a space after '-' (line 3: write '- b: 1', not '-b: 1')"),
        ("list:\n  - a\n  b: 1\n",
         "3:3: this line is in the list that starts at line 2, column 3 but does not start with '- '; start it with '- ' to make it an item, or end the list before it (a list ends at a line indented less than its items)"),
        ("a: 1\n- b\n",
         "2:1: a list item ('- ') among the keys of a mapping; a list must be the value of a key: write 'key:' and indent the items under it"),
        (": b\n",
         "1:1: a line that starts with ':' has no key before it; write 'key: value' on one line"),
        ("a: 1\nb\n",
         "3:1: line 2 ('b') is neither 'key: value' nor a list item ('- item'); add ': ' after the key, or remove the line"),
        ("[a]\nb: 1\n",
         "2:1: more text after the end of the file's top-level value; a file holds one mapping of 'key: value' lines: check the brackets and the indentation above"),
        ("a: @x\n",
         "1:4: '@' is reserved in YAML and cannot start a value; put the value in quotes"),
        ("a: | x\n",
         "1:6: text after '|' or '>' on the same line: a text block starts on the next line; move the text there, indented"),
        ("a: &\n",
         "1:5: '&' starts an anchor and '*' an alias, which are not allowed; put the value in quotes if it starts with '&' or '*'"),
        ("a: !<x\n",
         "1:7: '!' starts a tag, which is not allowed; put the value in quotes if it starts with '!'"),
        ("%FOO\n---\na: 1\n",
         "1:5: '%' at the start of a line starts a directive, which is not allowed; remove the line, or put the value in quotes"),
]

@Suite("Syntax errors in plain words")
struct SyntaxMessageTests {
    @Test("a common mistake gets a message that says how to fix it", arguments: cases)
    func plainMessage(_ text: String, _ expected: String) {
        let d = StrictYAML.parse(Array(text.utf8))
        #expect(d.root == nil)
        #expect(d.problems.map(\.description).joined(separator: " | ") == expected)
    }

    @Test func noneOfThemIsInLibyamlsWords() {
        for (text, _) in cases {
            let messages = StrictYAML.parse(Array(text.utf8)).problems.map(\.message)
            #expect(!messages.contains { $0.hasPrefix("YAML syntax error:") }, "\(text.debugDescription)")
        }
    }
}
