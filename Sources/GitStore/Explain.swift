import CGit2
import Platform

// libgit2's messages for the failures users meet, said in plain words: what is wrong and
// how to fix it. Each rewording keeps libgit2's code and class (shown by
// `GitError.description` as a short suffix) and its text (`GitError.libgit2Message`).

/// Throws the last libgit2 error if `code` is negative, saying so plainly when an object of
/// the repository at `repository` is corrupt.
func checkRead(_ code: Int32, _ operation: @autoclosure () -> String, repository: String) throws(GitError) {
    guard code < 0 else { return }
    let error = GitError.last(code: code, operation: operation())
    guard isCorruption(error) else { throw error }
    throw error.reworded("an object of the repository at \(repository) is corrupt (\(error.message)); "
        + "run `git fsck` there to see which; a clone made by `apply --fetch` can be removed and fetched again")
}

/// Whether `error` says that an object or pack is damaged.
func isCorruption(_ error: GitError) -> Bool {
    if error.code == GIT_ENOTFOUND.rawValue && !error.message.contains("corrupt") { return false }
    if error.errorClass == Int32(GIT_ERROR_ZLIB.rawValue) { return true }
    let message = error.message.lowercased()
    return ["corrupt", "inflate", "invalid header", "failed to parse loose object", "hash mismatch",
            "packfile", "invalid pack", "incomplete pack", "bad object", "object size mismatch",
            "unexpected eof"].contains(where: { message.contains($0) })
}

/// The error of `git_repository_open_ext` on `path`, in plain words.
func explainOpenFailure(_ error: GitError, path: String) -> GitError {
    if error.code == GIT_EOWNER.rawValue
        || (error.errorClass == Int32(GIT_ERROR_CONFIG.rawValue) && error.message.contains("safe.directory")) {
        return error.reworded(dubiousOwnership(path))
    }
    let info: FileInfo
    do {
        info = try FileInfo(path: path)
    } catch let failure {
        switch failure.errno {
        case .noSuchFile?, .notDirectory?: return error.reworded("there is no directory at \(path)")
        case .permissionDenied?:
            return error.reworded("\(path) cannot be read: permission denied for \(userName(OS.effectiveUserID)); "
                + "run the command as the user that owns it (for the server's clone: `sudo -u accessctl`)")
        default: return error
        }
    }
    if info.kind != .directory { return error.reworded("\(path) is a file, not a git repository") }
    if error.code == GIT_ENOTFOUND.rawValue && error.errorClass == Int32(GIT_ERROR_REPOSITORY.rawValue) {
        return error.reworded("\(path) is not a git repository: it has no .git directory and is not a bare "
            + "repository (HEAD, objects/ and refs/); check the path")
    }
    if error.message.contains("Permission denied") {
        return error.reworded("the repository at \(path) cannot be read: permission denied for "
            + "\(userName(OS.effectiveUserID)); run the command as the user that owns it (for the server's clone: `sudo -u accessctl`)")
    }
    return error
}

/// "Detected dubious ownership", as git says it, with the owner and the two ways out.
private func dubiousOwnership(_ path: String) -> String {
    let resolved = Files.canonicalPath(path) ?? path
    // libgit2 checks the working directory of a non-bare repository, and allows it by that name.
    var directory = resolved
    if directory.hasSuffix("/.git") { directory.removeLast(5) }
    let owner: String
    if let info = try? FileInfo(path: directory), info.userID != OS.effectiveUserID {
        owner = userName(info.userID)
    } else if let info = (try? FileInfo(path: resolved + "/.git")) ?? (try? FileInfo(path: resolved)) {
        owner = userName(info.userID)
    } else {
        owner = "another user"
    }
    let me = userName(OS.effectiveUserID)
    return "detected dubious ownership in repository at \(directory): it is owned by \(owner), but this command "
        + "runs as \(me), and git refuses another user's repository unless it is marked safe. Run the command "
        + "as its owner (e.g. `sudo -u \(owner.split(separator: " ").first ?? "owner") ...`), or, if you trust "
        + "the repository, allow it with `git config --global --add safe.directory \(directory)` run as \(me)"
}

/// "name (uid N)", or "uid N" for a uid without an account.
func userName(_ uid: UInt32) -> String {
    OS.userName(of: uid).map { "\($0) (uid \(uid))" } ?? "uid \(uid)"
}

/// The error of `git_revparse_single` on `spec`, in plain words.
func explainResolveFailure(_ error: GitError, spec: String, repository: String) -> GitError {
    switch error.code {
    case GIT_ENOTFOUND.rawValue:
        return error.reworded("the repository at \(repository) has no branch, tag or commit '\(spec)'; "
            + "`git -C \(repository) branch -a` lists its branches")
    case GIT_EAMBIGUOUS.rawValue:
        return error.reworded("'\(spec)' is ambiguous in the repository at \(repository): give more digits "
            + "of the commit id, or a full reference name such as refs/heads/\(spec)")
    case GIT_EINVALIDSPEC.rawValue:
        return error.reworded("'\(spec)' is not a valid revision: give a branch, a tag or a commit id")
    default:
        return isCorruption(error)
            ? error.reworded("an object of the repository at \(repository) is corrupt (\(error.message)); "
                + "run `git fsck` there to see which; a clone made by `apply --fetch` can be removed and fetched again")
            : error
    }
}

/// An error of connecting to or downloading from `url` (already redacted), in plain words.
func explainFetchFailure(_ error: GitError, url: String) -> GitError {
    if error.libgit2Message != nil { return error }
    let message = error.message
    let lower = message.lowercased()
    let host = hostName(of: url) ?? url
    switch error.code {
    case GIT_EAUTH.rawValue:
        return message.hasPrefix("authentication to") || message.contains("requires")
            ? error : error.reworded("authentication to \(url) failed (\(message))")
    case GIT_ECERTIFICATE.rawValue where error.errorClass != Int32(GIT_ERROR_SSH.rawValue):
        return error.reworded("the TLS certificate of \(host) is not trusted (\(message)): check that `remote` "
            + "names the right host and that the system's CA certificates (package ca-certificates) are installed")
    default: break
    }
    if lower.contains("connection refused") {
        return error.reworded("cannot connect to \(host): connection refused (nothing listens there); "
            + "check the host and port of `remote` and that the git server is running")
    }
    if lower.contains("failed to resolve address") || lower.contains("name or service not known")
        || lower.contains("temporary failure in name resolution") {
        return error.reworded("cannot find the host \(host): its name does not resolve; "
            + "check the host name in `remote` and the server's DNS")
    }
    if lower.contains("network is unreachable") || lower.contains("no route to host")
        || lower.contains("host is unreachable") {
        return error.reworded("cannot reach \(host): the network is unreachable from this machine; "
            + "check its network connection, firewall and proxy settings")
    }
    if lower.contains("timed out") || lower.contains("timeout") {
        return error.reworded("the connection to \(host) timed out; check that the host is reachable from "
            + "this machine (firewall, proxy) and try again")
    }
    if lower.contains("could not find repository") || lower.contains("does not appear to be a git repository")
        || lower.contains("repository not found") || lower.contains("status code: 404")
        || lower.contains("no such file or directory") || lower.contains("failed to resolve path") {
        return error.reworded("there is no git repository at \(url) (\(message)); check `remote`, and that the "
            + "credentials in use may read that repository")
    }
    if lower.contains("status code: 403") {
        return error.reworded("\(url) refused access (HTTP 403): the credentials in use may not read this repository")
    }
    if isCorruption(error) {
        return error.reworded("the remote sent a corrupt object or pack (\(message)); nothing was changed here. "
            + "Run `git fsck` in the remote repository, or ask its administrators to")
    }
    return error
}

/// The host of a URL (`scheme://[user@]host[:port]/...` or scp-like `[user@]host:path`), or nil.
func hostName(of url: String) -> String? {
    sshHostAndPort(url).map(\.host)
}

/// The host and port of a URL; the port is nil when the URL gives none.
func sshHostAndPort(_ url: String) -> (host: String, port: Int?)? {
    var rest = Substring(url)
    let separator = Array("://".utf8)
    let bytes = Array(url.utf8)
    if let start = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) {
        rest = url[url.utf8.index(url.utf8.startIndex, offsetBy: start + separator.count)...]
        let authority = rest.prefix(while: { $0 != "/" })
        let hostPort = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            return (host, after.hasPrefix(":") ? Int(after.dropFirst()) : nil)
        }
        if let colon = hostPort.lastIndex(of: ":") {
            return (String(hostPort[..<colon]), Int(hostPort[hostPort.index(after: colon)...]))
        }
        return hostPort.isEmpty ? nil : (String(hostPort), nil)
    }
    // scp-like: [user@]host:path, with no "/" before the ":".
    guard let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains("/") else { return nil }
    let userHost = rest[..<colon]
    let host = userHost.lastIndex(of: "@").map { userHost[userHost.index(after: $0)...] } ?? userHost
    return host.isEmpty ? nil : (String(host), nil)
}
