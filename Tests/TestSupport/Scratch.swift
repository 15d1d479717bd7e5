import Foundation

/// A temporary directory in which tests build repositories with the git CLI.
///
/// Git runs with a fixed identity and dates, and with HOME pointing into the
/// scratch directory so that no global configuration applies.
public struct Scratch {
    public let root: String

    public static let authorDate = "1700000000 +0200"
    public static let committerDate = "1700000100 -0130"

    /// Runs `body` with a fresh scratch directory, removed afterwards.
    public static func with<R>(_ body: (Scratch) throws -> R) throws -> R {
        let scratch = try make()
        defer { try? FileManager.default.removeItem(atPath: scratch.root) }
        return try body(scratch)
    }

    /// ``with(_:)`` for a body that awaits.
    public static func with<R>(_ body: (Scratch) async throws -> R) async throws -> R {
        let scratch = try make()
        defer { try? FileManager.default.removeItem(atPath: scratch.root) }
        return try await body(scratch)
    }

    /// A new, empty directory under the temporary directory.
    private static func make() throws -> Scratch {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("accessctl-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return Scratch(root: root)
    }

    /// The absolute path of `relative` inside the scratch directory.
    public func path(_ relative: String) -> String { root + "/" + relative }

    /// Runs git in `directory` (relative to the root) and returns its trimmed stdout.
    @discardableResult
    public func git(_ arguments: String..., in directory: String = "", stdin: String? = nil) throws -> String {
        try git(arguments, in: directory, stdin: stdin)
    }

    /// Runs git with an argument array; see ``git(_:in:stdin:)-variadic``.
    @discardableResult
    public func git(_ arguments: [String], in directory: String = "", stdin: String? = nil) throws -> String {
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
    public func write(_ relative: String, _ content: String, executable: Bool = false) throws {
        try write(relative, Array(content.utf8), executable: executable)
    }

    /// Writes a file of raw bytes, creating intermediate directories.
    public func write(_ relative: String, _ bytes: [UInt8], executable: Bool = false) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
    }

    /// Creates a repository `name` and commits the given files in one commit.
    @discardableResult
    public func repository(_ name: String = "repo", files: [String: String]) throws -> String {
        try git("init", "-q", name)
        for (relative, content) in files { try write("\(name)/\(relative)", content) }
        try git("add", "-A", in: name)
        try git("commit", "-q", "-m", "initial", in: name)
        return path(name)
    }

    /// Copies the directory tree at `source` (an absolute path) to `name` in the scratch
    /// directory, byte for byte and keeping symbolic links, and returns the copy's path.
    @discardableResult
    public func copyTree(_ source: String, to name: String) throws -> String {
        let result = try Command.run("/bin/cp", ["-a", source + "/.", path(name)], createDirectory: path(name))
        guard result.status == 0 else { throw GitCLIError(arguments: ["cp", source], status: result.status) }
        return path(name)
    }

    /// Turns the directory `name` into a git repository with one commit of everything in it.
    public func commitAll(in name: String, message: String = "initial") throws {
        try git("init", "-q", in: name)
        try git("add", "-A", in: name)
        try git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message, in: name)
    }
}

public struct GitCLIError: Error, CustomStringConvertible {
    public let arguments: [String]
    public let status: Int32
    public var description: String { "git \(arguments.joined(separator: " ")) exited with \(status)" }
}
