#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import HelperProtocol

/// Options of the helper. `passwdFile` and `homesRoot` exist for tests only and are
/// refused when the helper runs under sudo.
public struct HelperOptions: Sendable {
    public var passwdFile: String?
    public var homesRoot: String?

    public init(passwdFile: String? = nil, homesRoot: String? = nil) {
        self.passwdFile = passwdFile
        self.homesRoot = homesRoot
    }
}

/// Exit codes of `install-service-env`.
public enum HelperExit {
    public static let ok: Int32 = 0
    public static let badRequest: Int32 = 1
    public static let someUsersFailed: Int32 = 3
    public static let usage: Int32 = 64
}

/// The helper's work: one verb over one request, answered with one response.
public struct Helper {
    /// Largest request accepted on stdin.
    public static let maxRequestBytes = 64 << 20
    /// Most users in one request.
    public static let maxUsers = 100_000
    /// Largest `.service_env` accepted.
    public static let maxServiceEnvBytes = 1 << 20
    /// Largest skill text accepted.
    public static let maxSkillBytes = 256 << 10
    /// Most skill files for one user.
    public static let maxSkillsPerUser = 1_000

    /// Temp files start with this; any left by a crashed run are removed by the next.
    static let tempPrefix = ".accessctl-tmp-"

    /// The temp file name for a target: short and fixed, whatever the target's length
    /// (a 255-byte skill name still gets a valid temp name).
    static func tempName(for target: String) -> String {
        tempPrefix + SHA256.hex(target.utf8).prefix(16)
    }

    private let accounts: AccountDirectory
    private let homesRoot: String?
    private let minUID: uid_t
    /// Root's credentials, to return to after each user's file work.
    let credentials: Credentials

    init(options: HelperOptions, credentials: Credentials) throws(HelperError) {
        self.credentials = credentials
        accounts = try options.passwdFile.map { path throws(HelperError) in try PasswdFileAccounts(path: path) } ?? SystemAccounts()
        homesRoot = options.homesRoot
        minUID = minimumUID()
    }

    /// Runs `verb` on the JSON `input`; returns the exit code and the JSON response.
    public static func run(verb: String, input: [UInt8], options: HelperOptions) -> (status: Int32, output: [UInt8]) {
        do {
            let credentials = try Credentials.ofRoot()
            umask(0o077)
            let helper = try Helper(options: options, credentials: credentials)
            let response: HelperResponse
            switch verb {
            case "inspect": response = try helper.inspect(decode(InspectRequest.self, input))
            case "apply": response = try helper.apply(decode(ApplyRequest.self, input))
            default: return (HelperExit.usage, encode(HelperResponse(error: "unknown verb", users: [])))
            }
            let status = response.users.allSatisfy(\.ok) ? HelperExit.ok : HelperExit.someUsersFailed
            return (status, encode(response))
        } catch {
            return (HelperExit.badRequest, encode(HelperResponse(error: error.message, users: [])))
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ input: [UInt8]) throws(HelperError) -> T {
        if input.count > maxRequestBytes { throw HelperError("request is larger than \(maxRequestBytes) bytes") }
        do {
            return try JSONDecoder().decode(type, from: Data(input))
        } catch let error as DecodingError {
            throw HelperError("malformed request: \(describe(error))")
        } catch {
            throw HelperError("malformed request: not valid JSON")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "" : " at \(keys)"
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type\(path(context))"
        case .dataCorrupted(let context): return "not valid JSON\(path(context))"
        @unknown default: return "not valid JSON"
        }
    }

    static func encode(_ response: HelperResponse) -> [UInt8] {
        ResponseJSON.encode(response)
    }

    // MARK: - Users

    /// A user name in messages: quoted, with control characters escaped.
    static func shown(_ name: String) -> String { name.debugDescription }

    /// Resolves and checks an account; returns it with the path of its home.
    func resolve(_ name: String) throws(HelperError) -> (Account, String) {
        guard HelperNames.isUnixUser(name) else {
            throw HelperError("invalid user name \(Helper.shown(name)): must match ^[a-z_][a-z0-9_-]{0,31}$")
        }
        guard name != "root" else { throw HelperError("refusing to manage root") }
        guard let account = try accounts.account(named: name) else { throw HelperError("no such user \(Helper.shown(name))") }
        guard account.uid != 0, account.uid >= minUID else {
            throw HelperError("user \(name) has uid \(account.uid), below the minimum \(minUID); refusing")
        }
        guard account.gid != 0 else { throw HelperError("user \(name) has primary group 0; refusing") }
        let home = account.home
        let components = home.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard home.hasPrefix("/"), home.count > 1,
              !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw HelperError("user \(name) has an unusable home directory \(Helper.shown(home))")
        }
        return (account, (homesRoot ?? "") + home)
    }

    func checkUnique(_ names: [String]) throws(HelperError) {
        if names.count > Helper.maxUsers { throw HelperError("too many users (\(names.count)); the limit is \(Helper.maxUsers)") }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw HelperError("user \(Helper.shown(name)) is listed twice")
        }
    }

    private func checkVersion(_ version: Int) throws(HelperError) {
        guard version == HelperProtocol.version else {
            throw HelperError("unsupported protocol version \(version); this helper speaks \(HelperProtocol.version)")
        }
    }

    // MARK: - inspect

    func inspect(_ request: InspectRequest) throws(HelperError) -> HelperResponse {
        try checkVersion(request.version)
        try checkUnique(request.users)
        let reports = request.users.map { name -> UserReport in
            do throws(HelperError) {
                let (account, homePath) = try resolve(name)
                return try credentials.asUser(account) { () throws(HelperError) -> UserReport in
                    let home = try HomeIO.openHome(path: homePath, account: account)
                    defer { home.close() }
                    return Helper.describe(home: home, account: account)
                }
            } catch {
                return UserReport.failed(name, error.message)
            }
        }
        return HelperResponse(users: reports)
    }

    /// The current state of a user's managed files (run as the user).
    static func describe(home: DirectoryHandle, account: Account) -> UserReport {
        var report = UserReport(user: account.name, ok: true)
        report.serviceEnv = HomeIO.state(in: home, HelperProtocol.serviceEnvName, owner: account.uid)
        do {
            if let rules = try HomeIO.openSubdirectory(home, HelperProtocol.claudeRulesName, owner: account.uid) {
                defer { rules.close() }
                report.claudeRules = .present(nil, mode: octal(rules.openedMode))
                var skills: [String: FileState] = [:]
                for name in try HomeIO.names(in: rules) where HelperNames.isSkillFile(name) {
                    skills[name] = HomeIO.state(in: rules, name, owner: account.uid)
                }
                report.skills = skills
            } else {
                report.claudeRules = .absent
                report.skills = [:]
            }
        } catch {
            report.claudeRules = .unsafe(error.message)
            report.skills = [:]
        }
        return report
    }
}
