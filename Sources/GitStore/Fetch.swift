import CGit2
import Platform

extension GitRepository {
    /// Fetches one branch of a remote repository into a reference of this one.
    ///
    /// `refs/heads/<branch>` of the remote is fetched with the refspec
    /// `+refs/heads/<branch>:<ref>`, where `ref` defaults to
    /// `refs/remotes/origin/<branch>`. The update is forced: when the branch
    /// was force-pushed upstream, `ref` follows it, and the caller can tell
    /// with ``isDescendant(_:of:)``:
    ///
    /// ```swift
    /// let previous = repository.reference("refs/remotes/origin/main")
    /// let head = try repository.fetch(remote: "https://git.example.com/access.git", branch: "main")
    /// if let previous, head != previous, try !repository.isDescendant(head, of: previous) {
    ///     // The branch was rewritten upstream.
    /// }
    /// ```
    ///
    /// The remote is anonymous: nothing is written to the configuration. No
    /// tags are fetched and no other reference is touched; `FETCH_HEAD` is
    /// not written (libgit2 truncates it, leaving an empty file). `ref` is
    /// updated even if it is the branch checked out in a working directory,
    /// so fetch into a bare repository (see ``initBare(path:)``). Apart from
    /// creating one, this is the only way ``GitRepository`` writes.
    ///
    /// `url` is a `file://`, `ssh://`, `https://` or `http://` URL, an
    /// scp-like `user@host:path`, or a local path. As in git, the
    /// `url.<base>.insteadOf` settings of the git configuration apply, and
    /// proxies come from `http.proxy` or the `https_proxy` family of
    /// environment variables. libgit2 checks TLS certificates and, for SSH,
    /// the host key against `~/.ssh/known_hosts`; when it refuses a host key,
    /// the error says why (unknown host, changed key) if `credentials` names
    /// that file.
    /// When the server asks for credentials, each of these is tried at most
    /// once per URL, in this order:
    /// - for SSH, the private key file of `credentials` if it names one, else
    ///   the keys of the SSH agent if it says there is one, as the user named
    ///   in the URL, or `git`. A key file is checked before anything connects
    ///   (a regular file, not a link, that only its owner can read, holding a
    ///   private key without a passphrase);
    /// - for HTTPS, the user name (or the user named in the URL) and password
    ///   of `credentials`. They are never sent over plain `http://`.
    ///
    /// - parameters:
    ///   - url: Where the remote repository is.
    ///   - branch: The remote branch, without `refs/heads/`.
    ///   - ref: The full name of the reference to update; nil for
    ///     `refs/remotes/origin/<branch>`.
    ///   - credentials: What the fetch may authenticate with; by default nothing.
    /// - returns: The id of the fetched commit, which `ref` now names.
    /// - throws: A ``GitError`` with libgit2's message if the remote cannot be
    ///   reached, authentication fails, or the download fails; with code
    ///   `GIT_EAUTH` and a message naming the file if the SSH key file is
    ///   unfit (before connecting); with code
    ///   `GIT_ENOTFOUND` if the remote has no such branch; with code
    ///   `GIT_EINVALIDSPEC` if `branch` or `ref` is not a valid reference name.
    ///   After an error, every reference is as it was.
    public func fetch(remote url: String, branch: String, into ref: String? = nil,
                      credentials: GitCredentials = .none) throws(GitError) -> ObjectID {
        let source = "refs/heads/" + branch
        let destination = ref ?? "refs/remotes/origin/" + branch
        let operation = "fetch \(source) from \(redactingPassword(in: url)) into \(destination)"
        try expectValidReferenceName(source, "'\(branch)' is not a valid branch name", operation)
        try expectValidReferenceName(destination, "'\(destination)' is not a valid reference name", operation)
        guard destination.hasPrefix("refs/") else {
            throw GitError(code: GIT_EINVALIDSPEC.rawValue, errorClass: Int32(GIT_ERROR_REFERENCE.rawValue),
                           message: "'\(destination)' does not start with refs/", operation: operation)
        }

        try expectLocalDirectory(url, operation)
        let keyFile = try credentials.sshKeyFile.map { (path) throws(GitError) in
            try SSHKeyFile.check(path: path, operation: operation)
        }

        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, repo, url), operation)
        guard let remote else { throw .noResult(operation) }
        defer { git_remote_free(remote) }

        let context = FetchContext(url: url, credentials: CredentialState(credentials, keyFile: keyFile),
                                   knownHostsPath: credentials.knownHostsPath)
        let shown = redactingPassword(in: url)
        // A failure of libgit2 in plain words, unless one of the callbacks already said it so.
        func failure(_ code: Int32) -> GitError {
            let error = GitError.last(code: code, operation: operation)
            return context.refusals.contains(error.message) ? error : explainFetchFailure(error, url: shown)
        }
        return try withExtendedLifetime(context) { () throws(GitError) -> ObjectID in
            var options = git_fetch_options()
            try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), operation)
            options.callbacks.credentials = acquireCredential
            options.callbacks.certificate_check = checkCertificate
            options.callbacks.payload = Unmanaged.passUnretained(context).toOpaque()
            options.prune = GIT_FETCH_NO_PRUNE
            options.update_fetchhead = 0
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
            options.proxy_opts.type = GIT_PROXY_AUTO

            // Connect and read the advertisement first, so that a missing
            // branch is reported before anything is downloaded.
            let connected = git_remote_connect(remote, GIT_DIRECTION_FETCH, &options.callbacks, &options.proxy_opts, nil)
            if connected < 0 { throw failure(connected) }
            defer { git_remote_disconnect(remote) }
            let (advertised, branches) = try advertisedID(of: source, remote, operation)
            guard let advertised else {
                let known = branches.isEmpty ? "it has no branches at all"
                    : "its branches: " + branches.prefix(10).joined(separator: ", ") + (branches.count > 10 ? ", ..." : "")
                throw GitError(code: GIT_ENOTFOUND.rawValue, errorClass: Int32(GIT_ERROR_REFERENCE.rawValue),
                               message: "the remote has no branch '\(branch)' (\(known)); check `branch`",
                               operation: operation)
            }

            let refspec = "+\(source):\(destination)"
            try withStringArray([refspec]) { (refspecs) throws(GitError) in
                let downloaded = git_remote_download(remote, refspecs, &options)
                if downloaded < 0 { throw failure(downloaded) }
            }
            // Refuse a branch that names something other than a commit before
            // any reference moves.
            var oid = advertised.oid
            var size = 0
            var type = GIT_OBJECT_INVALID
            try checkRead(git_odb_read_header(&size, &type, odb, &oid), operation, repository: path)
            guard type == GIT_OBJECT_COMMIT else {
                let name = git_object_type2string(type).map { String(cString: $0) } ?? "object"
                throw GitError(code: GIT_EINVALID.rawValue, errorClass: Int32(GIT_ERROR_OBJECT.rawValue),
                               message: "the remote branch '\(branch)' names a \(name), not a commit",
                               operation: operation)
            }
            let message = "accessctl: fetch \(source) from \(redactingPassword(in: url))"
            try check(git_remote_update_tips(remote, &options.callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, message),
                      operation)
            guard reference(destination) == advertised else {
                throw GitError(code: GIT_ERROR.rawValue, errorClass: Int32(GIT_ERROR_REFERENCE.rawValue),
                               message: "\(destination) was not updated to \(advertised)", operation: operation)
            }
            return advertised
        }
    }
}

/// The id the connected `remote` advertises for `name`, or nil; and the names of the
/// branches it advertises, sorted.
private func advertisedID(of name: String, _ remote: OpaquePointer,
                          _ operation: String) throws(GitError) -> (ObjectID?, [String]) {
    var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
    var count = 0
    try check(git_remote_ls(&heads, &count, remote), operation)
    guard let heads else { return (nil, []) }
    var branches: [String] = []
    for index in 0..<count {
        guard let head = heads[index], let headName = head.pointee.name else { continue }
        let text = String(cString: headName)
        if text == name { return (withUnsafePointer(to: head.pointee.oid) { ObjectID($0) }, []) }
        if text.hasPrefix("refs/heads/") { branches.append(String(text.dropFirst(11))) }
    }
    return (nil, branches.sorted())
}

/// Throws `GIT_ENOTFOUND` if `url` is a local path (no scheme, no `host:`)
/// that is not a directory: libgit2 would only say "unsupported URL protocol".
private func expectLocalDirectory(_ url: String, _ operation: String) throws(GitError) {
    guard !url.contains("://") && !url.contains(":") else { return }
    let info: FileInfo
    do {
        info = try FileInfo(path: url)
    } catch {
        throw GitError(code: GIT_ENOTFOUND.rawValue, errorClass: Int32(GIT_ERROR_OS.rawValue),
                       message: "there is no git repository at \(url): \(error.reason); check `remote`",
                       operation: operation)
    }
    guard info.kind == .directory else {
        throw GitError(code: GIT_ENOTFOUND.rawValue, errorClass: Int32(GIT_ERROR_OS.rawValue),
                       message: "there is no git repository at \(url): it is a file, not a directory; check `remote`",
                       operation: operation)
    }
}

private func expectValidReferenceName(_ name: String, _ message: String, _ operation: String) throws(GitError) {
    var valid: Int32 = 0
    try check(git_reference_name_is_valid(&valid, name), operation)
    guard valid == 1 else {
        throw GitError(code: GIT_EINVALIDSPEC.rawValue, errorClass: Int32(GIT_ERROR_REFERENCE.rawValue),
                       message: message, operation: operation)
    }
}

/// Calls `body` with a `git_strarray` of `strings`, valid only during the call.
private func withStringArray<R>(_ strings: [String],
                                _ body: (UnsafePointer<git_strarray>) throws(GitError) -> R) throws(GitError) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { string in
        let characters = string.utf8CString
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: characters.count)
        characters.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: $0.count) }
        return copy
    }
    defer { for pointer in pointers { pointer?.deallocate() } }
    return try pointers.withUnsafeMutableBufferPointer { (buffer) throws(GitError) -> R in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}

/// `url` with the password of its user information, if any, replaced by `***`.
func redactingPassword(in url: String) -> String {
    let separator = Array("://".utf8)
    let bytes = Array(url.utf8)
    guard let start = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return url }
    let rest = url.utf8.index(url.utf8.startIndex, offsetBy: start + separator.count)
    let authority = url[rest...].prefix(while: { $0 != "/" })
    guard let at = authority.lastIndex(of: "@"),
          let colon = authority[..<at].firstIndex(of: ":") else { return url }
    return String(url[..<authority.index(after: colon)]) + "***" + String(url[at...])
}

// MARK: - Credentials

/// What a fetch may authenticate with, and where the SSH host keys are. The caller gives
/// them (the command line maps its environment to them); GitStore reads no environment
/// variable.
public struct GitCredentials: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// The user name for HTTPS (`ACCESSCTL_GIT_USERNAME`); nil: the user named in the URL.
    public var username: String?
    /// The password or token for HTTPS (`ACCESSCTL_GIT_PASSWORD`).
    public var password: String?
    /// Whether an SSH agent is there (`SSH_AUTH_SOCK` is set); libgit2 asks it for keys
    /// through the process's own `SSH_AUTH_SOCK`. Not asked when there is an ``sshKeyFile``.
    public var hasAgent: Bool
    /// The private key (a deploy key without a passphrase, such as a systemd credential) that
    /// SSH authenticates with, through libgit2's key-file credential; nil: the SSH agent.
    /// Only its path is held here, never its contents.
    public var sshKeyFile: String?
    /// The known_hosts file libgit2 checks host keys against (`$HOME/.ssh/known_hosts` of this
    /// process), read to say why a host key was refused; nil: libgit2's own words.
    public var knownHostsPath: String?

    public init(username: String? = nil, password: String? = nil, hasAgent: Bool = false,
                sshKeyFile: String? = nil, knownHostsPath: String? = nil) {
        self.username = username
        self.password = password
        self.hasAgent = hasAgent
        self.sshKeyFile = sshKeyFile
        self.knownHostsPath = knownHostsPath
    }

    /// Nothing to authenticate with, and host key refusals in libgit2's words.
    public static let none = GitCredentials()

    /// The credentials without the password.
    public var description: String {
        "GitCredentials(username: \(username ?? "nil"), password: \(password == nil ? "nil" : "***"), "
            + "hasAgent: \(hasAgent), sshKeyFile: \(sshKeyFile ?? "nil"), knownHostsPath: \(knownHostsPath ?? "nil"))"
    }

    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

/// What the credential callback hands libgit2 next.
enum CredentialChoice: Equatable {
    /// The user name to log in as over SSH.
    case username(String)
    /// The keys of the SSH agent, for `user`.
    case sshAgent(user: String)
    /// The private key in the file at `path` (no passphrase), for `user`.
    case sshKeyFile(user: String, path: String)
    /// A user name and password for HTTPS.
    case userPassword(user: String, password: String)
    /// Nothing (more) to try: fail with this message.
    case refuse(String)
}

/// The kinds of credential a server accepts, from libgit2's `git_credential_t`.
struct CredentialTypes: OptionSet {
    let rawValue: UInt32

    /// A user name alone (`GIT_CREDENTIAL_USERNAME`): SSH asks for it before anything else.
    static let username = CredentialTypes(rawValue: GIT_CREDENTIAL_USERNAME.rawValue)
    /// An SSH key, from a file or the agent (`GIT_CREDENTIAL_SSH_KEY`).
    static let sshKey = CredentialTypes(rawValue: GIT_CREDENTIAL_SSH_KEY.rawValue)
    /// A user name and password (`GIT_CREDENTIAL_USERPASS_PLAINTEXT`).
    static let userPassword = CredentialTypes(rawValue: GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue)
}

/// The state of one fetch's credential callback: what it has tried for which URL.
///
/// libgit2 calls the callback again after each rejected credential; trying
/// each method at most once per URL ends that loop.
final class CredentialState {
    /// ``GitCredentials/username``.
    let username: String?
    /// ``GitCredentials/password``.
    let password: String?
    /// ``GitCredentials/hasAgent``.
    let hasAgent: Bool
    /// ``GitCredentials/sshKeyFile``, checked.
    let keyFile: SSHKeyFile?
    private var tried: Set<String> = []

    init(username: String?, password: String?, hasAgent: Bool, keyFile: SSHKeyFile? = nil) {
        self.username = username
        self.password = password
        self.hasAgent = hasAgent
        self.keyFile = keyFile
    }

    /// The state for `credentials`, whose key file is `keyFile` once checked, with nothing
    /// tried yet.
    convenience init(_ credentials: GitCredentials, keyFile: SSHKeyFile?) {
        self.init(username: credentials.username, password: credentials.password, hasAgent: credentials.hasAgent,
                  keyFile: keyFile)
    }

    /// The next credential to offer for `url`.
    ///
    /// - parameters:
    ///   - url: The URL libgit2 is authenticating against.
    ///   - usernameFromURL: The user name in the URL, if any.
    ///   - allowed: What the server accepts.
    func next(url: String, usernameFromURL: String?, allowed: CredentialTypes) -> CredentialChoice {
        let shown = redactingPassword(in: url)
        let user = usernameFromURL.flatMap { $0.isEmpty ? nil : $0 }
        let lower = url.lowercased()
        if isSSH(lower) {
            if allowed.contains(.username) && !allowed.contains(.sshKey) {
                return .username(user ?? "git")
            }
            if allowed.contains(.sshKey), let keyFile {
                if tried.insert("key file " + url).inserted { return .sshKeyFile(user: user ?? "git", path: keyFile.path) }
                let key = keyFile.publicKey.map { " (\($0))" } ?? ""
                return .refuse("authentication to \(shown) failed: the server refused the SSH key in \(keyFile.path)\(key); "
                    + "register its public half (`ssh-keygen -y -f \(keyFile.path)` prints it) as a read-only deploy key "
                    + "of the repository, as the user named in `remote` (\(user ?? "git"))")
            }
            if allowed.contains(.sshKey) && !hasAgent {
                return .refuse("\(shown) requires an SSH key, but no key file is configured (`ssh_key_file`) "
                    + "and SSH_AUTH_SOCK names no SSH agent")
            }
            if allowed.contains(.sshKey) && tried.insert("agent " + url).inserted {
                return .sshAgent(user: user ?? "git")
            }
            if tried.contains("agent " + url) {
                return .refuse("authentication to \(shown) failed: the SSH agent offered no key the server accepts")
            }
            return .refuse("authentication to \(shown) failed: the server does not accept SSH keys")
        }
        if lower.hasPrefix("https://") {
            if !allowed.contains(.userPassword) {
                return .refuse("authentication to \(shown) failed: the server does not accept a user name and password")
            }
            guard let password, let name = username ?? user else {
                return .refuse("\(shown) requires authentication: set ACCESSCTL_GIT_USERNAME and ACCESSCTL_GIT_PASSWORD")
            }
            if tried.insert("userpass " + url).inserted {
                return .userPassword(user: name, password: password)
            }
            return .refuse("authentication to \(shown) failed: the server rejected ACCESSCTL_GIT_USERNAME and ACCESSCTL_GIT_PASSWORD")
        }
        if lower.hasPrefix("http://") {
            return .refuse("\(shown) requires authentication: credentials are only sent over https")
        }
        return .refuse("\(shown) requires authentication, which GitStore does not support for this kind of URL")
    }

    private func isSSH(_ lower: String) -> Bool {
        if lower.hasPrefix("ssh://") || lower.hasPrefix("ssh+git://") || lower.hasPrefix("git+ssh://") { return true }
        // scp-like syntax: [user@]host:path, with no "/" before the ":".
        guard !lower.contains("://"), let colon = lower.firstIndex(of: ":") else { return false }
        return !lower[..<colon].contains("/")
    }
}

/// The `git_credential_acquire_cb` of ``GitRepository/fetch(remote:branch:into:)``.
///
/// A plain function: it captures nothing, and finds its ``CredentialState``
/// through `payload`, which the fetch keeps alive for the duration of the call.
private func acquireCredential(
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?,
    _ url: UnsafePointer<CChar>?,
    _ usernameFromURL: UnsafePointer<CChar>?,
    _ allowedTypes: UInt32,
    _ payload: UnsafeMutableRawPointer?
) -> Int32 {
    guard let out, let url, let payload else {
        git_error_set_str(Int32(GIT_ERROR_CALLBACK.rawValue), "credential callback called without a URL or state")
        return GIT_ERROR.rawValue
    }
    let context = Unmanaged<FetchContext>.fromOpaque(payload).takeUnretainedValue()
    let choice = context.credentials.next(url: String(cString: url), usernameFromURL: usernameFromURL.map { String(cString: $0) },
                            allowed: CredentialTypes(rawValue: allowedTypes))
    switch choice {
    case .username(let user):
        return git_credential_username_new(out, user)
    case .sshAgent(let user):
        return git_credential_ssh_key_from_agent(out, user)
    case .sshKeyFile(let user, let path):
        return git_credential_ssh_key_new(out, user, nil, path, nil)
    case .userPassword(let user, let password):
        return git_credential_userpass_plaintext_new(out, user, password)
    case .refuse(let message):
        context.refusals.insert(message)
        git_error_set_str(Int32(GIT_ERROR_NET.rawValue), message)
        return GIT_EAUTH.rawValue
    }
}

// MARK: - Host keys

/// What the callbacks of one fetch share: the URL, the credentials tried, the known_hosts
/// file, and the messages they failed with (which are plain already).
final class FetchContext {
    let url: String
    let credentials: CredentialState
    /// ``GitCredentials/knownHostsPath``.
    let knownHostsPath: String?
    var refusals: Set<String> = []

    init(url: String, credentials: CredentialState, knownHostsPath: String? = nil) {
        self.url = url
        self.credentials = credentials
        self.knownHostsPath = knownHostsPath
    }

    /// The port libgit2 connects to on `host`: the URL's, or 22.
    func sshPort(of host: String) -> Int {
        guard let (urlHost, port) = sshHostAndPort(url), urlHost == host else { return 22 }
        return port ?? 22
    }
}

/// The `git_transport_certificate_check_cb` of ``GitRepository/fetch(remote:branch:into:)``.
///
/// libgit2 has already looked the SSH host key up in known_hosts (`valid`); when it did not
/// find it, this says why in plain words: no line for the host, or a line with another key
/// (the key changed: possibly a man-in-the-middle). TLS certificates are left to libgit2, and
/// so are host keys when the fetch was given no known_hosts file.
private func checkCertificate(
    _ cert: UnsafeMutablePointer<git_cert>?,
    _ valid: Int32,
    _ host: UnsafePointer<CChar>?,
    _ payload: UnsafeMutableRawPointer?
) -> Int32 {
    guard valid == 0, let cert, let host, let payload,
          cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else { return GIT_PASSTHROUGH.rawValue }
    let context = Unmanaged<FetchContext>.fromOpaque(payload).takeUnretainedValue()
    guard let knownHostsPath = context.knownHostsPath else { return GIT_PASSTHROUGH.rawValue }
    return cert.withMemoryRebound(to: git_cert_hostkey.self, capacity: 1) { pointer -> Int32 in
        let hostkey = pointer.pointee
        guard hostkey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0,
              hostkey.type.rawValue & GIT_CERT_SSH_SHA256.rawValue != 0,
              let raw = hostkey.hostkey, hostkey.hostkey_len > 0 else { return GIT_PASSTHROUGH.rawValue }
        let key = Array(UnsafeRawBufferPointer(start: raw, count: hostkey.hostkey_len))
        let sha256 = withUnsafeBytes(of: hostkey.hash_sha256) { Array($0) }
        let name = String(cString: host)
        guard let message = hostKeyRefusal(host: name, port: context.sshPort(of: name), key: key, sha256: sha256,
                                           knownHostsPath: knownHostsPath)
        else { return GIT_PASSTHROUGH.rawValue }
        context.refusals.insert(message)
        git_error_set_str(Int32(GIT_ERROR_SSH.rawValue), message)
        return GIT_ECERTIFICATE.rawValue
    }
}
