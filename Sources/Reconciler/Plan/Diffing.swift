import AccessModel
import Foundation
import DesiredRepo

/// `accessctl diff`: the change between two commits of a repository, computed without a
/// database or homes (see `DesiredDiff`).
public enum Diffing {
    /// A diff and the load results of both sides (for their warnings).
    public struct Outcome: Sendable {
        public var diff: DesiredDiff
        public var head: LoadResult
        /// The base's load result; when it is invalid the diff is against an empty base.
        public var base: LoadResult
    }

    /// Loads and validates the head first: an invalid head is `.invalid` with its
    /// diagnostics. An invalid base (a broken main branch that this change may fix) does not
    /// stop the diff: it is made against an empty base, and the caller says so.
    public static func diff(repository: String, base: String, head: String, now: Int64) throws(Planning.Failure) -> Outcome {
        let headLoad: LoadResult, baseLoad: LoadResult
        do {
            headLoad = try DesiredStateLoader.load(from: GitTreeSource(path: repository, ref: head))
            guard let headState = headLoad.state else { throw Planning.Failure.invalid(headLoad) }
            baseLoad = try DesiredStateLoader.load(from: GitTreeSource(path: repository, ref: base))
            let diff = DesiredDiff.between(base: baseLoad.state, head: headState,
                                           baseSide: DesiredDiff.Side(ref: base, commit: baseLoad.origin.commit),
                                           headSide: DesiredDiff.Side(ref: head, commit: headLoad.origin.commit), now: now)
            return Outcome(diff: diff, head: headLoad, base: baseLoad)
        } catch let failure as Planning.Failure {
            throw failure
        } catch let error as RepoReadError {
            throw .unavailable(error.message)
        } catch {
            throw .unavailable("\(error)")
        }
    }
}
