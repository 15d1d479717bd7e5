import Reconciler
import Foundation
import Testing
import TestSupport

/// Every YAML example in docs/ is what it claims to be (issue 15, point 9): a repository
/// file (headed `# services/…`, `# users/…`, `# groups/…`, or `accessctl.yaml`'s
/// `version: 1`) validates inside a copy of examples/acme and is in canonical layout; a
/// server configuration parses; an example that shows an error (its comments say
/// "rejected" or "error") is rejected. Nothing is left unclassified.
@Suite("docs: every YAML example validates and is canonical")
struct DocsExamplesTests {
    struct Example: CustomStringConvertible {
        var file: String
        var line: Int
        var text: String
        var description: String { "docs/\(file):\(line)" }

        /// The first line, `# groups/finance.yaml` or `# groups/finance.yaml (excerpt)`.
        var header: Substring { text.prefix { $0 != "\n" } }

        /// An excerpt shows some keys of a file: they replace those of the acme file.
        var isExcerpt: Bool { header.hasSuffix(" (excerpt)") }

        /// `services/expenses.yaml` from a first line `# services/expenses.yaml`.
        var repositoryPath: String? {
            var first = header
            if isExcerpt { first = first.dropLast(" (excerpt)".count) }
            guard first.hasPrefix("# "), first.hasSuffix(".yaml") else { return nil }
            let path = String(first.dropFirst(2))
            let parts = path.split(separator: "/")
            if parts.count == 1, path.hasPrefix("yaml-language-server: $schema=../.schemas/user.schema.json") {
                return nil
            }
            guard parts.count == 2, ["services", "users", "groups", "catalogs"].contains(parts[0]) else { return nil }
            return path
        }

        /// A file of a new user, shown for its modeline.
        var isUserModeline: Bool { header == "# yaml-language-server: $schema=../.schemas/user.schema.json" }

        /// Top-level keys (lines starting with a letter and a colon).
        var keys: Set<String> {
            Set(text.split(separator: "\n").compactMap { line -> String? in
                guard let first = line.first, first.isLetter, let colon = line.firstIndex(of: ":") else { return nil }
                return String(line[..<colon])
            })
        }

        /// The example shows input that is refused.
        var showsAnError: Bool { text.contains("# rejected") || text.contains("error,") || text.contains(": error") }
    }

    static let serverKeys: Set = ["repository", "remote", "branch", "database", "helper", "allowed_signers", "guards", "http",
                                  "secret_origins"]
    static let serviceKeys: Set = ["name", "description", "token_exchange_url", "token_revoke_url", "health_url", "env_var",
                                   "secret_env", "skill", "ttl_days", "key_prefix", "enabled"]
    /// Examples of other tools' files, not accessctl's.
    static let foreign: Set = ["docs/ci.md:331"]

    static func examples() throws -> [Example] {
        let docs = Project.root + "/docs"
        var result: [Example] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: docs).sorted() where file.hasSuffix(".md") {
            let lines = try String(contentsOfFile: docs + "/" + file, encoding: .utf8).components(separatedBy: "\n")
            var index = 0
            while index < lines.count {
                if lines[index] == "```yaml" {
                    let start = index + 1
                    var end = start
                    while end < lines.count, lines[end] != "```" { end += 1 }
                    result.append(Example(file: file, line: index + 1, text: lines[start..<end].joined(separator: "\n") + "\n"))
                    index = end
                }
                index += 1
            }
        }
        return result
    }

    /// `base` with each top-level key of `excerpt` (its line and the indented or comment
    /// lines under it) in place of the same key's block; new keys go at the end.
    static func merge(_ excerpt: String, into base: String) -> String {
        func blocks(_ text: String) -> (preamble: [String], blocks: [(key: String, lines: [String])]) {
            var preamble: [String] = [], blocks: [(key: String, lines: [String])] = []
            for line in text.components(separatedBy: "\n") {
                if let first = line.first, first.isLetter, let colon = line.firstIndex(of: ":") {
                    blocks.append((String(line[..<colon]), [line]))
                } else if blocks.isEmpty {
                    preamble.append(line)
                } else {
                    blocks[blocks.count - 1].lines.append(line)
                }
            }
            return (preamble, blocks)
        }
        var merged = blocks(base)
        for block in blocks(excerpt).blocks {
            let lines = block.lines.last == "" ? Array(block.lines.dropLast()) : block.lines
            if let index = merged.blocks.firstIndex(where: { $0.key == block.key }) {
                let trailing = merged.blocks[index].lines.last == "" ? [""] : []
                merged.blocks[index].lines = lines + trailing
            } else {
                merged.blocks.append((block.key, lines))
            }
        }
        return (merged.preamble + merged.blocks.flatMap(\.lines)).joined(separator: "\n")
    }

    static func accessctl(_ arguments: String...) throws -> CommandResult {
        try Command.run(Project.accessctl, arguments, environment: ["NO_COLOR": "1"])
    }

    @Test("repository files: valid in examples/acme (or rejected where the example says so) and canonical")
    func repositoryFiles() throws {
        let examples = try Self.examples().filter { $0.repositoryPath != nil || $0.keys.contains("version") || $0.isUserModeline }
        #expect(examples.count >= 9, "\(examples)")
        for example in examples {
            try Scratch.with { scratch in
                let repo = try scratch.copyTree(Project.root + "/examples/acme", to: "repo")
                let path = example.repositoryPath ?? (example.isUserModeline ? "users/docs-example.yaml" : "accessctl.yaml")
                if example.isExcerpt {
                    let base = try String(contentsOfFile: repo + "/" + path, encoding: .utf8)
                    try scratch.write("repo/" + path, Self.merge(String(example.text.drop { $0 != "\n" }.dropFirst()), into: base))
                } else {
                    try scratch.write("repo/" + path, example.text)
                }
                // A service example gets the skill file it names (or its default), beside it.
                if path.hasPrefix("services/") {
                    let id = String(path.dropFirst("services/".count).dropLast(".yaml".count))
                    let skill = example.text.split(separator: "\n").first { $0.hasPrefix("skill: ") }
                        .map { String($0.dropFirst(7).prefix { $0 != " " }) } ?? "\(id).md"
                    if !FileManager.default.fileExists(atPath: repo + "/services/" + skill) {
                        try scratch.write("repo/services/" + skill, "# \(id)\n")
                    }
                }
                let validate = try Self.accessctl("validate", "--repo", repo)
                if example.showsAnError {
                    #expect(validate.status == 1, "\(example) shows an error, but validates: \(validate.stdout)")
                    #expect(validate.stdout.contains(path + ":"), "\(example): \(validate.stdout)")
                    return
                }
                #expect(validate.status == 0, "\(example) does not validate:\n\(validate.stdout)\(validate.stderr)")
                let fmt = try Self.accessctl("fmt", "--check", "--diff", "--repo", repo)
                #expect(fmt.status == 0, "\(example) is not in canonical layout:\n\(fmt.stdout)\(fmt.stderr)")
            }
        }
    }

    @Test("server configurations parse")
    func serverConfigurations() throws {
        let examples = try Self.examples().filter { !$0.keys.isEmpty && $0.keys.isSubset(of: Self.serverKeys) }
        #expect(examples.count >= 3, "\(examples)")
        for example in examples {
            #expect(throws: Never.self, "\(example)") { _ = try ServerConfig.parse(Array(example.text.utf8), path: "config.yaml") }
        }
    }

    @Test("every example is classified: a repository file, a server configuration, a service fragment, or an error shown")
    func everyExampleIsClassified() throws {
        for example in try Self.examples() {
            let known = example.repositoryPath != nil || example.keys.contains("version") || example.isUserModeline
                || example.keys.isSubset(of: Self.serverKeys) || example.keys.isSubset(of: Self.serviceKeys)
                || example.showsAnError || Self.foreign.contains(example.description)
            #expect(known, "\(example) is a YAML example the docs test does not check: head it with its path (# users/x.yaml)")
        }
    }
}
