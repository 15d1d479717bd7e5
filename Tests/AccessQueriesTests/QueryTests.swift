import AccessQueries
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

    @Test func whoCanListsUsersThroughGroupsAndWhetherConnected() throws {
        let crm = try Queries.whoCan(type: "service", resource: "crm", in: Self.state)
        #expect(crm.users.map(\.user) == ["ann", "bob"])
        #expect(crm.users[0].connected == true && crm.users[1].connected == false)
        #expect(crm.users[1].active == false)
        let common = try Queries.whoCan(type: "table", resource: "t.common", in: Self.state)
        #expect(common.users.first?.via == ["Everyone", "sales"])
        #expect(common.users.first?.connected == nil)
        // Without a catalog, any id of a listed type is a fair question.
        #expect(try Queries.whoCan(type: "table", resource: "t.nobody", in: Self.state).users.isEmpty)
    }

    @Test func whoCanRefusesATypeOutsideResourceTypesAServiceThatDoesNotExistAndAnIdOutsideTheCatalog() throws {
        #expect(throws: QueryError.unknownResourceType("plugin")) { try Queries.whoCan(type: "plugin", resource: "x", in: Self.state) }
        #expect(throws: QueryError.unknownResourceType("tabel")) { try Queries.whoCan(type: "tabel", resource: "t.common", in: Self.state) }
        #expect(throws: QueryError.unknownService("crmm")) { try Queries.whoCan(type: "service", resource: "crmm", in: Self.state) }
        var catalogued = Self.state
        catalogued.catalogs = ["table": ["t.common", "t.sales"]]
        #expect(throws: QueryError.unknownResource(type: "table", id: "t.sale")) {
            try Queries.whoCan(type: "table", resource: "t.sale", in: catalogued)
        }
        #expect(try Queries.whoCan(type: "table", resource: "t.sales", in: catalogued).users.map(\.user) == ["ann", "bob"])
    }

    @Test func explainGroupListsMembersGrantsConnectAndWhoGetsWhichServiceThroughIt() throws {
        let sales = try #require(Queries.explain(group: "sales", in: Self.state))
        #expect(sales.members.map(\.user) == ["ann", "bob"])
        #expect(sales.members.map(\.active) == [true, false])
        #expect(sales.members.allSatisfy { $0.source == "listed in groups/sales.yaml" })
        #expect(sales.grants.map { "\($0.type) \($0.resource)" } == ["service crm", "service po", "table t.common", "table t.sales"])
        #expect(sales.connect == ["crm"])
        #expect(sales.system == nil)
        #expect(sales.services.map(\.service) == ["crm", "po"])
        let crm = sales.services[0], po = sales.services[1]
        #expect(crm.granted && crm.connect && crm.enabled)
        #expect(crm.connections.map(\.user) == ["ann", "bob"])
        #expect(crm.connections[0].because == ["connect: of group sales"] && crm.connections[0].effective)
        #expect(crm.connections[1].note == "user inactive: no key")
        #expect(po.granted && !po.connect && !po.enabled)
        #expect(po.connections.map(\.user) == ["ann"])
        #expect(po.connections[0].because == ["listed in users/ann.yaml"] && po.connections[0].note == "service disabled: no key")
    }

    @Test func explainEveryoneWithoutAFileAndAnUnknownGroup() throws {
        var state = Self.state
        state.groups.removeAll { $0.id == "Everyone" }
        let everyone = try #require(Queries.explain(group: "Everyone", in: state))
        #expect(everyone.members.map(\.user) == ["ann", "bob"])
        #expect(everyone.members.first?.source == "implicit: every user is in Everyone")
        #expect(everyone.grants.isEmpty && everyone.services.isEmpty)
        #expect(everyone.system == "system group: every user is a member implicitly")
        #expect(Queries.explain(group: "sale", in: Self.state) == nil)
    }

    @Test func explainServiceListsWhoIsConnectedThroughWhichGroups() throws {
        let crm = try #require(Queries.explain(service: "crm", in: Self.state))
        #expect(crm.name == "CRM" && crm.enabled && crm.ttlDays == 90 && crm.rotateBeforeDays == 30 && crm.envVar == "CRM_API_KEY")
        #expect(crm.grantedBy == ["sales"] && crm.connectedBy == ["sales"] && crm.grantedUsers == 2)
        #expect(crm.connections.map(\.user) == ["ann", "bob"])
        #expect(crm.connections[0].because == ["connect: of group sales"] && crm.connections[0].via == ["sales"])
        #expect(crm.connections[1].active == false && crm.connections[1].note == "user inactive: no key")
        #expect(crm.keys == 1)
        let po = try #require(Queries.explain(service: "po", in: Self.state))
        #expect(!po.enabled && po.keys == 0 && po.connectedBy.isEmpty)
        #expect(po.connections.map(\.because) == [["listed in users/ann.yaml"]])
        #expect(Queries.explain(service: "cr", in: Self.state) == nil)
    }
}
