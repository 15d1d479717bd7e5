import Foundation
import Testing

/// A temporary directory in which tests build repositories with the git CLI.
///
/// Git runs with a fixed identity and dates, and with HOME pointing into the
/// scratch directory so that no global configuration applies.
struct Scratch {
    let root: String

    static let authorDate = "1700000000 +0200"
    static let committerDate = "1700000100 -0130"

    /// Runs `body` with a fresh scratch directory, removed afterwards.
    static func with<R>(_ body: (Scratch) throws -> R) throws -> R {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("gitstore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(Scratch(root: root))
    }

    /// The absolute path of `relative` inside the scratch directory.
    func path(_ relative: String) -> String { root + "/" + relative }

    /// Runs git in `directory` (relative to the root) and returns its trimmed stdout.
    @discardableResult
    func git(_ arguments: String..., in directory: String = "", stdin: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-c", "init.defaultBranch=main", "-c", "core.quotePath=false"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory.isEmpty ? root : path(directory))
        process.environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": root,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Ada Author", "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_AUTHOR_DATE": Self.authorDate,
            "GIT_COMMITTER_NAME": "Cody Committer", "GIT_COMMITTER_EMAIL": "cody@example.com",
            "GIT_COMMITTER_DATE": Self.committerDate,
        ]
        let output = Pipe()
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/null"))
        process.standardOutput = output
        process.standardError = errors
        if let stdin {
            let input = path("stdin-\(UUID().uuidString)")
            try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        }
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GitCLIError(arguments: arguments, status: process.terminationStatus)
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a file, creating intermediate directories.
    func write(_ relative: String, _ content: String, executable: Bool = false) throws {
        try write(relative, Array(content.utf8), executable: executable)
    }

    /// Writes a file of raw bytes, creating intermediate directories.
    func write(_ relative: String, _ bytes: [UInt8], executable: Bool = false) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
    }

    /// Creates a repository `name` and commits the given files in one commit.
    @discardableResult
    func repository(_ name: String = "repo", files: [String: String]) throws -> String {
        try git("init", "-q", name)
        for (relative, content) in files { try write("\(name)/\(relative)", content) }
        try git("add", "-A", in: name)
        try git("commit", "-q", "-m", "initial", in: name)
        return path(name)
    }
}

struct GitCLIError: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    var description: String { "git \(arguments.joined(separator: " ")) exited with \(status)" }
}
