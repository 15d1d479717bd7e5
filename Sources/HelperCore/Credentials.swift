#if canImport(Glibc)
import Glibc
#endif

/// Switching the process's effective identity to a target user and back.
///
/// The helper keeps its real and saved user id at 0 and changes only the effective ids and
/// the supplementary groups, so the kernel checks every file operation against the target
/// user's permissions while the user cannot signal, trace or read the process (its real
/// and saved ids are still root's, and a credential change clears the dumpable flag).
/// glibc applies these changes to every thread of the process.
struct Credentials {
    /// Root's supplementary groups when the helper started, restored after each user.
    let rootGroups: [gid_t]

    /// Root's credentials as they are now; fails unless the process runs as root.
    static func ofRoot() throws(HelperError) -> Credentials {
        guard geteuid() == 0 else { throw HelperError("install-service-env must run as root (it is meant to be called through sudo)") }
        let count = getgroups(0, nil)
        guard count >= 0 else { throw HelperError("getgroups failed: \(errorText())") }
        var groups = [gid_t](repeating: 0, count: Int(count))
        guard getgroups(count, &groups) >= 0 else { throw HelperError("getgroups failed: \(errorText())") }
        return Credentials(rootGroups: groups)
    }

    /// Runs `body` with the effective uid, gid and groups of `account`, then returns to root.
    func asUser<T>(_ account: Account, _ body: () throws(HelperError) -> T) throws(HelperError) -> T {
        var gid = account.gid
        guard setgroups(1, &gid) == 0 else { throw HelperError("setgroups failed: \(errorText())") }
        defer { becomeRoot() }
        guard setegid(account.gid) == 0 else { throw HelperError("setegid(\(account.gid)) failed: \(errorText())") }
        guard seteuid(account.uid) == 0 else { throw HelperError("seteuid(\(account.uid)) failed: \(errorText())") }
        return try body()
    }

    /// Returns to root. Failing here would leave the process in an unknown identity, so it stops.
    private func becomeRoot() {
        if seteuid(0) != 0 || setegid(0) != 0 || setgroups(rootGroups.count, rootGroups) != 0 {
            let message = "install-service-env: cannot return to root credentials; stopping\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            abort()
        }
    }
}
