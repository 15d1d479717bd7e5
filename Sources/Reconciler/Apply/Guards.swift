import AccessModel

/// Why an apply was refused: the guard that stopped it and what it said (secret-free). A
/// refused run is recorded in `runs` with result `refused`, the guard's name and the
/// message, so `log` and `status` show why the server stays where it is.
public struct ApplyRefusal: Error, Sendable, Hashable {
    public var guardName: RefusalGuard
    public var message: String

    public init(_ guardName: RefusalGuard, _ message: String) {
        self.guardName = guardName
        self.message = message
    }
}

/// Checks that stop an apply before it changes anything (exit code 4). They are set in the
/// server configuration, never in the repository, so a pull request cannot turn them off.
enum Guards {
    static func check(_ plan: Plan, desired: DesiredState, live: LiveState, settings: ApplySettings) throws(ApplyRefusal) {
        if desired.users.isEmpty && desired.services.isEmpty && !(live.users.isEmpty && live.connections.isEmpty) {
            throw ApplyRefusal(.emptyDesiredState, "the desired state is empty but the live state is not; refusing to remove everything")
        }
        guard !settings.allowMassRemoval else { return }
        func count(_ kind: PlannedAction.Kind, _ matches: (Target) -> Bool) -> Int {
            plan.actions.filter { $0.kind == kind && matches($0.target) }.count
        }
        let removals: [(name: String, removed: Int, total: Int)] = [
            ("memberships", count(.delete) { $0.category == .membership }, live.members.count),
            ("grants", count(.delete) { $0.category == .grant }, live.grants.count),
            ("connections", count(.disconnect) { if case .connection = $0 { true } else { false } }, live.connections.count),
        ]
        for category in removals {
            let limit = max(settings.minRemoval, category.total * settings.maxRemovalPercent / 100)
            if category.removed > limit {
                throw ApplyRefusal(.massRemoval, "the plan removes \(category.removed) of \(category.total) \(category.name), more than the limit of \(limit) (max(\(settings.minRemoval), \(settings.maxRemovalPercent)%)); if this is intended, apply with --allow-mass-removal")
            }
        }
    }
}
