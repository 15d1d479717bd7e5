import AccessModel
import Foundation
import DesiredRepo
import LiveStore
import HomesClient
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

    /// Plans `source` against the database at `database` (a missing file is an empty live
    /// state) and the homes the helper reports. `now` is the clock (unix seconds).
    public static func plan(source: RepoSource, database: String, helper: HelperClient, adopt: Bool,
                            now: Int64) throws(Failure) -> Outcome {
        var timer = PhaseTimer()
        // The database is read first (fast), so the helper can inspect the homes of the live
        // accounts on another core while the repository is loaded and validated.
        let live: LiveState
        do { live = try LiveStore.snapshot(path: database) } catch { throw .unavailable(error.description) }
        timer.lap("read database")
        let liveAccounts = Set(live.users.map(\.unixUser))
        let background = BackgroundInspection(helper: helper, accounts: liveAccounts.sorted())
        let load: LoadResult
        do { load = try DesiredStateLoader.load(from: source) } catch {
            _ = background.wait()
            throw .unavailable(error.message)
        }
        timer.lap("load desired state")
        var homes: HomeObservations
        do { homes = try background.wait().get() } catch { throw .unavailable(error.message) }
        guard let desired = load.state else { throw .invalid(load) }
        let extra = Set(desired.users.map(\.unixUser)).subtracting(liveAccounts)
        if !extra.isEmpty {
            do {
                homes.merge(try helper.inspect(accounts: extra.sorted()))
            } catch { throw .unavailable(error.message) }
        }
        timer.lap("inspect homes")
        let plan = Planner.plan(PlanInput(desired: desired, commit: load.origin.commit, live: live, homes: homes, now: now, adopt: adopt))
        timer.lap("plan")
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
        try writeAtomically(PlanRenderer.json(plan), to: path)
    }

    /// Writes `text` to `path` through a temporary file and a rename, mode 600.
    static func writeAtomically(_ text: String, to path: String) throws(Failure) {
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

/// With `ACCESSCTL_TIMING=1`, prints how long each phase took to stderr (for profiling).
struct PhaseTimer {
    private let enabled = ProcessInfo.processInfo.environment["ACCESSCTL_TIMING"] == "1"
    private var last = ContinuousClock.now

    mutating func lap(_ phase: String) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let ms = (now - last).components.attoseconds / 1_000_000_000_000_000 + (now - last).components.seconds * 1000
        FileHandle.standardError.write(Data("timing: \(phase): \(ms) ms\n".utf8))
        last = now
    }
}

/// A helper `inspect` running in the background: for many accounts, in two helper
/// processes on two threads (each process reads and hashes one half of the homes), so the
/// work uses both cores once the desired state is loaded.
final class BackgroundInspection: @unchecked Sendable {
    private var results: [Result<HomeObservations, HelperClientError>]
    private let done = DispatchSemaphore(value: 0)
    private let parts: Int

    /// Below this many accounts one process is quicker than two. `ACCESSCTL_INSPECT_SPLIT`
    /// overrides it (the tests split acme's ten accounts to check the merge).
    static let splitThreshold = ProcessInfo.processInfo.environment["ACCESSCTL_INSPECT_SPLIT"].flatMap { Int($0) } ?? 2_000

    init(helper: HelperClient, accounts: [String]) {
        let split = accounts.count >= max(Self.splitThreshold, 2) && ProcessInfo.processInfo.activeProcessorCount >= 2
        let chunks = split
            ? [Array(accounts[..<(accounts.count / 2)]), Array(accounts[(accounts.count / 2)...])]
            : [accounts]
        parts = chunks.count
        results = Array(repeating: .success(HomeObservations()), count: chunks.count)
        for (index, chunk) in chunks.enumerated() {
            let thread = Thread { [self] in
                let result: Result<HomeObservations, HelperClientError>
                do throws(HelperClientError) { result = .success(try helper.inspect(accounts: chunk)) } catch { result = .failure(error) }
                lock.lock()
                results[index] = result
                lock.unlock()
                done.signal()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private let lock = NSLock()

    /// Waits for the inspection to finish (once) and merges the parts.
    func wait() -> Result<HomeObservations, HelperClientError> {
        for _ in 0..<parts { done.wait() }
        lock.lock()
        defer { lock.unlock() }
        var merged = HomeObservations()
        for result in results {
            switch result {
            case .failure(let error): return .failure(error)
            case .success(let part): merged.merge(part)
            }
        }
        return .success(merged)
    }
}
