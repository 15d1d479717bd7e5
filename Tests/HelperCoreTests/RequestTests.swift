#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HelperCore
import HelperProtocol
import Testing
import TestSupport

/// Requests refused before any user's file work: decoding, versions, sizes, names. None of
/// these reaches `Credentials.asUser`, so they run in the test process.
@Suite("HelperCore: request decoding and checks", .enabled(if: geteuid() == 0, "Credentials.ofRoot needs root"))
struct RequestTests {
    struct Malformed: Sendable, CustomStringConvertible {
        var json: String
        var message: String
        var description: String { json }
    }

    static let malformed: [Malformed] = [
        Malformed(json: "", message: "malformed request: not valid JSON"),
        Malformed(json: "{", message: "malformed request: not valid JSON"),
        Malformed(json: "[]", message: "malformed request: wrong type"),
        Malformed(json: #"{"version":1}"#, message: "malformed request: missing key 'users'"),
        Malformed(json: #"{"users":["alice"]}"#, message: "malformed request: missing key 'version'"),
        Malformed(json: #"{"version":"1","users":[]}"#, message: "malformed request: wrong type at .version"),
        Malformed(json: #"{"version":1,"users":["alice",7]}"#, message: "malformed request: wrong type at .users[1]"),
        Malformed(json: #"{"version":1,"users":[null]}"#, message: "malformed request: wrong type at .users[0]"),
    ]

    @Test("a malformed inspect request: the message names what and where, never the input", arguments: malformed)
    func malformedInspect(_ input: Malformed) {
        let message = helperError { () throws(HelperError) in try Helper.decode(InspectRequest.self, Array(input.json.utf8)) }
        #expect(message == input.message)
    }

    @Test("apply: a missing key inside a user is named with its path")
    func malformedApplyPath() {
        let json = #"{"version":1,"contents":{},"users":[{"user":"alice","skills":{}},{"user":"bob","service_env":null}]}"#
        let message = helperError { () throws(HelperError) in try Helper.decode(ApplyRequest.self, Array(json.utf8)) }
        #expect(message == "malformed request: missing key 'skills' at .users[1]")
    }

    @Test("decoding: a valid request round-trips; one byte over the cap is refused unread")
    func decodeAndCap() throws {
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: "A=1\n", skills: ["sc_a.md": "# a\n"])
        builder.user("bob", serviceEnv: nil)
        let bytes = Array(try JSONEncoder().encode(builder.request))
        #expect(try Helper.decode(ApplyRequest.self, bytes) == builder.request)

        let huge = [UInt8](repeating: 0x20, count: Helper.maxRequestBytes + 1)
        let message = helperError { () throws(HelperError) in try Helper.decode(InspectRequest.self, huge) }
        #expect(message == "request is larger than \(Helper.maxRequestBytes) bytes")
    }

    @Test("inspect and apply refuse another protocol version as a whole")
    func version() throws {
        let tree = try HomesTree()
        let helper = try makeHelper(tree)
        let expected = "unsupported protocol version 2; this helper speaks \(HelperProtocol.version)"
        #expect(helperError { () throws(HelperError) in try helper.inspect(InspectRequest(version: 2, users: ["alice"])) } == expected)
        let apply = ApplyRequest(version: 2, contents: [:], users: [.init(user: "alice", serviceEnv: "A=1\n", skills: [:])])
        #expect(helperError { () throws(HelperError) in try helper.apply(apply) } == expected)
        #expect(tree.snapshot(inside: tree.home("alice")).isEmpty)
    }

    @Test("a user listed twice, or more users than the limit, refuses the whole request")
    func uniqueUsers() throws {
        let tree = try HomesTree()
        let helper = try makeHelper(tree)
        #expect(helperError { () throws(HelperError) in try helper.inspect(InspectRequest(users: ["alice", "bob", "alice"])) }
            == #"user "alice" is listed twice"#)
        let twice = ApplyRequest(contents: [:], users: [.init(user: "bob", serviceEnv: nil, skills: [:]),
                                                       .init(user: "bob", serviceEnv: "B=1\n", skills: [:])])
        #expect(helperError { () throws(HelperError) in try helper.apply(twice) } == #"user "bob" is listed twice"#)
        let many = (0...Helper.maxUsers).map { "u\($0)" }
        #expect(helperError { () throws(HelperError) in try helper.checkUnique(many) }
            == "too many users (\(Helper.maxUsers + 1)); the limit is \(Helper.maxUsers)")
        #expect(helperError { () throws(HelperError) in try helper.checkUnique(Array(many.dropLast())) } == nil)
    }

    struct BadContent: Sendable, CustomStringConvertible {
        var label: String
        var key: String
        var text: String
        var message: String
        var description: String { label }
    }

    static let badContents: [BadContent] = {
        let big = String(repeating: "x", count: Helper.maxSkillBytes + 1)
        let nul = "a\u{0}b"
        return [
            BadContent(label: "a key that is not the text's digest", key: sha("other"), text: "text",
                       message: "content key \"\(sha("other"))\" is not the SHA-256 of its text"),
            BadContent(label: "a key that is not hex at all", key: "../../etc/passwd", text: "text",
                       message: #"content key "../../etc/passwd" is not the SHA-256 of its text"#),
            BadContent(label: "a text over the size cap", key: sha(big), text: big,
                       message: "content \(sha(big).prefix(12)) is larger than \(Helper.maxSkillBytes) bytes"),
            BadContent(label: "a text with a NUL byte", key: sha(nul), text: nul,
                       message: "content \(sha(nul).prefix(12)) contains a NUL byte"),
        ]
    }()

    @Test("apply: a bad shared content refuses the whole request, nothing is written", arguments: badContents)
    func badContent(_ bad: BadContent) throws {
        let tree = try HomesTree()
        let helper = try makeHelper(tree)
        let request = ApplyRequest(contents: [bad.key: bad.text],
                                   users: [.init(user: "alice", serviceEnv: "A=1\n", skills: ["sc_a.md": bad.key])])
        #expect(helperError { () throws(HelperError) in try helper.apply(request) } == bad.message)
        #expect(tree.snapshot(inside: tree.home("alice")).isEmpty)
    }

    struct BadUserFiles: Sendable, CustomStringConvertible {
        var label: String
        var files: ApplyRequest.UserFiles
        var message: String
        var description: String { label }
    }

    static let badUserFiles: [BadUserFiles] = {
        let manySkills = Dictionary(uniqueKeysWithValues: (0...Helper.maxSkillsPerUser).map { ("sc_\($0).md", sha("")) })
        return [
            BadUserFiles(label: "a .service_env over the cap",
                         files: .init(user: "alice", serviceEnv: String(repeating: "A", count: Helper.maxServiceEnvBytes + 1), skills: [:]),
                         message: "service_env is larger than \(Helper.maxServiceEnvBytes) bytes"),
            BadUserFiles(label: "a .service_env with a NUL byte", files: .init(user: "alice", serviceEnv: "A=1\u{0}\n", skills: [:]),
                         message: "service_env contains a NUL byte"),
            BadUserFiles(label: "too many skills", files: .init(user: "alice", serviceEnv: nil, skills: manySkills),
                         message: "too many skill files (\(Helper.maxSkillsPerUser + 1)); the limit is \(Helper.maxSkillsPerUser)"),
            BadUserFiles(label: "a skill name with a path", files: .init(user: "alice", serviceEnv: nil, skills: ["../sc_a.md": sha("")]),
                         message: #"invalid skill file name "../sc_a.md": must match ^sc_[a-z0-9][a-z0-9_]*\.md$"#),
            BadUserFiles(label: "a temp-file name as a skill",
                         files: .init(user: "alice", serviceEnv: nil, skills: [Helper.tempPrefix + "x": sha("")]),
                         message: "invalid skill file name \"\(Helper.tempPrefix)x\": must match ^sc_[a-z0-9][a-z0-9_]*\\.md$"),
            BadUserFiles(label: "a user the passwd file does not know",
                         files: .init(user: "nobody_here", serviceEnv: "A=1\n", skills: [:]),
                         message: #"no such user "nobody_here""#),
        ]
    }()

    @Test("apply: one user's bad files fail that user before their home is resolved", arguments: badUserFiles)
    func userFilesRefused(_ bad: BadUserFiles) throws {
        let tree = try HomesTree()
        let helper = try makeHelper(tree)
        let response = try helper.apply(ApplyRequest(contents: [:], users: [bad.files]))
        #expect(response.users == [.failed(bad.files.user, bad.message)])
        #expect(tree.snapshot(inside: tree.home("alice")).isEmpty)
    }

    @Test("inspect: a user who cannot be resolved is failed alone, in request order")
    func inspectUnresolved() throws {
        let tree = try HomesTree()
        try tree.addUser("lowuid", uid: 500)
        let helper = try makeHelper(tree)
        let response = try helper.inspect(InspectRequest(users: ["root", "Alice", "lowuid", "nobody_here"]))
        #expect(response.users.map(\.user) == ["root", "Alice", "lowuid", "nobody_here"])
        #expect(response.users.map(\.error) == [
            "refusing to manage root",
            #"invalid user name "Alice": must match ^[a-z_][a-z0-9_-]{0,31}$"#,
            "user lowuid has uid 500, below the minimum \(minimumUID()); refusing",
            #"no such user "nobody_here""#,
        ])
        #expect(response.users.allSatisfy { !$0.ok && $0.serviceEnv == nil })
    }

    @Test("temp names: fixed length and prefix whatever the target, distinct per target, never a skill name")
    func tempNames() {
        let long = "sc_" + String(repeating: "a", count: 249) + ".md"
        let names = [".service_env", "sc_a.md", "sc_b.md", long].map(Helper.tempName(for:))
        #expect(Set(names).count == 4)
        for name in names {
            #expect(name.hasPrefix(Helper.tempPrefix))
            #expect(name.utf8.count == Helper.tempPrefix.utf8.count + 16)
            #expect(!HelperNames.isSkillFile(name))
        }
        #expect(Helper.tempName(for: "sc_a.md") == Helper.tempName(for: "sc_a.md"))
    }

    @Test("a file is current only when present with the wanted digest and mode 0600")
    func isCurrent() {
        let digest = sha("x")
        #expect(Helper.isCurrent(.present(digest, mode: "0600"), digest))
        #expect(!Helper.isCurrent(.present(digest, mode: "0644"), digest))
        #expect(!Helper.isCurrent(.present(sha("y"), mode: "0600"), digest))
        #expect(!Helper.isCurrent(.present(nil, mode: "0600"), digest))
        #expect(!Helper.isCurrent(.absent, digest))
        #expect(!Helper.isCurrent(.unsafe("has 2 hard links"), digest))
    }
}
