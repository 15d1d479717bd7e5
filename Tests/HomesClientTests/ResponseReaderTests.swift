import Foundation
import HelperProtocol
import Testing
@testable import HomesClient


/// The fast reader of the helper's responses must agree with JSONDecoder on everything it
/// accepts, and hand everything else to JSONDecoder (return nil).
@Suite("Helper response reader")
struct ResponseReaderTests {
    static func sample() -> HelperResponse {
        HelperResponse(users: [
            UserReport(user: "alice", ok: true, serviceEnv: .present(String(repeating: "a", count: 64), mode: "0600"),
                       claudeRules: .present(nil, mode: "0700"),
                       skills: ["sc_po.md": .present(String(repeating: "b", count: 64), mode: "0644"), "sc_x.md": .unsafe("a symbolic link")]),
            UserReport(user: "bob", ok: false, error: "no such user \"bob\"\n\u{1B}[31m é 😀 \\ /"),
            UserReport(user: "carol", ok: true, serviceEnv: .absent, claudeRules: .absent, skills: [:], written: ["a", "b"], removed: []),
        ])
    }

    @Test func agreesWithJSONDecoderOnEncodedResponses() throws {
        let encoder = JSONEncoder()
        for formatting: JSONEncoder.OutputFormatting in [[], [.prettyPrinted], [.sortedKeys, .withoutEscapingSlashes]] {
            encoder.outputFormatting = formatting
            let data = try encoder.encode(Self.sample())
            let fast = try #require(ResponseReader.read([UInt8](data)))
            #expect(fast == (try JSONDecoder().decode(HelperResponse.self, from: data)))
            #expect(fast == Self.sample())
        }
    }

    @Test func escapesNullsAndUnknownKeys() throws {
        let text = #"""
            {"version": 1, "extra": {"a": [1, -2.5e+3, true, null, "x"]}, "error": null, "users": [
              {"user": "d\u00e9j\u00E0 \ud83d\ude00 \/ \t", "ok": true, "service_env": null, "claude_rules": {"state": "absent"},
               "skills": null, "written": null, "future": 0}
            ]}
            """#
        let fast = try #require(ResponseReader.read(Array(text.utf8)))
        #expect(fast == (try JSONDecoder().decode(HelperResponse.self, from: Data(text.utf8))))
        #expect(fast.users[0].user == "déjà 😀 / \t")
    }

    @Test("what the reader refuses falls back to JSONDecoder", arguments: [
        "", "{", "[]", #"{"version": 1}"#, #"{"version": 1, "users": [}"#, #"{"version": 1.5, "users": []}"#,
        #"{"version": 01, "users": []}"#, #"{"version": 1, "users": []} x"#, #"{"version": 1, "users": [{"user": "a"}]}"#,
        #"{"version": 1, "users": [{"user": "a", "ok": true, "service_env": {"state": "maybe"}}]}"#,
        #"{"version": 1, "users": [{"user": "\ud800", "ok": true}]}"#, "{\"version\": 1, \"users\": [{\"user\": \"a\u{01}\", \"ok\": true}]}",
        #"{"version": 1, "users": [{"user": "\x", "ok": true}]}"#, #"{"version": 1, "users": [{"user": "a", "ok": tru}]}"#,
        String(repeating: "[", count: 100_000),
    ])
    func refusals(_ text: String) {
        #expect(ResponseReader.read(Array(text.utf8)) == nil)
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = Array(#"{"version": 1, "users": [{"user": "a"#.utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array(#"", "ok": true}]}"#.utf8)
        #expect(ResponseReader.read(bytes) == nil)
    }
}
