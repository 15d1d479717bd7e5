import Foundation
@testable import HelperCore
import HelperProtocol
import Testing

/// The hand-written response JSON: the document JSONEncoder with sorted keys writes, and
/// safe for any text a home or a message can hold.
@Suite("HelperCore: response JSON")
struct ResponseJSONTests {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static let full = HelperResponse(users: [
        UserReport(user: "alice", ok: true, serviceEnv: .present(String(repeating: "a", count: 64), mode: "0600"),
                   claudeRules: .present(nil, mode: "0700"),
                   skills: ["sc_beta.md": .unsafe("is a symbolic link"), "sc_alpha.md": .present(String(repeating: "b", count: 64), mode: "0644")],
                   written: [".service_env", ".claude_rules/sc_alpha.md"], removed: [".claude_rules/sc_old.md"]),
        UserReport(user: "bob", ok: false, error: "home /home/bob is a symbolic link"),
        UserReport(user: "carol", ok: true, serviceEnv: .absent, claudeRules: .absent, skills: [:], written: [], removed: []),
    ])

    @Test("byte for byte what JSONEncoder writes with sorted keys, plus a newline")
    func sameAsEncoder() throws {
        for response in [Self.full, HelperResponse(error: "malformed request: not valid JSON", users: []), HelperResponse(users: [])] {
            let expected = Array(try Self.encoder().encode(response)) + [0x0A]
            #expect(String(decoding: ResponseJSON.encode(response), as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        }
    }

    @Test("hostile text in names and messages: escaped, decodes back to itself, one line")
    func hostileStrings() throws {
        let texts = ["quote \" backslash \\ slash /", "line\nbreak\r\ttab", "\u{0}\u{1}\u{7}\u{8}\u{C}\u{1B}\u{1F}\u{7F}",
                     "é ü 日本 🙂", "\u{2028}\u{2029}", "</script><!--", "{\"users\":[]}"]
        for text in texts {
            let response = HelperResponse(error: text, users: [
                UserReport(user: text, ok: false, error: text, serviceEnv: .unsafe(text), skills: [text: .unsafe(text)],
                           written: [text], removed: [text]),
            ])
            let bytes = ResponseJSON.encode(response)
            #expect(try JSONDecoder().decode(HelperResponse.self, from: Data(bytes)) == response, "\(text.debugDescription)")
            #expect(bytes.last == 0x0A && !bytes.dropLast().contains(0x0A), "\(text.debugDescription)")
            #expect(!bytes.contains(where: { $0 < 0x20 && $0 != 0x0A }), "\(text.debugDescription)")
        }
    }

    @Test("string escapes: the short forms for quote, backslash, newline, return and tab; \\u00XX for other control bytes")
    func escapes() {
        var out: [UInt8] = []
        ResponseJSON.string("\"\\\n\r\t\u{0}\u{1F}\u{7F}/é", &out)
        #expect(String(decoding: out, as: UTF8.self) == #""\"\\\n\r\t\u0000\u001f"# + "\u{7F}/é\"")
    }
}
