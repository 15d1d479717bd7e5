@_exported import Digest

/// The JSON documents exchanged with `install-service-env` on stdin and stdout.
///
/// Both verbs take one request and answer one response, with one result per user in
/// request order. File contents travel only in `apply` requests; responses carry digests.
/// Keys are snake_case on the wire (see docs/helper.md and schemas/helper-*.schema.json).
public enum HelperProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// Name of the per-user key file in the home directory.
    public static let serviceEnvName = ".service_env"
    /// Name of the skills directory in the home directory.
    public static let claudeRulesName = ".claude_rules"
}

/// `inspect` request: the users whose files to describe.
public struct InspectRequest: Codable, Sendable, Equatable {
    public var version: Int
    public var users: [String]

    public init(version: Int = HelperProtocol.version, users: [String]) {
        self.version = version
        self.users = users
    }
}

/// `apply` request: the exact desired files of each listed user.
public struct ApplyRequest: Codable, Sendable, Equatable {
    public var version: Int
    /// Skill texts by their SHA-256 (64 lowercase hex), so a skill shared by many users is
    /// sent once. The helper checks every key against its text.
    public var contents: [String: String]
    public var users: [UserFiles]

    public init(version: Int = HelperProtocol.version, contents: [String: String], users: [UserFiles]) {
        self.version = version
        self.contents = contents
        self.users = users
    }

    /// The desired files of one user.
    public struct UserFiles: Codable, Sendable, Equatable {
        public var user: String
        /// The exact `.service_env` text, or nil to remove the file.
        public var serviceEnv: String?
        /// Every `sc_*.md` the user should have: file name -> SHA-256 of its text in `contents`.
        /// Any other `sc_*.md` in `.claude_rules` is removed.
        public var skills: [String: String]

        public init(user: String, serviceEnv: String?, skills: [String: String]) {
            self.user = user
            self.serviceEnv = serviceEnv
            self.skills = skills
        }

        enum CodingKeys: String, CodingKey {
            case user
            case serviceEnv = "service_env"
            case skills
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(user, forKey: .user)
            // null is meaningful ("remove"), so it is always written.
            try container.encode(serviceEnv, forKey: .serviceEnv)
            try container.encode(skills, forKey: .skills)
        }
    }
}

/// What the helper found at one path.
public struct FileState: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// A regular file owned by the user, with one link.
        case present
        case absent
        /// Something the helper will not read or trust: a symbolic link, a directory, a FIFO,
        /// a file owned by someone else or with several hard links. `reason` says which.
        case unsafe
    }

    public var state: State
    /// SHA-256 of the contents, for a `present` file.
    public var sha256: String?
    /// Permission bits in octal ("0600", "0700"), for `present`.
    public var mode: String?
    /// Why the path is unsafe.
    public var reason: String?

    public init(state: State, sha256: String? = nil, mode: String? = nil, reason: String? = nil) {
        self.state = state
        self.sha256 = sha256
        self.mode = mode
        self.reason = reason
    }

    public static let absent = FileState(state: .absent)
    public static func present(_ sha256: String?, mode: String) -> FileState {
        FileState(state: .present, sha256: sha256, mode: mode)
    }
    public static func unsafe(_ reason: String) -> FileState { FileState(state: .unsafe, reason: reason) }
}

/// The files of one user, as the helper sees them (after an apply: as it left them).
public struct UserReport: Codable, Sendable, Equatable {
    public var user: String
    /// Whether every step for this user succeeded.
    public var ok: Bool
    /// Why it did not, when `ok` is false.
    public var error: String?
    public var serviceEnv: FileState?
    /// The state of `.claude_rules` itself (`present` carries no digest).
    public var claudeRules: FileState?
    /// Every `sc_*.md` entry found, by name.
    public var skills: [String: FileState]?
    /// Names written by an apply (only those whose content or mode differed).
    public var written: [String]?
    /// Names removed by an apply.
    public var removed: [String]?

    public init(user: String, ok: Bool, error: String? = nil, serviceEnv: FileState? = nil,
                claudeRules: FileState? = nil, skills: [String: FileState]? = nil,
                written: [String]? = nil, removed: [String]? = nil) {
        self.user = user
        self.ok = ok
        self.error = error
        self.serviceEnv = serviceEnv
        self.claudeRules = claudeRules
        self.skills = skills
        self.written = written
        self.removed = removed
    }

    public static func failed(_ user: String, _ error: String) -> UserReport {
        UserReport(user: user, ok: false, error: error)
    }

    enum CodingKeys: String, CodingKey {
        case user, ok, error
        case serviceEnv = "service_env"
        case claudeRules = "claude_rules"
        case skills, written, removed
    }
}

/// The response of either verb.
public struct HelperResponse: Codable, Sendable, Equatable {
    public var version: Int
    /// Set when the whole request was refused (exit code 1); `users` is then empty.
    public var error: String?
    public var users: [UserReport]

    public init(version: Int = HelperProtocol.version, error: String? = nil, users: [UserReport]) {
        self.version = version
        self.error = error
        self.users = users
    }
}

/// Names the helper accepts.
public enum HelperNames {
    /// `^[a-z_][a-z0-9_-]{0,31}$`: a Unix account name as accessctl manages them.
    public static func isUnixUser(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard let first = utf8.first, utf8.count <= 32, first == 95 || (97...122).contains(first) else { return false }
        return utf8.allSatisfy { $0 == 95 || $0 == 45 || (97...122).contains($0) || (48...57).contains($0) }
    }

    /// `^sc_[a-z0-9][a-z0-9_]*\.md$`: a managed skill file name (at most 255 bytes).
    public static func isSkillFile(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard utf8.count >= 7, utf8.count <= 255, name.hasPrefix("sc_"), name.hasSuffix(".md") else { return false }
        let stem = utf8[3..<(utf8.count - 3)]
        guard let first = stem.first, (97...122).contains(first) || (48...57).contains(first) else { return false }
        return stem.allSatisfy { $0 == 95 || (97...122).contains($0) || (48...57).contains($0) }
    }

    /// The skill file name of a service id: `sc_<id>.md`.
    public static func skillFile(forService id: String) -> String { "sc_\(id).md" }
}
