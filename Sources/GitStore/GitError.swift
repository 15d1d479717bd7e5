import CGit2

/// An error reported by libgit2, with what GitStore was doing at the time.
///
/// ```swift
/// do {
///     _ = try repository.resolveCommit("release")
/// } catch {
///     print(error)
///     // resolve 'release': revspec 'release' not found (libgit2 reference error -3)
/// }
/// ```
public struct GitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libgit2 return code, such as `GIT_ENOTFOUND` (-3) or `GIT_EAMBIGUOUS` (-5).
    public let code: Int32

    /// The libgit2 error class (`git_error.klass`), such as `GIT_ERROR_REFERENCE`.
    public let errorClass: Int32

    /// The readable name of ``errorClass``: "reference", "odb", "os", "repository", ...
    public let className: String

    /// What went wrong, in plain words: for the failures users meet (a missing or foreign
    /// repository, an unknown branch, an unreachable remote, failed authentication, an
    /// unknown or changed SSH host key, a corrupt object) what is wrong and how to fix it;
    /// otherwise the message libgit2 gave.
    public let message: String

    /// The message libgit2 gave, when ``message`` says it in other words; nil otherwise.
    /// For debugging: ``description`` does not show it.
    public let libgit2Message: String?

    /// What GitStore was doing, such as "open repository at /srv/desired".
    public let operation: String

    /// Creates an error.
    ///
    /// - parameters:
    ///   - code: A libgit2 return code.
    ///   - errorClass: A libgit2 error class (`GIT_ERROR_*`).
    ///   - message: What went wrong.
    ///   - operation: What was being done.
    ///   - libgit2Message: libgit2's own message, when `message` rewords it.
    public init(code: Int32, errorClass: Int32, message: String, operation: String, libgit2Message: String? = nil) {
        self.code = code
        self.errorClass = errorClass
        self.className = Self.className(of: errorClass)
        self.message = message
        self.operation = operation
        self.libgit2Message = libgit2Message
    }

    /// The same error with `message` in plain words, keeping libgit2's code, class and text.
    func reworded(_ plain: String) -> GitError {
        GitError(code: code, errorClass: errorClass, message: plain, operation: operation,
                 libgit2Message: libgit2Message ?? message)
    }

    /// The same error, done while `operation`.
    func during(_ operation: String) -> GitError {
        GitError(code: code, errorClass: errorClass, message: message, operation: operation,
                 libgit2Message: libgit2Message)
    }

    /// "<operation>: <message> (libgit2 <className> error <code>)"; without the parenthesis
    /// for an error of this module's own (class none), such as a limit.
    public var description: String {
        errorClass == Int32(GIT_ERROR_NONE.rawValue) && code == -1
            ? "\(operation): \(message)" : "\(operation): \(message) (libgit2 \(className) error \(code))"
    }

    /// The error libgit2 recorded for this thread after a call returned `code`.
    static func last(code: Int32, operation: String) -> GitError {
        guard let error = git_error_last() else {
            return GitError(code: code, errorClass: Int32(GIT_ERROR_NONE.rawValue),
                            message: "unknown error", operation: operation)
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        return GitError(code: code, errorClass: error.pointee.klass, message: message, operation: operation)
    }

    /// An error for a libgit2 call that succeeded but returned no result.
    static func noResult(_ operation: String) -> GitError {
        GitError(code: GIT_ERROR.rawValue, errorClass: Int32(GIT_ERROR_INTERNAL.rawValue),
                 message: "libgit2 returned no result", operation: operation)
    }

    private static func className(of errorClass: Int32) -> String {
        let names: KeyValuePairs<git_error_t, String> = [
            GIT_ERROR_NONE: "none", GIT_ERROR_NOMEMORY: "nomemory", GIT_ERROR_OS: "os",
            GIT_ERROR_INVALID: "invalid", GIT_ERROR_REFERENCE: "reference", GIT_ERROR_ZLIB: "zlib",
            GIT_ERROR_REPOSITORY: "repository", GIT_ERROR_CONFIG: "config", GIT_ERROR_REGEX: "regex",
            GIT_ERROR_ODB: "odb", GIT_ERROR_INDEX: "index", GIT_ERROR_OBJECT: "object",
            GIT_ERROR_NET: "net", GIT_ERROR_TAG: "tag", GIT_ERROR_TREE: "tree",
            GIT_ERROR_INDEXER: "indexer", GIT_ERROR_SSL: "ssl", GIT_ERROR_SUBMODULE: "submodule",
            GIT_ERROR_THREAD: "thread", GIT_ERROR_STASH: "stash", GIT_ERROR_CHECKOUT: "checkout",
            GIT_ERROR_FETCHHEAD: "fetchhead", GIT_ERROR_MERGE: "merge", GIT_ERROR_SSH: "ssh",
            GIT_ERROR_FILTER: "filter", GIT_ERROR_REVERT: "revert", GIT_ERROR_CALLBACK: "callback",
            GIT_ERROR_CHERRYPICK: "cherrypick", GIT_ERROR_DESCRIBE: "describe",
            GIT_ERROR_REBASE: "rebase", GIT_ERROR_FILESYSTEM: "filesystem", GIT_ERROR_PATCH: "patch",
            GIT_ERROR_WORKTREE: "worktree", GIT_ERROR_SHA: "sha", GIT_ERROR_HTTP: "http",
            GIT_ERROR_INTERNAL: "internal",
        ]
        return names.first(where: { Int64($0.key.rawValue) == Int64(errorClass) })?.value
            ?? "class \(errorClass)"
    }
}

/// Throws the last libgit2 error if `code` is negative.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(GitError) {
    if code < 0 { throw GitError.last(code: code, operation: operation()) }
}
