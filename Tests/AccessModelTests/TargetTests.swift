import AccessModel
import Foundation
import Testing

/// Plan targets: one rendering as the address strings of docs/plan.md, one parser, and the
/// two agree on every shape, including ids with dots where the repository allows them.
@Suite("Plan targets")
struct TargetTests {
    static let cases: [(Target, String)] = [
        (.service("crm"), "service.crm"),
        (.user("john.smith"), "user.john.smith"),
        (.group("finance"), "group.finance"),
        (.membership(group: "finance", user: "john.smith"), "member.finance.john.smith"),
        (.grant(group: "finance", type: "plugin", resource: "acme-tools/po-helper.v2"), "grant.finance.plugin.acme-tools/po-helper.v2"),
        (.connection(user: "john.smith", service: "purchase_orders"), "connection.john.smith.purchase_orders"),
        (.retiredKey(service: "crm", tokenID: "tok.42"), "token.crm.tok.42"),
        (.serviceEnv(user: "john.smith"), "file.john.smith.service_env"),
        (.skillFile(user: "john.smith", name: "sc_crm.md"), "file.john.smith.claude_rules/sc_crm.md"),
        (.home(user: "john.smith"), "home.john.smith"),
    ]

    @Test("each target renders as its address and parses back", arguments: 0..<cases.count)
    func roundTrip(_ index: Int) {
        let (target, address) = Self.cases[index]
        #expect(target.address == address)
        #expect(Target(address: address) == target)
    }

    @Test("strings that are not addresses are refused")
    func refused() {
        for text in ["", "service", "service.", "member.finance", "member.finance.", "grant.g.type", "connection.nodot",
                     "file.john.other", "file..service_env", "file.john.notes/x.md", "file.john.claude_rules/", "bogus.x", "token.crm"] {
            #expect(Target(address: text) == nil, "\(text)")
        }
    }

    @Test("categories order a plan: registry rows, memberships, grants, keys, then files and homes")
    func categories() {
        let order = Self.cases.map { $0.0.category }
        #expect(order == order.sorted())
        #expect(Self.cases.filter { $0.0.isRegistry }.count == 5)
    }

    @Test("a planned action encodes its target as the address string and decodes it back")
    func codable() throws {
        let action = PlannedAction(.connect, .connection(user: "a.b", service: "crm"), reason: "added in desired state")
        let data = try JSONEncoder().encode(action)
        #expect(String(decoding: data, as: UTF8.self).contains(#""address":"connection.a.b.crm""#))
        #expect(try JSONDecoder().decode(PlannedAction.self, from: data) == action)
        let bad = Data(#"{"kind":"connect","address":"nonsense","reason":"r","changes":[]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PlannedAction.self, from: bad) }
    }
}
