import Foundation
import Testing
import TestSupport

/// The configuration files shipped in examples/ are checked with the tools that will read them.
@Suite("Shipped examples")
struct ShippedExamplesTests {
    private static let sudoers = Project.root + "/examples/sudoers/accessctl"

    @Test("the sudoers snippet parses with visudo -cf")
    func sudoersParses() throws {
        let visudo = ["/usr/sbin/visudo", "/sbin/visudo"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let path = try #require(visudo, "visudo is missing: scripts/test installs the sudo package")
        let result = try Command.run(path, ["-cf", Self.sudoers])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("parsed OK"))
    }

    @Test("the sudoers snippet allows exactly the two verbs of the helper, without a password")
    func sudoersAllowsExactlyTwoCommands() throws {
        let text = try String(contentsOfFile: Self.sudoers, encoding: .utf8)
        let rules = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let joined = rules.joined(separator: "\n").replacingOccurrences(of: "\\\n", with: " ")
        let commands = joined.components(separatedBy: "/usr/local/sbin/install-service-env").dropFirst()
            .map { $0.split(whereSeparator: { $0 == "," || $0 == "\n" }).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        #expect(commands == ["inspect", "apply"])
        #expect(joined.contains("accessctl ALL = (root) NOPASSWD: ACCESSCTL_HELPER"))
        #expect(!joined.contains("ALL = (ALL)") && !joined.contains("*"))
    }
}
