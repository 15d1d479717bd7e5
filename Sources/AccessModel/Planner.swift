import Digest

/// Everything a plan is computed from. The planner reads nothing else: no clock, no files.
public struct PlanInput: Sendable {
    public var desired: DesiredState
    /// The desired-state commit, when it came from git.
    public var commit: String?
    public var live: LiveState
    /// The managed files of each Unix account, as the helper reported them.
    public var homes: HomeObservations
    /// Unix seconds; key expiry is judged against it.
    public var now: Int64
    /// Take ownership of desired objects that exist live with another source.
    public var adopt: Bool
    /// `--replace`: each wanted connection with an active key that a pattern matches is
    /// rotated ("replace requested") unless it is planned otherwise already.
    public var replace: [TargetPattern]
    /// `desired.groupsByUser()`, when the caller has computed it already.
    public var memberships: [String: [String]]?

    public init(desired: DesiredState, commit: String? = nil, live: LiveState, homes: HomeObservations,
                now: Int64, adopt: Bool = false, replace: [TargetPattern] = [], memberships: [String: [String]]? = nil) {
        self.desired = desired
        self.commit = commit
        self.live = live
        self.homes = homes
        self.now = now
        self.adopt = adopt
        self.replace = replace
        self.memberships = memberships
    }
}

/// Computes the plan: a pure function of its input, deterministic in its ordering.
public enum Planner {
    public static func plan(_ input: PlanInput) -> Plan {
        var context = Context(input)
        context.registry()
        context.memberships()
        context.connections()
        context.files()
        let actions = context.actions.enumerated().sorted { a, b in
            let sa = a.element.target.category, sb = b.element.target.category
            if sa != sb { return sa < sb }
            if a.element.address != b.element.address { return a.element.address < b.element.address }
            return a.offset < b.offset
        }.map(\.element)
        var plan = Plan(commit: input.commit, desiredDigest: StateDigest.desired(input.desired),
                        liveDigest: StateDigest.live(input.live, homes: input.homes),
                        createdAt: input.now, adopt: input.adopt, replace: input.replace, actions: actions)
        if !input.live.holds.isEmpty { plan.holds = input.live.holds }
        return plan
    }

    static let day: Int64 = 86_400
    /// The reason of a rotation asked for with `--replace`.
    public static let replaceRequested = "replace requested"

    /// Why a home's files must not be touched (something unsafe in it), or nil.
    public static func unsafeReason(_ home: HomeState) -> String? { Context.unsafeReason(home) }

    struct Context {
        let input: PlanInput
        var actions: [PlannedAction] = []
        let desiredServices: [String: Service]
        /// SHA-256 of each desired service's skill text, computed once.
        let skillDigests: [String: String]
        let liveServices: [String: LiveService]
        let desiredUsers: [String: User]
        let liveUsers: [String: LiveUser]
        /// Live connections of each user (a handful each: looked up by a linear scan).
        let liveConnectionsByUser: [String: [LiveConnection]]
        /// Connections that should exist after the apply (active users, enabled services),
        /// sorted by user and service, and the same grouped by user.
        var wanted: [Pair] = []
        var wantedByUser: [String: [String]] = [:]
        /// Connections whose key the apply will (re-)issue, so file content is not known yet.
        var newKeys: Set<Pair> = []
        /// The holds in force, by user and by service.
        let userHolds: [String: Hold]
        let serviceHolds: [String: Hold]

        struct Pair: Hashable, Comparable {
            let user: String
            let service: String
            static func < (a: Pair, b: Pair) -> Bool { (a.user, a.service) < (b.user, b.service) }
        }

        init(_ input: PlanInput) {
            self.input = input
            desiredServices = Dictionary(input.desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            skillDigests = Dictionary(input.desired.services.map { ($0.id, HomeFiles.sha256($0.skill)) }, uniquingKeysWith: { a, _ in a })
            liveServices = Dictionary(input.live.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            desiredUsers = Dictionary(input.desired.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            liveUsers = Dictionary(input.live.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            liveConnectionsByUser = Dictionary(grouping: input.live.connections, by: \.user)
            userHolds = Dictionary(input.live.holds.filter { $0.kind == .user }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            serviceHolds = Dictionary(input.live.holds.filter { $0.kind == .service }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }

        /// The hold that keeps a user's key for a service revoked, if any (the user's first).
        func hold(_ pair: Pair) -> Hold? { userHolds[pair.user] ?? serviceHolds[pair.service] }

        /// The live connection of a pair, if any.
        func liveConnection(_ pair: Pair) -> LiveConnection? {
            liveConnectionsByUser[pair.user]?.first { $0.service == pair.service }
        }

        mutating func add(_ kind: PlannedAction.Kind, _ address: Target, _ reason: String, _ changes: [FieldChange] = []) {
            actions.append(PlannedAction(kind, address, reason: reason, changes: changes))
        }

        // MARK: Registry objects

        /// Create, update, delete or conflict for one kind of registry object.
        mutating func reconcile(address: Target, desired: [FieldChange]?, live: (fields: [FieldChange], source: RowSource)?) {
            switch (desired, live) {
            case let (want?, nil):
                add(.create, address, "added in desired state", want.filter { $0.new != nil })
            case let (want?, have?) where want.isEmpty && have.source == .gitops:
                break  // a membership or grant that exists, owned by accessctl: nothing to do
            case let (want?, have?):
                let liveByField = Dictionary(have.fields.map { ($0.field, $0.new) }, uniquingKeysWith: { a, _ in a })
                let changes = want.compactMap { field -> FieldChange? in
                    let old = liveByField[field.field] ?? nil
                    return old == field.new ? nil : FieldChange(field: field.field, old: old, new: field.new)
                }
                if have.source != .gitops {
                    let ownership = FieldChange(field: "source", old: have.source.rawValue, new: RowSource.gitops.rawValue)
                    if input.adopt {
                        add(.update, address, "adopted: owned by \(have.source.rawValue) until now", changes + [ownership])
                    } else {
                        add(.conflict, address, "exists with source \(have.source.rawValue); left alone (plan with --adopt to take ownership)", changes)
                    }
                } else if !changes.isEmpty {
                    add(.update, address, "changed in desired state", changes)
                }
            case let (nil, have?) where have.source == .gitops:
                add(.delete, address, "removed from desired state")
            default:
                break
            }
        }

        static func fields(_ s: Service) -> [FieldChange] {
            serviceFields(name: s.name, description: s.description, exchange: s.tokenExchangeURL, revoke: s.tokenRevokeURL,
                          health: s.healthURL, envVar: s.envVar, secretEnv: s.secretEnv, skillSHA256: HomeFiles.sha256(s.skill),
                          ttlDays: s.ttlDays, keyPrefix: s.keyPrefix, enabled: s.enabled)
        }

        static func fields(_ s: LiveService) -> [FieldChange] {
            serviceFields(name: s.name, description: s.description, exchange: s.tokenExchangeURL, revoke: s.tokenRevokeURL,
                          health: s.healthURL, envVar: s.envVar, secretEnv: s.secretEnv, skillSHA256: s.skillSHA256,
                          ttlDays: s.ttlDays, keyPrefix: s.keyPrefix, enabled: s.enabled)
        }

        /// A service's fields as a plan shows them: the one place that names them and writes
        /// their values (the skill as its fingerprint).
        static func serviceFields(name: String, description: String?, exchange: String, revoke: String, health: String?,
                                  envVar: String, secretEnv: String, skillSHA256: String, ttlDays: Int, keyPrefix: String?,
                                  enabled: Bool) -> [FieldChange] {
            [f("name", name), f("description", description), f("token_exchange_url", exchange),
             f("token_revoke_url", revoke), f("health_url", health), f("env_var", envVar),
             f("secret_env", secretEnv), f("skill", SHA256.fingerprint(hexDigest: skillSHA256)),
             f("ttl_days", String(ttlDays)), f("key_prefix", keyPrefix), f("enabled", String(enabled))]
        }

        static func f(_ field: String, _ value: String?) -> FieldChange { FieldChange(field: field, old: nil, new: value) }

        mutating func registry() {
            let d = input.desired, l = input.live
            for id in Set(desiredServices.keys).union(liveServices.keys) {
                reconcile(address: .service(id), desired: desiredServices[id].map(Self.fields),
                          live: liveServices[id].map { (Self.fields($0), $0.source) })
            }
            func userFields(_ email: String, _ unix: String, _ active: Bool) -> [FieldChange] {
                [Self.f("email", email), Self.f("unix_user", unix), Self.f("active", String(active))]
            }
            for id in Set(desiredUsers.keys).union(liveUsers.keys) {
                reconcile(address: .user(id), desired: desiredUsers[id].map { userFields($0.email, $0.unixUser, $0.active) },
                          live: liveUsers[id].map { (userFields($0.email, $0.unixUser, $0.active), $0.source) })
            }
            let desiredGroups = Dictionary(d.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let liveGroups = Dictionary(l.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for id in Set(desiredGroups.keys).union(liveGroups.keys) {
                reconcile(address: .group(id), desired: desiredGroups[id].map { [Self.f("description", $0.description)] },
                          live: liveGroups[id].map { ([Self.f("description", $0.description)], $0.source) })
            }
        }

        /// Memberships and grants: hundreds of thousands of them, so both sides are sorted
        /// (the live rows arrive sorted, which the sort notices) and walked together,
        /// comparing strings instead of hashing them; addresses are built only for actions.
        mutating func memberships() {
            typealias Member = (group: String, user: String)
            var desiredMembers: [Member] = []
            desiredMembers.reserveCapacity(input.live.members.count)
            for group in input.desired.groups {
                for member in group.members { desiredMembers.append((group.id, member)) }
            }
            desiredMembers.sort { ($0.group, $0.user) < ($1.group, $1.user) }
            let liveMembers = input.live.members.sorted { ($0.group, $0.user) < ($1.group, $1.user) }
            Self.merge(desiredMembers, liveMembers, less: { ($0.group, $0.user) < ($1.group, $1.user) },
                       same: { $0.group == $1.group && $0.user == $1.user },
                       equal: { $0.group == $1.group && $0.user == $1.user }) { want, have in
                guard have == nil || want == nil || have!.source != .gitops else { return }
                let group = want?.group ?? have!.group, user = want?.user ?? have!.user
                reconcile(address: .membership(group: group, user: user), desired: want == nil ? nil : [],
                          live: have.map { ([], $0.source) })
            }

            typealias Grant = (group: String, type: String, resource: String)
            var desiredGrants: [Grant] = []
            desiredGrants.reserveCapacity(input.live.grants.count)
            for group in input.desired.groups {
                for (type, ids) in group.grants {
                    for id in ids { desiredGrants.append((group.id, type, id)) }
                }
            }
            desiredGrants.sort { ($0.group, $0.type, $0.resource) < ($1.group, $1.type, $1.resource) }
            let liveGrants = input.live.grants.sorted { ($0.group, $0.type, $0.resource) < ($1.group, $1.type, $1.resource) }
            Self.merge(desiredGrants, liveGrants, less: { ($0.group, $0.type, $0.resource) < ($1.group, $1.type, $1.resource) },
                       same: { $0.group == $1.group && $0.type == $1.type && $0.resource == $1.resource },
                       equal: { $0.group == $1.group && $0.type == $1.type && $0.resource == $1.resource }) { want, have in
                guard have == nil || want == nil || have!.source != .gitops else { return }
                let group = want?.group ?? have!.group, type = want?.type ?? have!.type
                let resource = want?.resource ?? have!.resource
                reconcile(address: .grant(group: group, type: type, resource: resource), desired: want == nil ? nil : [],
                          live: have.map { ([], $0.source) })
            }
        }

        /// Walks a sorted desired sequence and a sorted live sequence together, calling
        /// `visit` with each desired element and its live match (or nil), and with each live
        /// element that has no desired match. Equal desired neighbours (an id listed twice)
        /// count once.
        static func merge<D, L>(_ desired: [D], _ live: [L], less: (D, L) -> Bool, same: (D, L) -> Bool,
                                equal: (D, D) -> Bool, visit: (D?, L?) -> Void) {
            var i = 0, j = 0
            while i < desired.count || j < live.count {
                if i < desired.count && (j == live.count || less(desired[i], live[j]) || same(desired[i], live[j])) {
                    let match: L? = j < live.count && same(desired[i], live[j]) ? live[j] : nil
                    visit(desired[i], match)
                    if match != nil { j += 1 }
                    let current = desired[i]
                    repeat { i += 1 } while i < desired.count && equal(current, desired[i])
                } else {
                    visit(nil, live[j])
                    j += 1
                }
            }
        }

        // MARK: Connections

        mutating func connections() {
            let effective = input.desired.effectiveConnections(memberships: input.memberships)
            for user in input.desired.users where user.active && userHolds[user.id] == nil {  // sorted by id; services sorted
                var services: [String] = []
                for service in effective[user.id] ?? [] where desiredServices[service]?.enabled == true && serviceHolds[service] == nil {
                    wanted.append(Pair(user: user.id, service: service))
                    services.append(service)
                }
                if !services.isEmpty { wantedByUser[user.id] = services }
            }
            if !wanted.isSorted() { wanted.sort() }
            // Walk the wanted pairs and the live rows (sorted the same way) together.
            let live = input.live.connections.isSorted { ($0.user, $0.service) < ($1.user, $1.service) }
                ? input.live.connections : input.live.connections.sorted { ($0.user, $0.service) < ($1.user, $1.service) }
            var removed: [LiveConnection] = []
            var j = 0
            for pair in wanted {
                while j < live.count, (live[j].user, live[j].service) < (pair.user, pair.service) {
                    removed.append(live[j])
                    j += 1
                }
                var match: LiveConnection?
                if j < live.count, live[j].user == pair.user, live[j].service == pair.service {
                    match = live[j]
                    j += 1
                }
                let address = Target.connection(user: pair.user, service: pair.service)
                guard let live = match else {
                    add(.connect, address, "added in desired state")
                    newKeys.insert(pair)
                    continue
                }
                switch live.status {
                case .active:
                    let ttl = desiredServices[pair.service]?.ttlDays ?? input.desired.config.ttlDays
                    let window = Int64(min(input.desired.config.rotateBeforeDays, max(ttl - 1, 0))) * Planner.day
                    if let expires = live.expiresAt, expires - input.now <= window {
                        add(.rotate, address, Self.expiry(expires - input.now), keyChange(live))
                        newKeys.insert(pair)
                    } else if let error = live.lastError {
                        // A rotation failed and the old key stayed: its request id may have a
                        // key at the service, which only asking again gets back (or revokes).
                        add(.rotate, address, "retry: the last rotation failed (same request id): \(error)", keyChange(live))
                        newKeys.insert(pair)
                    } else if live.apiKey != nil, input.replace.contains(where: { $0.matches(address) }) {
                        add(.rotate, address, Planner.replaceRequested, keyChange(live))
                        newKeys.insert(pair)
                    }
                // A retry is an issue while the connection never had a key, a rotation once it has.
                case .pending:
                    add(live.apiKey == nil ? .connect : .rotate, address,
                        "retry: the last key exchange did not finish (same request id)", keyChange(live))
                    newKeys.insert(pair)
                case .error:
                    add(live.apiKey == nil ? .connect : .rotate, address,
                        "retry after error: \(live.lastError ?? "unknown error")", keyChange(live))
                    newKeys.insert(pair)
                case .revoking:
                    add(.disconnect, address, "retry: revocation did not finish on an earlier run; the connection is made again after it",
                        keyChange(live, removed: true))
                }
            }
            for token in input.live.retiredTokens {
                add(.disconnect, .retiredKey(service: token.service, tokenID: token.tokenID),
                    token.lastError.map { "revoke the key replaced by a rotation (last attempt: \($0))" }
                        ?? "revoke the key replaced by a rotation",
                    [FieldChange(field: "key", old: token.keyFingerprint, new: nil)])
            }
            removed += live[j...]
            guard !removed.isEmpty else { return }
            let serviceGrants = liveServiceGrantsByUser()
            let desiredGrants = desiredServiceGrantsByUser()
            for live in removed {
                let pair = Pair(user: live.user, service: live.service)
                let address = Target.connection(user: pair.user, service: pair.service)
                if live.status == .revoking {
                    add(.disconnect, address, "retry: revocation did not finish on an earlier run", keyChange(live, removed: true))
                    continue
                }
                add(.disconnect, address, disconnectReason(pair, serviceGrants, desiredGrants), keyChange(live, removed: true))
            }
        }

        func keyChange(_ live: LiveConnection, removed: Bool = false) -> [FieldChange] {
            [FieldChange(field: "key", old: live.keyFingerprint, new: removed ? nil : "(new key)")]
        }

        static func expiry(_ remaining: Int64) -> String {
            if remaining <= 0 { return "expired \(max(remaining / -Planner.day, 0)) days ago" }
            let days = remaining / Planner.day
            if days == 0 { return "expires within a day" }
            return "expires in \(days) day\(days == 1 ? "" : "s")"
        }

        /// Services each user is granted through their live groups (the state before the apply).
        func liveServiceGrantsByUser() -> [String: Set<String>] {
            var byGroup: [String: Set<String>] = [:]
            for grant in input.live.grants where grant.type == "service" { byGroup[grant.group, default: []].insert(grant.resource) }
            let everyone = byGroup[Group.everyone] ?? []
            var result: [String: Set<String>] = [:]
            for member in input.live.members { result[member.user, default: everyone].formUnion(byGroup[member.group] ?? []) }
            for user in input.live.users where result[user.id] == nil { result[user.id] = everyone }
            return result
        }

        /// Services each user is granted in the desired state, through their groups.
        func desiredServiceGrantsByUser() -> [String: Set<String>] {
            let everyone = Set(input.desired.groups.first { $0.id == Group.everyone }?.grants["service"] ?? [])
            var result: [String: Set<String>] = [:]
            for group in input.desired.groups where group.id != Group.everyone {
                let services = group.grants["service"] ?? []
                for member in group.members { result[member, default: everyone].formUnion(services) }
            }
            for user in input.desired.users where result[user.id] == nil { result[user.id] = everyone }
            return result
        }

        func disconnectReason(_ pair: Pair, _ liveGrants: [String: Set<String>], _ desiredGrants: [String: Set<String>]) -> String {
            guard let user = desiredUsers[pair.user] else { return "user removed" }
            if !user.active { return "user inactive" }
            guard let service = desiredServices[pair.service] else { return "service removed" }
            if !service.enabled { return "service disabled" }
            if liveGrants[pair.user]?.contains(pair.service) == true && desiredGrants[pair.user]?.contains(pair.service) != true {
                return "service grant withdrawn"
            }
            if let hold = hold(pair) {
                return "held (\(hold.target.address), by \(hold.placedBy)): \(hold.reason); stays revoked until `accessctl release`"
            }
            return "connection removed"
        }

        // MARK: Home files

        mutating func files() {
            var accounts: [String: String] = [:]  // user id -> Unix account whose home is managed
            for user in input.live.users { accounts[user.id] = user.unixUser }
            for user in input.desired.users { accounts[user.id] = user.unixUser }

            for (user, unix) in accounts.sorted(by: { $0.key < $1.key }) {
                let services = wantedByUser[user] ?? []
                let hadConnections = liveConnectionsByUser[user]?.contains { $0.status == .active } == true
                if let failure = input.homes.failures[unix] {
                    if !services.isEmpty || hadConnections {
                        add(.drift, .home(user: user), "home of \(unix) not available: \(failure); its files are skipped")
                    }
                    continue
                }
                guard let home = input.homes.homes[unix] else { continue }
                if let unsafe = Self.unsafeReason(home) {
                    add(.drift, .home(user: user), "unsafe: \(unsafe); this user's files are skipped")
                    continue
                }
                serviceEnv(user: user, services: services, observed: home.serviceEnv)
                skills(user: user, services: services, home: home)
            }
        }

        static func unsafeReason(_ home: HomeState) -> String? {
            if case .unsafe(let why) = home.serviceEnv { return ".service_env \(why)" }
            if case .unsafe(let why) = home.claudeRules { return ".claude_rules: \(why)" }
            for (name, observation) in home.skills.sorted(by: { $0.key < $1.key }) {
                if case .unsafe(let why) = observation { return ".claude_rules/\(name) \(why)" }
            }
            return nil
        }

        mutating func serviceEnv(user: String, services: [String], observed: FileObservation) {
            let address = Target.serviceEnv(user: user)
            if services.isEmpty {
                if observed != .absent { add(.removeFile, address, removalReason(user)) }
                return
            }
            let pairs = services.map { Pair(user: user, service: $0) }
            if pairs.contains(where: { newKeys.contains($0) }) {
                let verb = pairs.contains { liveConnection($0) == nil } ? "keys to issue" : "keys to rotate"
                add(.writeFile, address, verb)
                return
            }
            var entries: [(variable: String, key: Secret)] = []
            for pair in pairs {
                guard let key = liveConnection(pair)?.apiKey, let service = desiredServices[pair.service] else { continue }
                entries.append((service.envVar, key))
            }
            let want = HomeFiles.sha256(HomeFiles.serviceEnv(entries))
            switch observed {
            case .present(let sha, let mode) where sha == want:
                if mode != "0600" { add(.writeFile, address, "drift: mode \(mode), expected 0600") }
            case .absent:
                add(.writeFile, address, "drift: file missing on disk")
            default:
                // What accessctl wrote last: the live active connections under the live names.
                let last = HomeFiles.lastWritten(liveConnectionsByUser[user] ?? [], services: liveServices)
                if case .present(let sha, _) = observed, sha == HomeFiles.sha256(HomeFiles.serviceEnv(last)) {
                    add(.writeFile, address, "connections changed")
                } else {
                    add(.writeFile, address, "drift: file changed on disk")
                }
            }
        }

        func removalReason(_ user: String) -> String {
            guard let desired = desiredUsers[user] else { return "user removed" }
            return desired.active ? "no active connections" : "user inactive"
        }

        mutating func skills(user: String, services: [String], home: HomeState) {
            let wantedNames = Set(services.map(HomeFiles.skillFile))
            for service in services {
                let name = HomeFiles.skillFile(service)
                let address = Target.skillFile(user: user, name: name)
                guard let want = skillDigests[service] else { continue }
                switch home.skills[name] ?? .absent {
                case .present(let sha, let mode) where sha == want:
                    if mode != "0600" { add(.writeFile, address, "drift: mode \(mode), expected 0600") }
                case .absent:
                    let connected = liveConnection(Pair(user: user, service: service))?.status == .active
                    add(.writeFile, address, connected ? "drift: file missing on disk" : "new connection")
                case .present(let sha, _):
                    let live = liveServices[service]?.skillSHA256
                    add(.writeFile, address, live != want && sha == live ? "skill updated in desired state" : "drift: file changed on disk")
                case .unsafe:
                    break
                }
            }
            for name in home.skills.keys.sorted() where !wantedNames.contains(name) {
                let service = HomeFiles.service(ofSkillFile: name) ?? name
                let reason = services.isEmpty ? removalReason(user) : "no connection to \(service)"
                add(.removeFile, .skillFile(user: user, name: name), reason)
            }
        }
    }
}

extension Array {
    /// Whether the array is in order by `less` (one pass; sorting is skipped when it is).
    func isSorted(by less: (Element, Element) -> Bool) -> Bool {
        var index = 1
        while index < count {
            if less(self[index], self[index - 1]) { return false }
            index += 1
        }
        return true
    }
}

extension Array where Element: Comparable {
    func isSorted() -> Bool { isSorted(by: <) }
}
