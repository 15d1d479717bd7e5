import Render
import AccessModel
import AccessQueries
import Testing

/// The text of `explain group` and `explain service` in the cases the acme goldens do not
/// show: a disabled service, an inactive member, a connection no group grants (policy off),
/// a description with a line break; and the messages of failed queries.
@Suite("Query rendering")
struct QueryRenderTests {
    static let state = DesiredState(
        config: RepoConfig(resourceTypes: ["service", "table"], requireServiceGrant: false),
        services: [Service(id: "po", name: "PO", description: "Orders\nand more", tokenExchangeURL: "https://p/x",
                           tokenRevokeURL: "https://p/r", envVar: "PO_API_KEY", secretEnv: "S", skillPath: "services/po.md",
                           skill: "", ttlDays: 90, enabled: false)],
        users: [User(id: "ann", email: "ann@x.example", unixUser: "ann", connections: ["po"]),
                User(id: "bob", email: "bob@x.example", unixUser: "bob", active: false)],
        groups: [Group(id: "ops", description: "Ops\tteam", members: ["ann", "bob"], connect: ["po"])],
        catalogs: ["table": ["t.one", "t.two"]])

    @Test func groupWithAnInactiveMemberAndAConnectedServiceItDoesNotGrant() throws {
        let text = QueryRenderer.text(try #require(Queries.explain(group: "ops", in: Self.state)))
        #expect(text == """
            group ops: Ops\\u{9}team
            members (listed in groups/ops.yaml):
              ann
              bob  [inactive]
            grants:
              (none)
            connect: po
            services through this group:
              po  (connected for every member, not granted here)  [service disabled: no keys]
                ann  (listed in users/ann.yaml; connect: of group ops)  [service disabled: no key]
                bob  (connect: of group ops)  [user inactive: no key]

            """)
    }

    @Test func disabledServiceWithConnectionsNoGroupGrants() throws {
        let text = QueryRenderer.text(try #require(Queries.explain(service: "po", in: Self.state)))
        #expect(text == """
            service po: PO (DISABLED: no keys, no files)
            description: Orders\\u{A}and more
            key: PO_API_KEY, ttl 90 days (rotated 30 days before it expires)
            skill: services/po.md
            granted by: (none) (0 users)
            connected for every member of: ops
            connections (2, 0 with a key):
              ann  (listed in users/ann.yaml; connect: of group ops)  not granted by any of their groups  [service disabled: no key]
              bob  (connect: of group ops)  not granted by any of their groups  [user inactive: no key]

            """)
    }

    @Test func messagesNameWhatIsWrongAndTheClosestName() {
        #expect(QueryRenderer.message(.unknownGroup("op"), in: Self.state)
            == "unknown group 'op': there is no groups/op.yaml; did you mean 'ops'?")
        #expect(QueryRenderer.message(.unknownUser("a\u{1B}[2J"), in: Self.state)
            == "unknown user 'a\\u{1B}[2J': there is no users/a\\u{1B}[2J.yaml; give a user id: the name of a file in users/, without .yaml")
        #expect(QueryRenderer.message(.unknownResourceType("tables"), in: Self.state)
            == "unknown resource type 'tables': resource_types of accessctl.yaml lists service, table; did you mean 'table'?")
        #expect(QueryRenderer.message(.unknownResource(type: "table", id: "t.three"), in: Self.state)
            == "unknown table id 't.three': catalogs/table.yaml does not list it; it lists 2 table ids")
    }
}
