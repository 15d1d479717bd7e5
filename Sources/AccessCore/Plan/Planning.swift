import AccessModel
import Foundation

/// Computes a plan from a repository revision, the live database and the homes.
public enum Planning {
    /// Why no plan could be made.
    public enum Failure: Error, Sendable {
        /// The desired state has errors; the load result carries the diagnostics.
        case invalid(LoadResult)
        /// Something could not be read: the repository, the database, the helper.
        case unavailable(String)
    }

    /// A plan and the load result it came from (for its warnings).
    public struct Outcome: Sendable {
        public var plan: Plan
        public var load: LoadResult
    }

    /// Plans `source` against the database at `database` (a missing file is an empty live
    /// state) and the homes the helper reports. `now` is the clock (unix seconds).
    public static func plan(source: RepoSource, database: String, helper: HelperClient, adopt: Bool,
                            now: Int64) throws(Failure) -> Outcome {
        let load: LoadResult
        do { load = try DesiredStateLoader.load(from: source) } catch { throw .unavailable(error.message) }
        guard let desired = load.state else { throw .invalid(load) }
        let live: LiveState
        do { live = try LiveStore.snapshot(path: database) } catch { throw .unavailable(error.description) }
        var accounts = Set(desired.users.map(\.unixUser))
        accounts.formUnion(live.users.map(\.unixUser))
        let homes: HomeObservations
        do { homes = try helper.inspect(accounts: accounts.sorted()) } catch { throw .unavailable(error.message) }
        var commit: String?
        if case .git(_, _, let id) = load.origin { commit = id }
        let plan = Planner.plan(PlanInput(desired: desired, commit: commit, live: live, homes: homes, now: now, adopt: adopt))
        return Outcome(plan: plan, load: load)
    }

    /// The clock: `ACCESSCTL_NOW` (unix seconds, for tests and reproducible demos) or the system time.
    public static func now(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int64 {
        if let text = environment["ACCESSCTL_NOW"], let value = Int64(text) { return value }
        return Int64(Date().timeIntervalSince1970)
    }

    /// Reads a saved plan (the JSON written by `plan --out`).
    public static func readSavedPlan(path: String) throws(Failure) -> Plan {
        let bytes: [UInt8]
        do { bytes = try DirectorySource.readFile(at: path) } catch { throw .unavailable(error.message) }
        do {
            let plan = try JSONDecoder().decode(Plan.self, from: Data(bytes))
            guard plan.formatVersion == Plan.currentFormatVersion else {
                throw Failure.unavailable("\(path): plan format version \(plan.formatVersion) is not supported; this accessctl reads \(Plan.currentFormatVersion)")
            }
            return plan
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .unavailable("\(path) is not a saved accessctl plan")
        }
    }

    /// Writes a plan for `show` and `apply`, mode 600 (it names users and services), atomically.
    public static func save(_ plan: Plan, to path: String) throws(Failure) {
        let text = PlanRenderer.json(plan)
        let temp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw .unavailable("cannot write \(path)")
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw .unavailable("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
