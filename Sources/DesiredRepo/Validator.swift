import AccessModel
import StrictYAML

/// Cross-file rules over decoded files: references, uniqueness, system groups, skill files,
/// key lifetimes and the connection policy. Produces the desired state.
struct Validator {
    var config = ParsedConfig()
    var services: [ParsedService] = []
    var users: [ParsedUser] = []
    var groups: [ParsedGroup] = []

    /// Ids of entities whose files exist but could not be read (their problems are already
    /// reported). They count as present for references; rules that need their contents are
    /// skipped rather than guessed.
    struct Unreadable {
        var services: Set<String> = []
        var users: Set<String> = []
        var groups: Set<String> = []
        var isEmpty: Bool { services.isEmpty && users.isEmpty && groups.isEmpty }
    }
    var unreadable = Unreadable()

    private var scannedSkills: Set<String> = []

    /// The services' key prefixes, for the secret scan of skill files.
    var keyPrefixes: [SecretScan.KeyPrefix] = []
    /// Every secret the scan found, masked in all messages at the end.
    var secretValues: Set<String> = []

    /// "Did you mean" hints left for this run: each costs a scan of every id, so a file
    /// listing thousands of unknown references must not cost minutes.
    private var hintsLeft = 100

    private mutating func hint(_ word: String, _ candidates: Set<String>) -> String {
        guard hintsLeft > 0 else { return "" }
        hintsLeft -= 1
        return Suggest.hint(word, candidates)
    }

    private static func at(_ path: String, _ mark: Mark, _ message: String) -> Diagnostic {
        Diagnostic(path: path, line: mark.line, column: mark.column, severity: .error, message: message)
    }

    private static func warning(_ path: String, _ mark: Mark, _ message: String) -> Diagnostic {
        Diagnostic(path: path, line: mark.line, column: mark.column, severity: .warning, message: message)
    }

    private static func place(_ path: String, _ mark: Mark) -> String { "\(path):\(mark.line):\(mark.column)" }

    mutating func validate(files: [String: RepoEntry], source: RepoSource, into out: inout [Diagnostic]) -> DesiredState? {
        let serviceIDs = Set(services.map(\.id)).union(unreadable.services)
        let serviceByID = Dictionary(services.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let userIDs = Set(users.map(\.id)).union(unreadable.users)
        let cfg = config.config

        // Services: unique env vars, skill files, key lifetimes.
        var envOwners: [String: ParsedService] = [:]
        var skills: [String: String] = [:]
        for service in services {
            if let env = service.envVar {
                if let owner = envOwners[env.value] {
                    out.append(Self.at(service.path, env.mark, "env_var '\(env.value)' is already used by service '\(owner.id)' (\(Self.place(owner.path, owner.envVar!.mark))); each service needs its own variable"))
                } else {
                    envOwners[env.value] = service
                }
            }
            skills[service.id] = skill(for: service, files: files, source: source, into: &out)
            let ttl = service.ttlDays?.value ?? cfg.ttlDays
            if let ttlMark = service.ttlDays?.mark, cfg.rotateBeforeDays >= ttl {
                out.append(Self.at(service.path, ttlMark, "'ttl_days' (\(ttl)) must be greater than rotate_before_days (\(cfg.rotateBeforeDays)) of accessctl.yaml, or every apply would rotate the key"))
            }
        }
        if cfg.rotateBeforeDays >= cfg.ttlDays {
            if let mark = config.rotateMark {
                out.append(Self.at("accessctl.yaml", mark, "'rotate_before_days' (\(cfg.rotateBeforeDays)) must be less than 'ttl_days' (\(cfg.ttlDays)\(config.ttlMark == nil ? ", the default" : "")), or every apply would rotate the key"))
            } else if let mark = config.ttlMark {
                out.append(Self.at("accessctl.yaml", mark, "'ttl_days' (\(cfg.ttlDays)) must be greater than rotate_before_days (\(cfg.rotateBeforeDays), the default), or every apply would rotate the key"))
            }
        }

        // Users: unique emails and Unix accounts, connections resolve.
        var emailOwners: [String: ParsedUser] = [:]
        var unixOwners: [String: ParsedUser] = [:]
        emailOwners.reserveCapacity(users.count)
        unixOwners.reserveCapacity(users.count)
        // Accounts named after the user id are claimed first, so a clash is reported on the
        // `unix_user` line that was written, not on a file that never mentions it.
        for user in users where !user.unixUserExplicit {
            if let unix = user.unixUser { unixOwners[unix.value] = user }
        }
        for user in users {
            if let email = user.email {
                let key = email.value.lowercased()
                if let owner = emailOwners[key] {
                    out.append(Self.at(user.path, email.mark, "email '\(email.value)' is already used by user '\(owner.id)' (\(owner.path)); emails must be unique"))
                } else {
                    emailOwners[key] = user
                }
            }
            if let unix = user.unixUser, user.unixUserExplicit {
                if let owner = unixOwners[unix.value] {
                    out.append(Self.at(user.path, unix.mark, "Unix account '\(unix.value)' is already used by user '\(owner.id)' (\(owner.path)); each user needs their own account"))
                } else {
                    unixOwners[unix.value] = user
                }
            }
            for connection in user.connections {
                checkService(connection, path: user.path, known: serviceIDs, byID: serviceByID, into: &out)
            }
            if !user.active, let mark = user.connectionsMark, !user.connections.isEmpty {
                out.append(Self.warning(user.path, mark, "user '\(user.id)' is inactive: these connections are ignored and their keys revoked"))
            }
        }

        // Groups: names unique ignoring case, references resolve, grant types allowed.
        var lowerNames: [String: ParsedGroup] = [:]
        for group in groups {
            for system in [Group.admin, Group.everyone]
            where group.id != system && group.id.lowercased() == system.lowercased() && !groups.contains(where: { $0.id == system }) {
                out.append(Self.at(group.path, .start, "group '\(group.id)' differs from the system group '\(system)' only in letter case; rename the file to groups/\(system).yaml"))
            }
            if let other = lowerNames[group.id.lowercased()] {
                out.append(Self.at(group.path, .start, "group '\(group.id)' differs from group '\(other.id)' (\(other.path)) only in letter case; group names must differ in more than case"))
            } else {
                lowerNames[group.id.lowercased()] = group
            }
            for member in group.members where !userIDs.contains(member.value) {
                out.append(Self.at(group.path, member.mark, "unknown user '\(member.value)': there is no users/\(member.value).yaml\(hint(member.value, userIDs))"))
            }
            for (type, ids) in group.grants {
                if config.typesOK && !cfg.resourceTypes.contains(type.value) {
                    out.append(Self.at(group.path, type.mark, "resource type '\(type.value)' is not listed in resource_types of accessctl.yaml (\(cfg.resourceTypes.joined(separator: ", ")))\(Suggest.hint(type.value, cfg.resourceTypes))"))
                }
                if type.value == "service" {
                    for id in ids where !serviceIDs.contains(id.value) {
                        out.append(Self.at(group.path, id.mark, "unknown service '\(id.value)': there is no services/\(id.value).yaml\(hint(id.value, serviceIDs))"))
                    }
                }
            }
            for connection in group.connect {
                checkService(connection, path: group.path, known: serviceIDs, byID: serviceByID, into: &out)
            }
        }

        if !unreadable.groups.contains(Group.admin) && unreadable.users.isEmpty {
            checkAdmin(into: &out)
        }
        // The policy needs every group's grants and every user's connections.
        if unreadable.groups.isEmpty && unreadable.users.isEmpty {
            checkPolicy(known: serviceIDs, into: &out)
        }

        if out.contains(where: { $0.severity == .error }) { return nil }
        return build(skills: skills)
    }

    private mutating func checkService(_ reference: Located<String>, path: String, known: Set<String>,
                              byID: [String: ParsedService], into out: inout [Diagnostic]) {
        guard known.contains(reference.value) else {
            out.append(Self.at(path, reference.mark, "unknown service '\(reference.value)': there is no services/\(reference.value).yaml\(hint(reference.value, known))"))
            return
        }
        if byID[reference.value]?.enabled == false {
            out.append(Self.warning(path, reference.mark, "service '\(reference.value)' is disabled: this connection takes effect only when it is enabled"))
        }
    }

    /// Reads and checks a service's skill file; returns its text when it is acceptable.
    private mutating func skill(for service: ParsedService, files: [String: RepoEntry], source: RepoSource,
                                into out: inout [Diagnostic]) -> String? {
        guard let path = service.skillPath else { return nil }
        guard let entry = files[path] else {
            out.append(Self.at(service.path, service.skillMark, "skill file '\(path)' does not exist (or is not a regular file); add it or set 'skill' to the right file"))
            return nil
        }
        let bytes: [UInt8]
        do {
            let size = try source.size(of: entry)
            if size > DesiredStateLoader.maxSkillBytes {
                out.append(Self.at(service.path, service.skillMark, "skill file '\(path)' is \(size) bytes; the limit is \(DesiredStateLoader.maxSkillBytes) bytes (256 KiB)"))
                return nil
            }
            bytes = try source.read(entry)
        } catch {
            out.append(Self.at(service.path, service.skillMark, "cannot read skill file '\(path)': \(error.message)"))
            return nil
        }
        if let problem = StrictYAML.encodingProblem(bytes) {
            out.append(Self.at(path, problem.mark, "skill file: \(problem.message)"))
            return nil
        }
        // A skill file shared by two services is scanned once.
        if scannedSkills.insert(path).inserted {
            out += SecretScan.diagnostics(path: path, bytes: bytes, markdown: true, prefixes: keyPrefixes, values: &secretValues)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func checkAdmin(into out: inout [Diagnostic]) {
        guard let admin = groups.first(where: { $0.id == Group.admin }) else {
            out.append(Diagnostic(path: "groups/Admin.yaml", severity: .error,
                                  message: "the Admin group is required and must keep at least one active member; add groups/Admin.yaml"))
            return
        }
        // Members that could not be read are unknown, not missing.
        if admin.membersUnknown { return }
        guard !admin.members.isEmpty else {
            out.append(Self.at(admin.path, admin.membersMark ?? .start, "the Admin group must keep at least one member"))
            return
        }
        let active = Set(users.filter { $0.active || $0.activeUnknown }.map(\.id))
        if !admin.members.contains(where: { active.contains($0.value) }) {
            out.append(Self.at(admin.path, admin.membersMark ?? .start, "the Admin group must keep at least one active member; no member listed is an existing, active user"))
        }
    }

    /// With `require_service_grant`, every connection needs a `service` grant through one of the user's groups.
    private func checkPolicy(known: Set<String>, into out: inout [Diagnostic]) {
        guard config.config.requireServiceGrant else { return }
        // The services granted to each user through their groups (Everyone included), as a
        // bit set over the granted service ids (one OR per membership instead of a set
        // union: a million memberships at 100,000 users); as sets past 64 granted services.
        var bit: [String: Int] = [:]
        for group in groups {
            for service in group.serviceGrants where bit[service] == nil { bit[service] = bit.count }
        }
        let grants: (String, String) -> Bool
        if bit.count <= 64 {
            func mask(_ services: [String]) -> UInt64 {
                services.reduce(0) { $0 | (bit[$1].map { 1 << UInt64($0) } ?? 0) }
            }
            let everyone = mask(groups.first { $0.id == Group.everyone }?.serviceGrants ?? [])
            var granted: [String: UInt64] = [:]
            granted.reserveCapacity(users.count)
            for group in groups where group.id != Group.everyone {
                let words = mask(group.serviceGrants)
                guard words != 0 else { continue }
                for member in group.members { granted[member.value, default: everyone] |= words }
            }
            grants = { user, service in
                guard let b = bit[service] else { return false }
                return (granted[user] ?? everyone) & (1 << UInt64(b)) != 0
            }
        } else {
            let everyone = Set(groups.first { $0.id == Group.everyone }?.serviceGrants ?? [])
            var granted: [String: Set<String>] = [:]
            for group in groups where group.id != Group.everyone {
                for member in group.members { granted[member.value, default: everyone].formUnion(group.serviceGrants) }
            }
            grants = { user, service in (granted[user] ?? everyone).contains(service) }
        }
        // A field that failed to decode is unknown, not empty: a violation that a group of
        // unknown members, or unknown service grants, might back is not reported (the field's
        // own error is), and neither are those of a user whose `active` is unknown.
        var everythingUncertain = false
        var grantedToUnknownMembers: Set<String> = []
        var usersWithUnknownGrants: Set<String> = []
        for group in groups where group.membersUnknown || group.serviceGrantsUnknown {
            if group.serviceGrantsUnknown && (group.membersUnknown || group.id == Group.everyone) {
                everythingUncertain = true
            } else if group.membersUnknown {
                grantedToUnknownMembers.formUnion(group.serviceGrants)
            } else {
                usersWithUnknownGrants.formUnion(group.members.map(\.value))
            }
        }
        let unknownActive = Set(users.filter(\.activeUnknown).map(\.id))
        func uncertain(_ user: String, _ service: String) -> Bool {
            everythingUncertain || grantedToUnknownMembers.contains(service) || usersWithUnknownGrants.contains(user)
                || unknownActive.contains(user)
        }
        // The groups of a user, for the messages only (built on the first violation).
        var groupsOf: [String: [String]]?
        func groupNames(_ user: String) -> String {
            if groupsOf == nil {
                var index: [String: [String]] = [:]
                for group in groups where group.id != Group.everyone {
                    for member in group.members { index[member.value, default: []].append(group.id) }
                }
                groupsOf = index
            }
            return ((groupsOf?[user] ?? []) + [Group.everyone]).sorted().joined(separator: ", ")
        }
        for user in users where user.active {
            for connection in user.connections
            where known.contains(connection.value) && !grants(user.id, connection.value) && !uncertain(user.id, connection.value) {
                out.append(Self.at(user.path, connection.mark, "policy require_service_grant: user '\(user.id)' connects to '\(connection.value)', but none of their groups (\(groupNames(user.id))) grants service '\(connection.value)'; add it to grants.service of one of them, or remove the connection"))
            }
        }
        var activeUsers: Set<String>?
        for group in groups where !group.connect.isEmpty {
            let active = activeUsers ?? Set(users.filter(\.active).map(\.id))
            activeUsers = active
            let members = group.id == Group.everyone ? users.map(\.id) : group.members.map(\.value)
            for connection in group.connect where known.contains(connection.value) {
                let lacking = members.filter {
                    active.contains($0) && !grants($0, connection.value) && !uncertain($0, connection.value)
                }.sorted()
                guard !lacking.isEmpty else { continue }
                let shown = lacking.prefix(5).joined(separator: ", ") + (lacking.count > 5 ? " and \(lacking.count - 5) more" : "")
                out.append(Self.at(group.path, connection.mark, "policy require_service_grant: 'connect' gives '\(connection.value)' to every member, but \(lacking.count == 1 ? "member" : "members") \(shown) \(lacking.count == 1 ? "has" : "have") no 'service' grant for it; add '\(connection.value)' to grants.service of this group"))
            }
        }
    }

    private func build(skills: [String: String]) -> DesiredState {
        let cfg = config.config
        let built = services.map { s in
            Service(id: s.id, name: s.name ?? s.id, description: s.description,
                    tokenExchangeURL: s.exchangeURL ?? "", tokenRevokeURL: s.revokeURL ?? "", healthURL: s.healthURL,
                    envVar: s.envVar?.value ?? "", secretEnv: s.secretEnv, skillPath: s.skillPath ?? "",
                    skill: skills[s.id] ?? "", ttlDays: s.ttlDays?.value ?? cfg.ttlDays,
                    keyPrefix: s.keyPrefix, enabled: s.enabled)
        }
        let builtUsers = users.map { u in
            User(id: u.id, email: u.email?.value ?? "", unixUser: u.unixUser?.value ?? u.id, active: u.active,
                 connections: u.connections.map(\.value).sorted())
        }
        let builtGroups = groups.map { g in
            var grants: [String: [String]] = [:]
            for (type, ids) in g.grants { grants[type.value] = ids.map(\.value).sorted() }
            return Group(id: g.id, description: g.description, members: g.members.map(\.value).sorted(),
                         grants: grants, connect: g.connect.map(\.value).sorted())
        }
        return DesiredState(config: cfg, services: built, users: builtUsers, groups: builtGroups)
    }
}

extension ParsedGroup {
    /// The ids this group grants as `service` resources.
    var serviceGrants: [String] {
        grants.filter { $0.type.value == "service" }.flatMap { $0.ids.map(\.value) }
    }
}
