import TestSupport
import Foundation
@testable import GitStore
import Testing

/// How a test names the upstream repository.
enum RemoteKind: String, CaseIterable, Sendable {
    case fileURL, plainPath

    func url(_ path: String) -> String {
        switch self {
        case .fileURL: "file://" + path
        case .plainPath: path
        }
    }
}

extension Scratch {
    /// Commits an empty change with `message` in `name` and returns its id.
    @discardableResult
    func emptyCommit(_ message: String, in name: String) throws -> ObjectID {
        try git("commit", "-q", "--allow-empty", "-m", message, in: name)
        return try head(of: name)
    }

    /// The id of HEAD in `name`.
    func head(of name: String, _ revision: String = "HEAD") throws -> ObjectID {
        try #require(ObjectID(hex: git("rev-parse", revision, in: name)))
    }

    /// The references of the repository `name`, as "<id> <name>" lines.
    func references(of name: String) throws -> [String] {
        try git("for-each-ref", "--format=%(objectname) %(refname)", in: name)
            .split(separator: "\n").map(String.init)
    }
}

@Suite("Fetching")
struct FetchTests {
    @Test("initial fetch, new commits and a force-push", arguments: RemoteKind.allCases)
    func fetchFollowsUpstream(kind: RemoteKind) throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("tag", "-a", "v1", "-m", "release", in: "origin")
            try scratch.git("branch", "other", in: "origin")
            try scratch.git("init", "-q", "local")
            let url = kind.url(scratch.path("origin"))
            let repository = try GitRepository(path: scratch.path("local"))
            #expect(repository.reference("refs/remotes/origin/main") == nil)

            // Initial fetch: only the one reference is written, and no tags.
            let first = try scratch.head(of: "origin")
            #expect(try repository.fetch(remote: url, branch: "main") == first)
            #expect(repository.reference("refs/remotes/origin/main") == first)
            #expect(try repository.resolveCommit("origin/main") == first)
            #expect(try repository.commit(first).summary == "initial")
            #expect(try scratch.references(of: "local") == ["\(first) refs/remotes/origin/main"])
            // libgit2 truncates FETCH_HEAD on every fetch, but nothing is written to it.
            let fetchHead = FileManager.default.contents(atPath: scratch.path("local/.git/FETCH_HEAD"))
            #expect(fetchHead == nil || fetchHead?.isEmpty == true)
            // No remote is configured: `git config --get-regexp` finds nothing and fails.
            #expect(throws: GitCLIError.self) { try scratch.git("config", "--get-regexp", "^remote\\.", in: "local") }

            // New commits upstream.
            try scratch.write("origin/b.txt", "two\n")
            try scratch.git("add", "b.txt", in: "origin")
            try scratch.git("commit", "-q", "-m", "second", in: "origin")
            let second = try scratch.head(of: "origin")
            #expect(try repository.fetch(remote: url, branch: "main") == second)
            #expect(repository.reference("refs/remotes/origin/main") == second)
            #expect(try repository.isDescendant(second, of: first))
            #expect(try repository.files(in: second).map(\.path) == ["a.txt", "b.txt"])

            // Fetching again without changes is a no-op that returns the same id.
            #expect(try repository.fetch(remote: url, branch: "main") == second)

            // A force-push upstream is fetched too, and is not a descendant.
            try scratch.git("reset", "-q", "--hard", "HEAD~1", in: "origin")
            let rewritten = try scratch.emptyCommit("rewritten", in: "origin")
            #expect(try repository.fetch(remote: url, branch: "main") == rewritten)
            #expect(repository.reference("refs/remotes/origin/main") == rewritten)
            #expect(try !repository.isDescendant(rewritten, of: second))
            #expect(try repository.isDescendant(rewritten, of: first))
            #expect(try repository.commit(rewritten).summary == "rewritten")
            #expect(try scratch.references(of: "local") == ["\(rewritten) refs/remotes/origin/main"])
            try scratch.git("fsck", "--no-dangling", in: "local")
        }
    }

    @Test("fetching into a given reference touches only that reference")
    func fetchIntoGivenReference() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let head = try scratch.head(of: "origin")
            let fetched = try repository.fetch(remote: scratch.path("origin"), branch: "main",
                                               into: "refs/accessctl/desired")
            #expect(fetched == head)
            #expect(try scratch.references(of: "local") == ["\(head) refs/accessctl/desired"])
        }
    }

    @Test("a missing remote is an error and leaves the fetched reference unchanged", arguments: RemoteKind.allCases)
    func missingRemote(kind: RemoteKind) throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let head = try repository.fetch(remote: kind.url(scratch.path("origin")), branch: "main")

            let missing = kind.url(scratch.path("nowhere"))
            let error = #expect(throws: GitError.self) { try repository.fetch(remote: missing, branch: "main") }
            #expect(error?.operation == "fetch refs/heads/main from \(missing) into refs/remotes/origin/main")
            #expect(error?.message.isEmpty == false)
            #expect(error?.message != "unknown error")
            #expect(error?.message.contains("No such file or directory") == true)
            #expect(repository.reference("refs/remotes/origin/main") == head)
            #expect(try scratch.references(of: "local") == ["\(head) refs/remotes/origin/main"])

            // A directory that is not a repository is an error too.
            try FileManager.default.createDirectory(atPath: scratch.path("plain"), withIntermediateDirectories: true)
            #expect(throws: GitError.self) {
                try repository.fetch(remote: kind.url(scratch.path("plain")), branch: "main")
            }
            #expect(repository.reference("refs/remotes/origin/main") == head)
        }
    }

    @Test("a missing branch is GIT_ENOTFOUND and leaves the references unchanged")
    func missingBranch() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let url = "file://" + scratch.path("origin")
            let repository = try GitRepository(path: scratch.path("local"))
            let head = try repository.fetch(remote: url, branch: "main")
            try scratch.emptyCommit("more", in: "origin")

            let error = #expect(throws: GitError.self) { try repository.fetch(remote: url, branch: "release") }
            #expect(error?.code == -3)
            #expect(error?.message == "the remote has no branch 'release' (its branches: main); check `branch`")
            #expect(error?.description.contains(url) == true)
            #expect(try scratch.references(of: "local") == ["\(head) refs/remotes/origin/main"])
        }
    }

    @Test("invalid branch and reference names are rejected before connecting")
    func invalidNames() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            let url = scratch.path("origin")
            for branch in ["", "*", "ma:in", "a..b", "../../HEAD", "main.lock", "x y", "main\n"] {
                let error = #expect(throws: GitError.self, "\(branch)") {
                    try repository.fetch(remote: url, branch: branch)
                }
                #expect(error?.code == -12, "\(branch)")
            }
            for ref in ["HEAD", "main", "refs/remotes/*", "refs/x:y", "refs/"] {
                let error = #expect(throws: GitError.self, "\(ref)") {
                    try repository.fetch(remote: url, branch: "main", into: ref)
                }
                #expect(error?.code == -12, "\(ref)")
            }
            #expect(try scratch.references(of: "local").isEmpty)
        }
    }

    @Test("a branch that names a blob is refused before any reference moves")
    func branchNamingABlob() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            try scratch.git("init", "-q", "local")
            let blob = try scratch.git("rev-parse", "HEAD:a.txt", in: "origin")
            // git refuses to point a branch at a blob, so write the file directly.
            try scratch.write("origin/.git/refs/heads/weird", blob + "\n")
            let repository = try GitRepository(path: scratch.path("local"))
            let error = #expect(throws: GitError.self) {
                try repository.fetch(remote: scratch.path("origin"), branch: "weird")
            }
            #expect(error?.message == "the remote branch 'weird' names a blob, not a commit")
            #expect(try scratch.references(of: "local").isEmpty)
        }
    }

    @Test("fetch into a bare repository created with initBare")
    func fetchIntoNewBareRepository() throws {
        try Scratch.with { scratch in
            try scratch.repository("origin", files: ["a.txt": "one\n"])
            let path = scratch.path("clone.git")
            let clone = try GitRepository.initBare(path: path)
            #expect(clone.isBare)
            #expect(clone.path == path)
            #expect(clone.reference("HEAD") == nil)
            #expect(try scratch.git("rev-parse", "--is-bare-repository", in: "clone.git") == "true")

            let head = try clone.fetch(remote: "file://" + scratch.path("origin"), branch: "main")
            #expect(head == (try scratch.head(of: "origin")))
            #expect(try clone.resolveCommit("origin/main") == head)
            #expect(try clone.blob(clone.files(in: head)[0].id) == Array("one\n".utf8))
            #expect(try scratch.git("rev-parse", "refs/remotes/origin/main", in: "clone.git") == head.hex)
            try scratch.git("fsck", "--no-dangling", in: "clone.git")

            // Opening again keeps what was fetched.
            let again = try GitRepository.initBare(path: path)
            #expect(again.reference("refs/remotes/origin/main") == head)
        }
    }

    @Test("initBare initialises an empty directory")
    func initBareInEmptyDirectory() throws {
        try Scratch.with { scratch in
            try FileManager.default.createDirectory(atPath: scratch.path("empty"), withIntermediateDirectories: true)
            #expect(try GitRepository.initBare(path: scratch.path("empty")).isBare)
            #expect(FileManager.default.fileExists(atPath: scratch.path("empty/HEAD")))
        }
    }

    @Test("initBare refuses anything but a bare repository, a missing path or an empty directory")
    func initBareRefuses() throws {
        try Scratch.with { scratch in
            // A non-bare repository, by its working directory or its .git directory.
            try scratch.repository("work", files: ["a.txt": "one\n"])
            for path in [scratch.path("work"), scratch.path("work/.git")] {
                let error = #expect(throws: GitError.self, "\(path)") { try GitRepository.initBare(path: path) }
                #expect(error?.code == -4, "\(path)")
                #expect(error?.operation == "create bare repository at \(path)")
            }
            // A directory with files in it is left alone.
            try scratch.write("data/keep.txt", "keep\n")
            let error = #expect(throws: GitError.self) { try GitRepository.initBare(path: scratch.path("data")) }
            #expect(error?.code == -4)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("data")) == ["keep.txt"])
            // A regular file.
            try scratch.write("file", "x\n")
            #expect(throws: GitError.self) { try GitRepository.initBare(path: scratch.path("file")) }
            // A missing parent directory is not created.
            for path in ["no/such/clone.git", "data/sub/clone.git"] {
                let error = #expect(throws: GitError.self) { try GitRepository.initBare(path: scratch.path(path)) }
                #expect(error?.code == -3)
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path("no")))
            #expect(!FileManager.default.fileExists(atPath: scratch.path("data/sub")))
        }
    }

    @Test("reference resolves existing full names only")
    func reference() throws {
        try Scratch.with { scratch in
            try scratch.repository(files: ["a.txt": "one\n"])
            try scratch.git("tag", "-a", "v1", "-m", "release", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            let head = try scratch.head(of: "repo")
            #expect(repository.reference("refs/heads/main") == head)
            #expect(repository.reference("HEAD") == head)
            #expect(repository.reference("refs/tags/v1") == (try scratch.head(of: "repo", "v1")))
            #expect(repository.reference("refs/tags/v1") != head)
            #expect(repository.reference("main") == nil)
            #expect(repository.reference("refs/heads/missing") == nil)
            #expect(repository.reference("refs/heads/../../config") == nil)
            #expect(repository.reference("") == nil)
        }
    }
}

@Suite("Fetch credentials")
struct CredentialTests {
    let agent: CredentialTypes = .sshKey
    let userpass: CredentialTypes = .userPassword

    @Test("SSH: the user name, then the agent once per URL")
    func ssh() {
        let state = CredentialState(username: "env-user", password: "env-secret", hasAgent: true)
        let url = "ssh://deploy@git.example.com/access.git"
        #expect(state.next(url: url, usernameFromURL: nil, allowed: .username)
            == .username("git"))
        #expect(state.next(url: url, usernameFromURL: "deploy", allowed: [agent, userpass])
            == .sshAgent(user: "deploy"))
        // The password of the environment is never offered to an SSH server.
        guard case .refuse(let message) = state.next(url: url, usernameFromURL: "deploy", allowed: [agent, userpass])
        else { Issue.record("expected a refusal"); return }
        #expect(message.contains("SSH agent"))
        // Another URL gets its own attempt; scp-like syntax is SSH too.
        #expect(state.next(url: "git@host:access.git", usernameFromURL: "git", allowed: agent)
            == .sshAgent(user: "git"))
        #expect(state.next(url: "ssh://host/x", usernameFromURL: nil, allowed: agent) == .sshAgent(user: "git"))
    }

    @Test("SSH without an agent is refused at once")
    func sshWithoutAgent() {
        let state = CredentialState(username: "u", password: "p", hasAgent: false)
        #expect(state.next(url: "ssh://git@h/r", usernameFromURL: "git", allowed: [agent, userpass])
            == .refuse("ssh://git@h/r requires an SSH key, but no key file is configured (`ssh_key_file`) "
                + "and SSH_AUTH_SOCK names no SSH agent"))
    }

    @Test("HTTPS: the environment's user and password once per URL")
    func https() {
        let state = CredentialState(username: "env-user", password: "env-secret", hasAgent: true)
        let url = "https://git.example.com/access.git"
        #expect(state.next(url: url, usernameFromURL: nil, allowed: userpass)
            == .userPassword(user: "env-user", password: "env-secret"))
        guard case .refuse(let message) = state.next(url: url, usernameFromURL: nil, allowed: userpass)
        else { Issue.record("expected a refusal"); return }
        #expect(message.contains("rejected ACCESSCTL_GIT_USERNAME and ACCESSCTL_GIT_PASSWORD"))

        // The URL's user name stands in for a missing ACCESSCTL_GIT_USERNAME.
        let fromURL = CredentialState(username: nil, password: "secret", hasAgent: true)
        #expect(fromURL.next(url: url, usernameFromURL: "ada", allowed: userpass)
            == .userPassword(user: "ada", password: "secret"))
    }

    @Test("HTTPS without credentials, plain HTTP and unknown schemes are refused")
    func refusals() {
        let none = CredentialState(username: nil, password: nil, hasAgent: false)
        guard case .refuse(let missing) = none.next(url: "https://h/r", usernameFromURL: nil, allowed: userpass)
        else { Issue.record("expected a refusal"); return }
        #expect(missing == "https://h/r requires authentication: set ACCESSCTL_GIT_USERNAME and ACCESSCTL_GIT_PASSWORD")

        let state = CredentialState(username: "u", password: "p", hasAgent: true)
        guard case .refuse(let plain) = state.next(url: "http://h/r", usernameFromURL: nil, allowed: userpass)
        else { Issue.record("expected a refusal"); return }
        #expect(plain.contains("only sent over https"))
        guard case .refuse = state.next(url: "git://h/r", usernameFromURL: nil, allowed: userpass)
        else { Issue.record("expected a refusal"); return }
    }

    @Test("passwords in URLs are redacted from messages")
    func redaction() {
        #expect(redactingPassword(in: "https://ada:secret@h/r") == "https://ada:***@h/r")
        #expect(redactingPassword(in: "https://ada@h/r") == "https://ada@h/r")
        #expect(redactingPassword(in: "https://h/a:b@c") == "https://h/a:b@c")
        #expect(redactingPassword(in: "/srv/a:b@c") == "/srv/a:b@c")
        #expect(redactingPassword(in: "ssh://git@h:22/r") == "ssh://git@h:22/r")
    }

    @Test("a fetch's error never shows the URL's password")
    func errorRedactsPassword() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "local")
            let repository = try GitRepository(path: scratch.path("local"))
            // Port 9 on the loopback interface: the connection is refused at once.
            let error = #expect(throws: GitError.self) {
                try repository.fetch(remote: "https://ada:hunter2@127.0.0.1:9/r.git", branch: "main")
            }
            #expect(error?.operation.contains("ada:***@127.0.0.1") == true)
            #expect(error?.description.contains("hunter2") == false)
        }
    }
}
