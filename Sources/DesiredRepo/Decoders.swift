import AccessModel
import StrictYAML

/// `accessctl.yaml`, decoded. `versionOK` is false when the format version is missing or unsupported.
struct ParsedConfig {
    var config = RepoConfig()
    var versionOK = false
    /// Whether `resource_types` was read without error (type checks on grants depend on it).
    var typesOK = true
    var rotateMark: Mark?
    var ttlMark: Mark?
}

struct ParsedService {
    var id: String
    var path: String
    var name: String?
    var description: String?
    var exchangeURL: String?
    var revokeURL: String?
    var healthURL: String?
    var envVar: Located<String>?
    var secretEnv: String
    /// Repository-relative path of the skill file; nil when `skill:` was given but is not acceptable.
    var skillPath: String?
    var skillMark: Mark
    var ttlDays: Located<Int>?
    var keyPrefix: String?
    var enabled: Bool
}

struct ParsedUser {
    var id: String
    var path: String
    var email: Located<String>?
    var unixUser: Located<String>?
    /// Whether `unix_user` was written (false: the id is used).
    var unixUserExplicit = false
    var active: Bool
    var connections: [Located<String>]
    var connectionsMark: Mark?
    /// `active` was written but is not a boolean: whether the user is active is unknown.
    var activeUnknown = false
}

struct ParsedGroup {
    var id: String
    var path: String
    var description: String?
    var members: [Located<String>]
    var membersMark: Mark?
    /// Resource type (with its key's mark) -> resource ids.
    var grants: [(type: Located<String>, ids: [Located<String>])]
    var connect: [Located<String>]
    /// `members` was written but could not be read (a string instead of a list, say): who
    /// belongs to the group is unknown, so rules that depend on it are skipped, not failed.
    var membersUnknown = false
    /// `grants` or `grants.service` was written but could not be read.
    var serviceGrantsUnknown = false
}

package enum Decoders {
    package static let configKeys = ["version", "resource_types", "policy", "defaults"]
    package static let policyKeys = ["require_service_grant"]
    package static let defaultsKeys = ["ttl_days", "rotate_before_days"]
    package static let serviceKeys = ["name", "description", "token_exchange_url", "token_revoke_url", "health_url",
                              "env_var", "secret_env", "skill", "ttl_days", "key_prefix", "enabled"]
    package static let userKeys = ["email", "unix_user", "active", "connections"]
    package static let groupKeys = ["description", "members", "grants", "connect"]
    static let ttlRange = 1...3650

    static func config(_ root: Node?, into d: inout FileDiagnostics) -> ParsedConfig {
        var parsed = ParsedConfig()
        guard let fields = Fields(root, context: "accessctl.yaml", known: configKeys, into: &d) else { return parsed }
        if let version = fields.int("version", in: Int.min...Int.max, required: true, into: &d) {
            if version.value == RepoConfig.supportedVersion {
                parsed.versionOK = true
            } else {
                d.error(version.mark, "unsupported format version \(version.value); this accessctl reads version \(RepoConfig.supportedVersion)")
            }
        }
        let before = d.items.count
        if let types = fields.stringList("resource_types", pattern: Rules.resourceType, itemName: "resource type", into: &d) {
            parsed.config.resourceTypes = types.items.map(\.value)
        }
        parsed.typesOK = d.items.count == before
        if let entry = fields.entry("policy"),
           let policy = Fields(entry.value, context: "'policy'", known: policyKeys, into: &d) {
            if let value = policy.bool("require_service_grant", into: &d) { parsed.config.requireServiceGrant = value }
        }
        if let entry = fields.entry("defaults"),
           let defaults = Fields(entry.value, context: "'defaults'", known: defaultsKeys, into: &d) {
            if let ttl = defaults.int("ttl_days", in: ttlRange, into: &d) {
                parsed.config.ttlDays = ttl.value
                parsed.ttlMark = ttl.mark
            }
            if let rotate = defaults.int("rotate_before_days", in: 0...(ttlRange.upperBound - 1), into: &d) {
                parsed.config.rotateBeforeDays = rotate.value
                parsed.rotateMark = rotate.mark
            }
        }
        return parsed
    }

    static func service(id: String, path: String, _ root: Node?, into d: inout FileDiagnostics) -> ParsedService? {
        guard let f = Fields(root, context: "a service file", known: serviceKeys, into: &d) else { return nil }
        var service = ParsedService(
            id: id, path: path, secretEnv: "SC_SECRET_" + id.uppercased(),
            skillPath: "services/\(id).md", skillMark: f.mapping.mark, enabled: true)
        service.name = f.string("name", required: true, into: &d)?.value
        if let name = service.name, name.count > 200 {
            d.error(f.entry("name")!.value.mark, "'name' is longer than 200 characters")
        }
        service.description = f.string("description", nonEmpty: false, into: &d)?.value
        for (key, required) in [("token_exchange_url", true), ("token_revoke_url", true), ("health_url", false)] {
            guard let url = f.string(key, required: required, into: &d) else { continue }
            if let problem = Rules.urlProblem(url.value) {
                d.error(url.mark, "'\(key)': \(problem)")
                continue
            }
            switch key {
            case "token_exchange_url": service.exchangeURL = url.value
            case "token_revoke_url": service.revokeURL = url.value
            default: service.healthURL = url.value
            }
        }
        if let env = f.string("env_var", required: true, into: &d), checkEnvName(env, key: "env_var", into: &d) {
            service.envVar = env
        }
        if let secret = f.string("secret_env", into: &d), checkEnvName(secret, key: "secret_env", into: &d) {
            service.secretEnv = secret.value
        }
        if let skill = f.string("skill", into: &d) {
            if let problem = Rules.skillPathProblem(skill.value) {
                d.error(skill.mark, "'skill' path \(problem)")
                service.skillPath = nil
            } else {
                service.skillPath = "services/" + skill.value
                service.skillMark = skill.mark
            }
        } else if f.entry("skill") != nil {
            service.skillPath = nil  // present but not a string: already reported
        }
        service.ttlDays = f.int("ttl_days", in: ttlRange, into: &d)
        if let prefix = f.string("key_prefix", into: &d) {
            if Rules.keyPrefix.matches(prefix.value) {
                service.keyPrefix = prefix.value
            } else {
                d.error(prefix.mark, "'key_prefix' value \(Masked.describe(prefix.value)) must match \(Rules.keyPrefix.source)\(Rules.nonASCIINote(prefix.value))")
            }
        }
        if let enabled = f.bool("enabled", into: &d) { service.enabled = enabled }
        return service
    }

    private static func checkEnvName(_ name: Located<String>, key: String, into d: inout FileDiagnostics) -> Bool {
        guard Rules.envVar.matches(name.value) else {
            d.error(name.mark, "'\(key)' value \(Masked.describe(name.value)) must match \(Rules.envVar.source) (upper case letters, digits, underscore)\(Rules.nonASCIINote(name.value))")
            return false
        }
        if let reason = Rules.reservedEnvReason(name.value) {
            d.error(name.mark, "'\(key)' value '\(name.value)' is not allowed: \(reason)")
            return false
        }
        return true
    }

    static func user(id: String, path: String, _ root: Node?, into d: inout FileDiagnostics) -> ParsedUser? {
        guard let f = Fields(root, context: "a user file", known: userKeys, into: &d) else { return nil }
        var user = ParsedUser(id: id, path: path, active: true, connections: [])
        if let email = f.string("email", required: true, into: &d) {
            if Rules.isEmail(email.value) {
                user.email = email
            } else {
                d.error(email.mark, "'email' value \(Masked.describe(email.value)) is not an email address (name@example.com)\(Rules.nonASCIINote(email.value))")
            }
        }
        if let unix = f.string("unix_user", into: &d) {
            if let problem = unixUserProblem(unix.value) {
                // A value that fails the pattern is masked; a well-formed one ('root') is named.
                let shown = Rules.unixUser.matches(unix.value) ? "'\(unix.value)'" : Masked.describe(unix.value)
                d.error(unix.mark, "'unix_user' value \(shown) \(problem)")
            } else {
                user.unixUser = unix
                user.unixUserExplicit = true
            }
        } else if f.entry("unix_user") == nil {
            if let problem = unixUserProblem(id) {
                d.error(f.mapping.mark, "user id '\(id)' is not a valid Unix account name (it \(problem)); set 'unix_user'")
            } else {
                user.unixUser = Located(value: id, mark: f.mapping.mark)
            }
        }
        if let active = f.bool("active", into: &d) { user.active = active } else if f.entry("active") != nil { user.activeUnknown = true }
        if let list = f.stringList("connections", pattern: Rules.serviceID, itemName: "service id", into: &d) {
            user.connections = list.items
            user.connectionsMark = f.entry("connections")?.key.mark
        }
        return user
    }

    private static func unixUserProblem(_ name: String) -> String? {
        if !Rules.unixUser.matches(name) { return "must match \(Rules.unixUser.source)\(Rules.nonASCIINote(name))" }
        if name == "root" { return "is not allowed: accessctl never manages root's home" }
        if Rules.systemAccounts.contains(name) || name.hasPrefix("systemd-") || name.hasPrefix("_") {
            return "is a system account, not an analyst's; accessctl manages only personal accounts"
        }
        return nil
    }

    static func group(id: String, path: String, _ root: Node?, into d: inout FileDiagnostics) -> ParsedGroup? {
        guard let f = Fields(root, context: "a group file", known: groupKeys, into: &d) else { return nil }
        var group = ParsedGroup(id: id, path: path, members: [], grants: [], connect: [])
        group.description = f.string("description", nonEmpty: false, into: &d)?.value
        if let entry = f.entry("members") {
            if id == Group.everyone {
                d.error(entry.key.mark, "'Everyone' lists no members: every user belongs to it implicitly; remove 'members'")
            } else if let list = Fields.stringList(entry.value, name: "'members'", pattern: Rules.userID, itemName: "user id", into: &d) {
                group.members = list.items
                group.membersMark = entry.key.mark
            } else {
                group.membersUnknown = true
            }
        }
        if let entry = f.entry("grants") {
            if case .mapping(let grants) = entry.value {
                for grant in grants.entries {
                    let type = Located(value: grant.key.text, mark: grant.key.mark)
                    guard Rules.resourceType.matches(type.value) else {
                        if Suggest.closest(to: type.value, in: ["service"]) != nil { group.serviceGrantsUnknown = true }
                        d.error(type.mark, "resource type \(Masked.describe(type.value)) must match \(Rules.resourceType.source)\(Rules.nonASCIINote(type.value))")
                        continue
                    }
                    let pattern = type.value == "service" ? Rules.serviceID : Rules.resourceID
                    let itemName = type.value == "service" ? "service id" : "resource id"
                    if let list = Fields.stringList(grant.value, name: "'grants.\(type.value)'", pattern: pattern,
                                                    itemName: itemName, into: &d) {
                        group.grants.append((type, list.items))
                    } else if type.value == "service" {
                        group.serviceGrantsUnknown = true
                    }
                }
            } else {
                d.error(entry.value.mark, "'grants' must be a mapping of resource type to a list of ids, not \(entry.value.typeName)")
                group.serviceGrantsUnknown = true
            }
        }
        if let list = f.stringList("connect", pattern: Rules.serviceID, itemName: "service id", into: &d) {
            group.connect = list.items
        }
        return group
    }
}
