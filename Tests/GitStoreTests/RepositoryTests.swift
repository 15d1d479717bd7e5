import TestSupport
import Foundation
import GitStore
import Testing

@Suite("Opening repositories")
struct OpenTests {
    @Test("non-bare and bare repositories open")
    func bareAndNonBare() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["dir/a.txt": "alpha\n"])
            try scratch.git("clone", "-q", "--bare", "repo", "bare.git")
            let head = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD", in: "repo")))

            let work = try GitRepository(path: scratch.path("repo"))
            #expect(!work.isBare)
            #expect(work.path == scratch.path("repo"))
            #expect(try GitRepository(path: scratch.path("repo/.git")).resolveCommit("main") == head)

            let bare = try GitRepository(path: scratch.path("bare.git"))
            #expect(bare.isBare)
            #expect(try bare.resolveCommit("main") == head)
            #expect(try bare.resolveCommit("HEAD") == head)
            let files = try bare.files(in: head)
            #expect(files.map(\.path) == ["dir/a.txt"])
            #expect(try bare.blob(files[0].id) == Array("alpha\n".utf8))
        }
    }

    @Test("a missing directory is an error")
    func missingDirectory() throws {
        try Scratch.with { scratch in
            let path = scratch.path("nowhere")
            let error = #expect(throws: GitError.self) { try GitRepository(path: path) }
            #expect(error?.code == -3)
            #expect(error?.operation == "open repository at \(path)")
            #expect(error?.description.contains(path) == true)
        }
    }

    @Test("a plain directory is not a repository")
    func plainDirectory() throws {
        try Scratch.with { scratch in
            try FileManager.default.createDirectory(atPath: scratch.path("plain"), withIntermediateDirectories: true)
            let error = #expect(throws: GitError.self) { try GitRepository(path: scratch.path("plain")) }
            #expect(error?.code == -3)
            #expect(error?.className == "repository")
        }
    }

    @Test("parent directories are not searched")
    func noUpwardSearch() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["sub/a.txt": "alpha\n"])
            #expect(throws: GitError.self) { try GitRepository(path: scratch.path("repo/sub")) }
        }
    }

    @Test("a corrupt HEAD is an error when opening")
    func corruptHead() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "alpha\n"])
            try scratch.write("repo/.git/HEAD", "this is not a reference\n")
            let error = #expect(throws: GitError.self) { try GitRepository(path: scratch.path("repo")) }
            #expect(error?.description.hasPrefix("open repository at \(scratch.path("repo")): ") == true)
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test("a missing objects directory is an error when opening")
    func missingObjects() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "alpha\n"])
            try FileManager.default.removeItem(atPath: scratch.path("repo/.git/objects"))
            let error = #expect(throws: GitError.self) { try GitRepository(path: scratch.path("repo")) }
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test("a missing object is GIT_ENOTFOUND")
    func missingObject() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "alpha\n"]))
            let missing = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
            for read in [{ _ = try repository.blob(missing) }, { _ = try repository.blobSize(missing) },
                         { _ = try repository.commit(missing) }, { _ = try repository.files(in: missing) }] {
                let error = #expect(throws: GitError.self, performing: read)
                #expect(error?.code == -3)
                #expect(error?.description.contains(missing.hex) == true)
            }
        }
    }
}

@Suite("Commits")
struct CommitTests {
    @Test("commit metadata")
    func metadata() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.write("repo/a.txt", "two\n")
            try scratch.git("commit", "-q", "-a", "-m", "Change a\n\nWith a body.\nÜber lines.", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            let head = try repository.resolveCommit("HEAD")
            let parent = try repository.resolveCommit("HEAD~1")

            let info = try repository.commit(head)
            #expect(info.id == head)
            #expect(info.tree.hex == (try scratch.git("rev-parse", "HEAD^{tree}", in: "repo")))
            #expect(info.parents == [parent])
            #expect(info.author == GitSignature(name: "Ada Author", email: "ada@example.com",
                                                time: 1_700_000_000, offsetMinutes: 120))
            #expect(info.committer == GitSignature(name: "Cody Committer", email: "cody@example.com",
                                                   time: 1_700_000_100, offsetMinutes: -90))
            #expect(info.message == "Change a\n\nWith a body.\nÜber lines.\n")
            #expect(info.summary == "Change a")

            let root = try repository.commit(parent)
            #expect(root.parents.isEmpty)
            #expect(root.summary == "initial")
        }
    }

    @Test("merge commits list both parents in order")
    func mergeParents() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.git("checkout", "-q", "-b", "side", in: "repo")
            try scratch.git("commit", "-q", "--allow-empty", "-m", "side", in: "repo")
            try scratch.git("checkout", "-q", "main", in: "repo")
            try scratch.git("commit", "-q", "--allow-empty", "-m", "main", in: "repo")
            try scratch.git("merge", "-q", "--no-ff", "-m", "merge", "side", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            let info = try repository.commit(try repository.resolveCommit("HEAD"))
            #expect(info.parents == [try repository.resolveCommit("HEAD^1"), try repository.resolveCommit("side")])
        }
    }

    @Test("reading a tree as a commit is an error")
    func treeIsNotACommit() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            let tree = try repository.commit(try repository.resolveCommit("HEAD")).tree
            #expect(throws: GitError.self) { try repository.commit(tree) }
            #expect(throws: GitError.self) { try repository.files(in: tree) }
        }
    }
}
