import AccessModel
import Foundation
import HelperProtocol
import Logging
import DesiredRepo
import KeyCustody
import LiveStore
import TokenExchange
import TokenProtocol
import HomesClient

/// Why an apply stopped before doing its work.
public enum ApplyError: Error, Sendable {
    /// Something could not be read or written (exit 1).
    case failed(String)
    /// Another apply holds the lock (exit 1).
    case locked(String)
    /// A guard refused the plan: stale saved plan, mass removal, empty desired state, the
    /// fast-forward or signature check (exit 4). Recorded as a `refused` run.
    case refused(ApplyRefusal)
    /// The desired state is invalid (exit 1).
    case invalid(LoadResult)
}

/// How an apply is run. Guards come from the server configuration, never the repository.
public struct ApplySettings: Sendable {
    public var database: String
    /// How the database seals keys: its master key, or plain text (`encryption: none`).
    public var sealing: KeySealing
    public var helper: HelperClient
    public var exchange = ExchangeSettings()
    public var secrets: SecretStore
    public var adopt = false
    /// `--replace`: rotate the connections these patterns match (a saved plan carries its own).
    public var replace: [TargetPattern] = []
    public var allowMassRemoval = false
    /// Apply a commit that does not descend from the last applied one (a force-push or rollback).
    public var allowNonFastForward = false
    /// An ssh allowed_signers file: when set, only commits whose signature verifies apply.
    public var allowedSigners: String?
    public var maxRemovalPercent = 25
    public var minRemoval = 5
    public var lockTimeout: Double = 0
    /// The clock (unix seconds); a saved plan uses its own.
    public var now: Int64
    /// Apply exactly this saved plan (refused if stale).
    public var savedPlan: Plan?
    /// Asked with the plan before anything changes; false cancels.
    public var confirm: @Sendable (Plan) -> Bool = { _ in true }
    /// Told what the operator should hear about the database as it is opened (keys sealed
    /// for the first time, a mode restricted). Never a secret.
    public var notice: (@Sendable (String) -> Void)?
    /// Called as keys are exchanged: (done, total).
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// Recorded in the lock file.
    public var command = "accessctl apply"
    /// Timings and how homes are inspected.
    public var planning = PlanningOptions()

    public init(database: String, sealing: KeySealing, helper: HelperClient, secrets: SecretStore, now: Int64) {
        self.database = database
        self.sealing = sealing
        self.helper = helper
        self.secrets = secrets
        self.now = now
    }
}

/// What an apply did.
public struct ApplyReport: Sendable {
    public var plan: Plan
    public var runID: Int64?
    /// What failed, by target (secret-free). Non-empty means exit code 3.
    public var failures: [Target: String]
    public var succeeded: Int

    public var exitCode: Int32 { failures.isEmpty ? 0 : 3 }
}

/// `accessctl apply`, in the order that keeps a crash at any point from losing or
/// orphaning anything (docs/apply.md):
/// 1. take the lock; 2. one transaction: registry rows, plus connections to revoke marked
/// `revoking` and connections to (re)issue marked `pending` with their request id;
/// 3. exchange keys (a pending row is retried with the same request id after a crash) and
/// store each result; 4. write the home files through the helper in one batch, built from
/// the database; 5. revoke what is no longer in the files; 6. record the run and audit rows.
public enum Applier {
    public static func apply(source: RepoSource, settings: ApplySettings) async throws(ApplyError) -> ApplyReport {
        let lock = try ApplyLock(database: settings.database, timeout: settings.lockTimeout, command: settings.command)
        defer { lock.release() }
        ApplyHooks.reached(.afterLock)

        let store: LiveStore
        do { store = try LiveStore(path: settings.database, sealing: settings.sealing) } catch { throw .failed(error.description) }
        defer { try? store.close() }
        for notice in store.notices { settings.notice?(notice) }
        let inputs: GatheredInputs?
        let load: LoadResult
        do {
            let gathered = try await Inputs.gather(source: source, live: .store(store, helper: settings.helper),
                                                   options: settings.planning)
            inputs = gathered
            load = gathered.load
        } catch {
            switch error {
            case .invalid(let invalid): inputs = nil; load = invalid
            case .unavailable(let message): throw .failed(message)
            }
        }
        let commit = load.origin.commit
        let author = commit == nil ? nil : (source as? GitTreeSource)?.author
        /// Records a run stopped before any change, so that `log` and `status` show why the
        /// server stays where it is.
        func recordStopped(_ result: RunResult, message: String?) {
            let run = LiveRun(commit: commit, author: author, startedAt: settings.now, finishedAt: settings.now,
                              result: result, counts: [:], message: message)
            try? store.write { w in _ = try w.insertRun(run) }
        }
        /// Records the refusal as a `refused` run and throws it (exit 4).
        func refuse(_ refusal: ApplyRefusal) throws(ApplyError) -> Never {
            recordStopped(.refused(refusal.guardName), message: refusal.message)
            throw .refused(refusal)
        }
        guard let inputs, let desired = load.state else {
            let errors = load.diagnostics.filter { $0.severity == .error }
            let first = errors.first.map { ", first \($0.description)" } ?? ""
            let summary = "\(errors.count) error\(errors.count == 1 ? "" : "s")\(first)"
            recordStopped(.invalid(summary), message: summary)
            throw .invalid(load)
        }
        if let allowed = settings.allowedSigners {
            guard let git = source as? GitTreeSource else {
                try refuse(ApplyRefusal(.signature, "signed commits are required (allowed_signers is set), but the desired state is a directory, not a commit"))
            }
            do {
                _ = try await CommitSignature.verify(git, allowedSigners: allowed)
            } catch {
                try refuse(ApplyRefusal(.signature, error.message))
            }
        }
        let live = inputs.live, homes = inputs.homes
        let now = settings.savedPlan?.createdAt ?? settings.now
        // A saved plan's patterns matched when it was made; the stale check covers the rest.
        if settings.savedPlan == nil, let unmatched = Inputs.unmatched(settings.replace, in: live) {
            throw .failed(unmatched + "; nothing was changed")
        }
        let plan = Inputs.plan(inputs, now: now, adopt: settings.savedPlan?.adopt ?? settings.adopt,
                               replace: settings.savedPlan?.replace ?? settings.replace)
        if let saved = settings.savedPlan,
           saved.desiredDigest != plan.desiredDigest || saved.liveDigest != plan.liveDigest || saved.commit != plan.commit {
            try refuse(ApplyRefusal(.stalePlan, "stale plan: the desired or live state changed since it was computed; run plan again"))
        }
        do {
            try Guards.check(plan, desired: desired, live: live, settings: settings)
        } catch {
            try refuse(error)
        }
        if let git = source as? GitTreeSource, !settings.allowNonFastForward,
           let last = try? store.lastAppliedCommit(), !git.descends(from: last) {
            try refuse(ApplyRefusal(.fastForward, "commit \(commit.map { String($0.prefix(12)) } ?? "?") does not descend from the last applied commit \(last.prefix(12)) (force-push or rollback?); apply with --allow-non-fast-forward if this is intended"))
        }

        var run = Run(store: store, plan: plan, desired: desired, live: live, homes: homes, settings: settings,
                      now: now, commit: commit, author: author)
        guard plan.summary.hasChanges else {
            try run.record(result: .noChanges)
            return ApplyReport(plan: plan, runID: run.runID, failures: [:], succeeded: 0)
        }
        guard settings.confirm(plan) else { throw .failed("apply cancelled; nothing was changed") }
        var timer = PhaseTimer(enabled: settings.planning.reportTimings)
        try run.registry()
        timer.lap("apply: registry and pending rows")
        ApplyHooks.reached(.afterRegistry)
        do {
            try await run.exchange()
            timer.lap("apply: key exchange")
            ApplyHooks.reached(.afterExchange)
            try await run.files()
            timer.lap("apply: home files")
            ApplyHooks.reached(.afterFiles)
            try await run.revoke()
            timer.lap("apply: revocation")
            ApplyHooks.reached(.afterRevoke)
        } catch {
            // The run is recorded as failed, with what failed so far; the next run goes on.
            let message = if case .failed(let text) = error { text } else { "\(error)" }
            try? run.record(result: .failed(message), message: message)
            throw error
        }
        try run.record(result: run.failures.isEmpty ? .applied : .partlyApplied)
        timer.lap("apply: run record")
        run.log()
        return ApplyReport(plan: plan, runID: run.runID, failures: run.failures, succeeded: run.succeeded)
    }

    /// One apply's working state.
    struct Run {
        let store: LiveStore
        let plan: Plan
        let desired: DesiredState
        let live: LiveState
        let homes: HomeObservations
        let settings: ApplySettings
        let now: Int64
        let commit: String?
        let author: String?
        var failures: [Target: String] = [:]
        var succeeded = 0
        /// Targets of the planned actions that were carried out; the run's counts count these.
        var done: Set<Target> = []
        /// Planned actions left undone because one they depend on failed (a skill file or
        /// `.service_env` whose key exchange failed, the files of a home the helper refused):
        /// target -> why (secret-free).
        var skipped: [Target: String] = [:]
        /// Connections whose key exchange (an issue or a rotation) failed this run.
        var exchangeFailures: Set<Target> = []
        /// Notes on actions done otherwise than planned (a `.service_env` written without a
        /// key whose exchange failed): target -> note.
        var notes: [Target: String] = [:]
        var runID: Int64?
        /// Services to delete once their keys are revoked (their URLs are needed until then).
        var deferredServiceDeletes: [String] = []
        /// Users to delete once their home files are removed.
        var deferredUserDeletes: [String] = []
        /// Connections to revoke whose token could not be learnt this run: kept for the next.
        var unrecovered: Set<Target> = []

        init(store: LiveStore, plan: Plan, desired: DesiredState, live: LiveState, homes: HomeObservations,
             settings: ApplySettings, now: Int64, commit: String?, author: String?) {
            self.store = store
            self.plan = plan
            self.desired = desired
            self.live = live
            self.homes = homes
            self.settings = settings
            self.now = now
            self.commit = commit
            self.author = author
        }

        func write(_ body: (inout LiveStoreWriter) throws -> Void) throws(ApplyError) {
            do { try store.write(body) } catch { throw .failed(error.description) }
        }

        // MARK: Step 2

        mutating func registry() throws(ApplyError) {
            let services = Dictionary(desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let users = Dictionary(desired.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let groups = Dictionary(desired.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let liveConnections = Dictionary(live.connections.map { (Target.connection(user: $0.user, service: $0.service), $0) },
                                             uniquingKeysWith: { a, _ in a })
            let referenced = Set(live.connections.map(\.service)).union(live.retiredTokens.map(\.service))
            var deferred: [String] = []
            var deferredUsers: [String] = []
            let started = LiveRun(commit: commit, author: author, startedAt: now, finishedAt: nil, result: .running)
            var id: Int64?
            try write { w in
                // The run and what it is about to do are recorded with its first change, so
                // that a run killed at any later point still accounts for every key it asked
                // for or revoked; `record` adds the outcome.
                id = try insertRun(started, into: &w)
                for action in plan.actions {
                    let writes = action.kind == .create || action.kind == .update
                    switch (action.target, action.kind) {
                    case (.service(let id), _) where writes:
                        if let s = services[id] {
                            try w.upsert(LiveService(id: s.id, name: s.name, description: s.description, tokenExchangeURL: s.tokenExchangeURL,
                                                     tokenRevokeURL: s.tokenRevokeURL, healthURL: s.healthURL, envVar: s.envVar,
                                                     secretEnv: s.secretEnv, skillSHA256: HomeFiles.sha256(s.skill), ttlDays: s.ttlDays,
                                                     keyPrefix: s.keyPrefix, enabled: s.enabled),
                                         skillText: s.skill)
                        }
                    case (.service(let id), .delete):
                        if referenced.contains(id) { deferred.append(id) } else { try w.deleteService(id) }
                    case (.user(let id), _) where writes:
                        if let u = users[id] { try w.upsert(LiveUser(id: u.id, email: u.email, unixUser: u.unixUser, active: u.active)) }
                    // Kept until its files are gone: a run killed before then must still find the
                    // account to clean up.
                    case (.user(let id), .delete): deferredUsers.append(id)
                    case (.group(let id), _) where writes:
                        if let g = groups[id] { try w.upsert(LiveGroup(id: g.id, description: g.description)) }
                    case (.group(let id), .delete): try w.deleteGroup(id)
                    default: break
                    }
                }
                // Rows written before migration v4 have no skill text: store the desired one
                // where the digest already matches (a few rows; `accessctl import` reads them).
                let written = Set(plan.actions.compactMap { if case .service(let id) = $0.target { id } else { nil } })
                for s in desired.services where !written.contains(s.id) {
                    try w.storeMissingSkillText(service: s.id, sha256: HomeFiles.sha256(s.skill), text: s.skill)
                }
                // Memberships and grants after the users and groups they refer to.
                for action in plan.actions {
                    let writes = action.kind == .create || action.kind == .update
                    switch action.target {
                    case .membership(let group, let user):
                        if writes { try w.upsert(LiveMember(group: group, user: user)) }
                        if action.kind == .delete { try w.deleteMember(group: group, user: user) }
                    case .grant(let group, let type, let resource):
                        if writes { try w.upsert(LiveGrant(group: group, type: type, resource: resource)) }
                        if action.kind == .delete { try w.deleteGrant(group: group, type: type, resource: resource) }
                    default: break
                    }
                }
                // Connections: out of the files first (revoking), then pending exchanges, each
                // recorded before any service is called.
                for action in plan.actions {
                    guard case .connection(let user, let service) = action.target else { continue }
                    let key = action.target
                    switch action.kind {
                    case .disconnect:
                        if var row = liveConnections[key] {
                            // An exchange in flight (pending, failed, or a failed rotation) may
                            // have a key at the service under the row's request id. Its known
                            // key is retired (revoked in step 5, like a rotated one), and the
                            // row is exchanged again under its id to learn the other, then
                            // revoked (step 3).
                            let inFlight = row.status == .pending || row.status == .error
                                || (row.status == .active && row.lastError != nil)
                            if inFlight, row.status != .revoking, let old = row.tokenID {
                                try w.upsert(RetiredToken(service: row.service, tokenID: old, user: row.user,
                                                          keyFingerprint: row.keyFingerprint, retiredAt: now))
                                row.tokenID = nil
                            }
                            row.status = .revoking
                            try w.upsert(row)
                        }
                    case .connect, .rotate:
                        var row = liveConnections[key]
                            ?? LiveConnection(user: user, service: service, status: .pending, requestID: UUID().uuidString.lowercased())
                        // A known key is rotated under a new request id. A pending or failed exchange
                        // keeps its id: the service may have issued a key for it whose answer was
                        // lost, and the same id returns that key instead of minting another. That
                        // includes a failed rotation (an active row with an error, still holding
                        // its old key).
                        if row.status == .active && row.lastError == nil {
                            row.requestID = UUID().uuidString.lowercased()
                            row.requestEmail = nil
                        }
                        // The email goes with the request id: a retry sends what the first try did.
                        if row.requestEmail == nil { row.requestEmail = users[user]?.email }
                        row.status = .pending
                        try w.upsert(row)
                    default: break
                    }
                }
            }
            deferredServiceDeletes = deferred
            deferredUserDeletes = deferredUsers
            runID = id
            // The registry rows are written (a deferred delete is done once it happens, in step 5).
            let later = Set(deferred.map(Target.service) + deferredUsers.map(Target.user))
            for action in plan.actions where action.target.isRegistry && !later.contains(action.target) {
                done.insert(action.target)
            }
        }

        /// A service as the desired state would have it, from its live row (for a service
        /// removed from the desired state whose keys are still to be revoked).
        static func service(_ s: LiveService) -> Service {
            Service(id: s.id, name: s.name, description: s.description, tokenExchangeURL: s.tokenExchangeURL,
                    tokenRevokeURL: s.tokenRevokeURL, healthURL: s.healthURL, envVar: s.envVar, secretEnv: s.secretEnv,
                    skillPath: "", skill: "", ttlDays: s.ttlDays, keyPrefix: s.keyPrefix, enabled: s.enabled)
        }

        // MARK: Step 3

        mutating func exchange() async throws(ApplyError) {
            let state: LiveState
            do { state = try store.snapshot() } catch { throw .failed(error.description) }
            let services = Dictionary(desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let users = Dictionary(desired.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var rows: [LiveConnection] = []
            var requests: [ExchangeRequest] = []
            // A connection to revoke whose token is unknown (its exchange never finished) is
            // exchanged again under its request id first: the service may have issued a key.
            let liveServices = Dictionary(state.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let liveUsers = Dictionary(live.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for row in state.connections where row.status == .pending || (row.status == .revoking && row.tokenID == nil) {
                let service = services[row.service] ?? liveServices[row.service].map(Self.service)
                guard let service, let email = row.requestEmail ?? users[row.user]?.email ?? liveUsers[row.user]?.email else { continue }
                rows.append(row)
                requests.append(ExchangeRequest(service: service, userEmail: email, requestID: row.requestID))
            }
            guard !requests.isEmpty else { return }
            let client = TokenClient(settings: settings.exchange, secrets: settings.secrets)
            let progress = settings.progress
            let batch = requests
            let results = await client.exchange(batch, progress: { done, total in
                ApplyHooks.exchanged(done)
                progress?(done, total)
            })
            var unknownTokens: Set<Target> = []
            var failures: [Target: String] = [:]
            var succeeded = 0
            var issuedKeys: Set<Target> = []
            var failedExchanges: Set<Target> = []
            let now = self.now
            try write { w in
                for (row, result) in zip(rows, results) {
                    let target = Target.connection(user: row.user, service: row.service)
                    var updated = row
                    if row.status == .revoking {
                        // Recovered only to be revoked: keep the token id, never the key.
                        switch result {
                        case .success(let issued):
                            updated.tokenID = issued.tokenID
                            try w.upsert(updated)
                        case .failure(let error) where error.httpStatus == 409:
                            // The service has no live key for this id (revoked, or another
                            // user's): nothing to revoke, and the row may go.
                            break
                        case .failure(let error):
                            // The service may hold a key for this id: the row stays until the
                            // token is learnt and revoked.
                            unknownTokens.insert(target)
                            updated.lastError = error.message
                            updated.attempts += 1
                            try w.upsert(updated)
                            failures[target] = "revocation pending (its token is not known yet): \(error.message)"
                        }
                        continue
                    }
                    switch result {
                    case .success(let issued):
                        if let oldToken = row.tokenID, oldToken != issued.tokenID {
                            try w.upsert(RetiredToken(service: row.service, tokenID: oldToken, user: row.user,
                                                      keyFingerprint: row.keyFingerprint, retiredAt: now))
                        }
                        updated.status = .active
                        updated.apiKey = issued.apiKey
                        updated.tokenID = issued.tokenID
                        updated.issuedAt = now
                        updated.expiresAt = issued.expiresAt
                        updated.lastError = nil
                        updated.attempts = 0
                        succeeded += 1
                        issuedKeys.insert(target)
                    case .failure(let error):
                        // A still-valid old key stays in service; a connection without one is an error.
                        let keepsOldKey = row.apiKey != nil && (row.expiresAt ?? 0) > now
                        updated.status = keepsOldKey ? .active : .error
                        updated.lastError = error.message
                        // 409: the service will never answer this request id with a key (its
                        // token was revoked, for example after a refused answer). The next run
                        // asks under a new one. Any other failure keeps the id, under which the
                        // service may have issued a key that a retry must get back.
                        if error.httpStatus == 409 {
                            updated.requestID = UUID().uuidString.lowercased()
                            updated.requestEmail = nil
                        }
                        updated.attempts += 1
                        failures[target] = error.message
                        failedExchanges.insert(target)
                    }
                    try w.upsert(updated)
                }
            }
            unrecovered = unknownTokens
            self.failures.merge(failures) { a, _ in a }
            self.succeeded += succeeded
            done.formUnion(issuedKeys)
            exchangeFailures = failedExchanges
        }

        // MARK: Step 4

        mutating func files() async throws(ApplyError) {
            let state: LiveState
            do { state = try store.snapshot() } catch { throw .failed(error.description) }
            let affected = Set(plan.actions.compactMap { $0.target.category >= .connection ? $0.target.homeUser : nil })
            let services = Dictionary(desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let desiredUsers = Dictionary(desired.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let liveUsers = Dictionary(live.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let connections = Dictionary(grouping: state.connections, by: \.user)
            var request = ApplyRequest(contents: [:], users: [])
            var expected: [String: (user: String, env: String?, skills: [String: String])] = [:]
            // The file actions of each user, and the services whose key exchange failed this run.
            var fileActions: [String: [PlannedAction]] = [:]
            for action in plan.actions {
                switch action.target {
                case .serviceEnv(let user), .skillFile(let user, _): fileActions[user, default: []].append(action)
                default: break
                }
            }
            var failedServices: [String: [String]] = [:]
            for case .connection(let user, let service) in exchangeFailures { failedServices[user, default: []].append(service) }
            failedServices = failedServices.mapValues { $0.sorted() }
            for user in affected.sorted() {
                guard let account = desiredUsers[user]?.unixUser ?? liveUsers[user]?.unixUser,
                      let home = homes.homes[account], Planner.unsafeReason(home) == nil else { continue }
                var entries: [(variable: String, key: Secret)] = []
                var skills: [String: String] = [:]
                if desiredUsers[user]?.active == true {
                    for row in connections[user] ?? [] where row.status == .active {
                        guard let service = services[row.service], service.enabled, let key = row.apiKey else { continue }
                        entries.append((service.envVar, key))
                        let digest = HomeFiles.sha256(service.skill)
                        request.contents[digest] = service.skill
                        skills[HomeFiles.skillFile(service.id)] = digest
                    }
                }
                let env = entries.isEmpty ? nil : HomeFiles.serviceEnv(entries)
                request.users.append(ApplyRequest.UserFiles(user: account, serviceEnv: env, skills: skills))
                expected[account] = (user, env.map(HomeFiles.sha256), skills)
            }
            // A home left alone (unsafe, or no account) keeps its files: its actions are skipped.
            let sent = Set(expected.values.map(\.user))
            for (user, actions) in fileActions where !sent.contains(user) {
                for action in actions { skipped[action.target] = "the home of \(user) was not written (see the plan's drift notes)" }
            }
            guard !request.users.isEmpty else { return }
            let response: HelperResponse
            do { response = try await settings.helper.apply(request) } catch {
                for (_, want) in expected {
                    failures[.home(user: want.user)] = error.message
                    for action in fileActions[want.user] ?? [] {
                        skipped[action.target] = "the helper failed: see \(Target.home(user: want.user))"
                    }
                }
                return
            }
            for report in response.users {
                guard let want = expected[report.user] else { continue }
                var problem = report.ok ? nil : (report.error ?? "the helper failed")
                if problem == nil {
                    if case .present = HelperClient.observation(report.serviceEnv), report.serviceEnv?.sha256 != want.env {
                        problem = ".service_env does not have the expected content after the write"
                    } else if want.env != nil && report.serviceEnv?.state != .present {
                        problem = ".service_env is missing after the write"
                    }
                    for (name, digest) in want.skills where report.skills?[name]?.sha256 != digest {
                        problem = ".claude_rules/\(name) does not have the expected content after the write"
                    }
                }
                if let problem {
                    failures[.home(user: want.user)] = problem
                    for action in fileActions[want.user] ?? [] {
                        skipped[action.target] = "the home was not written as planned: see \(Target.home(user: want.user))"
                    }
                    continue
                }
                succeeded += 1
                // Each planned file action of the user, against what was actually sent.
                let failedKeys = failedServices[want.user] ?? []
                for action in fileActions[want.user] ?? [] {
                    switch action.target {
                    case .serviceEnv:
                        if action.kind == .removeFile || failedKeys.isEmpty {
                            done.insert(action.target)
                        } else if want.env == nil {
                            skipped[action.target] = "not written: no key of this user could be exchanged (\(failedKeys.joined(separator: ", ")))"
                        } else {
                            done.insert(action.target)
                            notes[action.target] = "written without the key of \(failedKeys.joined(separator: ", ")) (its exchange failed)"
                        }
                    case .skillFile(_, let skill):
                        let written = want.skills[skill] != nil
                        if action.kind == .removeFile ? !written : written {
                            done.insert(action.target)
                        } else {
                            let service = skill.hasPrefix("sc_") && skill.hasSuffix(".md") ? String(skill.dropFirst(3).dropLast(3)) : skill
                            let connection = Target.connection(user: want.user, service: service)
                            skipped[action.target] = failedKeys.contains(service)
                                ? "not written: the key exchange of \(connection) failed"
                                : "not written: \(connection) has no active key"
                        }
                    default: break
                    }
                }
            }
        }

        // MARK: Step 5

        mutating func revoke() async throws(ApplyError) {
            let state: LiveState
            do { state = try store.snapshot() } catch { throw .failed(error.description) }
            var serviceRows: [String: (url: String, secretEnv: String)] = [:]
            for s in state.services { serviceRows[s.id] = (s.tokenRevokeURL, s.secretEnv) }
            for s in live.services where serviceRows[s.id] == nil { serviceRows[s.id] = (s.tokenRevokeURL, s.secretEnv) }
            for s in desired.services { serviceRows[s.id] = (s.tokenRevokeURL, s.secretEnv) }
            enum Revocation { case connection(LiveConnection), retired(RetiredToken) }
            var targets: [Revocation] = []
            var requests: [RevokeRequest] = []
            let unrecovered = self.unrecovered
            for row in state.connections where row.status == .revoking
                && !unrecovered.contains(.connection(user: row.user, service: row.service)) {
                guard let token = row.tokenID, let service = serviceRows[row.service] else {
                    targets.append(.connection(row))
                    requests.append(RevokeRequest(serviceID: row.service, revokeURL: "", secretEnv: "", tokenID: ""))
                    continue
                }
                targets.append(.connection(row))
                requests.append(RevokeRequest(serviceID: row.service, revokeURL: service.url, secretEnv: service.secretEnv, tokenID: token))
            }
            for token in state.retiredTokens {
                guard let service = serviceRows[token.service] else { continue }
                targets.append(.retired(token))
                requests.append(RevokeRequest(serviceID: token.service, revokeURL: service.url, secretEnv: service.secretEnv, tokenID: token.tokenID))
            }
            let client = TokenClient(settings: settings.exchange, secrets: settings.secrets)
            let live = requests.enumerated().filter { !$0.element.tokenID.isEmpty }
            let batch = live.map(\.element)
            let answers = batch.isEmpty ? [] : await client.revoke(batch)
            var results = [Result<Void, ExchangeError>](repeating: .success(()), count: requests.count)
            for (index, answer) in zip(live.map(\.offset), answers) { results[index] = answer }
            var failures: [Target: String] = [:]
            var succeeded = 0
            var revoked: Set<Target> = []
            let deferred = deferredServiceDeletes
            let deferredUsers = deferredUserDeletes
            let earlier = self.failures
            // What is still owed after this step: a removed service or user stays in the
            // database while any key of theirs is (their URLs and email are needed to recover
            // and revoke it on the next run).
            let stillUnknown = state.connections.filter { $0.status == .revoking && unrecovered.contains(.connection(user: $0.user, service: $0.service)) }
            var owedServices = Set(stillUnknown.map(\.service))
            var owedUsers = Set(stillUnknown.map(\.user))
            for (target, result) in zip(targets, results) {
                guard case .failure = result else { continue }
                switch target {
                case .connection(let row):
                    owedServices.insert(row.service)
                    owedUsers.insert(row.user)
                case .retired(let token):
                    owedServices.insert(token.service)
                }
            }
            try write { w in
                for (target, result) in zip(targets, results) {
                    switch (target, result) {
                    case (.connection(let row), .success):
                        try w.deleteConnection(user: row.user, service: row.service)
                        succeeded += 1
                        revoked.insert(.connection(user: row.user, service: row.service))
                    case (.connection(var row), .failure(let error)):
                        row.lastError = error.message
                        row.attempts += 1
                        try w.upsert(row)
                        failures[.connection(user: row.user, service: row.service)] = "revocation failed (retried next run): \(error.message)"
                    case (.retired(let token), .success):
                        try w.deleteRetiredToken(service: token.service, tokenID: token.tokenID)
                        succeeded += 1
                        revoked.insert(.retiredKey(service: token.service, tokenID: token.tokenID))
                    case (.retired(var token), .failure(let error)):
                        token.lastError = error.message
                        token.attempts += 1
                        try w.upsert(token)
                        failures[.retiredKey(service: token.service, tokenID: token.tokenID)] = "revocation failed (retried next run): \(error.message)"
                    }
                }
                for service in deferred where !owedServices.contains(service) {
                    try w.deleteService(service)
                    revoked.insert(.service(service))
                }
                for user in deferredUsers where earlier[.home(user: user)] == nil && !owedUsers.contains(user) {
                    _ = try w.deleteUser(user)
                    revoked.insert(.user(user))
                }
            }
            self.failures.merge(failures) { a, _ in a }
            self.succeeded += succeeded
            done.formUnion(revoked)
        }

        // MARK: Logs

        /// One structured line per action (and per failure) on stderr, for journald.
        func log() {
            let logger = Logger(label: "accessctl.apply")
            let base: Logger.Metadata = ["run": "\(runID ?? 0)", "commit": "\(commit.map { String($0.prefix(12)) } ?? "-")"]
            for action in plan.actions where action.kind != .drift && action.kind != .conflict {
                var metadata = base
                metadata["action"] = "\(action.kind.rawValue)"
                metadata["address"] = "\(action.address)"
                metadata["reason"] = "\(action.reason)"
                if let failure = failures[action.target] {
                    metadata["error"] = "\(failure)"
                    logger.error("action failed", metadata: metadata)
                } else {
                    logger.info("action applied", metadata: metadata)
                }
            }
            let planned = Set(plan.actions.map(\.target))
            for (target, failure) in failures.sorted(by: { $0.key.address < $1.key.address }) where !planned.contains(target) {
                logger.error("failed", metadata: base.merging(["address": "\(target)", "error": "\(failure)"]) { _, new in new })
            }
            let result: RunResult = failures.isEmpty ? .applied : .partlyApplied
            logger.info("run finished", metadata: base.merging(["result": "\(result.stored)",
                                                                "failed": "\(failures.count)"]) { _, new in new })
        }

        // MARK: Step 6

        /// The audit row of each action the run is about to take: its kind, address and detail
        /// (the reason and the fields that change). Drift is not an action.
        var auditIntents: [(action: PlannedAction, detail: String)] {
            plan.actions.filter { $0.kind != .drift }.map { action in
                let fields = action.changes.map { "\($0.field): \($0.old ?? "-") -> \($0.new ?? "-")" }
                return (action, fields.isEmpty ? action.reason : action.reason + "; " + fields.joined(separator: ", "))
            }
        }

        /// Inserts `run` with one audit row per action it takes, after marking the runs a
        /// killed apply left `running` as `interrupted`; returns its id.
        func insertRun(_ run: LiveRun, into w: inout LiveStoreWriter) throws -> Int64 {
            try w.markInterruptedRuns()
            let id = try w.insertRun(run)
            for (action, detail) in auditIntents {
                try w.insertAudit(LiveAuditEntry(runID: id, at: now, action: action.kind.rawValue, address: action.address,
                                                 detail: detail, actor: author))
            }
            return id
        }

        /// Records the outcome: the run's result and counts, and each failure on the audit rows
        /// of its address (or a `failed` row of its own). A run without changes is recorded
        /// here in full.
        mutating func record(result: RunResult, message: String? = nil) throws(ApplyError) {
            // What was done, by the kind of its planned action; failures as failures.
            let summary = PlanSummary(plan.actions.filter { done.contains($0.target) })
            var counts: [String: Int] = [
                "add": summary.add, "change": summary.change, "remove": summary.remove,
                "keys_issued": summary.keysToIssue, "keys_rotated": summary.keysToRotate, "keys_revoked": summary.keysToRevoke,
                "files_written": summary.filesToWrite, "files_removed": summary.filesToRemove,
            ]
            counts["failed"] = failures.count
            if !skipped.isEmpty { counts["skipped"] = skipped.count }
            let finished = Int64(Date().timeIntervalSince1970)
            let failures = self.failures
            let skipped = self.skipped, notes = self.notes
            let planned = Set(auditIntents.map(\.action.target))
            let at = now, actor = author, started = runID
            let run = LiveRun(commit: commit, author: author, startedAt: now, finishedAt: finished, result: result, counts: counts,
                              message: message)
            var id: Int64?
            try write { w in
                let runID: Int64
                if let started {
                    runID = started
                    try w.finishRun(runID, result: result, finishedAt: finished, counts: counts, message: message)
                } else {
                    runID = try insertRun(run, into: &w)
                }
                id = runID
                for (target, failure) in failures.sorted(by: { $0.key.address < $1.key.address }) {
                    if planned.contains(target) {
                        try w.markAuditFailed(runID: runID, address: target.address, failure: failure)
                    } else {
                        try w.insertAudit(LiveAuditEntry(runID: runID, at: at, action: "failed", address: target.address,
                                                         detail: failure, actor: actor))
                    }
                }
                for (target, reason) in skipped.sorted(by: { $0.key.address < $1.key.address }) where failures[target] == nil {
                    try w.markAudit(runID: runID, address: target.address, outcome: "SKIPPED", detail: reason)
                }
                for (target, note) in notes.sorted(by: { $0.key.address < $1.key.address }) {
                    try w.markAudit(runID: runID, address: target.address, outcome: "NOTE", detail: note)
                }
            }
            runID = id
        }
    }
}

/// The points of an apply an observer hears about, in order.
public enum ApplyPoint: String, Sendable, CaseIterable {
    /// The lock is held; nothing is read yet.
    case afterLock = "after-lock"
    /// Registry rows and pending connections are written.
    case afterRegistry = "after-registry"
    /// Keys are exchanged and stored.
    case afterExchange = "after-exchange"
    /// Home files are written.
    case afterFiles = "after-files"
    /// Revocations are done; the run record is next.
    case afterRevoke = "after-revoke"
}

/// Hears an apply reach each of its points, for tests that stop it there (a crash at any
/// point must lose and orphan nothing) — as NIOEmbedded stands in for the event loop. The
/// shipped binary installs none.
public protocol ApplyObserver: Sendable {
    func reached(_ point: ApplyPoint)
    /// `count` keys of this run have been exchanged.
    func exchanged(_ count: Int)
}

/// Where an observer is installed: a task-local value, set around a run by a test harness
/// (`ApplyHooks.$observer.withValue(...)`), inherited by the apply's child tasks.
public enum ApplyHooks {
    @TaskLocal public static var observer: (any ApplyObserver)?

    static func reached(_ point: ApplyPoint) { observer?.reached(point) }
    static func exchanged(_ count: Int) { observer?.exchanged(count) }
}
