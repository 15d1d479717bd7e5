import Foundation
import GitStore
import DesiredRepo
import Platform

/// `--fetch`: brings the configured branch from the remote into the server's repository (a
/// bare clone, created on first use) through libgit2.
public enum Fetcher {
    /// The ref the fetched branch lands in, and the one plan and apply read when a remote
    /// is configured.
    public static func trackingRef(branch: String) -> String { "refs/remotes/origin/\(branch)" }

    /// Why the clone at `path` cannot be read at `ref` because nothing was fetched into it yet
    /// (no clone at all, or a clone without that tracking ref); nil if `ref` is not a
    /// tracking ref or the clone has it.
    public static func notFetchedYet(path: String, ref: String) -> String? {
        guard ref.hasPrefix("refs/remotes/origin/") else { return nil }
        let branch = ref.dropFirst("refs/remotes/origin/".count)
        do { _ = try FileInfo(path: path, followLinks: false) } catch {
            if error.errno == .noSuchFile {
                return "no clone yet at \(path): run `accessctl apply --fetch` first (or `plan --fetch`), "
                    + "which creates it and fetches \(branch) into it"
            }
        }
        guard let clone = try? GitRepository(path: path), clone.reference(ref) == nil else { return nil }
        return "the clone at \(path) has no fetched \(branch) yet (no \(ref)): run `accessctl apply --fetch` "
            + "first (or `plan --fetch`)"
    }

    /// Fetches and returns the fetched commit id. A failure leaves the repository as it was:
    /// a clone created for this fetch is removed again (an empty directory that was
    /// initialised is emptied again), so the next run starts from nothing too.
    ///
    /// - parameter credentials: What the fetch may authenticate with (the command line
    ///   reads them from its environment).
    public static func fetch(config: ServerConfig, credentials: GitCredentials) throws(RepoReadError) -> String {
        guard let repository = config.repository else {
            throw RepoReadError("--fetch needs 'repository' (the server's bare clone) in the configuration")
        }
        guard let remote = config.remote else { throw RepoReadError("--fetch needs 'remote' in the configuration") }
        let branch = config.branch ?? "main"
        let origin: GitRepository.BareOrigin
        let fetched: Result<ObjectID, GitError>
        do {
            (fetched, origin) = try fetchIntoClone(at: repository, remote: remote, branch: branch,
                                                   credentials: credentials)
        } catch {
            throw RepoReadError("fetch of \(branch) from \(redacted(remote)) failed: \(error.description)")
        }
        switch fetched {
        case .success(let id):
            return id.hex
        case .failure(let error):
            let removed = GitRepository.removeNewBare(path: repository, origin: origin)
            let note = removed ? ""
                : " (the new clone at \(repository) could not be removed completely: remove it by hand)"
            throw RepoReadError("fetch of \(branch) from \(redacted(remote)) failed: \(error.description)\(note)")
        }
    }

    /// Opens or creates the clone and fetches into it; the clone is closed on return, so a new
    /// one can be removed after a failed fetch. Throws only when the clone cannot be opened.
    private static func fetchIntoClone(at path: String, remote: String, branch: String, credentials: GitCredentials)
        throws(GitError) -> (Result<ObjectID, GitError>, GitRepository.BareOrigin) {
        let (clone, origin) = try GitRepository.openOrCreateBare(path: path)
        do {
            let ref = trackingRef(branch: branch)
            return (.success(try clone.fetch(remote: remote, branch: branch, into: ref, credentials: credentials)), origin)
        } catch {
            return (.failure(error), origin)
        }
    }
}

/// A URL with any password replaced by `***` (for messages).
func redacted(_ url: String) -> String {
    guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
    let userinfo = url[scheme.upperBound..<at]
    guard let colon = userinfo.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + ":***" + String(url[at...])
}
