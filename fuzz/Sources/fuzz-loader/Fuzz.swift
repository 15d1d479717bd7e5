import DesiredRepo
import RepoFormat
import AccessModel
import FuzzDriver

/// One input: a whole repository in a small text archive (``ArchiveSource``). It is loaded
/// and validated as `accessctl validate` does; a valid one is also planned against an empty
/// server, and every YAML file goes through `fmt`, twice: the second run must leave the
/// first one's result as it is. None of it may crash, hang or grow without bound, whatever
/// the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let source = ArchiveSource(bytes)
    guard let result = try? DesiredStateLoader.load(from: source) else { return 0 }
    if let state = result.state {
        _ = Planner.plan(PlanInput(desired: state, live: LiveState(), homes: HomeObservations(), now: 0))
    }
    for entry in source.files where entry.path.hasSuffix(".yaml") {
        // What fmt writes, fmt leaves as it is: a second run that changed it again is a bug.
        if case .formatted(let once) = FileFormatter.format(source.contents[entry.path] ?? [], path: entry.path),
           FileFormatter.format(once, path: entry.path) != .formatted(once) {
            fatalError("fmt is not idempotent on \(entry.path)")
        }
    }
    return 0
}

/// A repository revision held in memory, read from an archive of the form
///
///     === accessctl.yaml
///     version: 1
///     === users/ana.yaml
///     ...
///
/// Each `=== PATH` line starts a file; everything up to the next such line is its content
/// (`fuzz/seeds.py` writes seeds in this form).
/// `=== @link PATH` makes a symbolic link and `=== @module PATH` a submodule, so that the
/// fuzzer reaches the loader's refusals of both. Bytes before the first marker are ignored.
/// As every ``RepoSource`` does, it lists entries sorted by path without dot-paths.
final class ArchiveSource: RepoSource {
    let origin = RepoOrigin.directory(path: "fuzz")
    private(set) var files: [RepoEntry] = []
    private(set) var contents: [String: [UInt8]] = [:]

    init(_ bytes: [UInt8]) {
        let marker: [UInt8] = Array("\n=== ".utf8)
        var starts: [Int] = []
        if bytes.starts(with: marker.dropFirst()) { starts.append(marker.count - 1) }
        var i = 0
        while i + marker.count <= bytes.count {
            if bytes[i] == marker[0], bytes[i..<(i + marker.count)].elementsEqual(marker) {
                starts.append(i + marker.count)
                i += marker.count
            } else {
                i += 1
            }
        }
        var entries: [String: RepoEntry] = [:]
        for (n, start) in starts.enumerated() {
            // A file's content keeps its last newline: the next marker starts after it.
            let end = n + 1 < starts.count ? starts[n + 1] - marker.count + 1 : bytes.count
            let lineEnd = bytes[start..<max(start, end)].firstIndex(of: 0x0A) ?? max(start, end)
            var path = String(decoding: bytes[start..<lineEnd], as: UTF8.self)
            var kind = RepoEntryKind.regular
            for (prefix, k) in [("@link ", RepoEntryKind.symlink), ("@module ", .submodule)] where path.hasPrefix(prefix) {
                path.removeFirst(prefix.count)
                kind = k
            }
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            guard !path.isEmpty, !components.contains(where: { $0.isEmpty || $0.hasPrefix(".") }) else { continue }
            let body = lineEnd < end ? Array(bytes[(lineEnd + 1)..<end]) : []
            entries[path] = RepoEntry(path: path, kind: kind, size: body.count)
            contents[path] = body
        }
        files = entries.values.sorted { $0.path < $1.path }
    }

    func entries() throws(RepoReadError) -> [RepoEntry] { files }

    func size(of entry: RepoEntry) throws(RepoReadError) -> Int { contents[entry.path]?.count ?? 0 }

    func read(_ entry: RepoEntry) throws(RepoReadError) -> [UInt8] {
        guard entry.kind == .regular, let body = contents[entry.path] else { throw RepoReadError("not a file: \(entry.path)") }
        return body
    }
}

/// The executable's entry point: libFuzzer drives ``fuzzLoader``.
@_cdecl("fuzz_loader_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzLoader)
}
