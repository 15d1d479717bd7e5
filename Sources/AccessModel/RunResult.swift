/// The guard that refused an apply. Its raw value is what `runs.refused_by` stores and
/// what `log --format json` shows as `refused_by`.
public enum RefusalGuard: String, Sendable, Hashable, CaseIterable, Codable {
    /// The desired state is empty but the live state is not.
    case emptyDesiredState = "empty-desired-state"
    /// The plan removes more than the configured share of memberships, grants or connections.
    case massRemoval = "mass-removal"
    /// The commit does not descend from the last applied one.
    case fastForward = "fast-forward"
    /// The commit's signature does not verify against `allowed_signers`.
    case signature
    /// A saved plan whose desired or live state changed since it was computed.
    case stalePlan = "stale-plan"

    /// How `apply`, `log` and `status` name it: "the mass-removal guard".
    public var title: String {
        switch self {
        case .emptyDesiredState: "the empty-desired-state guard"
        case .massRemoval: "the mass-removal guard"
        case .fastForward: "the fast-forward guard"
        case .signature: "the signature check"
        case .stalePlan: "the saved-plan check (stale plan)"
        }
    }
}

/// What became of a run. ``stored`` is the one mapping to the stable strings in
/// `runs.result` (docs/apply.md, "The log"); ``init(stored:refusedBy:)`` reads them back.
public enum RunResult: Sendable, Hashable {
    /// Recorded when the run starts; an apply killed before it finished stays so until the
    /// next apply marks it `interrupted`.
    case running
    /// Everything planned was done.
    case applied
    /// Some actions failed (exit 3); the rest was done and the next run retries.
    case partlyApplied
    /// The plan had no changes.
    case noChanges
    /// The run stopped at an error after it began changing things; the text says why.
    case failed(String)
    /// The commit does not validate (`N errors, first …`); nothing was changed.
    case invalid(String)
    /// A guard refused the run (exit 4); nothing was changed. Nil for a refused run recorded
    /// without its guard (before schema v5) or with a guard this build does not know.
    case refused(RefusalGuard?)
    /// A run found `running` by a later apply: it was killed before recording its outcome.
    case interrupted
    /// A result this build does not know (written by another version), as stored.
    case unknown(String)

    /// The string stored in `runs.result`.
    public var stored: String {
        switch self {
        case .running: "running"
        case .applied: "applied"
        case .partlyApplied: "partly applied"
        case .noChanges: "no changes"
        case .failed(let why): "failed: " + why
        case .invalid(let why): "invalid: " + why
        case .refused: "refused"
        case .interrupted: "interrupted"
        case .unknown(let text): text
        }
    }

    /// Reads a stored result (and the guard of a refused run).
    public init(stored: String, refusedBy: String? = nil) {
        switch stored {
        case "running": self = .running
        case "applied": self = .applied
        case "partly applied": self = .partlyApplied
        case "no changes": self = .noChanges
        case "interrupted": self = .interrupted
        case "refused": self = .refused(refusedBy.flatMap(RefusalGuard.init(rawValue:)))
        default:
            if stored.hasPrefix("failed: ") {
                self = .failed(String(stored.dropFirst("failed: ".count)))
            } else if stored.hasPrefix("invalid: ") {
                self = .invalid(String(stored.dropFirst("invalid: ".count)))
            } else {
                self = .unknown(stored)
            }
        }
    }

    /// The results of runs that brought the server to their commit (fully, partly, or
    /// finding nothing to change): the base of the fast-forward guard and "last success".
    public static let reachedCommit: [RunResult] = [.applied, .partlyApplied, .noChanges]

    /// Whether the run brought the server to its commit.
    public var reachedCommit: Bool { Self.reachedCommit.contains(self) }

    public var isRefusal: Bool {
        if case .refused = self { true } else { false }
    }
}
