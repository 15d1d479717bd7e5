import Foundation

/// The fixture corpus of Tests/Fixtures and how one fixture becomes a repository.
///
/// Layout of `Tests/Fixtures/invalid/<name>/` (every file but `expected.txt` is optional):
/// - `overlay/`: files copied byte for byte over a copy of `Tests/Fixtures/base` (added or replaced);
/// - `remove`: one base-relative path per line, deleted before the overlay is copied;
/// - `generate`: lines `path<TAB>size<TAB>character`: after the overlay, the file at `path` is
///   (re)written as `size` copies of the single ASCII `character` (used for files too large to
///   keep in the repository, such as a 1.1 MB YAML file or a 300 KB skill file);
/// - `symlinks`: lines `path<TAB>target`: symbolic links created last;
/// - `submodules`: one path per line: in the git variant a gitlink (mode 160000) at that path;
///   in the directory variant a directory at that path holding an empty `.git` file;
/// - `expected.txt`: the exact diagnostic lines (`path:line:column: severity: message`),
///   sorted as the validator sorts them, each ending with a newline; no summary line;
/// - `schema`: used by the JSON Schema checks (Tests/schemas), ignored here.
/// In line-based files, empty lines and lines starting with `#` are skipped.
public struct Fixture: Sendable {
    /// The folder of the fixtures, found from this file's location.
    public static let fixturesRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/Tests/Fixtures"
    }()
    public static let projectRoot = URL(fileURLWithPath: fixturesRoot).deletingLastPathComponent().deletingLastPathComponent().path
    public static let basePath = fixturesRoot + "/base"
    public static let invalidPath = fixturesRoot + "/invalid"

    /// The names of every fixture folder under invalid/, sorted.
    public static let invalidNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: invalidPath)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(atPath: invalidPath + "/" + name, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted { sortKey($0) < sortKey($1) }
    }()

    /// Numbered fixtures in number order, then the others by name.
    private static func sortKey(_ name: String) -> (Int, String) {
        (Int(name.prefix { $0.isNumber }) ?? Int.max, name)
    }

    public let name: String
    public let path: String
    public let remove: [String]
    public let generate: [(path: String, size: Int, byte: UInt8)]
    public let symlinks: [(path: String, target: String)]
    public let submodules: [String]
    /// The raw text of expected.txt.
    public let expectedText: String

    public var expectedLines: [String] { Fixture.lines(expectedText, keepComments: true) }

    public init(_ name: String) throws {
        self.name = name
        path = Fixture.invalidPath + "/" + name
        remove = try Fixture.optionalLines(path + "/remove")
        symlinks = try Fixture.optionalLines(path + "/symlinks").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 2 else { throw FixtureError("\(name)/symlinks: expected 'path<TAB>target': \(line)") }
            return (fields[0], fields[1])
        }
        submodules = try Fixture.optionalLines(path + "/submodules")
        generate = try Fixture.optionalLines(path + "/generate").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, let size = Int(fields[1]), size >= 0,
                  fields[2].utf8.count == 1, let byte = fields[2].utf8.first, byte < 0x80 else {
                throw FixtureError("\(name)/generate: expected 'path<TAB>size<TAB>character': \(line)")
            }
            return (fields[0], size, byte)
        }
        let expectedPath = path + "/expected.txt"
        guard let data = FileManager.default.contents(atPath: expectedPath) else {
            throw FixtureError("\(name): expected.txt is missing")
        }
        expectedText = String(decoding: data, as: UTF8.self)
    }

    /// Builds the fixture's tree at `destination` (created): base, removals, overlay, generated
    /// files, symbolic links. Submodules are added separately (they differ per variant).
    public func buildTree(at destination: String) throws {
        try Fixture.copyTree(from: Fixture.basePath, to: destination)
        let fm = FileManager.default
        for relative in remove {
            let target = destination + "/" + relative
            guard (try? fm.attributesOfItem(atPath: target)) != nil else {
                throw FixtureError("\(name)/remove: '\(relative)' is not in the base")
            }
            try fm.removeItem(atPath: target)
        }
        if fm.fileExists(atPath: path + "/overlay") {
            try Fixture.copyTree(from: path + "/overlay", to: destination)
        }
        for file in generate {
            try Fixture.write(Data(repeating: file.byte, count: file.size), to: destination + "/" + file.path)
        }
        for link in symlinks {
            let target = destination + "/" + link.path
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: target, withDestinationPath: link.target)
        }
    }

    /// The directory variant of a submodule: a directory holding an empty `.git` file.
    public func addSubmoduleDirectories(in destination: String) throws {
        for submodule in submodules {
            try Fixture.write(Data(), to: destination + "/" + submodule + "/.git")
        }
    }

    /// Commits the tree in `scratch`'s folder `name` as a new repository, with a gitlink for
    /// each submodule. Git runs with a fixed identity and dates and HOME inside the scratch folder.
    public func commit(in scratch: Scratch, folder name: String) throws {
        try Fixture.commit(in: scratch, folder: name, gitlinks: submodules)
    }

    public static func commit(in scratch: Scratch, folder name: String, gitlinks: [String] = []) throws {
        try scratch.git("init", "-q", "-b", "main", in: name)
        try scratch.git("add", "-A", in: name)
        for path in gitlinks {
            try scratch.git("update-index", "--add", "--cacheinfo",
                            "160000,1111111111111111111111111111111111111111,\(path)", in: name)
        }
        try scratch.git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", "fixture", in: name)
    }

    // MARK: - Files

    /// Lines of a text, without empty lines; `#` lines are skipped unless `keepComments`.
    public static func lines(_ text: String, keepComments: Bool = false) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.isEmpty && (keepComments || !$0.hasPrefix("#")) }
    }

    public static func optionalLines(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return lines(String(decoding: data, as: UTF8.self))
    }

    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if (try? FileManager.default.attributesOfItem(atPath: path)) != nil {
            try FileManager.default.removeItem(atPath: path)
        }
        try data.write(to: url)
    }

    /// Copies the regular files and directories under `source` into `destination`, byte for
    /// byte, replacing files that exist. Anything else (a symbolic link) is refused: links are
    /// declared in `symlinks` so that they survive every checkout.
    public static func copyTree(from source: String, to destination: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
        guard let walker = fm.enumerator(atPath: source) else { throw FixtureError("cannot read \(source)") }
        while let relative = walker.nextObject() as? String {
            let from = source + "/" + relative, to = destination + "/" + relative
            let type = try fm.attributesOfItem(atPath: from)[.type] as? FileAttributeType
            switch type {
            case .typeDirectory?:
                try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
            case .typeRegular?:
                guard let data = fm.contents(atPath: from) else { throw FixtureError("cannot read \(from)") }
                try write(data, to: to)
            default:
                throw FixtureError("\(from): only regular files and directories may be copied")
            }
        }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A readable comparison of expected and actual diagnostic lines.
public func fixtureDiff(expected: [String], actual: [String]) -> String {
    var out = ["expected (\(expected.count) lines):"] + expected.map { "    " + $0 }
    out += ["actual (\(actual.count) lines):"] + actual.map { "    " + $0 }
    let missing = expected.filter { !actual.contains($0) }
    let unexpected = actual.filter { !expected.contains($0) }
    if !missing.isEmpty || !unexpected.isEmpty {
        out.append("diff:")
        out += missing.map { "  - " + $0 } + unexpected.map { "  + " + $0 }
    } else {
        out.append("diff: same lines, different order or count")
    }
    return out.joined(separator: "\n")
}
