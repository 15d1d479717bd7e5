/// The state a complete, successful apply of a desired state leaves behind.
///
/// `accessctl diff` plans a head commit against the converged state of its base commit, so
/// the change between two commits comes out as the same actions `plan` shows, without a
/// database or homes. Keys are stand-ins (see `Secret.init(standInFor:)`), issued at `now`
/// and valid for the service's TTL, so nothing is due for rotation.
public enum Converged {
    /// The fingerprint shown for a key that exists in the base (not a real fingerprint).
    public static let currentKey = "(current key)"

    /// The live rows `desired` converges to, every one owned by gitops.
    public static func live(of desired: DesiredState, now: Int64, memberships: [String: [String]]? = nil) -> LiveState {
        var live = LiveState()
        live.services = desired.services.map {
            LiveService(id: $0.id, name: $0.name, description: $0.description, tokenExchangeURL: $0.tokenExchangeURL,
                        tokenRevokeURL: $0.tokenRevokeURL, healthURL: $0.healthURL, envVar: $0.envVar,
                        secretEnv: $0.secretEnv, skillSHA256: HomeFiles.sha256($0.skill), ttlDays: $0.ttlDays,
                        keyPrefix: $0.keyPrefix, enabled: $0.enabled)
        }
        live.users = desired.users.map { LiveUser(id: $0.id, email: $0.email, unixUser: $0.unixUser, active: $0.active) }
        live.groups = desired.groups.map { LiveGroup(id: $0.id, description: $0.description) }
        for group in desired.groups {
            if group.id != Group.everyone {
                for member in Set(group.members).sorted() { live.members.append(LiveMember(group: group.id, user: member)) }
            }
            for (type, ids) in group.grants.sorted(by: { $0.key < $1.key }) {
                for id in Set(ids).sorted() { live.grants.append(LiveGrant(group: group.id, type: type, resource: id)) }
            }
        }
        let services = Dictionary(desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let effective = desired.effectiveConnections(memberships: memberships)
        for user in desired.users where user.active {
            for id in effective[user.id] ?? [] {
                guard let service = services[id], service.enabled else { continue }
                live.connections.append(LiveConnection(
                    user: user.id, service: id, status: .active, requestID: "", apiKey: Secret(standInFor: currentKey),
                    issuedAt: now, expiresAt: now + Int64(service.ttlDays) * 86_400))
            }
        }
        return live
    }

    /// The managed files of every account of `live` as apply writes them: `.service_env` and
    /// one skill file per active connection, mode 0600; nothing for an account without one.
    public static func homes(of live: LiveState) -> HomeObservations {
        let services = Dictionary(live.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byUser: [String: [LiveConnection]] = [:]
        for connection in live.connections where connection.status == .active {
            byUser[connection.user, default: []].append(connection)
        }
        var observations = HomeObservations()
        for user in live.users {
            var home = HomeState()
            let connections = (byUser[user.id] ?? []).sorted { $0.service < $1.service }
            var entries: [(variable: String, key: Secret)] = []
            for connection in connections {
                guard let service = services[connection.service], let key = connection.apiKey else { continue }
                entries.append((service.envVar, key))
                home.skills[HomeFiles.skillFile(service.id)] = .present(sha256: service.skillSHA256, mode: "0600")
            }
            if !entries.isEmpty {
                home.serviceEnv = .present(sha256: HomeFiles.sha256(HomeFiles.serviceEnv(entries)), mode: "0600")
                home.claudeRules = .present(sha256: nil, mode: "0700")
            }
            observations.homes[user.unixUser] = home
        }
        return observations
    }
}

/// The change between two desired states (two commits): the plan actions that take the
/// converged base to the head, and per user the effective access gained and lost.
public struct DesiredDiff: Sendable, Hashable {
    /// One side of the diff: the ref as given and the commit it resolved to.
    public struct Side: Sendable, Hashable, Codable {
        public var ref: String
        public var commit: String?

        public init(ref: String, commit: String?) {
            self.ref = ref
            self.commit = commit
        }
    }

    /// A resource gained or lost, with the groups that give (or gave) it.
    public struct Grant: Sendable, Hashable, Codable {
        public var type: String
        public var resource: String
        public var via: [String]
    }

    /// What changes for one user.
    public struct UserChange: Sendable, Hashable, Codable {
        /// `added`, `removed`, `activated`, `deactivated` or `changed`.
        public var change: String
        public var user: String
        public var gained: [Grant]
        public var lost: [Grant]
        /// Services for which a key is issued.
        public var keysToIssue: [String]
        /// Services whose key is revoked.
        public var keysToRevoke: [String]

        enum CodingKeys: String, CodingKey {
            case change, user, gained, lost
            case keysToIssue = "keys_to_issue"
            case keysToRevoke = "keys_to_revoke"
        }
    }

    /// Counts for the one-line summary.
    public struct Summary: Sendable, Hashable, Codable {
        public var usersGaining = 0
        public var usersLosing = 0
        public var keysToIssue = 0
        public var keysToRevoke = 0

        public init(usersGaining: Int = 0, usersLosing: Int = 0, keysToIssue: Int = 0, keysToRevoke: Int = 0) {
            self.usersGaining = usersGaining
            self.usersLosing = usersLosing
            self.keysToIssue = keysToIssue
            self.keysToRevoke = keysToRevoke
        }

        enum CodingKeys: String, CodingKey {
            case usersGaining = "users_gaining"
            case usersLosing = "users_losing"
            case keysToIssue = "keys_to_issue"
            case keysToRevoke = "keys_to_revoke"
        }
    }

    public var base: Side
    public var head: Side
    /// The actions `plan` would show on a server that had converged to the base.
    public var plan: Plan
    /// Users whose access or keys change, sorted by id.
    public var users: [UserChange]

    public var summary: Summary {
        var s = Summary()
        for user in users {
            if !user.gained.isEmpty || !user.keysToIssue.isEmpty { s.usersGaining += 1 }
            if !user.lost.isEmpty || !user.keysToRevoke.isEmpty { s.usersLosing += 1 }
            s.keysToIssue += user.keysToIssue.count
            s.keysToRevoke += user.keysToRevoke.count
        }
        return s
    }

    /// Whether anything at all changes (an action or an access change).
    public var hasChanges: Bool { plan.summary.hasChanges || !users.isEmpty }

    /// Diffs `head` against `base` (nil: an empty base, for a first commit). `now` only
    /// dates the plan; no key is due for rotation in a diff.
    public static func between(base: DesiredState?, head: DesiredState, baseSide: Side, headSide: Side,
                               now: Int64) -> DesiredDiff {
        let baseState = base ?? DesiredState(config: head.config, services: [], users: [], groups: [])
        let baseGroups = baseState.groupsByUser(), headGroups = head.groupsByUser()
        let live = Converged.live(of: baseState, now: now, memberships: baseGroups)
        var homes = Converged.homes(of: live)
        for user in head.users where homes.homes[user.unixUser] == nil { homes.homes[user.unixUser] = HomeState() }
        let plan = Planner.plan(PlanInput(desired: head, commit: headSide.commit, live: live, homes: homes, now: now,
                                          adopt: false, memberships: headGroups))
        return DesiredDiff(base: baseSide, head: headSide, plan: plan,
                           users: userChanges(base: baseState, head: head, plan: plan, baseGroupsOf: baseGroups,
                                              headGroupsOf: headGroups))
    }

    /// A granted resource: its type and id.
    struct Resource: Hashable, Comparable {
        var type: String
        var resource: String
        static func < (a: Resource, b: Resource) -> Bool { (a.type, a.resource) < (b.type, b.resource) }
    }

    /// Per user, the resources gained and lost and the keys issued and revoked. Only what can
    /// have changed is examined: for each user, the grants of the groups they joined or left
    /// and the changed grants of the groups they stayed in, so the cost follows the size of
    /// the change, not users x grants. An inactive (or absent) user is granted nothing.
    static func userChanges(base: DesiredState, head: DesiredState, plan: Plan, baseGroupsOf: [String: [String]],
                            headGroupsOf: [String: [String]]) -> [UserChange] {
        func grantsByGroup(_ state: DesiredState) -> [String: Set<Resource>] {
            var result: [String: Set<Resource>] = [:]
            for group in state.groups {
                var set = Set<Resource>()
                for (type, ids) in group.grants { for id in ids { set.insert(Resource(type: type, resource: id)) } }
                result[group.id] = set
            }
            return result
        }
        let baseGrants = grantsByGroup(base), headGrants = grantsByGroup(head)
        let changedGroups = Set(baseGrants.keys).union(headGrants.keys).filter { baseGrants[$0] != headGrants[$0] }
        var issue: [String: [String]] = [:], revoke: [String: [String]] = [:]
        for action in plan.actions {
            guard case .connection(let user, let service) = action.target else { continue }
            switch action.kind {
            case .connect: issue[user, default: []].append(service)
            case .disconnect: revoke[user, default: []].append(service)
            default: break
            }
        }
        let baseUsers = Dictionary(base.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let headUsers = Dictionary(head.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var changes: [UserChange] = []
        for id in Set(baseUsers.keys).union(headUsers.keys).sorted() {
            // Most users: same activity, same groups, none of them changed, no key: nothing to see.
            if let b = baseUsers[id], let h = headUsers[id], b.active == h.active, issue[id] == nil, revoke[id] == nil {
                let groups = baseGroupsOf[id] ?? []
                if !b.active || (groups == (headGroupsOf[id] ?? []) && !groups.contains(where: changedGroups.contains)) { continue }
            }
            let before = baseUsers[id]?.active == true ? Set(baseGroupsOf[id] ?? []) : []
            let after = headUsers[id]?.active == true ? Set(headGroupsOf[id] ?? []) : []
            var candidates = Set<Resource>()
            for group in before.subtracting(after) { candidates.formUnion(baseGrants[group] ?? []) }
            for group in after.subtracting(before) { candidates.formUnion(headGrants[group] ?? []) }
            for group in before.intersection(after) where changedGroups.contains(group) {
                candidates.formUnion((baseGrants[group] ?? []).symmetricDifference(headGrants[group] ?? []))
            }
            var gained: [Grant] = [], lost: [Grant] = []
            for resource in candidates.sorted() {
                let was = before.filter { baseGrants[$0]?.contains(resource) == true }.sorted()
                let now = after.filter { headGrants[$0]?.contains(resource) == true }.sorted()
                if was.isEmpty && !now.isEmpty { gained.append(Grant(type: resource.type, resource: resource.resource, via: now)) }
                if !was.isEmpty && now.isEmpty { lost.append(Grant(type: resource.type, resource: resource.resource, via: was)) }
            }
            let issued = (issue[id] ?? []).sorted(), revoked = (revoke[id] ?? []).sorted()
            let change: String
            switch (baseUsers[id], headUsers[id]) {
            case (nil, _): change = "added"
            case (_, nil): change = "removed"
            case (let b?, let h?) where b.active != h.active: change = h.active ? "activated" : "deactivated"
            default: change = "changed"
            }
            if gained.isEmpty && lost.isEmpty && issued.isEmpty && revoked.isEmpty && change == "changed" { continue }
            changes.append(UserChange(change: change, user: id, gained: gained, lost: lost, keysToIssue: issued,
                                      keysToRevoke: revoked))
        }
        return changes
    }
}
