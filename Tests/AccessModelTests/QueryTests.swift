import AccessModel
import Testing

@Suite("Queries")
struct QueryTests {
    static let state = DesiredState(
        config: RepoConfig(resourceTypes: ["service", "table"]),
        services: [Service(id: "crm", name: "CRM", tokenExchangeURL: "https://c/x", tokenRevokeURL: "https://c/r", envVar: "CRM_API_KEY",
                           secretEnv: "S", skillPath: "services/crm.md", skill: "", ttlDays: 90),
                   Service(id: "po", name: "PO", tokenExchangeURL: "https://p/x", tokenRevokeURL: "https://p/r", envVar: "PO_API_KEY",
                           secretEnv: "S", skillPath: "services/po.md", skill: "", ttlDays: 90, enabled: false)],
        users: [User(id: "ann", email: "ann@x.example", unixUser: "ann", connections: ["po"]),
                User(id: "bob", email: "bob@x.example", unixUser: "bob", active: false)],
        groups: [Group(id: "Everyone", grants: ["table": ["t.common"]]),
                 Group(id: "sales", members: ["ann", "bob"], grants: ["service": ["crm", "po"], "table": ["t.common", "t.sales"]],
                       connect: ["crm"])])

    @Test func explainListsGroupsGrantsWithTheirGroupsAndConnectionsWithReasons() throws {
        let ann = try #require(Queries.explain(user: "ann", in: Self.state))
        #expect(ann.groups == ["Everyone", "sales"])
        #expect(ann.grants.first { $0.resource == "t.common" }?.via == ["Everyone", "sales"])
        #expect(ann.grants.map(\.resource) == ["crm", "po", "t.common", "t.sales"])
        #expect(ann.connections.map(\.service) == ["crm", "po"])
        #expect(ann.connections[0].because == ["connect: of group sales"])
        #expect(ann.connections[1].because == ["listed in users/ann.yaml"])
        #expect(ann.connections[1].effective == false && ann.connections[1].note == "service disabled: no key")
        #expect(Queries.explain(user: "bob", in: Self.state)?.connections.first?.note == "user inactive: no key")
        #expect(Queries.explain(user: "nobody", in: Self.state) == nil)
    }

    @Test func whoCanListsUsersThroughGroupsAndWhetherConnected() {
        let crm = Queries.whoCan(type: "service", resource: "crm", in: Self.state)
        #expect(crm.users.map(\.user) == ["ann", "bob"])
        #expect(crm.users[0].connected == true && crm.users[1].connected == false)
        #expect(crm.users[1].active == false)
        let common = Queries.whoCan(type: "table", resource: "t.common", in: Self.state)
        #expect(common.users.first?.via == ["Everyone", "sales"])
        #expect(common.users.first?.connected == nil)
        #expect(Queries.whoCan(type: "plugin", resource: "x", in: Self.state).users.isEmpty)
    }
}
