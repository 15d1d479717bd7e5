/// Who made a commit, and when.
public struct GitSignature: Sendable, Equatable {
    /// The person's name.
    public let name: String

    /// The person's email address.
    public let email: String

    /// The time, in seconds since the Unix epoch.
    public let time: Int64

    /// The time zone offset from UTC, in minutes (for example 120 for +0200).
    public let offsetMinutes: Int32

    /// Creates a signature.
    public init(name: String, email: String, time: Int64, offsetMinutes: Int32) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}

/// The metadata of a commit.
public struct CommitInfo: Sendable, Equatable {
    /// The id of the commit.
    public let id: ObjectID

    /// The id of the commit's root tree.
    public let tree: ObjectID

    /// The ids of the parent commits, in order; empty for a root commit.
    public let parents: [ObjectID]

    /// Who wrote the change.
    public let author: GitSignature

    /// Who committed it.
    public let committer: GitSignature

    /// The full commit message.
    public let message: String

    /// Creates commit metadata.
    public init(id: ObjectID, tree: ObjectID, parents: [ObjectID], author: GitSignature,
                committer: GitSignature, message: String) {
        self.id = id
        self.tree = tree
        self.parents = parents
        self.author = author
        self.committer = committer
        self.message = message
    }

    /// The first line of the message.
    public var summary: String {
        String(message.prefix(while: { !$0.isNewline }))
    }
}

/// The kind of a file entry in a git tree.
public enum EntryKind: Sendable, Equatable {
    /// A regular file (mode 100644).
    case regular
    /// An executable file (mode 100755).
    case executable
    /// A symbolic link (mode 120000); its blob holds the link target.
    case symlink
    /// A submodule (gitlink, mode 160000); its id names a commit in another repository.
    case submodule
}

/// A leaf entry of a commit's tree.
public struct TreeFile: Sendable, Equatable {
    /// The path relative to the repository root, with components joined by "/".
    ///
    /// Names that are not valid UTF-8 have their invalid bytes replaced by U+FFFD
    /// (see ``isValidUTF8``).
    public let path: String

    /// Whether the path's bytes were valid UTF-8 (if not, ``path`` is a lossy rendering).
    public let isValidUTF8: Bool

    /// The kind of entry.
    public let kind: EntryKind

    /// The mode as libgit2 normalises it: 0o100644, 0o100755, 0o120000 or 0o160000.
    public let mode: UInt32

    /// The blob id, or the commit id for a submodule.
    public let id: ObjectID

    /// Creates a tree file.
    public init(path: String, kind: EntryKind, mode: UInt32, id: ObjectID, isValidUTF8: Bool = true) {
        self.path = path
        self.isValidUTF8 = isValidUTF8
        self.kind = kind
        self.mode = mode
        self.id = id
    }
}
