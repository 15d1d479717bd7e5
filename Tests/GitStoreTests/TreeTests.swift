import TestSupport
import Foundation
import GitStore
import Testing

@Suite("Trees and blobs")
struct TreeTests {
    @Test("nested trees are listed by full path in byte order")
    func nestedPaths() throws {
        try Scratch.with { scratch in
            let paths = ["z.txt", "a/b/c/d.txt", "a.txt", "a-b.txt", "a/x.txt", "a0", "B.txt", "é/f.txt", "e.txt"]
            let repository = try GitRepository(path: scratch.repository(
                files: Dictionary(uniqueKeysWithValues: paths.map { ($0, "content of \($0)\n") })))
            let files = try repository.files(in: try repository.resolveCommit("HEAD"))
            #expect(files.map(\.path) == [
                "B.txt", "a-b.txt", "a.txt", "a/b/c/d.txt", "a/x.txt", "a0", "e.txt", "z.txt", "é/f.txt",
            ])
            #expect(files.allSatisfy { $0.kind == .regular && $0.mode == 0o100644 })
            for file in files {
                #expect(try repository.blob(file.id) == Array("content of \(file.path)\n".utf8))
            }
        }
    }

    @Test("executables, symlinks and submodules are listed with their kind")
    func entryKinds() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            try scratch.write("repo/plain.txt", "plain\n")
            try scratch.write("repo/bin/run.sh", "#!/bin/sh\n", executable: true)
            try FileManager.default.createSymbolicLink(atPath: scratch.path("repo/link"),
                                                       withDestinationPath: "../outside/target")
            try scratch.git("add", "-A", in: "repo")
            let gitlink = String(repeating: "1234567890", count: 4)
            try scratch.git("update-index", "--add", "--cacheinfo", "160000,\(gitlink),sub", in: "repo")
            try scratch.git("commit", "-q", "-m", "kinds", in: "repo")

            let repository = try GitRepository(path: scratch.path("repo"))
            let files = try repository.files(in: try repository.resolveCommit("main"))
            #expect(files.map(\.path) == ["bin/run.sh", "link", "plain.txt", "sub"])
            #expect(files.map(\.kind) == [.executable, .symlink, .regular, .submodule])
            #expect(files.map(\.mode) == [0o100755, 0o120000, 0o100644, 0o160000])
            #expect(files[3].id.hex == gitlink)
            #expect(try repository.blob(files[1].id) == Array("../outside/target".utf8))
            #expect(try repository.blob(files[0].id) == Array("#!/bin/sh\n".utf8))
        }
    }

    @Test("blob content and size, including empty and binary blobs")
    func blobs() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            let binary: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 10, 13, 0]
            let large = [UInt8]((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try scratch.write("repo/empty", [])
            try scratch.write("repo/binary.bin", binary)
            try scratch.write("repo/large.bin", large)
            try scratch.git("add", "-A", in: "repo")
            try scratch.git("commit", "-q", "-m", "blobs", in: "repo")

            let repository = try GitRepository(path: scratch.path("repo"))
            let files = try repository.files(in: try repository.resolveCommit("HEAD"))
            let byPath = Dictionary(uniqueKeysWithValues: files.map { ($0.path, $0.id) })
            for (path, bytes) in [("empty", [UInt8]()), ("binary.bin", binary), ("large.bin", large)] {
                let id = try #require(byPath[path])
                #expect(try repository.blob(id) == bytes, "\(path)")
                #expect(try repository.blobSize(id) == bytes.count, "\(path)")
                #expect(id.hex == (try scratch.git("rev-parse", "HEAD:\(path)", in: "repo")))
            }

            // Packed objects read the same way.
            try scratch.git("gc", "-q", in: "repo")
            let packed = try GitRepository(path: scratch.path("repo"))
            #expect(try packed.blob(#require(byPath["large.bin"])) == large)
            #expect(try packed.blobSize(#require(byPath["binary.bin"])) == binary.count)
        }
    }

    @Test("reading a tree or commit as a blob is an error")
    func notABlob() throws {
        try Scratch.with { scratch in
            let repository = try GitRepository(path: scratch.repository(files: ["a.txt": "one\n"]))
            let head = try repository.resolveCommit("HEAD")
            let tree = try repository.commit(head).tree
            let error = #expect(throws: GitError.self) { try repository.blobSize(tree) }
            #expect(error?.message == "object \(tree) is a tree, not a blob")
            let commitError = #expect(throws: GitError.self) { try repository.blob(head) }
            #expect(commitError?.message == "object \(head) is a commit, not a blob")
        }
    }

    @Test("an empty tree lists nothing")
    func emptyTree() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            try scratch.git("commit", "-q", "--allow-empty", "-m", "empty", in: "repo")
            let repository = try GitRepository(path: scratch.path("repo"))
            #expect(try repository.files(in: try repository.resolveCommit("HEAD")).isEmpty)
        }
    }

    @Test("11,000 files list and read quickly")
    func largeTree() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            var script = "commit refs/heads/main\ncommitter C <c@example.com> 1700000000 +0000\ndata 5\nbulk\n"
            for index in 0..<11_000 {
                let content = "id: \(index)\nname: entity \(index)\n"
                script += "M 100644 inline dir\(index % 7)/sub\(index % 13)/file\(index).yaml\n"
                script += "data \(content.utf8.count)\n\(content)"
            }
            try scratch.git("fast-import", "--quiet", in: "repo", stdin: script + "\n")

            let repository = try GitRepository(path: scratch.path("repo"))
            let clock = ContinuousClock()
            var total = 0
            let elapsed = try clock.measure {
                let files = try repository.files(in: try repository.resolveCommit("main"))
                #expect(files.count == 11_000)
                for file in files { total += try repository.blob(file.id).count }
            }
            #expect(total > 11_000 * 20)
            #expect(elapsed < .seconds(5), "listing and reading took \(elapsed)")
        }
    }
}
