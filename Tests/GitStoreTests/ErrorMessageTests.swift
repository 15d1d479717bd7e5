import TestSupport
import Foundation
@testable import GitStore
import Testing

/// libgit2's failures in plain words: each case with a real repository, made with the git CLI.
@Suite("Plain error messages")
struct ErrorMessageTests {
    @Test("a repository owned by another user: dubious ownership, its owner and the safe.directory fix",
          .enabled(if: geteuid() == 0, "needs root to give the repository to another user"))
    func dubiousOwnership() throws {
        try Scratch.with { scratch in
            let path = try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.git("clone", "-q", "--bare", "repo", "bare.git")
            for target in [path, scratch.path("bare.git")] {
                #expect(chownTree(target, uid: 65534, gid: 65534))
                let error = #expect(throws: GitError.self) { try GitRepository(path: target) }
                let message = error?.message ?? ""
                #expect(message.contains("detected dubious ownership in repository at \(target)"), "\(message)")
                #expect(message.contains("owned by \(ownerName(65534))"), "\(message)")
                #expect(message.contains("`git config --global --add safe.directory \(target)`"), "\(message)")
                #expect(!message.contains("was not found"))
                #expect(error?.libgit2Message?.contains("safe.directory") == true)
                // The libgit2 class and code stay, for debugging.
                #expect(error?.description.hasSuffix("(libgit2 config error -3)") == true
                    || error?.description.hasSuffix("(libgit2 config error -36)") == true)
            }
        }
    }

    @Test("a missing directory, a file and a plain directory are named as such")
    func notARepository() throws {
        try Scratch.with { scratch in
            let missing = scratch.path("nowhere")
            let error = #expect(throws: GitError.self) { try GitRepository(path: missing) }
            #expect(error?.message == "there is no directory at \(missing)")
            #expect(error?.code == -3)
            #expect(error?.description == "open repository at \(missing): there is no directory at \(missing) (libgit2 os error -3)")

            try scratch.write("file", "x\n")
            let file = #expect(throws: GitError.self) { try GitRepository(path: scratch.path("file")) }
            #expect(file?.message == "\(scratch.path("file")) is a file, not a git repository")

            try FileManager.default.createDirectory(atPath: scratch.path("plain"), withIntermediateDirectories: true)
            let plain = #expect(throws: GitError.self) { try GitRepository(path: scratch.path("plain")) }
            #expect(plain?.message.hasPrefix("\(scratch.path("plain")) is not a git repository") == true)
            #expect(plain?.libgit2Message?.contains("could not find repository") == true)
        }
    }

    @Test("an unknown branch or revision, an ambiguous one")
    func unknownRevision() throws {
        try Scratch.with { scratch in
            let path = try scratch.repository(files: ["a.txt": "one\n"])
            let repository = try GitRepository(path: path)
            let error = #expect(throws: GitError.self) { try repository.resolveCommit("release") }
            #expect(error?.message == "the repository at \(path) has no branch, tag or commit 'release'; "
                + "`git -C \(path) branch -a` lists its branches")
            #expect(error?.code == -3)
            let invalid = #expect(throws: GitError.self) { try repository.resolveCommit("main..") }
            #expect(invalid?.message.contains("main..") == true)
        }
    }

    @Test("a corrupt object of the repository is named as corrupt, with what to do")
    func corruptObject() throws {
        try Scratch.with { scratch in
            let path = try scratch.repository(files: ["a.txt": "one\n"])
            let blob = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD:a.txt", in: "repo")))
            try corrupt(object: blob, in: path + "/.git")
            let repository = try GitRepository(path: path)
            for read in [{ _ = try repository.blob(blob) }, { _ = try repository.blobSize(blob) }] {
                let error = #expect(throws: GitError.self, performing: read)
                #expect(error?.message.hasPrefix("an object of the repository at \(path) is corrupt") == true,
                        "\(error?.message ?? "")")
                #expect(error?.message.contains("git fsck") == true)
            }
        }
    }

    @Test("fetching a corrupt object from the remote says so and changes nothing")
    func fetchCorruptObject() throws {
        try Scratch.with { scratch in
            let origin = try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let blob = try #require(ObjectID(hex: scratch.git("rev-parse", "HEAD:a.txt", in: "origin")))
            try corrupt(object: blob, in: origin + "/.git")
            let repository = try GitRepository(path: scratch.path("local"))
            let error = #expect(throws: GitError.self) {
                try repository.fetch(remote: "file://" + origin, branch: "main")
            }
            #expect(error?.message.contains("corrupt") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("git fsck") == true, "\(error?.message ?? "")")
            #expect(try scratch.references(of: "local").isEmpty)
        }
    }

    @Test("a remote that is no repository: a missing path, a plain directory")
    func remoteNotARepository() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            try FileManager.default.createDirectory(atPath: scratch.path("plain"), withIntermediateDirectories: true)
            for url in [scratch.path("nowhere"), "file://" + scratch.path("nowhere"), scratch.path("plain"),
                        "file://" + scratch.path("plain")] {
                let error = #expect(throws: GitError.self, "\(url)") { try repository.fetch(remote: url, branch: "main") }
                #expect(error?.message.hasPrefix("there is no git repository at \(url)") == true,
                        "\(error?.message ?? "")")
            }
        }
    }

    @Test("an unknown branch of the remote lists the branches it has")
    func unknownRemoteBranch() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("branch", "develop", in: "origin")
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let error = #expect(throws: GitError.self) {
                try repository.fetch(remote: scratch.path("origin"), branch: "master")
            }
            #expect(error?.message == "the remote has no branch 'master' (its branches: develop, main); check `branch`")
        }
    }

    @Test("connection refused, over HTTPS and SSH", arguments: ["https://127.0.0.1:9/r.git", "ssh://git@127.0.0.1:9/r.git"])
    func connectionRefused(url: String) throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let error = #expect(throws: GitError.self) { try repository.fetch(remote: url, branch: "main") }
            #expect(error?.message.hasPrefix("cannot connect to 127.0.0.1: connection refused") == true,
                    "\(error?.message ?? "")")
            #expect(error?.libgit2Message?.isEmpty == false)
        }
    }

    @Test("a host name that does not resolve")
    func unknownHost() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let error = #expect(throws: GitError.self) {
                try repository.fetch(remote: "ssh://git@no-such-host.invalid/r.git", branch: "main")
            }
            #expect(error?.message.hasPrefix("cannot find the host no-such-host.invalid") == true,
                    "\(error?.message ?? "")")
        }
    }

    @Test("a first fetch that fails can be undone: the new clone, and only it, is removed")
    func removeNewBare() throws {
        try Scratch.with { scratch in
            // A missing path: the directory is created, then removed again.
            let (created, createdOrigin) = try GitRepository.openOrCreateBare(path: scratch.path("new.git"))
            #expect(createdOrigin == .createdDirectory)
            #expect(throws: GitError.self) { try created.fetch(remote: scratch.path("nowhere"), branch: "main") }
            #expect(GitRepository.removeNewBare(path: scratch.path("new.git"), origin: createdOrigin))
            #expect(!FileManager.default.fileExists(atPath: scratch.path("new.git")))

            // An empty directory: emptied again, but kept.
            try FileManager.default.createDirectory(atPath: scratch.path("empty"), withIntermediateDirectories: true)
            let (_, emptyOrigin) = try GitRepository.openOrCreateBare(path: scratch.path("empty"))
            #expect(emptyOrigin == .initialisedEmptyDirectory)
            #expect(GitRepository.removeNewBare(path: scratch.path("empty"), origin: emptyOrigin))
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("empty")).isEmpty)

            // An existing clone is never removed.
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            let (clone, _) = try GitRepository.openOrCreateBare(path: scratch.path("clone.git"))
            _ = try clone.fetch(remote: scratch.path("origin"), branch: "main")
            let (_, again) = try GitRepository.openOrCreateBare(path: scratch.path("clone.git"))
            #expect(again == .existing)
            #expect(GitRepository.removeNewBare(path: scratch.path("clone.git"), origin: again))
            #expect(try GitRepository(path: scratch.path("clone.git")).reference("refs/remotes/origin/main") != nil)
        }
    }
}

/// Gives `path` and everything under it to `uid`.
private func chownTree(_ path: String, uid: uid_t, gid: gid_t) -> Bool {
    guard let walker = FileManager.default.enumerator(atPath: path) else { return false }
    var ok = chown(path, uid, gid) == 0
    while let relative = walker.nextObject() as? String { ok = ok && lchown(path + "/" + relative, uid, gid) == 0 }
    return ok
}

private func ownerName(_ uid: uid_t) -> String {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
    return "\(String(cString: name)) (uid \(uid))"
}

/// Overwrites the loose object `id` of the git directory `gitDirectory` with bytes that do not inflate.
private func corrupt(object id: ObjectID, in gitDirectory: String) throws {
    let hex = id.hex
    let file = gitDirectory + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
    try Data("this is not a zlib stream, just garbage that is long enough".utf8).write(to: URL(fileURLWithPath: file))
}
