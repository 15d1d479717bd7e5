import Foundation
import GitStore
import Testing
import TestSupport

/// Trees git itself never writes, built byte by byte with `git hash-object --literally`.
@Suite("Hostile trees")
struct HostileTreeTests {
    /// Writes a raw tree object whose entries are (mode, name bytes, object id) and commits it.
    private func commitRawTree(_ scratch: Scratch, entries: [(String, [UInt8], String)]) throws -> String {
        var tree: [UInt8] = []
        for (mode, name, hex) in entries {
            tree += Array("\(mode) ".utf8) + name + [0]
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                tree.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
        }
        try scratch.write("tree.bin", tree)
        let treeID = try scratch.git("hash-object", "-t", "tree", "--literally", "-w", scratch.path("tree.bin"), in: "repo")
        return try scratch.git("commit-tree", treeID, "-m", "raw", in: "repo")
    }

    private func blob(_ scratch: Scratch, _ text: String) throws -> String {
        try scratch.write("blob.txt", text)
        return try scratch.git("hash-object", "-w", scratch.path("blob.txt"), in: "repo")
    }

    @Test("two entries with one name make a malformed tree, not a crash")
    func duplicateNames() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            let a = try blob(scratch, "a\n"), b = try blob(scratch, "b\n")
            let commit = try commitRawTree(scratch, entries: [("100644", Array("crm.yaml".utf8), a), ("100644", Array("crm.yaml".utf8), b)])
            let repository = try GitRepository(path: scratch.path("repo"))
            #expect {
                try repository.files(in: ObjectID(hex: commit)!)
            } throws: { error in
                (error as? GitError)?.message.contains("two entries are named crm.yaml") == true
            }
        }
    }

    @Test("entry names with a slash or dot-dot are refused", arguments: ["a/b", "..", "."])
    func badNames(_ name: String) throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            let commit = try commitRawTree(scratch, entries: [("100644", Array(name.utf8), try blob(scratch, "x\n"))])
            let repository = try GitRepository(path: scratch.path("repo"))
            #expect(throws: GitError.self) { try repository.files(in: ObjectID(hex: commit)!) }
        }
    }

    @Test("a name that is not UTF-8 is flagged, not silently renamed")
    func invalidUTF8Name() throws {
        try Scratch.with { scratch in
            try scratch.git("init", "-q", "repo")
            let commit = try commitRawTree(scratch, entries: [("100644", Array("docs-".utf8) + [0xFF] + Array(".md".utf8), try blob(scratch, "x\n"))])
            let files = try GitRepository(path: scratch.path("repo")).files(in: ObjectID(hex: commit)!)
            #expect(files.count == 1)
            #expect(files[0].isValidUTF8 == false)
        }
    }

    @Test("hidden subtrees are not walked, and the file limit stops the walk early")
    func hiddenAndLimit() throws {
        try Scratch.with { scratch in
            var files: [String: String] = ["a.txt": "a\n", "b.txt": "b\n"]
            for i in 0..<50 { files[".github/bomb/\(i).txt"] = "\(i)\n" }
            let repository = try GitRepository(path: scratch.repository(files: files))
            let head = try repository.resolveCommit("HEAD")
            #expect(try repository.files(in: head, skipHidden: true).map(\.path) == ["a.txt", "b.txt"])
            #expect(try repository.files(in: head).count == 52)
            #expect {
                try repository.files(in: head, limit: 10)
            } throws: { error in
                (error as? GitError)?.message == "the tree has more than 10 files"
            }
        }
    }
}
