import TestSupport
import Foundation
import GitStore
import Testing

@Suite("Resolving revisions")
struct ResolveTests {
    @Test("branches, tags, HEAD, ids and revparse expressions resolve to commits")
    func resolvesRevisions() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.git("tag", "light", in: "repo")
            try scratch.write("repo/b.txt", "two\n")
            try scratch.git("add", "b.txt", in: "repo")
            try scratch.git("commit", "-q", "-m", "second", in: "repo")
            try scratch.git("tag", "-a", "annotated", "-m", "release", in: "repo")
            try scratch.git("branch", "feature", "HEAD~1", in: "repo")
            let first = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD~1", in: "repo")))
            let second = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD", in: "repo")))
            let tagObject = try scratch.git("rev-parse", "annotated", in: "repo")
            #expect(tagObject != second.hex)

            let repository = try GitRepository(path: scratch.path("repo"))
            let expected: [(String, ObjectID)] = [
                ("main", second), ("refs/heads/main", second), ("feature", first), ("HEAD", second),
                ("light", first), ("annotated", second), ("refs/tags/annotated", second),
                (first.hex, first), (second.abbreviated, second), (String(first.hex.prefix(10)), first),
                ("main~1", first), ("annotated^", first),
            ]
            for (spec, id) in expected {
                #expect(try repository.resolveCommit(spec) == id, "\(spec)")
            }
        }
    }

    @Test("remote-tracking branches resolve")
    func resolvesRemoteBranch() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("clone", "-q", "origin", "clone")
            let head = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD", in: "origin")))
            let repository = try GitRepository(path: scratch.path("clone"))
            #expect(try repository.resolveCommit("origin/main") == head)
            #expect(try repository.resolveCommit("refs/remotes/origin/main") == head)
        }
    }

    @Test("a missing revision is GIT_ENOTFOUND naming the revision")
    func missingRevision() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            let error = #expect(throws: GitError.self) { try repository.resolveCommit("no-such-branch") }
            #expect(error?.code == -3)
            #expect(error?.message.contains("no-such-branch") == true)
            #expect(error?.operation == "resolve 'no-such-branch'")
            #expect(error?.description.hasPrefix("resolve 'no-such-branch': ") == true)
            #expect(error?.description.hasSuffix("error -3)") == true)
        }
    }

    @Test("a revision naming a tree or blob is an error")
    func nonCommitTarget() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            try scratch.git("tag", "blob-tag", "HEAD:a.txt", in: "repo")
            for (spec, type) in [("HEAD:a.txt", "blob"), ("HEAD^{tree}", "tree"), ("blob-tag", "blob")] {
                let error = #expect(throws: GitError.self) { try repository.resolveCommit(spec) }
                #expect(error?.message == "'\(spec)' names a \(type), not a commit")
                #expect(error?.className == "object")
            }
        }
    }

    @Test("HEAD of an empty repository is not found")
    func unbornHead() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "empty")
            let repository = try GitRepository(path: scratch.path("empty"))
            let error = #expect(throws: GitError.self) { try repository.resolveCommit("HEAD") }
            #expect(error?.code == -3 || error?.code == -9)
        }
    }

    @Test("ancestry")
    func descendants() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.git("commit", "-q", "--allow-empty", "-m", "second", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            let first = try repository.resolveCommit("HEAD~1")
            let second = try repository.resolveCommit("HEAD")
            #expect(try repository.isDescendant(second, of: first))
            #expect(try !repository.isDescendant(first, of: second))
            #expect(try !repository.isDescendant(first, of: first))
            let missing = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
            #expect(throws: GitError.self) { try repository.isDescendant(missing, of: first) }
        }
    }
}

@Suite("ObjectID and GitError")
struct ValueTests {
    @Test("ObjectID accepts exactly 40 hex digits and lowercases them")
    func objectIDParsing() throws {
        let id = try #require(ObjectID(hex: "ABCDEF0123456789abcdef0123456789ABCDEF01"))
        #expect(id.hex == "abcdef0123456789abcdef0123456789abcdef01")
        #expect(id.description == id.hex)
        #expect(id.abbreviated == "abcdef0")
        #expect(ObjectID(hex: "abcdef0") == nil)
        #expect(ObjectID(hex: String(repeating: "g", count: 40)) == nil)
        #expect(ObjectID(hex: String(repeating: "a", count: 41)) == nil)
        #expect(ObjectID(hex: "") == nil)
        let low = try #require(ObjectID(hex: String(repeating: "0", count: 40)))
        #expect(low < id)
        #expect(!(id < low))
    }

    @Test("GitError description")
    func errorDescription() {
        let error = GitError(code: -3, errorClass: 4, message: "reference 'x' not found", operation: "resolve 'x'")
        #expect(error.className == "reference")
        #expect(error.description == "resolve 'x': reference 'x' not found (libgit2 reference error -3)")
        #expect(GitError(code: -1, errorClass: 9, message: "", operation: "").className == "odb")
        #expect(GitError(code: -1, errorClass: 2, message: "", operation: "").className == "os")
        #expect(GitError(code: -1, errorClass: 999, message: "", operation: "").className == "class 999")
    }
}
