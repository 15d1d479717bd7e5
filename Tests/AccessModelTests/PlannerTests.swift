import AccessModel
import Testing

/// A small world to plan over: two services, three users, groups, and helpers to derive a
/// matching live state and home observations from it (ReplaceTests plans over it too).
struct World {
    static let now: Int64 = 1_800_000_000
    static let day: Int64 = 86_400

    var desired: DesiredState
    var live: LiveState
    var homes = HomeObservations()

    static func service(_ id: String, enabled: Bool = true, env: String? = nil, ttl: Int = 90) -> Service {
        Service(id: id, name: id.uppercased(), tokenExchangeURL: "https://\(id).example.com/x",
                tokenRevokeURL: "https://\(id).example.com/r", envVar: env ?? id.uppercased() + "_API_KEY",
                secretEnv: "SC_SECRET_" + id.uppercased(), skillPath: "services/\(id).md", skill: "# \(id)\n",
                ttlDays: ttl, enabled: enabled)
    }

    static func key(_ user: String, _ service: String) -> Secret { Secret("\(service)_key_for_\(user)_0123456789") }

    /// alice (Admin) and bob in finance (grants po, crm; connect po); bob connects crm himself.
    static func base() -> World {
        let desired = DesiredState(
            config: RepoConfig(resourceTypes: ["service", "table"], ttlDays: 365, rotateBeforeDays: 30),
            services: [service("po"), service("crm")],
            users: [User(id: "alice", email: "alice@example.com", unixUser: "alice"),
                    User(id: "bob", email: "bob@example.com", unixUser: "bob", connections: ["crm"])],
            groups: [Group(id: "Admin", members: ["alice"]),
                     Group(id: "finance", members: ["alice", "bob"], grants: ["service": ["crm", "po"], "table": ["t1"]],
                           connect: ["po"])])
        return World(desired: desired, live: .empty)
    }

    /// The live state and homes an apply of `desired` would leave, keys expiring in `expiresIn` days.
    mutating func converge(expiresIn days: Int64 = 200) {
        let services = desired.services.map {
            LiveService(id: $0.id, name: $0.name, description: $0.description, tokenExchangeURL: $0.tokenExchangeURL,
                        tokenRevokeURL: $0.tokenRevokeURL, healthURL: $0.healthURL, envVar: $0.envVar, secretEnv: $0.secretEnv,
                        skillSHA256: HomeFiles.sha256($0.skill), ttlDays: $0.ttlDays, keyPrefix: $0.keyPrefix, enabled: $0.enabled)
        }
        let users = desired.users.map { LiveUser(id: $0.id, email: $0.email, unixUser: $0.unixUser, active: $0.active) }
        let groups = desired.groups.map { LiveGroup(id: $0.id, description: $0.description) }
        var members: [LiveMember] = [], grants: [LiveGrant] = []
        for g in desired.groups {
            members += g.members.map { LiveMember(group: g.id, user: $0) }
            for (type, ids) in g.grants { grants += ids.map { LiveGrant(group: g.id, type: type, resource: $0) } }
        }
        var connections: [LiveConnection] = []
        var homes: [String: HomeState] = [:]
        let effective = desired.effectiveConnections()
        for user in desired.users {
            var entries: [(variable: String, key: Secret)] = []
            var skills: [String: FileObservation] = [:]
            if user.active {
                for s in effective[user.id] ?? [] {
                    guard let service = desired.services.first(where: { $0.id == s }), service.enabled else { continue }
                    connections.append(LiveConnection(user: user.id, service: s, status: .active, requestID: "r-\(user.id)-\(s)",
                                                      tokenID: "t-\(user.id)-\(s)", apiKey: World.key(user.id, s),
                                                      issuedAt: World.now - World.day, expiresAt: World.now + days * World.day))
                    entries.append((service.envVar, World.key(user.id, s)))
                    skills[HomeFiles.skillFile(s)] = .present(sha256: HomeFiles.sha256(service.skill), mode: "0600")
                }
            }
            homes[user.unixUser] = entries.isEmpty
                ? HomeState()
                : HomeState(serviceEnv: .present(sha256: HomeFiles.sha256(HomeFiles.serviceEnv(entries)), mode: "0600"),
                            claudeRules: .present(sha256: nil, mode: "0700"), skills: skills)
        }
        live = LiveState(services: services, users: users, groups: groups, members: members, grants: grants, connections: connections)
        self.homes = HomeObservations(homes: homes)
    }

    func plan(adopt: Bool = false, now: Int64 = World.now, replace: [TargetPattern] = []) -> Plan {
        Planner.plan(PlanInput(desired: desired, commit: nil, live: live, homes: homes, now: now, adopt: adopt, replace: replace))
    }
}

extension Plan {
    /// "kind address: reason" per action, for compact expectations.
    var lines: [String] { actions.map { "\($0.kind.rawValue) \($0.address): \($0.reason)" } }
    func action(_ address: String) -> PlannedAction? { actions.first { $0.address == address } }
}

@Suite("Planner")
struct PlannerTests {
    @Test func emptyLiveStatePlansEverythingAsCreate() {
        var world = World.base()
        world.homes = HomeObservations(homes: ["alice": HomeState(), "bob": HomeState()])
        let plan = world.plan()
        #expect(plan.lines == [
            "create service.crm: added in desired state",
            "create service.po: added in desired state",
            "create user.alice: added in desired state",
            "create user.bob: added in desired state",
            "create group.Admin: added in desired state",
            "create group.finance: added in desired state",
            "create member.Admin.alice: added in desired state",
            "create member.finance.alice: added in desired state",
            "create member.finance.bob: added in desired state",
            "create grant.finance.service.crm: added in desired state",
            "create grant.finance.service.po: added in desired state",
            "create grant.finance.table.t1: added in desired state",
            "connect connection.alice.po: added in desired state",
            "connect connection.bob.crm: added in desired state",
            "connect connection.bob.po: added in desired state",
            "write-file file.alice.claude_rules/sc_po.md: new connection",
            "write-file file.alice.service_env: keys to issue",
            "write-file file.bob.claude_rules/sc_crm.md: new connection",
            "write-file file.bob.claude_rules/sc_po.md: new connection",
            "write-file file.bob.service_env: keys to issue",
        ])
        let summary = plan.summary
        #expect((summary.add, summary.keysToIssue, summary.filesToWrite) == (12, 3, 5))
        #expect(plan.action("service.po")?.changes.contains(FieldChange(field: "env_var", old: nil, new: "PO_API_KEY")) == true)
    }

    @Test func convergedStateHasNoChanges() {
        var world = World.base()
        world.converge()
        let plan = world.plan()
        #expect(plan.actions.isEmpty, "\(plan.lines)")
        #expect(!plan.summary.hasChanges)
    }

    @Test func planIsDeterministic() {
        var world = World.base()
        world.converge()
        world.desired.users[0].email = "alice2@example.com"
        #expect(world.plan() == world.plan())
    }

    @Test func updatesListTheChangedFields() {
        var world = World.base()
        world.converge()
        world.desired.services[0].name = "Customer Relations"
        world.desired.services[0].skill = "# crm v2\n"
        world.desired.users[1].email = "robert@example.com"
        world.desired.groups[1].description = "Finance team"
        let plan = world.plan()
        #expect(plan.action("service.crm")?.kind == .update)
        #expect(plan.action("service.crm")?.changes.map(\.field) == ["name", "skill"])
        #expect(plan.action("service.crm")?.changes.first == FieldChange(field: "name", old: "CRM", new: "Customer Relations"))
        #expect(plan.action("user.bob")?.changes == [FieldChange(field: "email", old: "bob@example.com", new: "robert@example.com")])
        #expect(plan.action("group.finance")?.changes == [FieldChange(field: "description", old: nil, new: "Finance team")])
        #expect(plan.action("file.bob.claude_rules/sc_crm.md")?.reason == "skill updated in desired state")
    }

    @Test func deletionsOnlyTouchGitopsRows() {
        var world = World.base()
        world.converge()
        world.live.users.append(LiveUser(id: "zed", email: "zed@example.com", unixUser: "zed", source: .admin))
        world.live.users.append(LiveUser(id: "old", email: "old@example.com", unixUser: "old"))
        world.live.members.append(LiveMember(group: "finance", user: "zed", source: .googleSync))
        world.live.grants.append(LiveGrant(group: "finance", type: "table", resource: "t2"))
        let plan = world.plan()
        #expect(plan.lines == [
            "delete user.old: removed from desired state",
            "delete grant.finance.table.t2: removed from desired state",
        ])
    }

    @Test("conflicts with each foreign source, and --adopt", arguments: [RowSource.admin, .googleSync, .systemSeed])
    func conflicts(_ source: RowSource) {
        var world = World.base()
        world.converge()
        world.live.users[0].source = source
        world.live.users[0].email = "alice@old.example.com"
        world.live.grants[0].source = source
        let plan = world.plan()
        let conflict = plan.action("user.alice")
        #expect(conflict?.kind == .conflict)
        #expect(conflict?.reason == "exists with source \(source.rawValue); left alone (plan with --adopt to take ownership)")
        #expect(conflict?.changes == [FieldChange(field: "email", old: "alice@old.example.com", new: "alice@example.com")])
        #expect(plan.action("grant.finance.service.crm")?.kind == .conflict)
        #expect(!plan.summary.hasChanges && plan.summary.conflicts == 2)

        let adopted = world.plan(adopt: true)
        #expect(adopted.action("user.alice")?.kind == .update)
        #expect(adopted.action("user.alice")?.reason == "adopted: owned by \(source.rawValue) until now")
        #expect(adopted.action("user.alice")?.changes.last == FieldChange(field: "source", old: source.rawValue, new: "gitops"))
        #expect(adopted.action("grant.finance.service.crm")?.kind == .update)
    }

    @Test func inactiveUserIsDisconnectedAndFilesRemoved() {
        var world = World.base()
        world.converge()
        world.desired.users[1].active = false
        #expect(world.plan().lines == [
            "update user.bob: changed in desired state",
            "disconnect connection.bob.crm: user inactive",
            "disconnect connection.bob.po: user inactive",
            "remove-file file.bob.claude_rules/sc_crm.md: user inactive",
            "remove-file file.bob.claude_rules/sc_po.md: user inactive",
            "remove-file file.bob.service_env: user inactive",
        ])
        #expect(world.plan().action("connection.bob.crm")?.changes
            == [FieldChange(field: "key", old: World.key("bob", "crm").fingerprint, new: nil)])
    }

    @Test func disabledServiceIsDisconnected() {
        var world = World.base()
        world.converge()
        world.desired.services[0].enabled = false  // crm
        let lines = world.plan().lines
        #expect(lines.contains("update service.crm: changed in desired state"))
        #expect(lines.contains("disconnect connection.bob.crm: service disabled"))
        #expect(lines.contains("write-file file.bob.service_env: connections changed"))
        #expect(lines.contains("remove-file file.bob.claude_rules/sc_crm.md: no connection to crm"))
    }

    @Test func removedUserAndServiceAndConnection() {
        var world = World.base()
        world.converge()
        world.desired.users[1].connections = []
        #expect(world.plan().lines.contains("disconnect connection.bob.crm: connection removed"))
        world.desired.users.removeAll { $0.id == "bob" }
        world.desired.groups[1].members = ["alice"]
        #expect(world.plan().lines.contains("disconnect connection.bob.crm: user removed"))
        #expect(world.plan().lines.contains("remove-file file.bob.service_env: user removed"))
    }

    @Test func withdrawnServiceGrant() {
        var world = World.base()
        world.converge()
        // crm is no longer granted to finance (and bob no longer lists it: validation would require that).
        world.desired.groups[1].grants["service"] = ["po"]
        world.desired.users[1].connections = []
        let lines = world.plan().lines
        #expect(lines.contains("delete grant.finance.service.crm: removed from desired state"))
        #expect(lines.contains("disconnect connection.bob.crm: service grant withdrawn"))
    }

    @Test("keys rotate inside rotate_before_days and not outside", arguments: [(29, true), (30, true), (31, false)])
    func rotationWindow(_ days: Int64, _ rotates: Bool) {
        var world = World.base()
        world.converge(expiresIn: days)
        let plan = world.plan()
        let action = plan.action("connection.alice.po")
        #expect((action?.kind == .rotate) == rotates, "\(plan.lines)")
        if rotates {
            #expect(action?.reason == "expires in \(days) days")
            #expect(action?.changes == [FieldChange(field: "key", old: World.key("alice", "po").fingerprint, new: "(new key)")])
            #expect(plan.action("file.alice.service_env")?.reason == "keys to rotate")
        }
    }

    @Test func expiredAndRetries() {
        var world = World.base()
        world.converge(expiresIn: -3)
        #expect(world.plan().action("connection.alice.po")?.reason == "expired 3 days ago")
        world.converge()
        world.live.connections[0].status = .error
        world.live.connections[0].lastError = "HTTP 503"
        world.live.connections[1].status = .pending
        world.live.connections[2].status = .revoking
        let plan = world.plan()
        #expect(plan.lines.contains("rotate connection.alice.po: retry after error: HTTP 503"))
        #expect(plan.lines.contains("rotate connection.bob.crm: retry: the last key exchange did not finish (same request id)"))
        #expect(plan.action("connection.bob.po")?.kind == .disconnect)
    }

    @Test func driftAndUnsafeHomes() {
        var world = World.base()
        world.converge()
        world.homes.homes["bob"]?.serviceEnv = .present(sha256: String(repeating: "0", count: 64), mode: "0600")
        world.homes.homes["bob"]?.skills["sc_crm.md"] = .absent
        world.homes.homes["bob"]?.skills["sc_old.md"] = .present(sha256: "x", mode: "0600")
        world.homes.homes["alice"]?.skills["sc_po.md"] = .present(sha256: HomeFiles.sha256("# po\n"), mode: "0644")
        #expect(world.plan().lines == [
            "write-file file.alice.claude_rules/sc_po.md: drift: mode 0644, expected 0600",
            "write-file file.bob.claude_rules/sc_crm.md: drift: file missing on disk",
            "remove-file file.bob.claude_rules/sc_old.md: no connection to old",
            "write-file file.bob.service_env: drift: file changed on disk",
        ])
        world.homes.homes["bob"]?.claudeRules = .unsafe("is a symbolic link")
        world.homes.failures["alice"] = "no such user"
        world.homes.homes["alice"] = nil
        #expect(world.plan().lines == [
            "drift home.alice: home of alice not available: no such user; its files are skipped",
            "drift home.bob: unsafe: .claude_rules: is a symbolic link; this user's files are skipped",
        ])
    }

    @Test func digestsFollowTheState() {
        var world = World.base()
        world.converge()
        let first = world.plan()
        #expect(first.desiredDigest.hasPrefix("sha256:") && first.desiredDigest.count == 71)
        world.live.connections[0].expiresAt! += 1
        let second = world.plan()
        #expect(first.desiredDigest == second.desiredDigest)
        #expect(first.liveDigest != second.liveDigest)
        world.homes.homes["bob"]?.skills["sc_crm.md"] = .absent
        #expect(world.plan().liveDigest != second.liveDigest)
    }

    @Test func noSecretInAnyPlanField() {
        var world = World.base()
        world.converge(expiresIn: 1)
        world.desired.users[1].active = false
        let plan = world.plan()
        let text = String(describing: plan)
        for connection in world.live.connections {
            #expect(!text.contains(connection.apiKey!.revealed))
        }
    }
}

@Suite("Diffs and live snapshots")
struct DiffAndSnapshotTests {
    @Test func convergedStateOfADesiredStatePlansNoChanges() {
        let world = World.base()
        let live = Converged.live(of: world.desired, now: World.now)
        let plan = Planner.plan(PlanInput(desired: world.desired, live: live, homes: Converged.homes(of: live), now: World.now,
                                          adopt: false))
        #expect(plan.actions.isEmpty, "\(plan.lines)")
    }

    @Test func diffShowsEffectiveAccessThroughGroupsEveryoneAndConnectLists() {
        let base = World.base().desired
        var head = base
        head.groups.append(Group(id: "Everyone", grants: ["table": ["handbook"]]))
        head.users.append(User(id: "carol", email: "carol@example.com", unixUser: "carol", active: false))
        head.groups[1].members.removeAll { $0 == "bob" }  // bob leaves finance: loses po, crm, t1 and the po key
        let side = DesiredDiff.Side(ref: "x", commit: nil)
        let diff = DesiredDiff.between(base: base, head: head, baseSide: side, headSide: side, now: World.now)
        let alice = diff.users.first { $0.user == "alice" }, bob = diff.users.first { $0.user == "bob" }
        #expect(alice?.gained.map(\.resource) == ["handbook"])
        #expect(alice?.gained.first?.via == ["Everyone"])
        #expect(bob?.lost.map(\.resource) == ["crm", "po", "t1"])
        #expect(bob?.gained.map(\.resource) == ["handbook"])
        #expect(bob?.keysToRevoke == ["po"], "his own crm connection stays (validation, not the diff, enforces grants)")
        let carol = diff.users.first { $0.user == "carol" }
        #expect(carol?.change == "added" && carol?.gained.isEmpty == true, "an inactive user is granted nothing")
        #expect(diff.summary == DesiredDiff.Summary(usersGaining: 2, usersLosing: 1, keysToIssue: 0, keysToRevoke: 1))
        #expect(diff.plan.actions.contains { $0.address == "connection.bob.po" && $0.kind == .disconnect })
        let same = DesiredDiff.between(base: base, head: base, baseSide: side, headSide: side, now: World.now)
        #expect(!same.hasChanges)
    }

    /// Plans the world directly and through a snapshot: the actions must be the same.
    private func expectSamePlan(_ world: World, _ label: String) {
        let snapshot = LiveSnapshot.make(live: world.live, homes: world.homes, lastAppliedCommit: nil, now: World.now)
        let (live, homes) = snapshot.restore()
        let restored = Planner.plan(PlanInput(desired: world.desired, live: live, homes: homes, now: World.now, adopt: false))
        let real = world.plan()
        #expect(restored.actions == real.actions, "\(label): \(restored.lines) vs \(real.lines)")
    }

    @Test func snapshotPlansMatchTheRealPlan() {
        var world = World.base()
        world.converge()
        expectSamePlan(world, "converged")
        var drift = world
        drift.homes.homes["bob"]?.serviceEnv = .present(sha256: String(repeating: "a", count: 64), mode: "0600")
        let aliceEnv = drift.homes.homes["alice"]?.serviceEnv.sha
        drift.homes.homes["alice"]?.serviceEnv = .present(sha256: aliceEnv, mode: "0640")
        drift.homes.homes["alice"]?.skills["sc_po.md"] = .absent
        expectSamePlan(drift, "drift")
        var renamed = world
        renamed.desired.services[0].envVar = "PO2_API_KEY"
        expectSamePlan(renamed, "env var renamed")
        var states = world
        states.live.connections[0].status = .error
        states.live.connections[0].lastError = "HTTP 503"
        states.live.connections[1].status = .pending
        states.live.connections[2].status = .revoking
        states.live.retiredTokens = [RetiredToken(service: "po", tokenID: "t-old", user: "bob", keyFingerprint: "sha256:0123456789ab",
                                                  retiredAt: World.now - 10)]
        expectSamePlan(states, "statuses and a retired token")
        var changed = world
        changed.desired.groups[1].members.removeAll { $0 == "bob" }
        changed.desired.users[0].active = false
        changed.homes.failures["carol"] = "no such user"
        expectSamePlan(changed, "membership and activity changes")
        var expiring = world
        expiring.converge(expiresIn: 3)
        expectSamePlan(expiring, "rotation")
    }

    @Test func snapshotHoldsNoKey() throws {
        var world = World.base()
        world.converge()
        let snapshot = LiveSnapshot.make(live: world.live, homes: world.homes, lastAppliedCommit: nil, now: World.now)
        let text = "\(snapshot)"
        for connection in world.live.connections {
            let key = try #require(connection.apiKey)
            #expect(!text.contains(key.revealed))
            #expect(!text.contains(HomeFiles.sha256(key.revealed)))
        }
        #expect(!text.contains("t-alice-po"), "no token id of a live connection")
        #expect(snapshot.connections.allSatisfy { $0.keyFingerprint?.hasPrefix("sha256:") == true })
    }
}

private extension FileObservation {
    var sha: String? {
        if case .present(let sha, _) = self { return sha }
        return nil
    }
}
