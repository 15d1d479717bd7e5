#if canImport(Glibc)
import Glibc
#endif
import HelperProtocol

/// syncfs(2): flush one filesystem (a GNU extension the Glibc module does not export).
@_silgen_name("syncfs")
private func syncfs(_ fd: Int32) -> Int32

/// `apply` in three passes, so that one batch costs two filesystem syncs instead of two
/// `fsync` calls per file:
///
/// 1. per user, as the user: check the request and the home, read what is there, and write
///    every changed file to a temp file beside its target (`O_CREAT|O_EXCL`, mode 600);
/// 2. `syncfs` on each filesystem holding a touched home: the temp files are durable;
/// 3. per user, as the user: check the home and `.claude_rules` are the same directories as
///    in pass 1, rename each temp file over its target and remove what is no longer wanted;
///    then `syncfs` again: the renames and removals are durable.
///
/// A crash before pass 3 leaves only temp files, which the next run removes; a crash during
/// pass 3 leaves each file either old or new, never partial.
extension Helper {
    /// Work prepared for one user in pass 1.
    struct Pending {
        enum Place { case home, rules }
        var account: Account
        var homePath: String
        var homeIdentity: (UInt64, UInt64)
        var rulesIdentity: (UInt64, UInt64)?
        var renames: [(place: Place, temp: String, target: String)] = []
        var removals: [(place: Place, name: String)] = []
        /// Problems that do not stop the rest of this user's work (e.g. an `sc_*.md` directory).
        var problems: [String] = []
        /// What pass 1 found; the answer for a user with nothing to change.
        var observed: UserReport
    }

    func apply(_ request: ApplyRequest) throws(HelperError) -> HelperResponse {
        try checkUnique(request.users.map(\.user))
        try checkContents(request)
        var reports: [UserReport] = []
        var pending: [Int: Pending] = [:]
        var filesystems: [UInt64: Int32] = [:]
        defer { for fd in filesystems.values { close(fd) } }

        // Pass 1.
        for (index, files) in request.users.enumerated() {
            do {
                try checkUserFiles(files)
                let (account, homePath) = try resolve(files.user)
                let prepared = try credentials.asUser(account) { () throws(HelperError) -> (Pending, UserReport, Int32?) in
                    let home = try HomeIO.openHome(path: homePath, account: account)
                    defer { home.close() }
                    var work = Pending(account: account, homePath: homePath, homeIdentity: (home.device, home.inode),
                                       observed: UserReport(user: account.name, ok: true))
                    do throws(HelperError) {
                        try prepare(files, contents: request.contents, home: home, into: &work)
                    } catch {
                        Helper.discard(work, home: home)
                        throw error
                    }
                    // A user with nothing to change is answered now; the others after pass 3.
                    let idle = work.renames.isEmpty && work.removals.isEmpty
                    let report = idle ? work.observed : UserReport(user: account.name, ok: true)
                    return (work, report, idle ? nil : dup(home.fd))
                }
                let (work, fsFD) = (prepared.0, prepared.2)
                var report = prepared.1
                if let fd = fsFD {
                    if filesystems[work.homeIdentity.0] == nil { filesystems[work.homeIdentity.0] = fd } else { close(fd) }
                    pending[index] = work
                } else if !work.problems.isEmpty {
                    report.ok = false
                    report.error = work.problems.joined(separator: "; ")
                }
                report.written = []
                report.removed = []
                reports.append(report)
            } catch {
                reports.append(.failed(files.user, error.message))
            }
        }
        if pending.isEmpty { return HelperResponse(users: reports) }

        // Pass 2.
        for fd in filesystems.values { _ = syncfs(fd) }

        // Pass 3.
        for (index, work) in pending.sorted(by: { $0.key < $1.key }) {
            do {
                reports[index] = try credentials.asUser(work.account) { () throws(HelperError) -> UserReport in
                    try commit(work)
                }
            } catch {
                reports[index] = .failed(work.account.name, error.message)
            }
        }
        for fd in filesystems.values { _ = syncfs(fd) }
        return HelperResponse(users: reports)
    }

    /// Checks the shared skill texts: each key is the SHA-256 of its text, within the size cap.
    private func checkContents(_ request: ApplyRequest) throws(HelperError) {
        try checkVersionOf(request)
        for (digest, text) in request.contents {
            guard text.utf8.count <= Helper.maxSkillBytes else {
                throw HelperError("content \(digest.prefix(12)) is larger than \(Helper.maxSkillBytes) bytes")
            }
            guard !text.utf8.contains(0) else { throw HelperError("content \(digest.prefix(12)) contains a NUL byte") }
            guard SHA256.hex(text.utf8) == digest else {
                throw HelperError("content key \(Helper.shown(String(digest.prefix(64)))) is not the SHA-256 of its text")
            }
        }
    }

    private func checkVersionOf(_ request: ApplyRequest) throws(HelperError) {
        guard request.version == HelperProtocol.version else {
            throw HelperError("unsupported protocol version \(request.version); this helper speaks \(HelperProtocol.version)")
        }
    }

    /// Checks one user's part of the request before anything is touched for them.
    private func checkUserFiles(_ files: ApplyRequest.UserFiles) throws(HelperError) {
        if let env = files.serviceEnv {
            guard env.utf8.count <= Helper.maxServiceEnvBytes else {
                throw HelperError("service_env is larger than \(Helper.maxServiceEnvBytes) bytes")
            }
            guard !env.utf8.contains(0) else { throw HelperError("service_env contains a NUL byte") }
        }
        guard files.skills.count <= Helper.maxSkillsPerUser else {
            throw HelperError("too many skill files (\(files.skills.count)); the limit is \(Helper.maxSkillsPerUser)")
        }
        for name in files.skills.keys.sorted() where !HelperNames.isSkillFile(name) {
            throw HelperError("invalid skill file name \(Helper.shown(name)): must match ^sc_[a-z0-9][a-z0-9_]*\\.md$")
        }
    }

    /// Pass 1 for one user (as the user). First every check, reading only; then, if all
    /// passed, the temp files for changed content. A user refused here gets no file at all.
    private func prepare(_ files: ApplyRequest.UserFiles, contents: [String: String], home: DirectoryHandle,
                         into work: inout Pending) throws(HelperError) {
        let uid = work.account.uid
        let rulesName = HelperProtocol.claudeRulesName
        let isDirectory = fileTypeText(S_IFDIR)
        var writes: [(place: Pending.Place, target: String, bytes: [UInt8])] = []

        // .service_env
        let envName = HelperProtocol.serviceEnvName
        let current = HomeIO.state(in: home, envName, owner: uid)
        work.observed.serviceEnv = current
        work.observed.claudeRules = .absent
        work.observed.skills = [:]
        if let env = files.serviceEnv {
            if current.reason == isDirectory { throw HelperError("\(envName) is a directory; not replaced") }
            if !Helper.isCurrent(current, SHA256.hex(env.utf8)) { writes.append((.home, envName, Array(env.utf8))) }
        } else if current.state != .absent {
            if current.reason == isDirectory { throw HelperError("\(envName) is a directory; not removed") }
            work.removals.append((.home, envName))
        }

        // .claude_rules/sc_*.md
        var rules = try HomeIO.openSubdirectory(home, rulesName, owner: uid)
        defer { rules?.close() }
        var names: [String] = []
        if let rules {
            names = try HomeIO.names(in: rules)
            work.observed.claudeRules = .present(nil, mode: octal(HomeIO.mode(of: rules)))
        }
        for (name, digest) in files.skills.sorted(by: { $0.key < $1.key }) {
            guard let text = contents[digest] else {
                throw HelperError("skill \(name) refers to content \(Helper.shown(String(digest.prefix(64)))) that the request does not carry")
            }
            let state = rules.map { HomeIO.state(in: $0, name, owner: uid) } ?? .absent
            work.observed.skills?[name] = state
            if state.reason == isDirectory { throw HelperError("\(rulesName)/\(name) is a directory; not replaced") }
            if !Helper.isCurrent(state, digest) { writes.append((.rules, name, Array(text.utf8))) }
        }
        if let rules {
            for name in names.sorted() where HelperNames.isSkillFile(name) && files.skills[name] == nil {
                let state = HomeIO.state(in: rules, name, owner: uid, digest: false)
                work.observed.skills?[name] = state
                if state.reason == isDirectory {
                    work.problems.append("\(rulesName)/\(name) is a directory; left in place")
                } else {
                    work.removals.append((.rules, name))
                }
            }
        }

        // Every check passed: now write.
        if rules == nil && !files.skills.isEmpty {
            guard mkdirat(home.fd, rulesName, 0o700) == 0 || errno == EEXIST else {
                throw HelperError("cannot create \(rulesName): \(errorText())")
            }
            rules = try HomeIO.openSubdirectory(home, rulesName, owner: uid)
            work.observed.claudeRules = rules.map { .present(nil, mode: octal(HomeIO.mode(of: $0))) }
        }
        if let rules {
            work.rulesIdentity = (rules.device, rules.inode)
            // The directory gets mode 700 when the helper puts skills in it; otherwise it is
            // the user's own business (it may hold only files of another tool).
            if !files.skills.isEmpty && HomeIO.mode(of: rules) & 0o077 != 0 {
                guard fchmod(rules.fd, 0o700) == 0 else { throw HelperError("cannot set mode 700 on \(rulesName): \(errorText())") }
                work.observed.claudeRules = .present(nil, mode: "0700")
            }
            for name in names where name.hasPrefix(Helper.tempPrefix) {
                try HomeIO.remove(in: rules, name)
            }
        }
        for write in writes {
            let directory = write.place == .home ? home : rules!
            let temp = Helper.tempName(for: write.target)
            try HomeIO.createFile(in: directory, temp, write.bytes)
            work.renames.append((write.place, temp, write.target))
        }
    }

    /// Whether an existing file already has the wanted content and mode.
    static func isCurrent(_ state: FileState, _ digest: String) -> Bool {
        state.state == .present && state.sha256 == digest && state.mode == "0600"
    }

    /// Removes the temp files of a user whose pass 1 failed.
    static func discard(_ work: Pending, home: DirectoryHandle) {
        let rules = try? HomeIO.openSubdirectory(home, HelperProtocol.claudeRulesName, owner: work.account.uid)
        defer { rules?.close() }
        for rename in work.renames {
            let directory = rename.place == .home ? home : rules
            if let directory { unlinkat(directory.fd, rename.temp, 0) }
        }
    }

    /// Pass 3 for one user (as the user): renames and removals, then the resulting state.
    private func commit(_ work: Pending) throws(HelperError) -> UserReport {
        let home = try HomeIO.openHome(path: work.homePath, account: work.account)
        defer { home.close() }
        guard (home.device, home.inode) == work.homeIdentity else {
            throw HelperError("home \(work.homePath) was replaced during the apply; nothing renamed")
        }
        var rules: DirectoryHandle?
        if let identity = work.rulesIdentity {
            rules = try HomeIO.openSubdirectory(home, HelperProtocol.claudeRulesName, owner: work.account.uid)
            guard let opened = rules, (opened.device, opened.inode) == identity else {
                rules?.close()
                Helper.discard(work, home: home)
                throw HelperError("\(HelperProtocol.claudeRulesName) was replaced during the apply; nothing renamed")
            }
        }
        defer { rules?.close() }
        var written: [String] = [], removed: [String] = []
        var problems = work.problems
        func directory(_ place: Pending.Place) -> DirectoryHandle { place == .home ? home : rules! }
        func label(_ place: Pending.Place, _ name: String) -> String {
            place == .home ? name : HelperProtocol.claudeRulesName + "/" + name
        }
        for rename in work.renames {
            do {
                try HomeIO.rename(in: directory(rename.place), rename.temp, rename.target)
                written.append(label(rename.place, rename.target))
            } catch {
                problems.append(error.message)
            }
        }
        for removal in work.removals {
            do {
                try HomeIO.remove(in: directory(removal.place), removal.name)
                removed.append(label(removal.place, removal.name))
            } catch {
                problems.append(error.message)
            }
        }
        var report = Helper.describe(home: home, account: work.account)
        report.written = written
        report.removed = removed
        if !problems.isEmpty {
            report.ok = false
            report.error = problems.joined(separator: "; ")
        }
        return report
    }
}
