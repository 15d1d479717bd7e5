import AccessModel
import Foundation
import Testing

/// `--replace` patterns: one parser with messages that list the accepted forms, matching by
/// whole address parts (user ids with dots included), and the planner's forced rotations.
@Suite("Replace patterns and forced rotations")
struct ReplaceTests {
    static func pattern(_ text: String) throws -> TargetPattern { try TargetPattern(parsing: text) }

    @Test("each accepted form parses, writes itself back, and matches whole parts only")
    func forms() throws {
        let cases: [(String, TargetPattern)] = [
            ("connection.alice.crm", .connection(user: "alice", service: "crm")),
            ("connection.*.crm", .connection(user: nil, service: "crm")),
            ("connection.john.doe.*", .connection(user: "john.doe", service: nil)),
            ("connection.*.*", .connection(user: nil, service: nil)),
        ]
        for (text, expected) in cases {
            let parsed = try Self.pattern(text)
            #expect(parsed == expected)
            #expect(parsed.address == text)
        }
        let john = try Self.pattern("connection.john.doe.*")
        #expect(john.matches(.connection(user: "john.doe", service: "crm")))
        #expect(!john.matches(.connection(user: "john", service: "crm")))
        #expect(!john.matches(.connection(user: "john.doe.x", service: "crm")))
        #expect(!john.matches(.serviceEnv(user: "john.doe")))
        let crm = try Self.pattern("connection.*.crm")
        #expect(crm.matches(.connection(user: "a.b.c", service: "crm")))
        #expect(!crm.matches(.connection(user: "alice", service: "crm2")))
        #expect(try Self.pattern("connection.*.*").matches(.connection(user: "x", service: "y")))
        // A dotted user with an exact service splits at the last dot, like an address.
        #expect(try Self.pattern("connection.john.doe.crm") == .connection(user: "john.doe", service: "crm"))
    }

    @Test("malformed patterns are refused with the accepted forms in the message")
    func malformed() {
        let cases: [(String, String)] = [
            ("", "only connections have keys to replace"),
            ("crm", "only connections have keys to replace"),
            ("file.alice.service_env", "only connections have keys to replace"),
            ("connection.", "a user and a service are needed"),
            ("connection.alice", "a user and a service are needed"),
            ("connection.*", "a user and a service are needed"),
            ("connection..crm", "a user and a service are needed"),
            ("connection.alice.", "a user and a service are needed"),
            ("connection.**", "a user and a service are needed"),
            ("connection.**.crm", "'*' stands for a whole user or service id, not part of one ('**')"),
            ("connection.a*.crm", "not part of one ('a*')"),
            ("connection.alice.c*", "not part of one ('c*')"),
            ("connection.john.*.crm", "not part of one ('john.*')"),
            ("service.crm", "it names a service; use connection.<user>.<service>, connection.*.<service>, connection.<user>.* or connection.*.* (every key of crm: connection.*.crm)"),
            ("user.alice", "(every key of alice: connection.alice.*)"),
        ]
        for (text, words) in cases {
            do {
                _ = try TargetPattern(parsing: text)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.description.hasPrefix("'\(text)' is not a replace pattern: "), "\(error)")
                #expect(error.description.contains(words), "\(text): \(error)")
                #expect(error.description.contains(TargetPattern.forms))
            }
        }
    }

    @Test("a pattern encodes as its address and decodes back; a bad one fails to decode")
    func codable() throws {
        let patterns = [try Self.pattern("connection.*.crm"), try Self.pattern("connection.a.b.*")]
        let data = try JSONEncoder().encode(patterns)
        #expect(String(decoding: data, as: UTF8.self) == #"["connection.*.crm","connection.a.b.*"]"#)
        #expect(try JSONDecoder().decode([TargetPattern].self, from: data) == patterns)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TargetPattern].self, from: Data(#"["connection.x*.y"]"#.utf8)) }
    }

    @Test("replace rotates exactly the matched connections with keys, far from expiry, and rewrites their files")
    func rotatesMatched() throws {
        var world = World.base()
        world.converge()
        let byService = world.plan(replace: [try Self.pattern("connection.*.po")])
        #expect(byService.lines == [
            "rotate connection.alice.po: replace requested",
            "rotate connection.bob.po: replace requested",
            "write-file file.alice.service_env: keys to rotate",
            "write-file file.bob.service_env: keys to rotate",
        ])
        #expect(byService.action("connection.bob.po")?.changes
            == [FieldChange(field: "key", old: World.key("bob", "po").fingerprint, new: "(new key)")])
        let po = try Self.pattern("connection.*.po")
        #expect(byService.summary.keysToRotate == 2 && byService.replace == [po])
        #expect(byService.formatVersion == 2 && world.plan().formatVersion == 1)
        let byUser = world.plan(replace: [try Self.pattern("connection.bob.*")])
        #expect(byUser.lines.filter { $0.hasPrefix("rotate") } == [
            "rotate connection.bob.crm: replace requested", "rotate connection.bob.po: replace requested",
        ])
        let all = world.plan(replace: [try Self.pattern("connection.*.*"), try Self.pattern("connection.bob.crm")])
        #expect(all.summary.keysToRotate == 3)
        // Equal inputs, equal plans; the patterns are part of the input.
        #expect(all == world.plan(replace: [try Self.pattern("connection.*.*"), try Self.pattern("connection.bob.crm")]))
        #expect(world.plan(replace: [try Self.pattern("connection.carol.*")]).actions.isEmpty)
    }

    @Test("through a live snapshot (CI) a replace plans the same rotations as against the database")
    func snapshot() throws {
        var world = World.base()
        world.converge()
        let replace = [try Self.pattern("connection.*.crm"), try Self.pattern("connection.alice.*")]
        let (live, homes) = LiveSnapshot.make(live: world.live, homes: world.homes, lastAppliedCommit: nil, now: World.now).restore()
        let restored = Planner.plan(PlanInput(desired: world.desired, live: live, homes: homes, now: World.now, replace: replace))
        #expect(restored.actions == world.plan(replace: replace).actions && restored.summary.keysToRotate == 2)
    }

    @Test("what is planned otherwise keeps its action: expiry, retries, new connections and disconnects win")
    func otherActionsWin() throws {
        var world = World.base()
        world.converge(expiresIn: 10)
        let every = [try Self.pattern("connection.*.*")]
        #expect(world.plan(replace: every).action("connection.alice.po")?.reason == "expires in 10 days")
        world.converge()
        world.live.connections[0].status = .error  // alice.po: a failed exchange with its old key
        world.live.connections[0].lastError = "HTTP 503"
        world.desired.users[1].active = false      // bob: every key revoked, none issued
        let plan = world.plan(replace: every)
        #expect(plan.action("connection.alice.po")?.reason == "retry after error: HTTP 503")
        #expect(plan.actions.filter { $0.address.hasPrefix("connection.bob.") }.allSatisfy { $0.kind == .disconnect })
        #expect(!plan.lines.contains { $0.contains("replace requested") })
        // A connection still to be made is issued, not rotated.
        world.desired.users[1].active = true
        world.live.connections.removeAll { $0.user == "bob" && $0.service == "crm" }
        #expect(world.plan(replace: every).action("connection.bob.crm")?.kind == .connect)
    }
}
