import Foundation
import Platform
import Testing

/// `OS` against what Foundation and real processes say.
@Suite("Processes, users and the machine")
struct OSTests {
    @Test("this process: its id, its user and group, the host name")
    func thisProcess() {
        #expect(OS.processID == ProcessInfo.processInfo.processIdentifier)
        #expect(OS.processExists(OS.processID))
        #expect(OS.effectiveUserID == geteuid())
        #expect(OS.effectiveGroupID == getegid())
        #expect(OS.userName(of: 0) == "root")
        #expect(OS.userName(of: OS.effectiveUserID) == NSUserName())
        #expect(OS.userName(of: 4_000_000_000) == nil)
        var name = [CChar](repeating: 0, count: 256)
        #expect(gethostname(&name, 255) == 0)
        let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        #expect(OS.hostName == String(decoding: bytes, as: UTF8.self))
        #expect(!OS.hostName.isEmpty)
    }

    @Test("isTerminal is false for a pipe and a file")
    func terminals() throws {
        let pipe = Pipe()
        #expect(!OS.isTerminal(pipe.fileHandleForReading.fileDescriptor))
        #expect(!OS.isTerminal(pipe.fileHandleForWriting.fileDescriptor))
        let null = try #require(FileHandle(forReadingAtPath: "/dev/null"))
        #expect(!OS.isTerminal(null.fileDescriptor))
        #expect(!OS.isTerminal(-1))
    }

    @Test("kill ends a child process with SIGKILL; processExists sees it gone once reaped")
    func killing() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        let pid = child.processIdentifier
        #expect(OS.processExists(pid))
        try OS.kill(pid)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(child.terminationStatus == SIGKILL)
        #expect(!OS.processExists(pid))
        let gone = #expect(throws: PlatformError.self) { try OS.kill(pid) }
        #expect(gone?.errno == Errno(rawValue: ESRCH))
        #expect(gone?.description == "cannot kill process \(pid): No such process")
    }

    @Test("no signal to a process group or to every process: pids of 0 and less are refused")
    func groupsRefused() {
        for pid: Int32 in [0, -1] {
            #expect(!OS.processExists(pid))
            let refused = #expect(throws: PlatformError.self) { try OS.kill(pid) }
            #expect(refused?.errno == Errno(rawValue: EINVAL))
        }
    }

    @Test("Errno names the C library's numbers and words")
    func errnoWords() {
        #expect(Errno.noSuchFile.rawValue == ENOENT)
        #expect(Errno.noSuchFile.message == "No such file or directory")
        #expect(Errno.notEmpty.rawValue == ENOTEMPTY)
        #expect(Errno.permissionDenied.description == "Permission denied")
        #expect(PlatformError.system(operation: "read", path: "/x", errno: .permissionDenied).description
            == "cannot read /x: Permission denied")
        #expect(PlatformError.symbolicLink(path: "/x").errno == nil)
    }
}
