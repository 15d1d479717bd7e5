import Foundation
import Platform
import TestSupport
import Testing

/// `FileInfo` and `Files` on real files in a scratch directory: links never followed where
/// they must not be, the errno kept, writes atomic.
@Suite("Files")
struct FilesTests {
    @Test("FileInfo tells kinds, permissions, size and identity; lstat sees the link, stat its target")
    func fileInfo() throws {
        try Scratch.with { scratch in
            try scratch.write("file", "12345")
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: scratch.path("file"))
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "file")
            let file = try FileInfo(path: scratch.path("file"))
            #expect(file.kind == .regular)
            #expect(file.permissions == 0o640)
            #expect(file.size == 5)
            #expect(file.linkCount == 1)
            #expect(file.userID == OS.effectiveUserID)
            #expect(try FileInfo(path: scratch.path("link")).inode == file.inode)
            let link = try FileInfo(path: scratch.path("link"), followLinks: false)
            #expect(link.kind == .symbolicLink)
            #expect(link.inode != file.inode)
            #expect(try FileInfo(path: scratch.root).kind == .directory)
            #expect(try FileInfo(path: "/dev/null").kind == .characterDevice)
            let modified = try #require(FileManager.default.attributesOfItem(atPath: scratch.path("file"))[.modificationDate] as? Date)
            #expect(abs(Double(file.modified.components.seconds) - modified.timeIntervalSince1970) < 2)

            let error = #expect(throws: PlatformError.self) { try FileInfo(path: scratch.path("missing")) }
            #expect(error?.errno == .noSuchFile)
            #expect(error?.description == "cannot examine \(scratch.path("missing")): No such file or directory")
            #expect(error?.reason == "No such file or directory")
            #expect(error?.path == scratch.path("missing"))
            let below = #expect(throws: PlatformError.self) { try FileInfo(path: scratch.path("file/x")) }
            #expect(below?.errno == .notDirectory)
        }
    }

    @Test("readRegularFile reads a whole file and refuses links, FIFOs, directories and files over the limit")
    func readRegularFile() throws {
        try Scratch.with { scratch in
            try scratch.write("file", "hello\n")
            try scratch.write("empty", "")
            #expect(try Files.readRegularFile(atPath: scratch.path("file"), limit: 6) == Array("hello\n".utf8))
            #expect(try Files.readRegularFile(atPath: scratch.path("file"), limit: 1 << 30) == Array("hello\n".utf8))
            #expect(try Files.readRegularFile(atPath: scratch.path("empty"), limit: 0) == [])
            let large = #expect(throws: PlatformError.self) { try Files.readRegularFile(atPath: scratch.path("file"), limit: 5) }
            #expect(large == .tooLarge(path: scratch.path("file"), limit: 5))
            #expect(large?.description == "\(scratch.path("file")) is larger than 5 bytes")

            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "file")
            let link = #expect(throws: PlatformError.self) { try Files.readRegularFile(atPath: scratch.path("link"), limit: 100) }
            #expect(link == .symbolicLink(path: scratch.path("link")))
            #expect(link?.description == "\(scratch.path("link")) is a symbolic link")

            // A FIFO is refused without waiting for a writer (O_NONBLOCK).
            #expect(mkfifo(scratch.path("fifo"), 0o600) == 0)
            let fifo = #expect(throws: PlatformError.self) { try Files.readRegularFile(atPath: scratch.path("fifo"), limit: 100) }
            #expect(fifo == .notRegularFile(path: scratch.path("fifo"), kind: .fifo))
            #expect(fifo?.reason == "is a FIFO, not a regular file")
            let directory = #expect(throws: PlatformError.self) { try Files.readRegularFile(atPath: scratch.root, limit: 100) }
            #expect(directory == .notRegularFile(path: scratch.root, kind: .directory))

            let missing = #expect(throws: PlatformError.self) { try Files.readRegularFile(atPath: scratch.path("missing"), limit: 100) }
            #expect(missing?.errno == .noSuchFile)
            #expect(missing?.description == "cannot open \(scratch.path("missing")): No such file or directory")
        }
    }

    @Test("writeAtomically replaces the file with the given permissions, leaves no temporary file and never follows a link")
    func writeAtomically() throws {
        try Scratch.with { scratch in
            let path = scratch.path("plan.json")
            try Files.writeAtomically(Array("one\n".utf8), toPath: path, permissions: 0o600)
            #expect(FileManager.default.contents(atPath: path) == Data("one\n".utf8))
            #expect(try FileInfo(path: path).permissions == 0o600)
            let before = try FileInfo(path: path)
            try Files.writeAtomically(Array("two, longer\n".utf8), toPath: path, permissions: 0o640)
            #expect(FileManager.default.contents(atPath: path) == Data("two, longer\n".utf8))
            let after = try FileInfo(path: path)
            #expect(after.permissions == 0o640)
            #expect(after.inode != before.inode, "a new file renamed over the old one")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root) == ["plan.json"])

            // A link at the path is replaced by the file, and its target left as it was.
            try scratch.write("target", "target\n")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "target")
            try Files.writeAtomically(Array("new\n".utf8), toPath: scratch.path("link"), permissions: 0o600)
            #expect(try FileInfo(path: scratch.path("link"), followLinks: false).kind == .regular)
            #expect(FileManager.default.contents(atPath: scratch.path("target")) == Data("target\n".utf8))

            // In a missing directory, not even the temporary file can be made.
            let missing = #expect(throws: PlatformError.self) {
                try Files.writeAtomically([1], toPath: scratch.path("no/such/file"), permissions: 0o600)
            }
            #expect(missing?.errno == .noSuchFile)
            #expect(missing?.description == "cannot create a temporary file for \(scratch.path("no/such/file")): No such file or directory")

            // Renaming onto a directory fails, and the temporary file is removed again.
            try FileManager.default.createDirectory(atPath: scratch.path("dir/inner"), withIntermediateDirectories: true)
            let replace = #expect(throws: PlatformError.self) {
                try Files.writeAtomically([1], toPath: scratch.path("dir"), permissions: 0o600)
            }
            #expect(replace?.description.hasPrefix("cannot replace \(scratch.path("dir")): ") == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root).sorted() == ["dir", "link", "plan.json", "target"])
        }
    }

    @Test("createDirectory and rename report the errno callers tell apart")
    func createDirectoryAndRename() throws {
        try Scratch.with { scratch in
            let made = scratch.path("made")
            try Files.createDirectory(atPath: made, permissions: 0o700)
            #expect(try FileInfo(path: made).kind == .directory)
            #expect(try FileInfo(path: made).permissions == 0o700)
            let again = #expect(throws: PlatformError.self) { try Files.createDirectory(atPath: made, permissions: 0o700) }
            #expect(again?.errno == .exists)
            #expect(again?.description == "cannot create the directory \(made): File exists")
            let orphan = #expect(throws: PlatformError.self) { try Files.createDirectory(atPath: scratch.path("a/b"), permissions: 0o700) }
            #expect(orphan?.errno == .noSuchFile)

            // A directory renames onto an empty one, not onto one with files.
            try Files.createDirectory(atPath: scratch.path("empty"), permissions: 0o755)
            try scratch.write("made/file", "x")
            try Files.rename(made, to: scratch.path("empty"))
            #expect(FileManager.default.contents(atPath: scratch.path("empty/file")) == Data("x".utf8))
            #expect(!FileManager.default.fileExists(atPath: made))
            try Files.createDirectory(atPath: made, permissions: 0o755)
            let full = #expect(throws: PlatformError.self) { try Files.rename(made, to: scratch.path("empty")) }
            #expect(full?.errno == .notEmpty || full?.errno == .exists)
            let missing = #expect(throws: PlatformError.self) { try Files.rename(scratch.path("missing"), to: made) }
            #expect(missing?.errno == .noSuchFile)
            #expect(missing?.description == "cannot rename \(scratch.path("missing")): No such file or directory")
        }
    }

    @Test("canonicalPath resolves links, . and ..; directoryEntries lists names without . and ..")
    func canonicalPathAndEntries() throws {
        try Scratch.with { scratch in
            try scratch.write("dir/a", "")
            try scratch.write("dir/b", "")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "dir")
            let real = try #require(Files.canonicalPath(scratch.root))
            #expect(Files.canonicalPath(scratch.path("link/../dir/./a")) == real + "/dir/a")
            #expect(Files.canonicalPath(scratch.path("missing")) == nil)
            #expect(try Files.directoryEntries(atPath: scratch.path("link")).sorted() == ["a", "b"])
            let file = #expect(throws: PlatformError.self) { try Files.directoryEntries(atPath: scratch.path("dir/a")) }
            #expect(file?.errno == .notDirectory)
            let missing = #expect(throws: PlatformError.self) { try Files.directoryEntries(atPath: scratch.path("missing")) }
            #expect(missing?.errno == .noSuchFile)
        }
    }
}
