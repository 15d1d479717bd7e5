import Foundation
import GitStore

/// `--fetch`: brings the configured branch from the remote into the server's repository (a
/// bare clone, created on first use) through libgit2.
public enum Fetcher {
    /// The ref the fetched branch lands in, and the one plan and apply read when a remote
    /// is configured.
    public static func trackingRef(branch: String) -> String { "refs/remotes/origin/\(branch)" }

    /// Fetches and returns the fetched commit id. A failure leaves the repository as it was.
    public static func fetch(config: ServerConfig) throws(RepoReadError) -> String {
        guard let repository = config.repository else {
            throw RepoReadError("--fetch needs 'repository' (the server's bare clone) in the configuration")
        }
        guard let remote = config.remote else { throw RepoReadError("--fetch needs 'remote' in the configuration") }
        let branch = config.branch ?? "main"
        do {
            // initBare opens an existing bare clone, or creates one in a missing or empty directory.
            let repo = try GitRepository.initBare(path: repository)
            return try repo.fetch(remote: remote, branch: branch, into: trackingRef(branch: branch)).hex
        } catch {
            throw RepoReadError("fetch of \(branch) from \(redacted(remote)) failed: \(error.description)")
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
