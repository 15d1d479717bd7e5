import AccessModel
import Foundation
import DesiredRepo
import LiveStore
import HomesClient
import Platform
import Render

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
        /// For a plan against a live snapshot: when the snapshot was taken (unix seconds).
        public var snapshotCreatedAt: Int64?

        public init(plan: Plan, load: LoadResult, snapshotCreatedAt: Int64? = nil) {
            self.plan = plan
            self.load = load
            self.snapshotCreatedAt = snapshotCreatedAt
        }
    }

    /// Plans `source` against `live` at `now` (unix seconds), rotating what `replace`
    /// matches (a pattern matching no connection with a key is an error).
    public static func plan(source: RepoSource, live: LiveSource, adopt: Bool, replace: [TargetPattern] = [], now: Int64,
                            options: PlanningOptions = PlanningOptions()) async throws(Failure) -> Outcome {
        let inputs = try await Inputs.gather(source: source, live: live, options: options)
        if let unmatched = Inputs.unmatched(replace, in: inputs.live) { throw .unavailable(unmatched) }
        var timer = PhaseTimer(enabled: options.reportTimings)
        let plan = Inputs.plan(inputs, now: now, adopt: adopt, replace: replace)
        timer.lap("plan")
        return Outcome(plan: plan, load: inputs.load, snapshotCreatedAt: inputs.snapshotCreatedAt)
    }

    /// Reads a saved plan (the JSON written by `plan --out`).
    public static func readSavedPlan(path: String) throws(Failure) -> Plan {
        let bytes: [UInt8]
        do { bytes = try DirectorySource.readFile(at: path) } catch { throw .unavailable(error.message) }
        struct Version: Decodable {
            let format_version: Int
        }
        do {
            let version = try JSONDecoder().decode(Version.self, from: Data(bytes)).format_version
            guard Plan.formatVersions.contains(version) else {
                throw Failure.unavailable("\(path): plan format version \(version) is not supported; this accessctl reads \(Plan.formatVersions.map(String.init).joined(separator: " and "))")
            }
            return try JSONDecoder().decode(Plan.self, from: Data(bytes))
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .unavailable("\(path) is not a saved accessctl plan")
        }
    }

    /// Writes a plan for `show` and `apply`, mode 600 (it names users and services), atomically.
    public static func save(_ plan: Plan, to path: String) throws(Failure) {
        try writeAtomically(PlanRenderer.json(plan), to: path)
    }

    /// Writes `text` to `path` through a temporary file and a rename, mode 600.
    static func writeAtomically(_ text: String, to path: String) throws(Failure) {
        do { try Files.writeAtomically(Array(text.utf8), toPath: path, permissions: 0o600) } catch {
            throw .unavailable("cannot write \(path): \(error.reason)")
        }
    }
}
