import Foundation

/// The outcome of running a program to completion.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs programs for end-to-end tests: the built executables, git, cp.
public enum Command {
    /// Runs `executable` with `arguments`, feeding `stdin`, and collects both output streams.
    /// `environment` entries are added to (and override) the test process's environment.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           stdin: String = "", in directory: String? = nil,
                           createDirectory: String? = nil) throws -> CommandResult {
        if let createDirectory {
            try FileManager.default.createDirectory(atPath: createDirectory, withIntermediateDirectories: true)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        // Read stderr on another thread so a chatty child never blocks on a full pipe.
        let errorBox = DataBox()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            errorBox.data = errors.fileHandleForReading.readDataToEndOfFile()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errorData = errorBox.data
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: outputData, as: UTF8.self),
                             stderr: String(decoding: errorData, as: UTF8.self))
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// Paths of the project, found from this source file's location.
public enum Project {
    /// The repository root (the folder holding Package.swift).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The folder holding the built products (the test bundle sits beside them).
    public static let products: String = {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }()

    /// The built `accessctl` executable.
    public static var accessctl: String { products + "/accessctl" }

    /// The same command line with the test crash points (Tests/FaultHarness): what a test
    /// runs when it sets `ACCESSCTL_FAULT`.
    public static var accessctlFaults: String { products + "/accessctl-faults" }

    /// `accessctlFaults` when `environment` asks for a crash point, else `accessctl`.
    public static func accessctl(for environment: [String: String]) -> String {
        environment["ACCESSCTL_FAULT"] == nil ? accessctl : accessctlFaults
    }
}
