import TokenExchange
import TokenProtocol
import Render
import AccessModel
import Foundation
import Testing
import TestSupport

@Suite("Plan rendering")
struct PlanRenderTests {
    static let commit = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
    static let desired = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
    static let live = "sha256:" + String(repeating: "fedcba9876543210", count: 4)
    /// 2025-01-01T00:00:00Z
    static let createdAt: Int64 = 1_735_689_600

    static func plan(_ actions: [PlannedAction], commit: String? = PlanRenderTests.commit, adopt: Bool = false) -> Plan {
        Plan(commit: commit, desiredDigest: desired, liveDigest: live, createdAt: createdAt, adopt: adopt,
             actions: actions)
    }

    /// Every action kind, in planner order.
    static let everyKind: [PlannedAction] = [
        PlannedAction(.create, address("service.crm"), reason: "added in desired state", changes: [
            FieldChange(field: "name", old: nil, new: "CRM"),
            FieldChange(field: "key_prefix", old: nil, new: "crm_"),
        ]),
        PlannedAction(.update, address("user.john"), reason: "changed in desired state", changes: [
            FieldChange(field: "email", old: "john@old.example", new: "john@example.com"),
        ]),
        PlannedAction(.delete, address("group.old"), reason: "removed from desired state"),
        PlannedAction(.create, address("member.finance.john"), reason: "added in desired state"),
        PlannedAction(.delete, address("grant.finance.plugin.acme-tools/po-helper"), reason: "removed from desired state"),
        PlannedAction(.connect, address("connection.john.crm"), reason: "added in desired state"),
        PlannedAction(.rotate, address("connection.ann.purchase_orders"), reason: "expires in 12 days", changes: [
            FieldChange(field: "fingerprint", old: "sha256:0123456789ab", new: nil),
        ]),
        PlannedAction(.disconnect, address("connection.bob.crm"), reason: "user inactive"),
        PlannedAction(.writeFile, address("file.john.service_env"), reason: "new connection", changes: [
            FieldChange(field: "sha256", old: nil, new: "sha256:" + String(repeating: "1", count: 64)),
        ]),
        PlannedAction(.writeFile, address("file.ann.claude_rules/sc_purchase_orders.md"), reason: "drift: file changed on disk",
                      changes: [FieldChange(field: "sha256", old: "sha256:" + String(repeating: "2", count: 64),
                                            new: "sha256:" + String(repeating: "3", count: 64))]),
        PlannedAction(.removeFile, address("file.bob.claude_rules/sc_crm.md"), reason: "user inactive"),
        PlannedAction(.conflict, address("group.finance"), reason: "exists live with source admin"),
        PlannedAction(.drift, address("file.carl.service_env"), reason: "drift: file changed on disk"),
    ]

    static let everyKindSummary = "Plan: 2 to add, 1 to change, 2 to remove; 1 key to issue, 1 to rotate, 1 to revoke; "
        + "2 files to write, 1 to remove. 1 conflict, 1 drift note."

    /// Addresses, reasons and values that try to break out of a line, a table, a fence or a
    /// `<details>` element, or to inject HTML or terminal escapes.
    static let hostile = "evil|</details>\n```\n<script>alert(1)</script>\u{1B}[31m`|"
    static let hostileActions: [PlannedAction] = [
        PlannedAction(.create, address("service." + hostile), reason: "added " + hostile, changes: [
            FieldChange(field: "name" + hostile, old: nil, new: hostile),
        ]),
        PlannedAction(.update, address("user.x"), reason: hostile, changes: [FieldChange(field: "email", old: hostile, new: "```")]),
        PlannedAction(.drift, address("file.x.service_env"), reason: "\n```\n</details>\n<details open>"),
    ]

    // MARK: Text

    @Test("text: the exact layout of a small plan")
    func textGolden() {
        let plan = Self.plan(Array(Self.everyKind.prefix(3)))
        #expect(PlanRenderer.text(plan, color: false) == """
            accessctl plan: desired sha256:0123456789ab (commit 1a2b3c4d5e6f), live sha256:fedcba987654, computed 2025-01-01T00:00:00Z

              + service.crm  will be created (added in desired state)
                  name:       "CRM"
                  key_prefix: "crm_"

              ~ user.john  will be updated (changed in desired state)
                  email: "john@old.example" -> "john@example.com"

              - group.old  will be deleted (removed from desired state)

            Plan: 1 to add, 1 to change, 1 to remove; 0 keys to issue, 0 to rotate, 0 to revoke; 0 files to write, 0 to remove.

            """)
    }

    @Test("text without colour: no escape byte, a symbol per kind, the summary line last")
    func textPlain() {
        let text = PlanRenderer.text(Self.plan(Self.everyKind), color: false)
        #expect(!text.contains("\u{1B}"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let expected: [(String, String)] = [
            ("+", "service.crm  will be created"), ("~", "user.john  will be updated"), ("-", "group.old  will be deleted"),
            ("+", "member.finance.john  will be created"),
            ("-", "grant.finance.plugin.acme-tools/po-helper  will be deleted"),
            ("+", "connection.john.crm  key will be issued (added in desired state)"),
            ("~", "connection.ann.purchase_orders  key will be rotated (expires in 12 days)"),
            ("-", "connection.bob.crm  key will be revoked (user inactive)"),
            ("+", "file.john.service_env  will be created (new connection)"),
            ("~", "file.ann.claude_rules/sc_purchase_orders.md  will be written (drift: file changed on disk)"),
            ("-", "file.bob.claude_rules/sc_crm.md  will be removed (user inactive)"),
            ("!", "group.finance  conflict (exists live with source admin)"),
            ("?", "file.carl.service_env  drift (file changed on disk)"),
        ]
        let actionLines = lines.filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
        #expect(actionLines.count == expected.count)
        for ((symbol, rest), line) in zip(expected, actionLines) {
            #expect(line.hasPrefix("  \(symbol) \(rest)"), "\(line)")
        }
        #expect(lines.contains("      fingerprint: \"sha256:0123456789ab\" -> (removed)"))
        #expect(lines.dropLast().last == Self.everyKindSummary)
        #expect(text.hasSuffix("\n"))
    }

    @Test("the summary line has exactly the documented shape")
    func summaryShape() {
        var s = PlanSummary()
        (s.add, s.change, s.remove, s.keysToIssue, s.keysToRotate, s.keysToRevoke) = (3, 1, 2, 4, 1, 1)
        (s.filesToWrite, s.filesToRemove) = (6, 1)
        #expect(PlanRenderer.summaryLine(s) == "Plan: 3 to add, 1 to change, 2 to remove; 4 keys to issue, 1 to rotate, "
            + "1 to revoke; 6 files to write, 1 to remove.")
        (s.conflicts, s.drift) = (2, 1)
        #expect(PlanRenderer.summaryLine(s) == "Plan: 3 to add, 1 to change, 2 to remove; 4 keys to issue, 1 to rotate, "
            + "1 to revoke; 6 files to write, 1 to remove. 2 conflicts, 1 drift note.")
        #expect(PlanRenderer.summaryLine(PlanSummary()) == "No changes. The live state matches the desired state.")
    }

    @Test("text with colour: ANSI codes on symbols, reset after each")
    func textColour() {
        let text = PlanRenderer.text(Self.plan(Self.everyKind), color: true)
        for code in ["\u{1B}[32m+", "\u{1B}[33m~", "\u{1B}[31m-", "\u{1B}[35m!", "\u{1B}[36m?", "\u{1B}[1mservice.crm"] {
            #expect(text.contains(code), "\(code.debugDescription)")
        }
        // Every colour or bold is reset right after.
        let escapes = text.components(separatedBy: "\u{1B}[").count - 1
        let resets = text.components(separatedBy: "\u{1B}[0m").count - 1
        #expect(escapes == 2 * resets)
        let stripped = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        #expect(stripped == PlanRenderer.text(Self.plan(Self.everyKind), color: false))
    }

    @Test("no changes: the message, with notes counted when there are any")
    func noChanges() {
        let empty = PlanRenderer.text(Self.plan([], commit: nil), color: false)
        #expect(empty == """
            accessctl plan: desired sha256:0123456789ab (not from git), live sha256:fedcba987654, computed 2025-01-01T00:00:00Z
            No changes. The live state matches the desired state.

            """)
        let notes = Self.plan(Array(Self.everyKind.suffix(2)), adopt: true)
        let text = PlanRenderer.text(notes, color: false)
        #expect(text.hasSuffix("\nNo changes. The live state matches the desired state. 1 conflict, 1 drift note.\n"))
        #expect(text.hasPrefix("accessctl plan: desired sha256:0123456789ab (commit 1a2b3c4d5e6f), live sha256:fedcba987654, computed 2025-01-01T00:00:00Z, adopting conflicting objects\n"))
        #expect(PlanRenderer.text(notes, color: true).hasSuffix("No changes. The live state matches the desired state. 1 conflict, 1 drift note.\n"))
        let markdown = PlanRenderer.markdown(Self.plan([]))
        #expect(markdown.count == 1)
        #expect(markdown[0].hasPrefix("**No changes. The live state matches the desired state.**\n"))
        #expect(!markdown[0].contains("<details>"))
    }

    @Test("text: hostile addresses, reasons and values stay on their line and carry no escape byte")
    func textHostile() {
        for color in [false, true] {
            let text = PlanRenderer.text(Self.plan(Self.hostileActions), color: color)
            let withoutOurCodes = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
            #expect(!withoutOurCodes.contains("\u{1B}"))
            #expect(text.contains("\\u{1B}[31m"))
            #expect(text.contains("\\u{A}"))
            let lines = withoutOurCodes.split(separator: "\n").map(String.init)
            #expect(!lines.contains { $0.hasPrefix("<script>") || $0.hasPrefix("```") })
            // The header, three action lines, two field lines, the summary line.
            #expect(lines.count == 7)
        }
        // Quotes and backslashes inside values are escaped, so a value cannot fake an arrow.
        let tricky = Self.plan([PlannedAction(.update, address("user.q"), reason: "r", changes: [
            FieldChange(field: "email", old: "a\" -> \"b", new: "c\\u{1B}"),
        ])])
        #expect(PlanRenderer.text(tricky, color: false).contains(#"      email: "a\" -> \"b" -> "c\\u{1B}""#))
    }

    // MARK: JSON

    /// Any JSON value, for decoding a document without a fixed type.
    enum JSONValue: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }

        var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
        var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    }

    @Test("JSON: the documented keys, explicit nulls, summary counts, and a round trip to Plan")
    func json() throws {
        let plan = Self.plan(Self.everyKind, commit: nil)
        let json = PlanRenderer.json(plan)
        #expect(json.contains("acme-tools/po-helper"))
        #expect(json.hasSuffix("}\n"))
        let document = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)).object)
        #expect(Set(document.keys) == ["format_version", "commit", "desired_digest", "live_digest", "created_at", "adopt",
                                       "summary", "actions"])
        #expect(document["commit"] == .null)
        #expect(document["format_version"] == .number(1))
        #expect(document["created_at"] == .number(Double(Self.createdAt)))
        #expect(document["adopt"] == .bool(false))
        #expect(document["desired_digest"] == .string(Self.desired))
        let summary = try #require(document["summary"]?.object)
        #expect(summary == [
            "add": .number(2), "change": .number(1), "remove": .number(2), "keys_to_issue": .number(1),
            "keys_to_rotate": .number(1), "keys_to_revoke": .number(1), "files_to_write": .number(2),
            "files_to_remove": .number(1), "conflicts": .number(1), "drift": .number(1),
        ])
        let actions = try #require(document["actions"]?.array)
        #expect(actions.count == Self.everyKind.count)
        #expect(actions.compactMap { $0.object?["kind"] }
            == Self.everyKind.map { JSONValue.string($0.kind.rawValue) })
        #expect(Set(Self.everyKind.map(\.kind)) == Set(PlannedAction.Kind.allCases))
        let first = try #require(actions.first?.object)
        #expect(Set(first.keys) == ["kind", "address", "reason", "changes"])
        let change = try #require(first["changes"]?.array?.first?.object)
        #expect(change == ["field": .string("name"), "old": .null, "new": .string("CRM")])
        #expect(try JSONDecoder().decode(Plan.self, from: Data(json.utf8)) == plan)
        let withCommit = Self.plan(Self.hostileActions)
        #expect(try JSONDecoder().decode(Plan.self, from: Data(PlanRenderer.json(withCommit).utf8)) == withCommit)
        #expect(!PlanRenderer.json(withCommit).contains("\u{1B}"))
    }

    /// A plan made with `--replace connection.*.crm`: format version 2, with `replace`.
    static let replacing = Plan(commit: commit, desiredDigest: desired, liveDigest: live, createdAt: createdAt, adopt: false,
                                replace: [.connection(user: nil, service: "crm"), .connection(user: "john.doe", service: nil)],
                                actions: [PlannedAction(.rotate, .connection(user: "ana", service: "crm"), reason: "replace requested")])

    @Test("JSON: the --replace patterns are written (format version 2) and read back; the text header names them")
    func replacePatterns() throws {
        let json = PlanRenderer.json(Self.replacing)
        #expect(json.contains(#""format_version" : 2"#) && json.contains(#""replace" : ["#) && json.contains(#""connection.john.doe.*""#))
        #expect(try JSONDecoder().decode(Plan.self, from: Data(json.utf8)) == Self.replacing)
        #expect(!PlanRenderer.json(Self.plan([])).contains("replace"))
        #expect(PlanRenderer.text(Self.replacing, color: false).hasPrefix("accessctl plan: desired sha256:"))
        #expect(PlanRenderer.text(Self.replacing, color: false).split(separator: "\n")[0]
            .hasSuffix(", replacing connection.*.crm, connection.john.doe.*"))
        #expect(PlanRenderer.markdown(Self.replacing)[0].contains("replacing `connection.*.crm`, `connection.john.doe.*` (`--replace`)"))
    }

    @Test("JSON: a sample plan conforms to schemas/plan.schema.json, and broken ones do not")
    func jsonSchema() throws {
        let schema = Project.root + "/schemas/plan.schema.json"
        let script = """
            import json, sys
            import jsonschema
            schema = json.load(open(sys.argv[1], encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema)
            cases = json.load(sys.stdin)
            failed = 0
            for i, doc in enumerate(cases["valid"]):
                for e in validator.iter_errors(doc):
                    failed += 1
                    print(f"valid[{i}] rejected: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            for i, doc in enumerate(cases["invalid"]):
                if validator.is_valid(doc):
                    failed += 1
                    print(f"invalid[{i}] accepted")
            print(f"checked {len(cases['valid'])} valid, {len(cases['invalid'])} invalid")
            sys.exit(1 if failed else 0)
            """
        let valid = [
            PlanRenderer.json(Self.plan(Self.everyKind)),
            PlanRenderer.json(Self.plan(Self.everyKind, commit: nil, adopt: true)),
            PlanRenderer.json(Self.plan([])),
            PlanRenderer.json(Self.plan(Self.hostileActions)),
            PlanRenderer.json(Self.replacing),
        ]
        let sample = PlanRenderer.json(Self.plan(Self.everyKind))
        func broken(_ from: String, _ to: String) -> String {
            let out = sample.replacingOccurrences(of: from, with: to)
            #expect(out != sample, "\(from) not found")
            return out
        }
        let invalid = [
            broken("\"kind\" : \"write-file\"", "\"kind\" : \"write_file\""),
            broken("\"commit\" : \"1a2b", "\"commit\" : \"1A2B"),
            broken("\"desired_digest\" : \"sha256:0", "\"desired_digest\" : \"sha1:0"),
            broken("\"adopt\" : false", "\"adopt\" : false, \"extra\" : 1"),
            broken("\"format_version\" : 1", "\"format_version\" : 2"),
            broken("\"old\" : null", "\"old\" : 3"),
            broken("\"conflicts\" : 1", "\"conflicts\" : -1"),
            broken("\"drift\" : 1,", ""),
            PlanRenderer.json(Self.replacing).replacingOccurrences(of: "\"format_version\" : 2", with: "\"format_version\" : 1"),
            PlanRenderer.json(Self.replacing).replacingOccurrences(of: "connection.*.crm", with: "connection.*.c*"),
        ]
        let input = "{\"valid\": [" + valid.joined(separator: ",") + "], \"invalid\": [" + invalid.joined(separator: ",") + "]}"
        let result = try Command.run("/usr/bin/python3", ["-c", script, schema], stdin: input)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checked 5 valid, 10 invalid"))
    }

    // MARK: Markdown

    /// Problems with the structure of one Markdown part: `<details>` balanced and only at the
    /// top level, fences balanced and opened only by the renderer, every line inside a fence
    /// starting with a diff symbol, and no HTML outside the renderer's own tags.
    static func structureProblems(_ part: String) -> [String] {
        var problems: [String] = []
        var depth = 0
        var inFence = false
        for line in part.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.drop { $0 == " " }
            let indent = line.count - trimmed.count
            if inFence {
                if indent <= 3, trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                    if line == "```" { inFence = false } else { problems.append("fence-like line: \(line)") }
                    continue
                }
                if !["+ ", "- ", "~ ", "! ", "? ", "+     ", "-     ", "      "].contains(where: { line.hasPrefix($0) }) {
                    problems.append("line without symbol: \(line)")
                }
                continue
            }
            switch line {
            case "<details>": depth += 1; if depth > 1 { problems.append("nested details") }
            case "</details>": depth -= 1; if depth < 0 { problems.append("unbalanced </details>") }
            case "```diff": inFence = true; if depth != 1 { problems.append("fence outside details") }
            default:
                if line.hasPrefix("<summary>") {
                    if !line.hasSuffix("</summary>") || line.dropFirst(9).dropLast(10).contains(where: { "<>`|".contains($0) }) {
                        problems.append("bad summary: \(line)")
                    }
                } else if line.contains("<") || line.contains("</") || trimmed.hasPrefix("```") {
                    problems.append("HTML or fence outside a block: \(line)")
                }
            }
        }
        if inFence { problems.append("unclosed fence") }
        if depth != 0 { problems.append("unbalanced details: \(depth)") }
        return problems
    }

    /// The addresses of the action lines of all parts (a field line starts with spaces after its symbol).
    static func addresses(_ parts: [String]) -> [String] {
        parts.flatMap { $0.split(separator: "\n") }.compactMap { line -> String? in
            guard let symbol = line.first, "+-~!?".contains(symbol), line.dropFirst().first == " ",
                  line.dropFirst(2).first != " ", let end = line.range(of: "  ") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 2)..<end.lowerBound])
        }
    }

    @Test("Markdown: summary first, one section per non-empty category, diff lines")
    func markdownSections() {
        let parts = PlanRenderer.markdown(Self.plan(Self.everyKind))
        #expect(parts.count == 1)
        let part = parts[0]
        let lines = part.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "**" + Self.everyKindSummary + "**")
        #expect(lines[1] == "Commit `\(Self.commit)` · desired `\(Self.desired)` · live `\(Self.live)` · computed 2025-01-01T00:00:00Z")
        #expect(Self.structureProblems(part) == [])
        let summaries = lines.filter { $0.hasPrefix("<summary>") }
        #expect(summaries == [
            "<summary>Registry (services, users, groups): 1 to add, 1 to change, 1 to remove</summary>",
            "<summary>Memberships &amp; grants: 1 to add, 1 to remove</summary>",
            "<summary>Keys: 1 to issue, 1 to rotate, 1 to revoke</summary>",
            "<summary>Home files: 2 to write, 1 to remove</summary>",
            "<summary>Conflicts &amp; drift: 1 conflict, 1 drift note</summary>",
        ])
        for expected in [
            "+ service.crm  will be created (added in desired state)",
            "+     name: \"CRM\"",
            "~ user.john  will be updated (changed in desired state)",
            "-     email: \"john@old.example\"",
            "+     email: \"john@example.com\"",
            "? file.carl.service_env  drift (file changed on disk)",
            "+ file.john.service_env  will be created (new connection)",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        #expect(Self.addresses(parts) == Self.everyKind.map(\.address))
        // Only the sections that have actions.
        let keysOnly = PlanRenderer.markdown(Self.plan(Array(Self.everyKind[5...7])))[0]
        #expect(keysOnly.components(separatedBy: "<details>").count == 2)
        #expect(keysOnly.contains("<summary>Keys: 1 to issue, 1 to rotate, 1 to revoke</summary>"))
        #expect(PlanRenderer.markdown(Self.plan(Self.everyKind)) == parts)
    }

    @Test("Markdown: 5,000 actions split into balanced parts under the limit, with every address")
    func markdownSplit() throws {
        let kinds = PlannedAction.Kind.allCases
        let actions = (0..<5_000).map { i -> PlannedAction in
            let kind = kinds[i % kinds.count]
            let prefix: String
            switch kind {
            case .connect, .rotate, .disconnect: prefix = "connection.user\(i)"
            case .writeFile, .removeFile: prefix = "file.user\(i).claude_rules/sc_service_\(i).md"
            default: prefix = i % 2 == 0 ? "member.group\(i)" : "service.s"
            }
            return PlannedAction(kind, address("\(prefix).n\(i)"), reason: "reason number \(i)", changes: [
                FieldChange(field: "description", old: i % 3 == 0 ? nil : "old value \(i)", new: "new value \(i)"),
            ])
        }
        let plan = Self.plan(actions)
        let parts = PlanRenderer.markdown(plan)
        #expect(parts.count > 2)
        let summary = "**" + PlanRenderer.summaryLine(plan.summary) + "**"
        for (index, part) in parts.enumerated() {
            #expect(part.count < 60_000)
            #expect(part.utf8.count < 60_000)
            #expect(part.hasPrefix(summary + " (part \(index + 1) of \(parts.count))\n"))
            #expect(Self.structureProblems(part) == [], "part \(index + 1)")
        }
        #expect(parts.dropFirst().contains { $0.contains("(continued)</summary>") })
        // Split between actions: a block never starts with a field line.
        for part in parts {
            let lines = part.split(separator: "\n").map(String.init)
            for (i, line) in lines.enumerated() where line == "```diff" {
                #expect(lines[i + 1].dropFirst(2).first != " ", "\(lines[i + 1])")
            }
        }
        // Grouped by section, in plan order within each.
        let shown = Self.addresses(parts)
        #expect(shown.count == actions.count)
        #expect(Set(shown) == Set(actions.map(\.address)))
        #expect(PlanRenderer.markdown(plan) == parts)

        // A smaller limit, one huge section: split between lines.
        let small = PlanRenderer.markdown(Self.plan(Array(actions.prefix(300))), maxPartLength: 5_000)
        #expect(small.count > 3)
        #expect(small.allSatisfy { $0.utf8.count < 5_000 && Self.structureProblems($0) == [] })
        #expect(Self.addresses(small).count == 300)
        #expect(Set(Self.addresses(small)) == Set(actions.prefix(300).map(\.address)))

        // One action longer than a part: split between its lines.
        let wide = PlannedAction(.create, address("service.wide"), reason: "added in desired state", changes: (0..<500).map {
            FieldChange(field: "field\($0)", old: nil, new: "value \($0)")
        })
        let split = PlanRenderer.markdown(Self.plan([wide]), maxPartLength: 4_000)
        #expect(split.count > 2)
        #expect(split.allSatisfy { $0.utf8.count < 4_000 && Self.structureProblems($0) == [] })
        let fieldLines = split.flatMap { $0.split(separator: "\n") }.filter { $0.hasPrefix("+     field") }
        #expect(fieldLines.count == 500)
    }

    @Test("Markdown: hostile addresses, reasons and values cannot break a fence, a section or inject HTML")
    func markdownHostile() {
        let parts = PlanRenderer.markdown(Self.plan(Self.hostileActions))
        #expect(parts.count == 1)
        let part = parts[0]
        #expect(!part.contains("\u{1B}"))
        #expect(Self.structureProblems(part) == [])
        #expect(part.components(separatedBy: "\n</details>\n").count - 1 == 2)
        #expect(part.contains("\\u{A}"))
        #expect(Self.addresses(parts).first == "service.evil|</details>\\u{A}```\\u{A}<script>alert(1)</script>\\u{1B}[31m`|")

        // Values outside blocks (commit, digests) go into code spans that no backtick can close.
        var odd = Self.plan([])
        odd.commit = "``x|<b>y</b>\n"
        let header = PlanRenderer.markdown(odd)[0].split(separator: "\n")[1]
        #expect(header.hasPrefix("Commit ``` ``x|<b>y</b>\\u{A} ``` · "))

        // A huge value is cut, and the part stays under the limit.
        let huge = Self.plan([PlannedAction(.create, address("service.big"), reason: "r", changes: [
            FieldChange(field: "skill", old: nil, new: String(repeating: "<`|", count: 100_000)),
        ])])
        let cut = PlanRenderer.markdown(huge, maxPartLength: 4_000)
        #expect(cut.count == 1)
        #expect(cut[0].utf8.count < 4_000)
        #expect(cut[0].contains(" … (truncated)\n"))
        #expect(Self.structureProblems(cut[0]) == [])
    }
}

/// A target from its address string (the tests write plans the way docs/plan.md shows them).
private func address(_ text: String) -> Target {
    guard let target = Target(address: text) else { fatalError("not an address: \(text)") }
    return target
}
