/// An emergency hold placed on this server (`accessctl hold user|service NAME --reason`):
/// while it is in force, the planner treats every key of the user (or of the service) as
/// not granted, so the next apply revokes them and takes them out of the homes, and later
/// applies keep them revoked whatever the repository says. `accessctl release` lifts it.
/// Holds are local to a server's database; the repository never places or lifts one.
public struct Hold: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case user, service
    }

    public var kind: Kind
    /// The user id or service id.
    public var name: String
    public var reason: String
    /// Who placed it (the operator's account, as the command saw it).
    public var placedBy: String
    /// Unix seconds.
    public var placedAt: Int64

    public init(kind: Kind, name: String, reason: String, placedBy: String, placedAt: Int64) {
        self.kind = kind
        self.name = name
        self.reason = reason
        self.placedBy = placedBy
        self.placedAt = placedAt
    }

    /// The held object: `user.alice` or `service.crm`.
    public var target: Target { kind == .user ? .user(name) : .service(name) }

    /// Whether the hold covers the key of `user` for `service`.
    public func covers(user: String, service: String) -> Bool {
        kind == .user ? name == user : name == service
    }

    enum CodingKeys: String, CodingKey {
        case kind, name, reason
        case placedBy = "placed_by"
        case placedAt = "placed_at"
    }
}
