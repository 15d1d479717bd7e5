import Foundation
import Platform
import TestSupport
import Testing

/// `OpenFile`, `Directory` and `FileLock` on real files: what is opened is what is checked,
/// no link is followed, locks conflict between open files.
@Suite("Open files and directories")
struct OpenFileTests {
    @Test("opening never follows a link; exclusive creation refuses anything already there")
    func opening() throws {
        try Scratch.with { scratch in
            try scratch.write("file", "data")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "file")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("dangling"), withDestinationPath: "nowhere")
            for access in [OpenFile.Access.read, .write, .readWrite] {
                let link = #expect(throws: PlatformError.self) { try OpenFile(path: scratch.path("link"), access: access) }
                #expect(link?.errno == .tooManySymbolicLinks)
                #expect(link?.description == "cannot open \(scratch.path("link")): Too many levels of symbolic links")
            }
            // Creating through a dangling link would create its target: refused, nothing made.
            for creation in [OpenFile.Creation.ifMissing(permissions: 0o600), .exclusive(permissions: 0o600)] {
                #expect(throws: PlatformError.self) { try OpenFile(path: scratch.path("dangling"), access: .write, creating: creation) }
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path("nowhere")))
            let exists = #expect(throws: PlatformError.self) {
                try OpenFile(path: scratch.path("file"), access: .write, creating: .exclusive(permissions: 0o600))
            }
            #expect(exists?.errno == .exists)
            let missing = #expect(throws: PlatformError.self) { try OpenFile(path: scratch.path("missing"), access: .read) }
            #expect(missing?.errno == .noSuchFile)
            #expect(missing?.path == scratch.path("missing"))

            // Permissions at creation are less the umask; setPermissions sets them exactly.
            let made = try OpenFile(path: scratch.path("new"), access: .write, creating: .exclusive(permissions: 0o666))
            let umask = try FileInfo(path: scratch.path("new")).permissions ^ 0o666
            #expect(try made.info().permissions == 0o666 & ~umask)
            try made.setPermissions(0o640)
            #expect(try FileInfo(path: scratch.path("new")).permissions == 0o640)
            try made.setOwner(userID: OS.effectiveUserID, groupID: OS.effectiveGroupID)
            #expect(try made.info().userID == OS.effectiveUserID)
            #expect(try made.info().groupID == OS.effectiveGroupID)
            try made.close()
            try made.close()
            #expect(throws: PlatformError.self) { try made.info() }
            let reopened = try OpenFile(path: scratch.path("new"), access: .write, creating: .ifMissing(permissions: 0o600))
            #expect(try reopened.info().permissions == 0o640, "an existing file keeps its permissions")

            // A FIFO opens without waiting for a writer, and shows as what it is.
            #expect(mkfifo(scratch.path("fifo"), 0o600) == 0)
            #expect(try OpenFile(path: scratch.path("fifo"), access: .read, nonBlocking: true).info().kind == .fifo)
        }
    }

    @Test("reads and writes: whole buffers, at the position or at an offset, truncation and sync")
    func readingAndWriting() throws {
        try Scratch.with { scratch in
            let file = try OpenFile(path: scratch.path("file"), access: .readWrite, creating: .exclusive(permissions: 0o600))
            let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try file.write(bytes)
            try file.sync()
            #expect(try file.info().size == 300_000)
            #expect(try file.read(upTo: 10) == [], "the position is at the end")
            #expect(try file.read(upTo: 5, atOffset: 1) == Array(bytes[1..<6]))
            #expect(try file.read(upTo: 1_000_000, atOffset: 0) == bytes, "a large read returns the whole file")
            #expect(try file.read(upTo: 10, atOffset: 299_995) == Array(bytes[299_995...]))
            try file.write(Array("head".utf8), atOffset: 0)
            #expect(try file.read(upTo: 4, atOffset: 0) == Array("head".utf8))
            try file.truncate(toSize: 4)
            #expect(try file.info().size == 4)
            #expect(try file.read(upTo: 100, atOffset: 0) == Array("head".utf8))
            #expect(try file.read(upTo: 0, atOffset: 0) == [])

            let reader = try OpenFile(path: scratch.path("file"), access: .read)
            #expect(try reader.read(upTo: 2) == Array("he".utf8))
            #expect(try reader.read(upTo: 10) == Array("ad".utf8))
            let denied = #expect(throws: PlatformError.self) { try reader.write([1]) }
            #expect(denied?.description.hasPrefix("cannot write \(scratch.path("file")): ") == true)
        }
    }

    @Test("locks belong to the open file: exclusive against everyone else, shared among readers")
    func locks() throws {
        try Scratch.with { scratch in
            let path = scratch.path("lock")
            let first = try OpenFile(path: path, access: .readWrite, creating: .ifMissing(permissions: 0o600))
            let second = try OpenFile(path: path, access: .read)
            #expect(try first.tryLock(.exclusive))
            #expect(try first.tryLock(.exclusive), "taking a held lock again is fine")
            #expect(try !second.tryLock(.shared))
            #expect(try !second.tryLock(.exclusive))
            first.unlock()
            #expect(try second.tryLock(.shared))
            #expect(try first.tryLock(.shared))
            #expect(try !first.tryLock(.exclusive))
            second.unlock()
            #expect(try first.tryLock(.exclusive))
            try first.close()
            #expect(try second.tryLock(.exclusive), "closing releases the lock")

            // FileLock: the same, by path.
            second.unlock()
            let lock = try #require(try FileLock.tryLock(path: path))
            #expect(lock.path == path)
            #expect(try FileLock.tryLock(path: path) == nil)
            #expect(try !second.tryLock(.shared))
            lock.release()
            lock.release()
            let again = try #require(try FileLock.tryLock(path: path))
            _ = again
            #expect(try FileLock.tryLock(path: path) == nil)
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link"), withDestinationPath: "lock")
            let link = #expect(throws: PlatformError.self) { try FileLock.tryLock(path: scratch.path("link")) }
            #expect(link?.errno == .tooManySymbolicLinks)
            let fresh = try #require(try FileLock.tryLock(path: scratch.path("fresh")))
            #expect(try FileInfo(path: fresh.path).permissions == 0o600)
        }
        // Released when the lock is deinitialised.
        try Scratch.with { scratch in
            let path = scratch.path("lock")
            do {
                let held = try FileLock.tryLock(path: path)
                #expect(held != nil)
                #expect(try FileLock.tryLock(path: path) == nil)
                withExtendedLifetime(held) {}
            }
            #expect(try FileLock.tryLock(path: path) != nil)
        }
    }

    @Test("a directory works below itself: raw names, no link followed, renames and removals in place")
    func directory() throws {
        try Scratch.with { scratch in
            try scratch.write("top/file", "data")
            try scratch.write("top/sub/inner", "x")
            try scratch.write("elsewhere/secret", "s")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("top/dirlink"), withDestinationPath: "../elsewhere")
            try FileManager.default.createSymbolicLink(atPath: scratch.path("top/filelink"), withDestinationPath: "file")
            let odd: [UInt8] = [0x6F, 0xFF, 0x64]  // "o", 0xFF, "d": not UTF-8
            let oddPath = (Array(scratch.path("top/").utf8) + odd + [0]).map { CChar(bitPattern: $0) }
            let made = creat(oddPath, 0o600)
            #expect(made >= 0)
            if made >= 0 { close(made) }

            // A link to the top directory is followed, like a path given by the user.
            try FileManager.default.createSymbolicLink(atPath: scratch.path("toplink"), withDestinationPath: "top")
            let top = try Directory(path: scratch.path("toplink"))
            #expect(top.path == scratch.path("toplink"))
            let sorted = { (names: [[UInt8]]) in names.sorted { $0.lexicographicallyPrecedes($1) } }
            let names = sorted(Array(try top.names()))
            #expect(names == sorted(["dirlink", "file", "filelink", "sub"].map { Array($0.utf8) } + [odd]))
            #expect(names.contains(odd))
            #expect(!names.contains(Array(".".utf8)) && !names.contains(Array("..".utf8)))
            #expect(Array(try top.names()).count == names.count, "listing again starts from the beginning")

            #expect(try top.info(of: odd).kind == .regular)
            #expect(try top.info(of: "dirlink".utf8).kind == .symbolicLink)
            #expect(try top.info(of: "sub/inner".utf8).size == 1)
            let missing = #expect(throws: PlatformError.self) { try top.info(of: "missing".utf8) }
            #expect(missing?.errno == .noSuchFile)
            #expect(missing?.path == scratch.path("toplink/missing"))

            // Below the top, a link is never followed: not as a directory, not as a file.
            let sub = try top.openDirectory(named: "sub".utf8)
            #expect(sub.path == scratch.path("toplink/sub"))
            #expect(Array(try sub.names()) == [Array("inner".utf8)])
            let dirlink = #expect(throws: PlatformError.self) { try top.openDirectory(named: "dirlink".utf8) }
            #expect(dirlink?.errno == .tooManySymbolicLinks || dirlink?.errno == .notDirectory)
            let notDirectory = #expect(throws: PlatformError.self) { try top.openDirectory(named: "file".utf8) }
            #expect(notDirectory?.errno == .notDirectory)
            let filelink = #expect(throws: PlatformError.self) { try top.openFile(named: "filelink".utf8, access: .read) }
            #expect(filelink?.errno == .tooManySymbolicLinks)
            #expect(try top.openFile(named: "file".utf8, access: .read).read(upTo: 100) == Array("data".utf8))

            // Create, rename over, remove: all inside the directory.
            let temporary = try sub.openFile(named: ".new".utf8, access: .write, creating: .exclusive(permissions: 0o600))
            try temporary.write(Array("replaced".utf8))
            try temporary.close()
            try sub.rename(".new".utf8, to: "inner".utf8)
            #expect(FileManager.default.contents(atPath: scratch.path("top/sub/inner")) == Data("replaced".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("top/sub")) == ["inner"])
            try sub.sync()
            try sub.remove("inner".utf8)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("top/sub")) == [])
            let gone = #expect(throws: PlatformError.self) { try sub.remove("inner".utf8) }
            #expect(gone?.errno == .noSuchFile)
            let renamed = #expect(throws: PlatformError.self) { try sub.rename("inner".utf8, to: "other".utf8) }
            #expect(renamed?.description == "cannot rename \(scratch.path("toplink/sub/inner")): No such file or directory")

            let openMissing = #expect(throws: PlatformError.self) { try Directory(path: scratch.path("missing")) }
            #expect(openMissing?.errno == .noSuchFile)
            let openFile = #expect(throws: PlatformError.self) { try Directory(path: scratch.path("top/file")) }
            #expect(openFile?.errno == .notDirectory)
        }
    }
}
