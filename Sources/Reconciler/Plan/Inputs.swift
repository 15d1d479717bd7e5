import AccessModel
import DesiredRepo
import Foundation
import HomesClient
import KeyCustody
import LiveStore

/// Knobs of planning that come from the command line, never from the environment.
public struct PlanningOptions: Sendable {
    /// Print how long each phase took to standard error (for profiling).
    public var reportTimings = false
    /// From this many accounts on, homes are inspected by two helper processes at once (one
    /// per core); below it one process is quicker.
    public var inspectSplitThreshold = 2_000

    public init() {}
}

/// Where the live state comes from.
public enum LiveSource {
    /// The database at a path (a missing file is an empty state) and the homes the helper reports.
    case database(path: String, sealing: KeySealing, helper: HelperClient)
    /// An open database (the applier's, under its lock) and the homes the helper reports.
    case store(LiveStore, helper: HelperClient)
    /// A snapshot written by `accessctl state export` (for CI).
    case snapshot(path: String)
}

/// Everything a plan is computed from, gathered once.
public struct GatheredInputs: Sendable {
    /// The desired state's load result (for its warnings and its origin).
    public var load: LoadResult
    public var desired: DesiredState
    public var live: LiveState
    public var homes: HomeObservations
    /// For a snapshot: when it was taken (unix seconds).
    public var snapshotCreatedAt: Int64?
}

/// The one gatherer of a plan's input and the one way a plan is computed from it: `plan`,
/// `plan --live-snapshot`, `state export` and `apply` all come through here.
public enum Inputs {
    /// Reads the live state, loads and validates `source`, and inspects the homes of every
    /// account either side names. The database is read first (fast), so the helper inspects
    /// the live accounts' homes in child tasks while the repository is loaded.
    public static func gather(source: RepoSource, live: LiveSource,
                              options: PlanningOptions = PlanningOptions()) async throws(Planning.Failure) -> GatheredInputs {
        var timer = PhaseTimer(enabled: options.reportTimings)
        let state: LiveState
        let helper: HelperClient
        switch live {
        case .snapshot(let path):
            let snapshot = try Snapshots.read(path: path)
            let load = try load(source)
            guard let desired = load.state else { throw .invalid(load) }
            let (live, homes) = snapshot.restore()
            return GatheredInputs(load: load, desired: desired, live: live, homes: homes, snapshotCreatedAt: snapshot.createdAt)
        case .database(let path, let sealing, let client):
            do { state = try LiveStore.snapshot(path: path, sealing: sealing) } catch { throw .unavailable(error.description) }
            helper = client
        case .store(let store, let client):
            do { state = try store.snapshot() } catch { throw .unavailable(error.description) }
            helper = client
        }
        timer.lap("read database")
        let liveAccounts = Set(state.users.map(\.unixUser))
        async let inspected = inspect(helper, accounts: liveAccounts.sorted(), options: options)
        let load: LoadResult
        do { load = try Self.load(source) } catch {
            _ = await inspected
            throw error
        }
        timer.lap("load desired state")
        var homes: HomeObservations
        do { homes = try await inspected.get() } catch { throw .unavailable(error.message) }
        guard let desired = load.state else { throw .invalid(load) }
        let extra = Set(desired.users.map(\.unixUser)).subtracting(liveAccounts)
        if !extra.isEmpty {
            do { homes.merge(try await helper.inspect(accounts: extra.sorted())) } catch { throw .unavailable(error.message) }
        }
        timer.lap("inspect homes")
        return GatheredInputs(load: load, desired: desired, live: state, homes: homes)
    }

    /// The plan of gathered inputs at `now` (unix seconds), rotating the connections that
    /// `replace` matches.
    public static func plan(_ inputs: GatheredInputs, now: Int64, adopt: Bool, replace: [TargetPattern] = []) -> Plan {
        Planner.plan(PlanInput(desired: inputs.desired, commit: inputs.load.origin.commit, live: inputs.live,
                               homes: inputs.homes, now: now, adopt: adopt, replace: replace))
    }

    /// Why `replace` cannot be planned: each pattern that matches no live connection with a
    /// key, with what exists instead (`user alice has keys for crm, po`, `no connection of
    /// service crm has a key`, a "did you mean"); nil when every pattern matches one.
    public static func unmatched(_ replace: [TargetPattern], in live: LiveState) -> String? {
        let keyed = live.connections.filter { $0.apiKey != nil }
        func list(_ ids: [String]) -> String {
            let unique = Array(Set(ids)).sorted()
            return unique.prefix(5).joined(separator: ", ") + (unique.count > 5 ? " and \(unique.count - 5) more" : "")
        }
        let problems = replace.compactMap { pattern -> String? in
            guard case .connection(let user, let service) = pattern,
                  !keyed.contains(where: { pattern.matches(.connection(user: $0.user, service: $0.service)) }) else { return nil }
            let hint: String
            if let user {
                let services = keyed.filter { $0.user == user }.map(\.service)
                hint = services.isEmpty ? "user \(user) has no key" + Suggest.hint(user, Set(keyed.map(\.user)))
                    : "user \(user) has keys for \(list(services)) only" + (service.map { Suggest.hint($0, services) } ?? "")
            } else if let service {
                hint = "no connection of service \(service) has a key" + Suggest.hint(service, Set(keyed.map(\.service)))
            } else {
                hint = "no connection has a key yet"
            }
            return "--replace \(pattern) matches no connection with a key: \(hint)"
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    /// The homes of `accounts`, from one helper process, or from two at once (each reads and
    /// hashes half of the homes) when there are many and two cores.
    static func inspect(_ helper: HelperClient, accounts: [String],
                        options: PlanningOptions) async -> Result<HomeObservations, HelperClientError> {
        let split = accounts.count >= max(options.inspectSplitThreshold, 2) && ProcessInfo.processInfo.activeProcessorCount >= 2
        let chunks = split ? [Array(accounts[..<(accounts.count / 2)]), Array(accounts[(accounts.count / 2)...])] : [accounts]
        return await withTaskGroup(of: Result<HomeObservations, HelperClientError>.self) { group in
            for chunk in chunks {
                group.addTask {
                    do throws(HelperClientError) { return .success(try await helper.inspect(accounts: chunk)) } catch {
                        return .failure(error)
                    }
                }
            }
            var merged = HomeObservations()
            for await part in group {
                switch part {
                case .failure(let error): return .failure(error)
                case .success(let homes): merged.merge(homes)
                }
            }
            return .success(merged)
        }
    }

    static func load(_ source: RepoSource) throws(Planning.Failure) -> LoadResult {
        do { return try DesiredStateLoader.load(from: source) } catch { throw .unavailable(error.message) }
    }
}

/// With `reportTimings`, prints how long each phase took to standard error.
struct PhaseTimer {
    let enabled: Bool
    private var last = ContinuousClock.now

    init(enabled: Bool) {
        self.enabled = enabled
    }

    mutating func lap(_ phase: String) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let ms = (now - last).components.attoseconds / 1_000_000_000_000_000 + (now - last).components.seconds * 1000
        FileHandle.standardError.write(Data("timing: \(phase): \(ms) ms\n".utf8))
        last = now
    }
}
