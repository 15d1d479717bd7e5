import AccessModel

/// Checks that stop an apply before it changes anything (exit code 4). They are set in the
/// server configuration, never in the repository, so a pull request cannot turn them off.
enum Guards {
    static func check(_ plan: Plan, desired: DesiredState, live: LiveState, settings: ApplySettings) throws(ApplyError) {
        if desired.users.isEmpty && desired.services.isEmpty && !(live.users.isEmpty && live.connections.isEmpty) {
            throw .refused("the desired state is empty but the live state is not; refusing to remove everything")
        }
        guard !settings.allowMassRemoval else { return }
        let removals: [(name: String, removed: Int, total: Int)] = [
            ("memberships", plan.actions.filter { $0.kind == .delete && $0.address.hasPrefix("member.") }.count, live.members.count),
            ("grants", plan.actions.filter { $0.kind == .delete && $0.address.hasPrefix("grant.") }.count, live.grants.count),
            ("connections", plan.actions.filter { $0.kind == .disconnect && $0.address.hasPrefix("connection.") }.count,
             live.connections.count),
        ]
        for category in removals {
            let limit = max(settings.minRemoval, category.total * settings.maxRemovalPercent / 100)
            if category.removed > limit {
                throw .refused("the plan removes \(category.removed) of \(category.total) \(category.name), more than the limit of \(limit) (max(\(settings.minRemoval), \(settings.maxRemovalPercent)%)); if this is intended, apply with --allow-mass-removal")
            }
        }
    }
}
