import DesiredRepo
import AccessModel
import Foundation
import Testing
import TestSupport

/// The invalid-repository corpus of Tests/Fixtures (layout: see `Fixture`).
///
/// Each fixture is built as a plain directory and as a git commit; both must produce exactly
/// the lines of its expected.txt and no desired state.
/// With ACCESSCTL_UPDATE_GOLDEN=1 the fixture test rewrites each expected.txt from the
/// directory variant instead of comparing; review the diff before committing it.
private let updateGoldenFiles = ProcessInfo.processInfo.environment["ACCESSCTL_UPDATE_GOLDEN"] == "1"

@Suite("Fixture corpus")
struct FixtureTests {
    @Test("invalid fixture", arguments: Fixture.invalidNames)
    func invalidFixture(_ name: String) throws {
        let fixture = try Fixture(name)
        #expect(fixture.expectedText.hasSuffix("\n"), "\(name)/expected.txt must end with a newline")
        let expected = fixture.expectedLines
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try fixture.buildTree(at: repo)
            // Commit first: the directory variant's submodule folders (with their `.git` file)
            // must not reach git, and the `.git` folder of the repository is a dot-path either way.
            try fixture.commit(in: scratch, folder: "repo")
            try fixture.addSubmoduleDirectories(in: repo)

            let fromDirectory = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            if updateGoldenFiles {
                let text = fromDirectory.diagnostics.map { $0.description + "\n" }.joined()
                try Data(text.utf8).write(to: URL(fileURLWithPath: fixture.path + "/expected.txt"))
                return
            }
            check(fromDirectory, expected: expected, fixture: name, variant: "directory")

            let fromGit = try DesiredStateLoader.load(from: GitTreeSource(path: repo, ref: "HEAD"))
            check(fromGit, expected: expected, fixture: name, variant: "git")
        }
    }

    private func check(_ result: LoadResult, expected: [String], fixture: String, variant: String) {
        let actual = result.diagnostics.map(\.description)
        #expect(actual == expected, "\(fixture) (\(variant)):\n\(fixtureDiff(expected: expected, actual: actual))")
        #expect(result.state == nil, "\(fixture) (\(variant)): loaded as valid")
    }

    @Test("the corpus is complete and well-formed")
    func corpusShape() throws {
        let names = Fixture.invalidNames
        #expect(names.count >= 40, "only \(names.count) fixtures")
        for name in names {
            let numbered = name.range(of: #"^[0-9]{2,}-[a-z0-9]+(-[a-z0-9]+)*$"#, options: .regularExpression) != nil
            #expect(numbered || name.hasPrefix("schema-"), "\(name): fixture names are NN-short-name")
            let fixture = try Fixture(name)
            #expect(!fixture.expectedLines.isEmpty, "\(name)/expected.txt is empty")
            #expect(fixture.expectedLines.contains { $0.contains(": error: ") }, "\(name) expects no error")
            for line in fixture.expectedLines {
                #expect(line.range(of: #"^[^:]+:[0-9]+:[0-9]+: (error|warning): .+$"#, options: .regularExpression) != nil,
                        "\(name)/expected.txt: not a diagnostic line: \(line)")
            }
            let hasChange = FileManager.default.fileExists(atPath: fixture.path + "/overlay")
                || !fixture.remove.isEmpty || !fixture.symlinks.isEmpty || !fixture.submodules.isEmpty
                || !fixture.generate.isEmpty
            #expect(hasChange, "\(name) changes nothing in the base")
        }
        // Numbers are unique, so each fixture can be named by its number alone.
        let numbers = names.compactMap { name in Int(name.prefix { $0.isNumber }) }
        #expect(Set(numbers).count == numbers.count, "two fixtures share a number")
    }

    @Test("valid repositories load from a directory and from git",
          arguments: ["Tests/Fixtures/base", "examples/acme"])
    func validRepository(_ relative: String) throws {
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try Fixture.copyTree(from: Fixture.projectRoot + "/" + relative, to: repo)
            try Fixture.commit(in: scratch, folder: "repo")
            try expectValid(DesiredStateLoader.load(from: DirectorySource(path: repo)), relative + " (directory)")
            try expectValid(DesiredStateLoader.load(from: GitTreeSource(path: repo, ref: "HEAD")), relative + " (git)")
        }
    }

    /// Variants of the base that the rules accept; the boundary cases of the invalid corpus.
    static let validVariants: [(name: String, files: [String: [UInt8]])] = [
        ("dot-paths are ignored", [
            ".github/workflows/ci.yaml": Array("on: [push\n".utf8),
            ".yamllint.yml": Array("rules: {}\n".utf8),
            "services/.draft.yaml": Array("not: [valid\n".utf8),
            "users/.old/x.yaml": Array("\u{FEFF}bad".utf8),
        ]),
        ("non-YAML files are ignored", [
            "README.md": Array("# Access\n".utf8),
            "CODEOWNERS": Array("* @admins\n".utf8),
            "users/notes.txt": [0xFF, 0x00, 0xFE],
        ]),
        ("CRLF line endings", [
            "users/erin.yaml": Array("email: erin@example.com\r\nactive: false\r\n".utf8),
        ]),
    ]

    @Test("accepted variants of the base", arguments: validVariants.indices)
    func validVariant(_ index: Int) throws {
        let variant = Self.validVariants[index]
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try Fixture.copyTree(from: Fixture.basePath, to: repo)
            for (path, bytes) in variant.files { try Fixture.write(Data(bytes), to: repo + "/" + path) }
            try Fixture.commit(in: scratch, folder: "repo")
            try expectValid(DesiredStateLoader.load(from: DirectorySource(path: repo)), variant.name + " (directory)")
            try expectValid(DesiredStateLoader.load(from: GitTreeSource(path: repo, ref: "HEAD")), variant.name + " (git)")
        }
    }

    private func expectValid(_ result: LoadResult, _ label: String) {
        let errors = result.diagnostics.filter { $0.severity == .error }.map(\.description)
        #expect(errors.isEmpty, "\(label):\n\(errors.joined(separator: "\n"))")
        #expect(result.state != nil, "\(label): no desired state")
    }
}
