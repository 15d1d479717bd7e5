import DesiredRepo
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("Repository sources and rules")
struct SourceTests {
    private static let base = Project.root + "/Tests/Fixtures/base"

    @Test("a file name that is not UTF-8 is a diagnostic from a directory and from git")
    func invalidUTF8FileName() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(Self.base, to: "repo")
            // Create "docs-\xFF.png" with the raw byte.
            let name: [CChar] = (Array(repo.utf8) + Array("/docs-".utf8) + [0xFF] + Array(".png".utf8) + [0]).map { CChar(bitPattern: $0) }
            let fd = open(name, O_CREAT | O_WRONLY, 0o644)
            #expect(fd >= 0)
            close(fd)
            try scratch.commitAll(in: "repo")
            for source: RepoSource in [try DirectorySource(path: repo), try GitTreeSource(path: repo, ref: "HEAD")] {
                let result = try DesiredStateLoader.load(from: source)
                #expect(result.diagnostics.map(\.description) == ["docs-\u{FFFD}.png:1:1: error: file name is not valid UTF-8; rename it"])
            }
        }
    }

    @Test("a bare repository read without --ref says to name a commit")
    func bareRepositoryAsDirectory() throws {
        try Scratch.with { scratch in
            try scratch.copyTree(Self.base, to: "repo")
            try scratch.commitAll(in: "repo")
            try scratch.git("clone", "-q", "--bare", "repo", "repo.git")
            #expect {
                try DirectorySource(path: scratch.path("repo.git"))
            } throws: { error in
                (error as? RepoReadError)?.message.contains("is a bare git repository; name the commit to read with --ref") == true
            }
            #expect(try DesiredStateLoader.load(from: GitTreeSource(path: scratch.path("repo.git"), ref: "HEAD")).isValid)
        }
    }

    @Test("thousands of unknown references cost bounded time: hints stop after a budget")
    func hintBudget() throws {
        try Scratch.with { scratch in
            let repo = try scratch.copyTree(Self.base, to: "repo")
            let members = (0..<300).map { "ghost\($0)" }.joined(separator: ", ")
            try scratch.write("repo/groups/ghosts.yaml", "members: [\(members)]\n")
            let result = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            let unknown = result.diagnostics.filter { $0.message.hasPrefix("unknown user") }
            #expect(unknown.count == 300)
            #expect(unknown.filter { $0.message.contains("did you mean") }.count <= 100)
        }
    }

    @Test("only real loopback addresses may use http://")
    func loopbackURLs() {
        for url in ["http://127.0.0.1/x", "http://localhost:8710/x", "http://[::1]:80/x", "http://127.255.0.9/x", "https://example.com/x"] {
            #expect(Rules.urlProblem(url) == nil, "\(url)")
        }
        for url in ["http://127.-0.0.1/x", "http://127.0.0.1.evil.com/x", "http://127.0.0/x", "http://127.0.0.256/x",
                    "http://127.+1.0.1/x", "http://example.com/x", "https://user:pw@example.com/x", "ftp://127.0.0.1/x",
                    "https://exa mple.com/x", "https://example.com:0/x", "https://example.com:99999/x", "https:///x"] {
            #expect(Rules.urlProblem(url) != nil, "\(url)")
        }
    }

    @Test("control characters in diagnostics are escaped")
    func escaping() {
        let diagnostic = Diagnostic(path: "users/x\n::error::forged.yaml", line: 2, column: 1, severity: .error,
                                    message: "unknown key '\u{1B}[2K\r\u{202E}'")
        #expect(diagnostic.description == "users/x\\u{A}::error::forged.yaml:2:1: error: unknown key '\\u{1B}[2K\\u{D}\\u{202E}'")
    }
}
