#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HelperProtocol
import Testing
import TestSupport

@Suite("install-service-env: bad requests", .enabled(if: geteuid() == 0, "runs the helper as root"))
struct BadRequestTests {
    @Test("a bad or unknown user name: per-user error, nothing written for it, the valid user applied",
          arguments: BadUser.refused)
    func badUser(_ bad: BadUser) throws {
        let tree = try HomesTree.withBadAccounts()
        let alice = tree.home("alice")
        let outside = tree.snapshot(excluding: [alice])

        var builder = RequestBuilder()
        builder.user(bad.name, serviceEnv: tree.serviceEnv("bad"), skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        builder.user("alice", serviceEnv: tree.serviceEnv("alice"), skills: ["sc_alpha.md": "alpha \(tree.secret())\n"])
        let run = try tree.apply(builder.request)
        #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
        let reports = try #require(run.response?.users)
        #expect(reports.map(\.user) == [bad.name, "alice"])
        let report = try #require(reports.first)
        #expect(!report.ok)
        let error = report.error ?? ""
        #expect(error.contains(bad.message), "\(error)")
        #expect(!error.contains("\n"), "control characters in the message: \(error.debugDescription)")
        #expect(report.written == nil && report.removed == nil && report.serviceEnv == nil)
        #expect(reports.last?.ok == true)
        #expect(Set(reports.last?.written ?? []) == [".service_env", ".claude_rules/sc_alpha.md"])
        tree.expectUnchanged(outside, tree.snapshot(excluding: [alice]))

        let inspected = try tree.inspect([bad.name, "alice"])
        #expect(inspected.status == 3)
        #expect(inspected.report(bad.name)?.ok == false)
        #expect(inspected.report(bad.name)?.error?.contains(bad.message) == true)
        #expect(inspected.report(bad.name)?.serviceEnv == nil)
        #expect(inspected.report("alice")?.ok == true)
    }

    static let badSkillNames: [String] = [
        "sc_a/b.md", "sc_a.md/", "../sc_a.md", "..", "sc_..md", "sc_a\u{0}.md", "sc_a\u{0}/../../x.md",
        "km_x.md", "sc_X.md", "sc_.md", "sc__a.md", "sc_a.MD", "sc_a.md.bak", ".sc_a.md.accessctl-tmp", "",
        "sc_é.md", "sc_" + String(repeating: "a", count: 253) + ".md",
    ]

    @Test("a bad skill file name: per-user error, nothing written for that user", arguments: badSkillNames)
    func badSkillName(_ name: String) throws {
        let tree = try HomesTree()
        let carol = tree.home("carol")
        let outside = tree.snapshot(excluding: [carol]) // includes alice's home, own entry and all
        let text = "skill \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv(), skills: ["sc_good.md": text, name: text])
        builder.user("carol", serviceEnv: tree.serviceEnv(), skills: ["sc_good.md": text])
        let run = try tree.apply(builder.request)
        #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
        #expect(run.report("alice")?.ok == false)
        #expect(run.report("alice")?.error?.contains("invalid skill file name") == true, "\(run.report("alice")?.error ?? "")")
        #expect(run.report("carol")?.ok == true)
        tree.expectUnchanged(outside, tree.snapshot(excluding: [carol]))
    }

    /// The name check accepts up to 255 bytes (NAME_MAX), but the temp file beside the target
    /// is named ".<name>.accessctl-tmp" (15 bytes more), so names over 240 bytes are accepted
    /// and then always fail with ENAMETOOLONG.
    @Test("a valid skill name is writable at every accepted length (up to 255 bytes)", arguments: [240, 241, 255])
    func longSkillName(_ length: Int) throws {
        let tree = try HomesTree()
        let name = "sc_" + String(repeating: "a", count: length - 6) + ".md"
        #expect(name.utf8.count == length && HelperNames.isSkillFile(name))
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: nil, skills: [name: "long \(tree.secret())\n"])
        let run = try tree.apply(builder.request)
        #expect(run.status == 0, "\(run.report("alice")?.error ?? run.stdout)")
        #expect(HomesTree.exists(tree.home("alice") + "/.claude_rules/" + name))
    }

    @Test(".service_env over the 1 MiB cap (or with a NUL byte): per-user error; exactly 1 MiB is accepted")
    func serviceEnvCap() throws {
        let tree = try HomesTree()
        let carol = tree.home("carol")
        let secret = tree.secret()
        let line = "PO_API_KEY='\(secret)'\n"
        let padding = String(repeating: "#", count: (1 << 20) - line.utf8.count)
        let exact = padding + line
        #expect(exact.utf8.count == 1 << 20)
        let outside = tree.snapshot(excluding: [carol])
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: exact + "\n")
        builder.user("bob", serviceEnv: "PO_API_KEY='\(tree.secret())'\n\u{0}")
        builder.user("carol", serviceEnv: exact)
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        #expect(run.report("alice")?.ok == false)
        #expect(run.report("alice")?.error?.contains("larger than") == true, "\(run.report("alice")?.error ?? "")")
        #expect(run.report("bob")?.ok == false)
        #expect(run.report("bob")?.error?.contains("NUL") == true, "\(run.report("bob")?.error ?? "")")
        #expect(run.report("carol")?.ok == true)
        #expect(tree.read(carol + "/.service_env") == exact)
        tree.expectUnchanged(outside, tree.snapshot(excluding: [carol]))
    }

    @Test("a skill referring to content the request does not carry: per-user error, nothing left behind")
    func missingContent() throws {
        let tree = try HomesTree()
        let carol = tree.home("carol")
        let outside = tree.snapshot(excluding: [carol])
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv(), skills: ["sc_a.md": "a \(tree.secret())\n"])
        builder.user("carol", serviceEnv: tree.serviceEnv())
        var request = builder.request
        request.users[0].skills["sc_b.md"] = digest("not in the request")
        let run = try tree.apply(request)
        #expect(run.status == 3)
        #expect(run.report("alice")?.ok == false)
        #expect(run.report("alice")?.error?.contains("does not carry") == true, "\(run.report("alice")?.error ?? "")")
        #expect(run.report("carol")?.ok == true)
        // No file is left in alice's home (temp files of the failed user are discarded).
        let names = try FileManager.default.contentsOfDirectory(atPath: tree.home("alice"))
        #expect(names.allSatisfy { $0 == ".claude_rules" }, "\(names)")
        if names.contains(".claude_rules") {
            #expect(try FileManager.default.contentsOfDirectory(atPath: tree.home("alice") + "/.claude_rules").isEmpty)
        }
        tree.expectUnchanged(outside.filter { !$0.key.hasPrefix(tree.home("alice")) },
                             tree.snapshot(excluding: [carol, tree.home("alice")]))
    }

    struct BadDocument: Sendable, CustomStringConvertible {
        var label: String
        var verb: String
        var json: @Sendable (HomesTree) -> String
        var message: String
        var description: String { label }
    }

    /// A valid apply request for alice and carol, as a JSON object literal body.
    static func validApply(_ tree: HomesTree, version: Int = 1, extraUser: String = "") -> String {
        let skill = "skill \(tree.secret())\n"
        let env = jsonQuoted(tree.serviceEnv())
        return """
            {"version":\(version),"contents":{"\(digest(skill))":\(jsonQuoted(skill))},
             "users":[{"user":"alice","service_env":\(env),"skills":{"sc_a.md":"\(digest(skill))"}},
                      {"user":"carol","service_env":\(env),"skills":{}}\(extraUser)]}
            """
    }

    static let badDocuments: [BadDocument] = [
        BadDocument(label: "empty input", verb: "apply", json: { _ in "" }, message: "malformed request"),
        BadDocument(label: "truncated JSON", verb: "apply", json: { String(validApply($0).dropLast(3)) }, message: "malformed request"),
        BadDocument(label: "not an object", verb: "apply", json: { _ in "[1,2,3]" }, message: "malformed request"),
        BadDocument(label: "missing users", verb: "apply", json: { _ in #"{"version":1,"contents":{}}"# }, message: "users"),
        BadDocument(label: "wrong version", verb: "apply", json: { validApply($0, version: 2) }, message: "version"),
        BadDocument(label: "version 0", verb: "apply", json: { validApply($0, version: 0) }, message: "version"),
        BadDocument(label: "content key not its SHA-256", verb: "apply", json: { tree in
            let text = "skill \(tree.secret())\n"
            return """
                {"version":1,"contents":{"\(digest("something else"))":\(jsonQuoted(text))},
                 "users":[{"user":"alice","service_env":null,"skills":{"sc_a.md":"\(digest("something else"))"}}]}
                """
        }, message: "not the SHA-256"),
        BadDocument(label: "content key in upper case", verb: "apply", json: { tree in
            let text = "skill \(tree.secret())\n"
            return """
                {"version":1,"contents":{"\(digest(text).uppercased())":\(jsonQuoted(text))},
                 "users":[{"user":"alice","service_env":null,"skills":{"sc_a.md":"\(digest(text).uppercased())"}}]}
                """
        }, message: "not the SHA-256"),
        BadDocument(label: "content over 256 KiB", verb: "apply", json: { tree in
            let text = String(repeating: "x", count: 256 << 10) + tree.secret()
            return """
                {"version":1,"contents":{"\(digest(text))":"\(text)"},
                 "users":[{"user":"alice","service_env":null,"skills":{"sc_a.md":"\(digest(text))"}}]}
                """
        }, message: "larger than"),
        BadDocument(label: "content with a NUL byte", verb: "apply", json: { tree in
            let text = "a\u{0}b \(tree.secret())"
            return """
                {"version":1,"contents":{"\(digest(text))":"a\\u0000b \(text.dropFirst(4))"},
                 "users":[{"user":"alice","service_env":null,"skills":{"sc_a.md":"\(digest(text))"}}]}
                """
        }, message: "NUL"),
        BadDocument(label: "duplicate user", verb: "apply",
                    json: { validApply($0, extraUser: #",{"user":"alice","service_env":null,"skills":{}}"#) }, message: "listed twice"),
        BadDocument(label: "inspect: malformed", verb: "inspect", json: { _ in #"{"version":1,"users":"alice"}"# }, message: "malformed"),
        BadDocument(label: "inspect: wrong version", verb: "inspect", json: { _ in #"{"version":2,"users":["alice"]}"# }, message: "version"),
        BadDocument(label: "inspect: duplicate user", verb: "inspect", json: { _ in #"{"version":1,"users":["alice","bob","alice"]}"# },
                    message: "listed twice"),
    ]

    @Test("a bad request document: exit 1 with a top-level error, nothing written for anyone", arguments: badDocuments)
    func badDocument(_ bad: BadDocument) throws {
        let tree = try HomesTree()
        let before = tree.snapshot()
        let run = try tree.run(bad.verb, json: bad.json(tree))
        #expect(run.status == 1, "\(run.stdout) \(run.stderr)")
        let response = try #require(run.response, "\(run.stdout)")
        #expect(response.users.isEmpty)
        #expect(response.error?.contains(bad.message) == true, "\(response.error ?? "no error")")
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }

    @Test("the valid document used by the bad-document cases is itself accepted")
    func validDocumentControl() throws {
        let tree = try HomesTree()
        let run = try tree.run("apply", json: Self.validApply(tree))
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.report("alice")?.written == [".service_env", ".claude_rules/sc_a.md"])
    }

    struct BadUsage: Sendable, CustomStringConvertible {
        var arguments: [String]
        var testOptions = true
        var environment: [String: String] = [:]
        var description: String { arguments.joined(separator: " ") + (environment.isEmpty ? "" : " with \(environment)") }
    }

    static let badUsages: [BadUsage] = [
        BadUsage(arguments: []),
        BadUsage(arguments: ["remove"]),
        BadUsage(arguments: ["Apply"]),
        BadUsage(arguments: ["apply", "--force"]),
        BadUsage(arguments: ["apply", "-n"]),
        BadUsage(arguments: ["inspect", "apply"]),
        BadUsage(arguments: ["apply", "apply"]),
        BadUsage(arguments: ["apply", "extra"]),
        BadUsage(arguments: ["apply", "--passwd-file"], testOptions: false),
        BadUsage(arguments: ["apply", "--homes-root", ""], testOptions: false),
        BadUsage(arguments: ["apply"], environment: ["SUDO_UID": "1000"]),
        BadUsage(arguments: ["inspect"], environment: ["SUDO_UID": "1000"]),
        BadUsage(arguments: ["apply"], environment: ["SUDO_UID": ""]),
    ]

    @Test("bad usage: exit 64, nothing read or written", arguments: badUsages)
    func badUsage(_ usage: BadUsage) throws {
        let tree = try HomesTree()
        let before = tree.snapshot()
        let run = try tree.run(usage.arguments, input: Array(Self.validApply(tree).utf8), environment: usage.environment,
                               testOptions: usage.testOptions)
        #expect(run.status == 64, "\(run.stdout) \(run.stderr)")
        #expect(!run.stderr.isEmpty)
        #expect(run.response?.users.isEmpty ?? true)
        if !usage.environment.isEmpty { #expect(run.stderr.contains("refused"), "\(run.stderr)") }
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }

    @Test("--homes-root alone under SUDO_UID is refused too")
    func homesRootUnderSudo() throws {
        let tree = try HomesTree()
        let before = tree.snapshot()
        let run = try tree.run(["apply", "--homes-root", tree.root], input: Array(Self.validApply(tree).utf8),
                               environment: ["SUDO_UID": "1000"], testOptions: false)
        #expect(run.status == 64)
        #expect(run.stderr.contains("refused"))
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }

    @Test("more than 1000 skill files for one user: per-user error")
    func tooManySkills() throws {
        let tree = try HomesTree()
        let carol = tree.home("carol")
        let outside = tree.snapshot(excluding: [carol])
        let text = "shared \(tree.secret())\n"
        var builder = RequestBuilder()
        builder.user("alice", serviceEnv: tree.serviceEnv(),
                     skills: Dictionary(uniqueKeysWithValues: (0...1000).map { ("sc_s\($0).md", text) }))
        builder.user("carol", serviceEnv: tree.serviceEnv())
        let run = try tree.apply(builder.request)
        #expect(run.status == 3)
        #expect(run.report("alice")?.error?.contains("too many skill files") == true, "\(run.report("alice")?.error ?? "")")
        #expect(run.report("carol")?.ok == true)
        tree.expectUnchanged(outside, tree.snapshot(excluding: [carol]))
    }

    @Test("a request over the 64 MiB stdin cap: exit 1, nothing written")
    func requestSizeCap() throws {
        let tree = try HomesTree()
        let before = tree.snapshot()
        // Valid JSON (leading white space) that would write files if the cap were not enforced.
        let body = Array(Self.validApply(tree).utf8)
        let input = [UInt8](repeating: 0x20, count: (64 << 20) + 1 - body.count) + body
        let run = try tree.run(["apply"], input: input)
        #expect(run.status == 1, "\(run.stdout)")
        #expect(run.response?.error?.contains("larger than") == true, "\(run.stdout)")
        tree.expectUnchanged(before, tree.snapshot(), "tree")
    }
}
