/// One field of an object that an action sets or changes. Values are display text, never a
/// secret (keys appear only as fingerprints).
public struct FieldChange: Sendable, Hashable, Codable {
    public var field: String
    /// The live value; nil when the object does not exist yet.
    public var old: String?
    /// The desired value; nil when the object is removed.
    public var new: String?

    public init(field: String, old: String?, new: String?) {
        self.field = field
        self.old = old
        self.new = new
    }
}

/// One step of a plan, on one addressed object.
public struct PlannedAction: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case create, update, delete
        /// Exchange a key for a new connection (or retry a pending exchange).
        case connect
        /// Exchange a new key for an existing connection (expiring, or retry after an error).
        case rotate
        /// Revoke a connection's key and forget it.
        case disconnect
        case writeFile = "write-file"
        case removeFile = "remove-file"
        /// A desired object exists live with another owner; left alone unless adopted.
        case conflict
        /// A note: the world differs from what accessctl last wrote, or could not be observed.
        case drift
    }

    public var kind: Kind
    /// What the action is about.
    public var target: Target { didSet { address = target.address } }
    /// The target's address string (`service.crm`, `member.finance.john`, ...), kept beside
    /// it because plans are sorted and matched by it.
    public private(set) var address: String
    /// Why: `added in desired state`, `expires in 12 days`, `drift: file changed on disk`, ...
    public var reason: String
    /// For create and update: the fields set, with old and new values.
    public var changes: [FieldChange]

    public init(_ kind: Kind, _ target: Target, reason: String, changes: [FieldChange] = []) {
        self.kind = kind
        self.target = target
        self.address = target.address
        self.reason = reason
        self.changes = changes
    }

    enum CodingKeys: String, CodingKey {
        case kind, address, reason, changes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        target = try c.decode(Target.self, forKey: .address)
        address = target.address
        reason = try c.decode(String.self, forKey: .reason)
        changes = try c.decode([FieldChange].self, forKey: .changes)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(address, forKey: .address)
        try c.encode(reason, forKey: .reason)
        try c.encode(changes, forKey: .changes)
    }
}

/// Counts of a plan, as the summary line shows them.
public struct PlanSummary: Sendable, Hashable, Codable {
    public var add = 0
    public var change = 0
    public var remove = 0
    public var keysToIssue = 0
    public var keysToRotate = 0
    public var keysToRevoke = 0
    public var filesToWrite = 0
    public var filesToRemove = 0
    public var conflicts = 0
    public var drift = 0

    public init() {}

    public init(_ actions: [PlannedAction]) {
        for action in actions {
            switch action.kind {
            case .create: add += 1
            case .update: change += 1
            case .delete: remove += 1
            case .connect: keysToIssue += 1
            case .rotate: keysToRotate += 1
            case .disconnect: keysToRevoke += 1
            case .writeFile: filesToWrite += 1
            case .removeFile: filesToRemove += 1
            case .conflict: conflicts += 1
            case .drift: drift += 1
            }
        }
    }

    /// Whether applying the plan would change anything (notes alone change nothing).
    public var hasChanges: Bool {
        add + change + remove + keysToIssue + keysToRotate + keysToRevoke + filesToWrite + filesToRemove > 0
    }

    enum CodingKeys: String, CodingKey {
        case add, change, remove, conflicts, drift
        case keysToIssue = "keys_to_issue"
        case keysToRotate = "keys_to_rotate"
        case keysToRevoke = "keys_to_revoke"
        case filesToWrite = "files_to_write"
        case filesToRemove = "files_to_remove"
    }
}

/// The difference between desired and live state, as ordered actions, with what it was
/// computed from. A saved plan is applied only while its live digest still matches.
public struct Plan: Sendable, Hashable, Decodable {
    /// Versions of the plan's JSON form (schemas/plan.schema.json): 2 for a plan that carries
    /// replacements (so that an accessctl from before `--replace` refuses it rather than
    /// applying it without them), 1 for any other.
    public static let formatVersions = 1...2

    /// The version the plan is written in: 2 when it carries replacements, else 1.
    public var formatVersion: Int { replace.isEmpty ? 1 : 2 }
    /// The desired-state commit, when the desired state came from git.
    public var commit: String?
    /// `sha256:` + 64 hex: digest of the desired state the plan was computed from.
    public var desiredDigest: String
    /// `sha256:` + 64 hex: digest of the live state (database rows and home files).
    public var liveDigest: String
    /// When the plan was computed (unix seconds): key expiry reasons depend on it.
    public var createdAt: Int64
    /// Whether conflicts were turned into updates that take ownership.
    public var adopt: Bool
    /// The `--replace` patterns the plan was computed with (each matched connection with a key
    /// is rotated); a saved plan is re-checked with them.
    public var replace: [TargetPattern]
    public var actions: [PlannedAction]
    /// The emergency holds in force on the server when the plan was made (nil when none):
    /// the keys they cover are planned as revoked, or stay so.
    public var holds: [Hold]?

    public init(commit: String?, desiredDigest: String, liveDigest: String, createdAt: Int64, adopt: Bool,
                replace: [TargetPattern] = [], actions: [PlannedAction]) {
        self.commit = commit
        self.desiredDigest = desiredDigest
        self.liveDigest = liveDigest
        self.createdAt = createdAt
        self.adopt = adopt
        self.replace = replace
        self.actions = actions
    }

    public var summary: PlanSummary { PlanSummary(actions) }

    enum CodingKeys: String, CodingKey {
        case commit
        case desiredDigest = "desired_digest"
        case liveDigest = "live_digest"
        case createdAt = "created_at"
        case adopt, replace, actions, holds
    }

    /// Reads the JSON that Render's `PlanRenderer.json` writes (`replace` is absent from
    /// version 1; `summary` is derived). The caller checks `format_version`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(commit: try c.decodeIfPresent(String.self, forKey: .commit),
                  desiredDigest: try c.decode(String.self, forKey: .desiredDigest),
                  liveDigest: try c.decode(String.self, forKey: .liveDigest),
                  createdAt: try c.decode(Int64.self, forKey: .createdAt), adopt: try c.decode(Bool.self, forKey: .adopt),
                  replace: try c.decodeIfPresent([TargetPattern].self, forKey: .replace) ?? [],
                  actions: try c.decode([PlannedAction].self, forKey: .actions))
        holds = try c.decodeIfPresent([Hold].self, forKey: .holds)
    }
}
