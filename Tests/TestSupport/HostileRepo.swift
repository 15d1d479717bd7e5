import Foundation

/// A finished run of a program with what it cost: wall time and the peak resident memory of
/// that one process.
public struct MeasuredResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
    /// The program's peak resident set size, in MiB.
    public let peakMiB: Double

    /// The output lines (stdout), without the empty last one.
    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs a program under `/usr/bin/time` (Debian package `time`, as bench/run does) and reads
/// its wall time and peak memory, for the "bounded time and memory" checks of hostile inputs.
///
/// The test process cannot measure its child itself: a child it spawns starts in a copy of
/// (or, with `posix_spawn`, in) the test process's address space, and Linux folds that
/// space's high-water mark into the child's `ru_maxrss` at `exec`, so every child would seem
/// as large as the test process. `time` forks from a small process.
public enum Measured {
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           scratch: Scratch) throws -> MeasuredResult {
        let figures = scratch.path("measured-\(UUID().uuidString)")
        let result = try Command.run("/usr/bin/time", ["-q", "-f", "%e %M", "-o", figures, executable] + arguments,
                                     environment: environment)
        let fields = try String(contentsOfFile: figures, encoding: .utf8).split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let seconds = Double(fields[0]), let kilobytes = Double(fields[1]) else {
            throw GitCLIError(arguments: ["/usr/bin/time printed no figures for \(executable)"], status: result.status)
        }
        return MeasuredResult(status: result.status, stdout: result.stdout, stderr: result.stderr, seconds: seconds,
                              peakMiB: kilobytes / 1024)
    }
}

extension Scratch {
    /// Commits `files` (repository-relative paths and contents) on top of HEAD of the repository
    /// `name`, without touching its working tree: the blobs through one `git fast-import`, the
    /// tree through the index. For trees far too large to write out and `git add`, such as
    /// 100,000 files in one directory (fast-import's own commits grow a directory quadratically).
    @discardableResult
    public func commitFiles(_ files: [(path: String, content: String)], in name: String, message: String) throws -> String {
        let marks = path("marks-\(UUID().uuidString)")
        let blobs = files.enumerated().map { index, file -> String in
            "blob\nmark :\(index + 1)\ndata \(file.content.utf8.count)\n\(file.content)\n"
        }.joined()
        try git("fast-import", "--quiet", "--export-marks=\(marks)", in: name, stdin: blobs)
        var ids: [String: String] = [:]
        for line in try String(contentsOfFile: marks, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ")
            ids[String(fields[0])] = String(fields[1])
        }
        let index = try files.enumerated().map { number, file -> String in
            guard let id = ids[":\(number + 1)"] else { throw GitCLIError(arguments: ["fast-import: no blob for \(file.path)"], status: 1) }
            return "100644 \(id)\t\(file.path)\n"
        }.joined()
        try git("update-index", "--index-info", in: name, stdin: index)
        let tree = try git("write-tree", in: name)
        let commit = try git("-c", "commit.gpgsign=false", "commit-tree", tree, "-p", "HEAD", "-m", message, in: name)
        try git("update-ref", "HEAD", commit, in: name)
        return commit
    }
}
