import DesiredRepo
import RepoFormat
import AccessModel
import Foundation
import Testing
import TestSupport

private let acmeTypes = ["service", "plugin", "table", "knowledge"]

/// The canonical form of `text` as the file at `path`; records an issue (and returns nil)
/// when formatting fails, and checks that formatting the result again changes nothing.
private func canonical(_ text: String, path: String = "groups/team.yaml", types: [String]? = acmeTypes,
                       sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    guard case .formatted(let out) = FileFormatter.format(Array(text.utf8), path: path, resourceTypes: types) else {
        Issue.record("not formatted: \(FileFormatter.format(Array(text.utf8), path: path, resourceTypes: types))",
                     sourceLocation: sourceLocation)
        return nil
    }
    let again = FileFormatter.format(out, path: path, resourceTypes: types)
    #expect(again == .formatted(out), "not idempotent:\n\(String(decoding: out, as: UTF8.self))", sourceLocation: sourceLocation)
    return String(decoding: out, as: UTF8.self)
}

/// The diagnostics of a file that cannot be formatted, as `path:line:column: error: message`.
private func refusal(_ text: String, path: String = "groups/team.yaml") -> [String] {
    refusal(Array(text.utf8), path: path)
}

private func refusal(_ bytes: [UInt8], path: String = "groups/team.yaml") -> [String] {
    guard case .failed(let diagnostics) = FileFormatter.format(bytes, path: path, resourceTypes: acmeTypes) else { return [] }
    return diagnostics.map(\.description)
}

@Suite("Format: canonical layout of each file kind")
struct FormatLayoutTests {
    @Test func configFile() {
        let input = """
            defaults:
                rotate_before_days: 30
                ttl_days: 365
            policy: {require_service_grant: true}
            resource_types: [service, table, plugin]
            version: 1

            """
        #expect(canonical(input, path: "accessctl.yaml") == """
            version: 1
            resource_types: [service, table, plugin]
            policy:
              require_service_grant: true
            defaults:
              ttl_days: 365
              rotate_before_days: 30

            """)
    }

    @Test func catalogFile() {
        let input = """
            ids: [sales.accounts, finance.payments, finance.invoices]
            description: Warehouse tables

            """
        #expect(canonical(input, path: "catalogs/table.yaml") == """
            description: Warehouse tables
            ids: [finance.invoices, finance.payments, sales.accounts]

            """)
    }

    @Test func serviceFile() {
        let input = """
            enabled: true
            key_prefix: po_
            ttl_days: 90
            skill: po.md
            secret_env: SC_SECRET_PO
            env_var: PO_API_KEY
            health_url: https://po.example.com/healthz
            token_revoke_url: https://po.example.com/revoke
            token_exchange_url: https://po.example.com/exchange
            description: Purchase orders
            name: PO

            """
        #expect(canonical(input, path: "services/po.yaml") == """
            name: PO
            description: Purchase orders
            token_exchange_url: https://po.example.com/exchange
            token_revoke_url: https://po.example.com/revoke
            health_url: https://po.example.com/healthz
            env_var: PO_API_KEY
            secret_env: SC_SECRET_PO
            skill: po.md
            ttl_days: 90
            key_prefix: po_
            enabled: true

            """)
    }

    @Test func userFile() {
        let input = "connections:\n- crm\n- billing\nactive: true\nunix_user: ann\nemail: ann@example.com\n"
        #expect(canonical(input, path: "users/ann.yaml") == """
            email: ann@example.com
            unix_user: ann
            active: true
            connections: [billing, crm]

            """)
    }

    @Test func groupFile() {
        let input = """
            connect: [orders, billing]
            grants:
              knowledge: [z-docs, a-docs]
              table: [finance.b, finance.a]
              service: [orders, billing]
              plugin: [tools/x]
            members: [dave, carol, bob]
            description: Finance team

            """
        #expect(canonical(input) == """
            description: Finance team
            members: [bob, carol, dave]
            grants:
              service: [billing, orders]
              plugin: [tools/x]
              table: [finance.a, finance.b]
              knowledge: [a-docs, z-docs]
            connect: [billing, orders]

            """)
    }

    @Test func unknownKeysFollowTheKnownOnesInTheirOrder() {
        let input = "zeta: 1\nemail: a@example.com\nalpha: [b, a]\npolicy:\n  x: 1\nactive: false\n"
        #expect(canonical(input, path: "users/a.yaml") == """
            email: a@example.com
            active: false
            zeta: 1
            alpha: [b, a]
            policy:
              x: 1

            """)
        let config = "defaults:\n  extra: 1\n  ttl_days: 30\nversion: 1\n"
        #expect(canonical(config, path: "accessctl.yaml") == "version: 1\ndefaults:\n  ttl_days: 30\n  extra: 1\n")
    }

    @Test func grantTypesFollowResourceTypesThenByteOrder() {
        let input = "grants:\n  zzz: [a]\n  table: [t]\n  aaa: [b]\n  service: [s]\n"
        #expect(canonical(input, types: ["table", "service"])
            == "grants:\n  table: [t]\n  service: [s]\n  aaa: [b]\n  zzz: [a]\n")
        // accessctl.yaml unreadable: every type in byte order.
        #expect(canonical(input, types: nil) == "grants:\n  aaa: [b]\n  service: [s]\n  table: [t]\n  zzz: [a]\n")
    }

    @Test func sortingIsByteOrderAndKeepsDuplicates() {
        #expect(canonical("members: [bob, Zoe, ann, bob, _x, ann.b]\n")
            == "members: [Zoe, _x, ann, ann.b, bob, bob]\n")
        // Only the id lists are sorted; resource_types and lists under unknown keys keep their order.
        #expect(canonical("version: 1\nresource_types: [table, service]\n", path: "accessctl.yaml")
            == "version: 1\nresource_types: [table, service]\n")
        // A list of non-scalars is not sorted.
        #expect(canonical("members:\n  - [b]\n  - [a]\n") == "members:\n  - [b]\n  - [a]\n")
    }

    @Test func listsAreFlowWhenTheyFitElseBlock() {
        // "members: [" + 7 items of 11 characters + "]" is exactly 100 characters: flow.
        let fits = (0..<7).map { "user-\($0)-abcd" }
        let line = "members: [" + fits.joined(separator: ", ") + "]"
        #expect(line.count == 100)
        #expect(canonical(line + "\n") == line + "\n")
        // One character more: one item per line.
        let ids = fits.dropLast() + ["user-6-abcde"]
        #expect(canonical("members: [" + ids.joined(separator: ", ") + "]\n")
            == "members:\n" + ids.map { "  - \($0)\n" }.joined())
        // Empty lists and mappings.
        #expect(canonical("members: []\ngrants: {}\n") == "members: []\ngrants: {}\n")
        // Block lists that fit become flow lists.
        #expect(canonical("members:\n- b\n-   a\n") == "members: [a, b]\n")
    }

    @Test func nestedStructuresUnderUnknownKeys() {
        let input = "extra:\n  - {b: 1, a: [x, y]}\n  - - p\n    - q\n  -\n  - - r\n"
        #expect(canonical(input) == """
            extra:
              - b: 1
                a: [x, y]
              - [p, q]
              -
              - [r]

            """)
    }

    @Test func crlfBecomesLFAndTheFinalNewlineIsOne() {
        #expect(canonical("description: x\r\nmembers: [b, a]   \r\n\r\n\r\n") == "description: x\nmembers: [a, b]\n")
        #expect(canonical("description: x") == "description: x\n")
        #expect(canonical("\n\n# top\n\n\ndescription: x\n\n\n# end\n\n") == "# top\n\ndescription: x\n\n# end\n")
    }

    @Test func documentMarkersAreDropped() {
        #expect(canonical("---  # start\ndescription: x\n...\n") == "# start\ndescription: x\n")
    }
}

@Suite("Format: scalars keep their value and quoting")
struct FormatScalarTests {
    @Test func quotingStylesAreKept() {
        let input = """
            description: 'It''s "quoted"'
            a: "2024"
            b: '~'
            c: plain text
            d: "\\x41\\u00e9\\/"
            e: "tab\\there"
            f: ~
            g: 0x1F
            h: yes
            i:
            j: "a #b"
            k: a #b

            """
        #expect(canonical(input) == """
            description: 'It''s "quoted"'
            a: "2024"
            b: '~'
            c: plain text
            d: "Aé/"
            e: "tab\\there"
            f: ~
            g: 0x1F
            h: yes
            i:
            j: "a #b"
            k: a #b

            """)
    }

    @Test func multiLineFlowAndQuotedScalarsBecomeOneLine() {
        let input = "description: \"multi\n  line\n\n  para\"\nmembers: [b,\n  a]\nplain: one\n  two\n"
        #expect(canonical(input) == "description: \"multi line\\npara\"\nmembers: [a, b]\nplain: one two\n")
        // A single-quoted text with a line break must be double-quoted.
        #expect(canonical("a: 'x\n\n  y'\n") == "a: \"x\\ny\"\n")
    }

    @Test func plainItemsThatAreNotFlowSafeMakeABlockList() {
        #expect(canonical("extra:\n  - a, b\n  - c\n") == "extra:\n  - a, b\n  - c\n")
        #expect(canonical("extra: [db:x, -1, 'q, r']\n") == "extra: [db:x, -1, 'q, r']\n")
    }

    /// Found by the hostile-repository fixtures: a plain item with an invisible character is
    /// quoted in block and flow style alike, so it must not hold the list in block style on
    /// the first run and let the second move it to a flow list (`canonical` runs both).
    @Test func plainItemQuotedInBothStylesIsFormattedOnceForAll() {
        #expect(canonical("members: [bob, dave\u{200B}]\n") == "members: [bob, \"dave\\u200B\"]\n")
    }

    @Test func blockScalarsAreReindented() {
        let input = """
            description: |
                  line one
                    indented
                  trailing spaces\u{20}\u{20}
            folded: >-
                 wrapped by
                 the author

                 second paragraph
            lead: >2
                  leading space
                x
            keep: |+
               kept

            next: 1

            """
        #expect(canonical(input) == """
            description: |
              line one
                indented
              trailing spaces\u{20}\u{20}
            folded: >-
              wrapped by
              the author

              second paragraph
            lead: >2
                  leading space
                x
            keep: |+
              kept

            next: 1

            """)
    }

    @Test func blockScalarItemsAndHeaderComments() {
        let input = "extra:\n- |  # why\n    text\n- >\n   folded\n"
        #expect(canonical(input) == "extra:\n  - |  # why\n    text\n  - >\n    folded\n")
    }

    @Test func leftAsIs() {
        for text in ["", "\n", "# only a comment\n", "just a scalar\n"] {
            #expect(FileFormatter.format(Array(text.utf8), path: "groups/g.yaml") == .leftAsIs, "\(text)")
        }
    }

    @Test func emptyRootCollections() {
        #expect(canonical("# c\n{}\n") == "# c\n{}\n")
        #expect(canonical("[]\n") == "[]\n")
        #expect(canonical("[b, a]\n") == "- b\n- a\n")
    }
}

@Suite("Format: comments")
struct FormatCommentTests {
    @Test func headerStaysAtTheTopWhenTheFirstKeyMoves() {
        let input = """
            # yaml-language-server: $schema=../schemas/group.schema.json
            #
            # The finance team.
            members: [b, a]
            description: Finance

            """
        #expect(canonical(input) == """
            # yaml-language-server: $schema=../schemas/group.schema.json
            #
            # The finance team.
            description: Finance
            members: [a, b]

            """)
    }

    @Test func commentsMoveWithTheirEntries() {
        let input = """
            # header

            connect: [b, a]   # eol of connect

            # about grants
            grants:    # type -> ids
              # about tables
              table:
                - z.t      # why z
                # about a
                - a.t
                # commented out:
                # - q.t
              service: [x]
            # before members
            members:
            - zed
            - amy  # amy!
            description: Team
            # the end

            """
        #expect(canonical(input) == """
            # header

            description: Team
            # before members
            members:
              - amy  # amy!
              - zed

            # about grants
            grants:    # type -> ids
              service: [x]
              # about tables
              table:
                # about a
                - a.t
                - z.t      # why z
                # commented out:
                # - q.t
            connect: [a, b]   # eol of connect
            # the end

            """)
    }

    @Test func commentsOfNestedMappingsAndTheirColumns() {
        // The acme accessctl.yaml style: a comment above a nested key, aligned comments.
        let input = """
            version: 1

            policy:
              # A user may only be connected to a granted service.
              require_service_grant: true

            defaults:
              ttl_days: 365            # key lifetime
              rotate_before_days: 30   # renew early

            """
        #expect(canonical(input, path: "accessctl.yaml") == input)
        // A comment that no longer fits its column gets two spaces after the content.
        #expect(canonical("members:  # who\n  - a_rather_long_user_name\n  - b\n")
            == "members: [a_rather_long_user_name, b]  # who\n")
    }

    @Test func commentOnAnItemKeepsTheListInBlockStyle() {
        #expect(canonical("members: [b, a]\nconnect:\n  - y\n  # why x\n  - x\n")
            == "members: [a, b]\nconnect:\n  # why x\n  - x\n  - y\n")
    }

    @Test func itemMappingsAndTheirComments() {
        let input = "extra:\n  - name: a   # n\n    # about id\n    id: 1\n  -\n    # before k\n    k: v\n"
        #expect(canonical(input) == "extra:\n  - name: a   # n\n    # about id\n    id: 1\n  -\n    # before k\n    k: v\n")
        // A comment on the `-` line of an item whose mapping starts below stays there.
        #expect(canonical("extra:\n- # the item\n  k: v\n  # about j\n  j: w\n")
            == "extra:\n  -  # the item\n    k: v\n    # about j\n    j: w\n")
    }

    @Test func trailingCommentsOfANestedBlockStayWithIt() {
        let input = "grants:\n  service: [a]\n  # more later\nmembers: [x]\ndescription: d\n"
        #expect(canonical(input) == "description: d\nmembers: [x]\ngrants:\n  service: [a]\n  # more later\n")
        // At the next key's column it belongs to that key.
        #expect(canonical("grants:\n  service: [a]\n# the members\nmembers: [x]\n")
            == "# the members\nmembers: [x]\ngrants:\n  service: [a]\n")
    }

    /// Found by a randomized run: each must format, keep its meaning and be idempotent.
    @Test func blankLinesAroundBlockScalarsAndItemTrailers() {
        // A blank line before a key that moves right after a `|+` scalar would join its value.
        #expect(canonical("grants:\n\nmembers: [a]\ndescription: >+\n    text here\n")
            == "description: >+\n  text here\nmembers: [a]\ngrants:\n")
        // Blank lines after a `>-` scalar are layout, not value.
        #expect(canonical("connect: [b]\n\n\ndescription: >-\n  text here\n\nextra: 1\n")
            == "description: >-\n  text here\nconnect: [b]\n\nextra: 1\n")
        // A comment indented under an item's mapping stays at the end of that mapping.
        #expect(canonical("extra:\n  - k: yes\n    j: []\n      # last of the item\n  - other\n")
            == "extra:\n  - k: yes\n    j: []\n    # last of the item\n  - other\n")
    }

    @Test func refusedComments() {
        #expect(refusal("members: [a,  # inside\n  b]\n") == [
            "groups/team.yaml:1:15: error: cannot format: comment inside a flow collection (the one at line 1, column 10); put the comment on its own line above the key, or write the list as '- item' lines",
        ])
        #expect(refusal("members: [a,\n  # inside\n  b]\n") == [
            "groups/team.yaml:2:3: error: cannot format: comment inside a flow collection (the one at line 1, column 10); put the comment on its own line above the key, or write the list as '- item' lines",
        ])
        #expect(refusal("description: # here\n  text\n") == [
            "groups/team.yaml:1:14: error: cannot format: comment between the key 'description' and its value; put it on its own line above the key, or after the value",
        ])
        #expect(refusal("description:\n  # here\n  text\n") == [
            "groups/team.yaml:2:3: error: cannot format: comment between the key 'description' and its value; put it on its own line above the key, or after the value",
        ])
        #expect(refusal("extra:\n  - # here\n    text\n") == [
            "groups/team.yaml:2:5: error: cannot format: comment between '-' and its value; put it on its own line above the '-', or after the value",
        ])
        #expect(refusal("extra:\n  -\n    # here\n    [a]\n") == [
            "groups/team.yaml:3:5: error: cannot format: comment between '-' and its value; put it on its own line above the '-', or after the value",
        ])
        #expect(refusal("extra: {a: 1,  # c\n  b: 2}\n").count == 1)
    }

    @Test func refusedLineBreaks() {
        #expect(refusal("description: a\rmembers: [b]\n") == [
            "groups/team.yaml:1:15: error: cannot format: a carriage return that does not end a CR LF line break; use LF (or CR LF) line breaks",
        ])
        #expect(refusal("description: \"a\u{2028}b\"\n") == [
            "groups/team.yaml:1:16: error: cannot format: a Unicode line break (NEL, U+2028 or U+2029); use LF line breaks, or write it as an escape (\\N, \\L, \\P) in a double-quoted string",
        ])
    }

    @Test func filesThatDoNotParseGiveTheirProblems() {
        #expect(refusal("members: [a\n") == [
            "groups/team.yaml:2:1: error: the list opened with '[' at line 1, column 10 is never closed; add ']' after its last item",
        ])
        #expect(refusal("a: 1\na: 2\nb: &x 1\n") == [
            "groups/team.yaml:2:1: error: duplicate key 'a' (first at line 1, column 1)",
            "groups/team.yaml:3:4: error: anchors are not allowed ('&x'); write the value out",
        ])
        #expect(refusal([0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8)).count == 1)
    }
}

@Suite("Format: repositories")
struct FormatRepositoryTests {
    static let acme = Fixture.projectRoot + "/examples/acme"

    /// Every YAML file of the repository at `root`, formatted once and again.
    private func expectIdempotent(_ root: String, label: String, types: [String]?) throws -> Int {
        var formatted = 0
        for entry in try DirectorySource(path: root).entries() where entry.kind == .regular && entry.path.hasSuffix(".yaml") {
            let bytes = try DirectorySource.readFile(at: root + "/" + entry.path)
            switch FileFormatter.format(bytes, path: entry.path, resourceTypes: types) {
            case .formatted(let once):
                formatted += 1
                let twice = FileFormatter.format(once, path: entry.path, resourceTypes: types)
                #expect(twice == .formatted(once), "\(label) \(entry.path): not idempotent")
            case .leftAsIs:
                break
            case .failed(let diagnostics):
                // Only files that do not parse may fail; none may be refused for its comments.
                #expect(!diagnostics.contains { $0.message.hasPrefix("cannot format") },
                        "\(label) \(entry.path): \(diagnostics.map(\.description))")
            }
        }
        return formatted
    }

    /// Diagnostics with every number replaced, so positions that moved do not count.
    private func outcome(_ result: LoadResult) -> [String] {
        result.diagnostics.map { d in
            "\(d.path) \(d.severity) \(d.message.replacing(/[0-9]+/, with: "#"))"
        }.sorted()
    }

    @Test func acmeFormatsWithoutRefusalAndMeansTheSame() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(Self.acme, to: "acme")
            #expect(try expectIdempotent(repo, label: "acme", types: acmeTypes) == 20)
            let before = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            let report = try RepoFormatter.format(directory: repo, write: true)
            #expect(report.diagnostics.isEmpty)
            #expect(report.fileCount == 20)
            #expect(report.changed.isEmpty, "the shipped example is kept in canonical layout")
            let after = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            #expect(after.state != nil && after.state == before.state)
            // Every comment survived.
            let finance = try String(contentsOfFile: repo + "/groups/finance.yaml", encoding: .utf8)
            #expect(finance == """
                # yaml-language-server: $schema=../../../schemas/group.schema.json
                description: Finance team (accounts payable, accounts receivable, controlling)
                members: [john.doe, maria.lopez, priya]
                grants:
                  service: [invoicing, purchase_orders]
                  plugin: [acme-tools/fx-rates, acme-tools/po-helper]
                  table: [finance.invoices, finance.payments, finance.purchase_orders]
                  knowledge: [finance-procedures, month-end-close]
                # Everyone in finance works with purchase orders daily: connect them all.
                # Invoicing is granted but connected per user (users/<id>.yaml connections).
                connect: [purchase_orders]

                """)
            let second = try RepoFormatter.format(directory: repo, write: true)
            #expect(second.changed.isEmpty && second.diagnostics.isEmpty)
        }
    }

    @Test func baseFixtureMeansTheSameAfterFormatting() throws {
        try Scratch.with { scratch in
            let repo = scratch.path("base")
            try Fixture.copyTree(from: Fixture.basePath, to: repo)
            let before = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            #expect(before.state != nil)
            _ = try expectIdempotent(repo, label: "base", types: acmeTypes)
            let report = try RepoFormatter.format(directory: repo, write: true)
            #expect(report.diagnostics.isEmpty)
            let after = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            #expect(after.state == before.state)
        }
    }

    @Test("every invalid fixture: idempotent, and validates the same after formatting", arguments: Fixture.invalidNames)
    func invalidFixture(_ name: String) throws {
        let fixture = try Fixture(name)
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try fixture.buildTree(at: repo)
            try fixture.addSubmoduleDirectories(in: repo)
            _ = try expectIdempotent(repo, label: name, types: acmeTypes)
            let before = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            _ = try RepoFormatter.format(directory: repo, write: true)
            let after = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            #expect(outcome(after) == outcome(before), "\(name)")
            #expect(after.state == before.state)
        }
    }

    /// A comment inserted anywhere in the acme files is either kept (the file formats, and
    /// formatting again changes nothing) or refused with a "cannot format: comment" message;
    /// never lost, and never a file that would read differently.
    @Test func commentsAnywhereInTheExample() throws {
        var formatted = 0, refused = 0
        for entry in try DirectorySource(path: Self.acme).entries() where entry.path.hasSuffix(".yaml") {
            let lines = try String(decoding: DirectorySource.readFile(at: Self.acme + "/" + entry.path), as: UTF8.self)
                .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for index in lines.indices {
                var variants: [[String]] = []
                for indent in [0, 2, 4] {
                    var copy = lines
                    copy.insert(String(repeating: " ", count: indent) + "# inserted", at: index)
                    variants.append(copy)
                }
                if !lines[index].isEmpty && !lines[index].contains("#") {
                    var copy = lines
                    copy[index] += "  # inserted"
                    variants.append(copy)
                }
                for variant in variants {
                    let text = variant.joined(separator: "\n")
                    switch FileFormatter.format(Array(text.utf8), path: entry.path, resourceTypes: acmeTypes) {
                    case .formatted(let out):
                        formatted += 1
                        #expect(String(decoding: out, as: UTF8.self).contains("# inserted"), "\(entry.path):\n\(text)")
                        #expect(FileFormatter.format(out, path: entry.path, resourceTypes: acmeTypes) == .formatted(out),
                                "\(entry.path): not idempotent:\n\(text)")
                    case .failed(let diagnostics):
                        refused += 1
                        #expect(diagnostics.count == 1 && diagnostics[0].message.hasPrefix("cannot format: comment"),
                                "\(entry.path): \(diagnostics.map(\.description))\n\(text)")
                    case .leftAsIs:
                        Issue.record("\(entry.path) left as is")
                    }
                }
            }
        }
        #expect(formatted > 500)
        #expect(refused == 0)
    }

    @Test func checkWritesNothingAndWriteKeepsTheMode() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(Self.acme, to: "acme")
            let path = repo + "/groups/finance.yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try text.replacingOccurrences(of: "[john.doe, maria.lopez, priya]", with: "[priya, maria.lopez, john.doe]")
                .write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o640)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let check = try RepoFormatter.format(directory: repo, write: false)
            #expect(check.changed.count == 1 && check.changed.allSatisfy { !$0.written })
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
            _ = try RepoFormatter.format(directory: repo, write: true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) != original)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o640)
            // No temporary file is left behind.
            let names = try FileManager.default.contentsOfDirectory(atPath: repo + "/groups")
            #expect(!names.contains { $0.hasPrefix(".") })
        }
    }

    @Test func brokenLinkedAndIgnoredFiles() throws {
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try scratch.write("repo/accessctl.yaml", "resource_types: [table, service]\nversion: 1\n")
            try scratch.write("repo/groups/ok.yaml", "members: [b, a]\ngrants:\n  service: [s]\n  table: [t]\n")
            try scratch.write("repo/groups/broken.yaml", "members: [b, a\n")
            try scratch.write("repo/users/target.txt", "connections: [b, a]\n")
            try FileManager.default.createSymbolicLink(atPath: repo + "/users/linked.yaml", withDestinationPath: "target.txt")
            try scratch.write("repo/.github/x.yaml", "b: 1\na:   2\n")
            try scratch.write("repo/users/old.yml", "connections: [b, a]\n")
            try scratch.write("repo/notes/x.yaml", "connections: [b, a]\n")
            let report = try RepoFormatter.format(directory: repo, write: true)
            #expect(report.changed.map(\.path) == ["accessctl.yaml", "groups/ok.yaml"])
            #expect(report.diagnostics.map(\.description) == [
                "groups/broken.yaml:2:1: error: the list opened with '[' at line 1, column 10 is never closed; add ']' after its last item",
                "users/linked.yaml:1:1: error: cannot format: a symbolic link; fmt formats only regular files and never follows links",
            ])
            // Grant types follow resource_types of accessctl.yaml.
            #expect(try String(contentsOfFile: repo + "/groups/ok.yaml", encoding: .utf8)
                == "members: [a, b]\ngrants:\n  table: [t]\n  service: [s]\n")
            #expect(try String(contentsOfFile: repo + "/accessctl.yaml", encoding: .utf8)
                == "version: 1\nresource_types: [table, service]\n")
            let untouched = ["users/target.txt": "connections: [b, a]\n", ".github/x.yaml": "b: 1\na:   2\n",
                             "users/old.yml": "connections: [b, a]\n", "notes/x.yaml": "connections: [b, a]\n",
                             "groups/broken.yaml": "members: [b, a\n"]
            for (path, text) in untouched {
                #expect(try String(contentsOfFile: repo + "/" + path, encoding: .utf8) == text, "\(path) changed")
            }
        }
    }

    @Test func missingDirectoryThrows() {
        #expect(throws: RepoReadError.self) { try RepoFormatter.format(directory: "/nonexistent/repo", write: false) }
    }
}

@Suite("Format: unified diff")
struct UnifiedDiffTests {
    @Test func hunksWithContext() {
        let old = (1...12).map { "line \($0)\n" }.joined()
        var lines = (1...12).map { "line \($0)" }
        lines[1] = "changed 2"
        lines.insert("new", at: 11)
        let new = lines.map { $0 + "\n" }.joined()
        #expect(UnifiedDiff.render(path: "groups/g.yaml", old: Array(old.utf8), new: Array(new.utf8)) == """
            --- a/groups/g.yaml
            +++ b/groups/g.yaml
            @@ -1,5 +1,5 @@
             line 1
            -line 2
            +changed 2
             line 3
             line 4
             line 5
            @@ -9,4 +9,5 @@
             line 9
             line 10
             line 11
            +new
             line 12

            """)
    }

    @Test func missingNewlineAndCarriageReturns() {
        #expect(UnifiedDiff.render(path: "u.yaml", old: Array("a: 1\r\nb: 2".utf8), new: Array("a: 1\nb: 2\n".utf8)) == """
            --- a/u.yaml
            +++ b/u.yaml
            @@ -1,2 +1,2 @@
            -a: 1\\u{D}
            -b: 2
            \\ No newline at end of file
            +a: 1
            +b: 2

            """)
        #expect(UnifiedDiff.render(path: "u.yaml", old: [1], new: [1]) == "")
    }
}
