import AccessModel
import Digest
import LiveStore

/// One file of an imported repository.
public struct ImportedFile: Sendable, Hashable {
    /// Repository-relative, `/`-separated.
    public var path: String
    public var text: String
}

/// What `accessctl import` writes, and what the operator should hear about it.
public struct ImportedRepository: Sendable {
    /// Every file, `accessctl.yaml` first, then by path.
    public var files: [ImportedFile]
    /// Things to review before committing, one sentence each. Never contains a secret.
    public var warnings: [String]
    public var services = 0
    public var users = 0
    public var groups = 0
    /// Exported rows (services, users, groups, members, grants) owned by a source other than
    /// `gitops`, by source: plan shows them as conflicts until they are adopted.
    public var foreignRows: [RowSource: Int] = [:]
    /// Services whose skill file is a placeholder (the database had no text for them).
    public var placeholderSkills: [String] = []
}

/// What was found for a service's skill in the `--skills` directory.
public enum SuppliedSkill: Sendable, Hashable {
    case none
    case text(String)
    /// The file exists but cannot be used (unreadable, not UTF-8, ...): why.
    case unusable(String)
}

/// Turns the rows of a live database into the files of a desired-state repository
/// (docs/format.md), so that the repository validates and plans no changes against that
/// database. Pure: no file or database access (skill files come through `suppliedSkill`).
enum ImportBuilder {
    static let defaultTTLDays = 365
    static let defaultRotateBeforeDays = 30

    /// `sources`: the row sources to export (empty: all). `suppliedSkill` is asked only for
    /// services whose database row has no usable skill text.
    static func build(_ export: LiveExport, sources: Set<RowSource>,
                      suppliedSkill: (String) -> SuppliedSkill) -> ImportedRepository {
        var builder = Builder(export: export, include: sources.isEmpty ? Set(RowSource.allCases) : sources)
        builder.select()
        return builder.write(suppliedSkill: suppliedSkill)
    }

    /// Whether `id` can be used as a file name in the repository at all (the validator
    /// judges the id itself; this only keeps a hostile id from naming another path).
    static func isSafeFileStem(_ id: String) -> Bool {
        !id.isEmpty && !id.hasPrefix(".") && !id.contains("/") && !id.contains("\0") && id.utf8.count <= 200
    }

    /// Names for a warning: up to `limit`, then "and N more".
    static func sample(_ items: [String], limit: Int = 5) -> String {
        let shown = items.prefix(limit).map { $0.escapingControlCharacters }.joined(separator: ", ")
        return items.count > limit ? "\(shown) and \(items.count - limit) more" : shown
    }

    static func plural(_ n: Int, _ word: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? word : (plural ?? word + "s"))"
    }

    struct Builder {
        let export: LiveExport
        let include: Set<RowSource>
        var warnings: [String] = []
        var services: [LiveService] = []
        var users: [LiveUser] = []
        var groups: [LiveGroup] = []
        var members: [String: [String]] = [:]
        /// group -> type -> resources
        var grants: [String: [String: [String]]] = [:]
        var connections: [String: [String]] = [:]
        var foreign: [RowSource: Int] = [:]
        /// Addresses of gitops rows the repository will not have: plan removes them.
        var removedGitops: [String] = []
        /// Connections the repository will not have: plan revokes their keys.
        var removedConnections: [String] = []

        init(export: LiveExport, include: Set<RowSource>) {
            self.export = export
            self.include = include
        }

        var state: LiveState { export.state }

        mutating func keep(_ source: RowSource) { if source != .gitops { foreign[source, default: 0] += 1 } }

        /// The rows of the sources asked for whose id can be a file name (the others are
        /// reported), counting those not owned by gitops.
        mutating func pick<Row>(_ rows: [Row], _ kind: String, id: KeyPath<Row, String>, source: KeyPath<Row, RowSource>) -> [Row] {
            var picked: [Row] = []
            for row in rows where include.contains(row[keyPath: source]) {
                guard isSafeFileStem(row[keyPath: id]) else {
                    warnings.append("\(kind) '\(row[keyPath: id].escapingControlCharacters)': its id cannot be a file name; not exported")
                    continue
                }
                picked.append(row)
                keep(row[keyPath: source])
            }
            return picked
        }

        mutating func select() {
            services = pick(state.services, "service", id: \.id, source: \.source)
            users = pick(state.users, "user", id: \.id, source: \.source)
            groups = pick(state.groups, "group", id: \.id, source: \.source)
            let serviceIDs = Set(services.map(\.id)), userIDs = Set(users.map(\.id)), groupIDs = Set(groups.map(\.id))
            for s in state.services where s.source == .gitops && !serviceIDs.contains(s.id) { removedGitops.append("service.\(s.id)") }
            for u in state.users where u.source == .gitops && !userIDs.contains(u.id) { removedGitops.append("user.\(u.id)") }
            for g in state.groups where g.source == .gitops && !groupIDs.contains(g.id) { removedGitops.append("group.\(g.id)") }

            // Members: with their group, and only for exported users (else the file would
            // not validate). Everyone's membership is implicit.
            var droppedMembers: [String: [String]] = [:]
            for m in state.members {
                let exported = include.contains(m.source) && groupIDs.contains(m.group) && m.group != Group.everyone
                    && userIDs.contains(m.user)
                if exported {
                    members[m.group, default: []].append(m.user)
                    keep(m.source)
                    continue
                }
                if include.contains(m.source) && groupIDs.contains(m.group) && m.group != Group.everyone {
                    droppedMembers[m.group, default: []].append(m.user)
                }
                if m.source == .gitops { removedGitops.append("member.\(m.group).\(m.user)") }
            }
            for (group, dropped) in droppedMembers.sorted(by: { $0.key < $1.key }) {
                warnings.append("group \(group.escapingControlCharacters): \(plural(dropped.count, "member")) dropped because "
                    + "their user rows are not exported: \(sample(dropped.sorted()))")
            }

            // Grants: with their group; a service grant only for an exported service.
            var droppedGrants: [String] = []
            for g in state.grants {
                let service = g.type == "service"
                if include.contains(g.source) && groupIDs.contains(g.group) && (!service || serviceIDs.contains(g.resource)) {
                    grants[g.group, default: [:]][g.type, default: []].append(g.resource)
                    keep(g.source)
                    continue
                }
                if include.contains(g.source) && groupIDs.contains(g.group) { droppedGrants.append("\(g.group) -> \(g.resource)") }
                if g.source == .gitops { removedGitops.append("grant.\(g.group).\(g.type).\(g.resource)") }
            }
            if !droppedGrants.isEmpty {
                warnings.append("\(plural(droppedGrants.count, "service grant")) dropped because the service is not exported: "
                    + sample(droppedGrants))
            }

            // Connections: the user's rows, except those being revoked.
            var droppedConnections: [String] = []
            for c in state.connections where c.status != .revoking {
                if userIDs.contains(c.user) && serviceIDs.contains(c.service) {
                    connections[c.user, default: []].append(c.service)
                    continue
                }
                removedConnections.append("connection.\(c.user).\(c.service)")
                if userIDs.contains(c.user) { droppedConnections.append("\(c.user) -> \(c.service)") }
            }
            if !droppedConnections.isEmpty {
                warnings.append("\(plural(droppedConnections.count, "connection")) dropped because the service is not exported: "
                    + sample(droppedConnections))
            }
            if !removedGitops.isEmpty {
                warnings.append("\(plural(removedGitops.count, "row")) owned by gitops \(removedGitops.count == 1 ? "is" : "are") "
                    + "not in the written repository (left out by --source, or with a group, user or service that is): plan will remove "
                    + "\(removedGitops.count == 1 ? "it" : "them"): \(sample(removedGitops))")
            }
            if !removedConnections.isEmpty {
                warnings.append("\(plural(removedConnections.count, "connection")) \(removedConnections.count == 1 ? "is" : "are") "
                    + "not in the written repository (its user or service is not exported): plan will revoke "
                    + "\(removedConnections.count == 1 ? "its key" : "their keys"): \(sample(removedConnections))")
            }
        }

        /// Resource types in use: `service` first, then the others sorted.
        var resourceTypes: [String] {
            let used = Set(grants.values.flatMap(\.keys)).subtracting(["service"])
            return ["service"] + used.sorted()
        }

        /// Exported connections that no group of their user grants (through `grants.service`).
        func unbackedConnections() -> [String] {
            var byGroup: [String: Set<String>] = [:]
            for (group, types) in grants { byGroup[group] = Set(types["service"] ?? []) }
            let everyone = byGroup[Group.everyone] ?? []
            var granted: [String: Set<String>] = [:]
            for (group, users) in members {
                for user in users { granted[user, default: everyone].formUnion(byGroup[group] ?? []) }
            }
            var result: [String] = []
            for (user, services) in connections.sorted(by: { $0.key < $1.key }) {
                let have = granted[user] ?? everyone
                for service in services.sorted() where !have.contains(service) { result.append("\(user) -> \(service)") }
            }
            return result
        }

        mutating func write(suppliedSkill: (String) -> SuppliedSkill) -> ImportedRepository {
            var files: [ImportedFile] = []
            var placeholders: [String] = []

            // accessctl.yaml
            let unbacked = unbackedConnections()
            let exportedConnections = connections.values.reduce(0) { $0 + $1.count }
            var policyComment: [String] = []
            if !unbacked.isEmpty {
                policyComment = ["false: \(plural(unbacked.count, "connection")) of the database \(unbacked.count == 1 ? "is" : "are") not backed by a",
                                 "service grant of one of the user's groups. Grant them, then set this to true."]
                warnings.append("\(unbacked.count) of \(exportedConnections) exported connections \(unbacked.count == 1 ? "is" : "are") not "
                    + "backed by a service grant of one of the user's groups (\(sample(unbacked))): wrote "
                    + "policy.require_service_grant: false; add the grants and set it to true")
            }
            var rotate = ImportBuilder.defaultRotateBeforeDays
            if let shortest = services.map(\.ttlDays).min(), shortest <= rotate {
                rotate = max(shortest - 1, 0)
                warnings.append("a service's keys live only \(plural(shortest, "day")): wrote defaults.rotate_before_days: \(rotate) "
                    + "(it must be shorter than every service's ttl_days)")
            }
            files.append(ImportedFile(path: "accessctl.yaml", text: ImportYAML.document([
                YAMLEntry("version", .int(RepoConfig.supportedVersion)),
                YAMLEntry("resource_types", .list(resourceTypes)),
                YAMLEntry("policy", .mapping([
                    YAMLEntry("require_service_grant", .bool(unbacked.isEmpty), comment: policyComment),
                ])),
                YAMLEntry("defaults", .mapping([
                    YAMLEntry("ttl_days", .int(ImportBuilder.defaultTTLDays)),
                    YAMLEntry("rotate_before_days", .int(rotate)),
                ])),
            ])))

            // services/<id>.yaml and services/<id>.md
            for s in services {
                var entries = [YAMLEntry("name", .string(s.name))]
                if let description = s.description { entries.append(YAMLEntry("description", .string(description))) }
                entries.append(YAMLEntry("token_exchange_url", .string(s.tokenExchangeURL)))
                entries.append(YAMLEntry("token_revoke_url", .string(s.tokenRevokeURL)))
                if let health = s.healthURL { entries.append(YAMLEntry("health_url", .string(health))) }
                entries.append(YAMLEntry("env_var", .string(s.envVar)))
                if s.secretEnv != "SC_SECRET_" + s.id.uppercased() { entries.append(YAMLEntry("secret_env", .string(s.secretEnv))) }
                if s.ttlDays != ImportBuilder.defaultTTLDays { entries.append(YAMLEntry("ttl_days", .int(s.ttlDays))) }
                if let prefix = s.keyPrefix { entries.append(YAMLEntry("key_prefix", .string(prefix))) }
                if !s.enabled { entries.append(YAMLEntry("enabled", .bool(false))) }
                files.append(ImportedFile(path: "services/\(s.id).yaml", text: ImportYAML.document(entries)))
                let (skill, placeholder) = skillText(for: s, suppliedSkill: suppliedSkill)
                if placeholder { placeholders.append(s.id) }
                files.append(ImportedFile(path: "services/\(s.id).md", text: skill))
            }

            // users/<id>.yaml
            for u in users {
                var entries = [YAMLEntry("email", .string(u.email))]
                if u.unixUser != u.id { entries.append(YAMLEntry("unix_user", .string(u.unixUser))) }
                if !u.active { entries.append(YAMLEntry("active", .bool(false))) }
                let list = (connections[u.id] ?? []).sorted()
                if !list.isEmpty { entries.append(YAMLEntry("connections", .list(list))) }
                files.append(ImportedFile(path: "users/\(u.id).yaml", text: ImportYAML.document(entries)))
            }

            // groups/<id>.yaml
            let typeOrder = Dictionary(uniqueKeysWithValues: resourceTypes.enumerated().map { ($1, $0) })
            for g in groups {
                var entries: [YAMLEntry] = []
                if let description = g.description { entries.append(YAMLEntry("description", .string(description))) }
                let list = (members[g.id] ?? []).sorted()
                if !list.isEmpty { entries.append(YAMLEntry("members", .list(list))) }
                if let byType = grants[g.id], !byType.isEmpty {
                    let ordered = byType.sorted { (typeOrder[$0.key] ?? 0, $0.key) < (typeOrder[$1.key] ?? 0, $1.key) }
                    entries.append(YAMLEntry("grants", .mapping(ordered.map { YAMLEntry($0.key, .list($0.value.sorted())) })))
                }
                // A group file may not be empty of keys for every YAML reader: an empty
                // mapping is written as `{}`.
                files.append(ImportedFile(path: "groups/\(g.id).yaml",
                                          text: entries.isEmpty ? "{}\n" : ImportYAML.document(entries)))
            }

            // The same layout `accessctl fmt` gives, so an imported repository passes `fmt --check`.
            for index in files.indices where files[index].path.hasSuffix(".yaml") {
                if case .formatted(let bytes) = FileFormatter.format(Array(files[index].text.utf8), path: files[index].path,
                                                                     resourceTypes: resourceTypes) {
                    files[index].text = String(decoding: bytes, as: UTF8.self)
                }
            }
            let config = files.removeFirst()
            files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
            files.insert(config, at: 0)
            return ImportedRepository(files: files, warnings: warnings, services: services.count, users: users.count,
                                      groups: groups.count, foreignRows: foreign, placeholderSkills: placeholders)
        }

        /// The skill text of a service: the one stored in the database (when it matches the
        /// row's digest), else the file from `--skills`, else a placeholder. Warns for the
        /// last two when the plan will show a skill update.
        mutating func skillText(for s: LiveService, suppliedSkill: (String) -> SuppliedSkill) -> (String, placeholder: Bool) {
            if let stored = export.skillTexts[s.id] {
                if HomeFiles.sha256(stored) == s.skillSHA256 { return (stored, false) }
                warnings.append("service \(s.id): the skill text stored in the database does not match its skill_sha256; ignored it")
            }
            let connected = users.filter { $0.active && (connections[$0.id] ?? []).contains(s.id) }.count
            let homes = s.enabled && connected > 0 ? " and rewrite its skill file in \(plural(connected, "home"))" : ""
            switch suppliedSkill(s.id) {
            case .text(let text):
                if HomeFiles.sha256(text) == s.skillSHA256 { return (text, false) }
                warnings.append("service \(s.id): \(s.id).md from --skills differs from the skill last applied "
                    + "(\(SHA256.fingerprint(hexDigest: s.skillSHA256))); wrote it anyway: plan will show a skill update for \(s.id)\(homes)")
                return (text, false)
            case .unusable(let why):
                warnings.append("service \(s.id): \(s.id).md from --skills cannot be used (\(why))")
            case .none:
                break
            }
            warnings.append("service \(s.id): the database holds no skill text (only its SHA-256); wrote a placeholder "
                + "services/\(s.id).md: plan will show a skill update for \(s.id)\(homes) until the real text is pasted in "
                + "(or import again with --skills DIR)")
            return (Self.placeholder(s), true)
        }

        static func placeholder(_ s: LiveService) -> String {
            """
            # \(s.name.escapingControlCharacters)

            PLACEHOLDER written by `accessctl import`: replace this file with the skill file of
            service `\(s.id)` before applying.

            The live database holds only the SHA-256 of the skill text it last applied
            (\(SHA256.fingerprint(hexDigest: s.skillSHA256))), not the text. Until the real text is here,
            `accessctl plan` shows an update of this service's skill, and `accessctl apply` would
            write this placeholder into the home of every user connected to the service.

            """
        }
    }
}
