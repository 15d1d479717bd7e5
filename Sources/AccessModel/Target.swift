/// The object a plan action is about: a typed address, in the style of Terraform's `addrs`.
///
/// `address` is the one place that writes a target as the address string of docs/plan.md
/// (`member.finance.john`), and `init?(address:)` the one place that reads it back (for
/// `show`, saved plans, audit rows and address patterns). Nothing else formats or splits
/// addresses.
public enum Target: Sendable, Hashable {
    case service(String)
    case user(String)
    case group(String)
    case membership(group: String, user: String)
    case grant(group: String, type: String, resource: String)
    /// A user's key for a service.
    case connection(user: String, service: String)
    /// A key replaced by a rotation, still to be revoked at its service.
    case retiredKey(service: String, tokenID: String)
    /// A user's `~/.service_env`.
    case serviceEnv(user: String)
    /// A skill file `~/.claude_rules/<name>` (`sc_<service>.md`).
    case skillFile(user: String, name: String)
    /// A user's home as a whole (for notes about it).
    case home(user: String)

    /// The kinds of object, in the order a plan lists them.
    public enum Category: Int, Sendable, Hashable, Comparable, CaseIterable {
        case service, user, group, membership, grant, connection, file

        public static func < (a: Category, b: Category) -> Bool { a.rawValue < b.rawValue }
    }

    public var category: Category {
        switch self {
        case .service: .service
        case .user: .user
        case .group: .group
        case .membership: .membership
        case .grant: .grant
        case .connection, .retiredKey: .connection
        case .serviceEnv, .skillFile, .home: .file
        }
    }

    /// A row of the registry (service, user, group, membership or grant), which every host
    /// shares; the others are a host's own keys and files.
    public var isRegistry: Bool { category <= .grant }

    /// The user whose home the target is in (connections, files, homes), or nil.
    public var homeUser: String? {
        switch self {
        case .connection(let user, _), .serviceEnv(let user), .skillFile(let user, _), .home(let user): user
        default: nil
        }
    }

    /// The address string of docs/plan.md.
    public var address: String {
        switch self {
        case .service(let id): "service." + id
        case .user(let id): "user." + id
        case .group(let id): "group." + id
        case .membership(let group, let user): "member." + group + "." + user
        case .grant(let group, let type, let resource): "grant." + group + "." + type + "." + resource
        case .connection(let user, let service): "connection." + user + "." + service
        case .retiredKey(let service, let tokenID): "token." + service + "." + tokenID
        case .serviceEnv(let user): "file." + user + "." + Self.serviceEnvName
        case .skillFile(let user, let name): "file." + user + "." + Self.skillDirectory + "/" + name
        case .home(let user): "home." + user
        }
    }

    static let serviceEnvName = "service_env"
    static let skillDirectory = "claude_rules"

    /// Reads an address string back (nil when it is not one). Ids follow the repository's
    /// rules: group names, service ids and resource types have no dot, user ids may, so a
    /// membership splits at the first dot after the group and a connection at the last dot.
    public init?(address: String) {
        guard let dot = address.firstIndex(of: ".") else { return nil }
        let kind = address[..<dot]
        let rest = String(address[address.index(after: dot)...])
        guard !rest.isEmpty else { return nil }
        func split(_ text: String, last: Bool = false) -> (String, String)? {
            guard let i = last ? text.lastIndex(of: ".") : text.firstIndex(of: ".") else { return nil }
            let a = String(text[..<i]), b = String(text[text.index(after: i)...])
            return a.isEmpty || b.isEmpty ? nil : (a, b)
        }
        switch kind {
        case "service": self = .service(rest)
        case "user": self = .user(rest)
        case "group": self = .group(rest)
        case "home": self = .home(user: rest)
        case "member":
            guard let (group, user) = split(rest) else { return nil }
            self = .membership(group: group, user: user)
        case "grant":
            guard let (group, typed) = split(rest), let (type, resource) = split(typed) else { return nil }
            self = .grant(group: group, type: type, resource: resource)
        case "connection":
            guard let (user, service) = split(rest, last: true) else { return nil }
            self = .connection(user: user, service: service)
        case "token":
            guard let (service, tokenID) = split(rest) else { return nil }
            self = .retiredKey(service: service, tokenID: tokenID)
        case "file":
            if rest.hasSuffix("." + Self.serviceEnvName) {
                let user = String(rest.dropLast(Self.serviceEnvName.count + 1))
                guard !user.isEmpty else { return nil }
                self = .serviceEnv(user: user)
            } else if let slash = rest.lastIndex(of: "/") {
                let directory = rest[..<slash], name = String(rest[rest.index(after: slash)...])
                guard directory.hasSuffix("." + Self.skillDirectory), !name.isEmpty else { return nil }
                let user = String(directory.dropLast(Self.skillDirectory.count + 1))
                guard !user.isEmpty else { return nil }
                self = .skillFile(user: user, name: name)
            } else {
                return nil
            }
        default: return nil
        }
    }
}

extension Target: CustomStringConvertible {
    public var description: String { address }
}

extension Target: Codable {
    /// A target is written as its address string, so the plan's JSON stays as documented.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let target = Target(address: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not an address of docs/plan.md: \(text)"))
        }
        self = target
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(address)
    }
}

/// A set of targets named by one address pattern: the `ADDRESS` of `plan --replace` and
/// `apply --replace` (docs/plan.md). Its only form is a connection address whose user or
/// service part (or both) may be `*`, which stands for one whole part (any user id, any
/// service id), never a piece of one: `connection.alice.crm`, `connection.*.crm`,
/// `connection.john.doe.*`, `connection.*.*`. It is read like an address (a connection
/// splits at its last dot, as user ids may contain dots and service ids may not), and ids
/// never contain `*`, so each pattern means one thing.
public enum TargetPattern: Sendable, Hashable {
    /// Connections of `user` (nil: any user) to `service` (nil: any service).
    case connection(user: String?, service: String?)

    /// The accepted forms, for messages.
    public static let forms = "connection.<user>.<service>, connection.*.<service>, connection.<user>.* or connection.*.*"

    /// Why a pattern was refused, in words that list the accepted forms.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    /// Reads a pattern (`--replace` values); throws with the accepted forms when it is not one.
    public init(parsing text: String) throws(ParseError) {
        func refuse(_ why: String, hint: String = "") -> ParseError {
            ParseError(description: "'\(text)' is not a replace pattern: \(why); use \(Self.forms)\(hint)")
        }
        guard case .connection(let user, let service)? = Target(address: text) else {
            switch Target(address: text) {
            case .service(let id)?: throw refuse("it names a service", hint: " (every key of \(id): connection.*.\(id))")
            case .user(let id)?: throw refuse("it names a user", hint: " (every key of \(id): connection.\(id).*)")
            default: throw refuse(text.hasPrefix("connection.") ? "a user and a service are needed, neither empty" : "only connections have keys to replace")
            }
        }
        for part in [user, service] where part != "*" && part.contains("*") {
            throw refuse("'*' stands for a whole user or service id, not part of one ('\(part)')")
        }
        self = .connection(user: user == "*" ? nil : user, service: service == "*" ? nil : service)
    }

    /// Whether `target` is one of the pattern's targets.
    public func matches(_ target: Target) -> Bool {
        guard case .connection(let user, let service) = self, case .connection(let u, let s) = target else { return false }
        return (user == nil || user == u) && (service == nil || service == s)
    }

    /// The pattern as written: the one place that formats it.
    public var address: String {
        switch self {
        case .connection(let user, let service): Target.connection(user: user ?? "*", service: service ?? "*").address
        }
    }
}

extension TargetPattern: CustomStringConvertible, Codable {
    public var description: String { address }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try TargetPattern(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(address)
    }
}
