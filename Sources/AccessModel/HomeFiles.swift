import Digest

/// The exact content of the managed home files, shared by the planner (which compares
/// digests) and apply (which writes them).
public enum HomeFiles {
    /// The first line of every `~/.service_env`.
    public static let serviceEnvHeader = "# Managed by accessctl; local edits are overwritten."

    /// `~/.service_env`: the header, then `NAME='key'` per connection, sorted by name.
    /// Keys are checked at exchange time against a character set without quotes or
    /// whitespace, so single quotes make each value literal for any shell.
    public static func serviceEnv(_ entries: [(variable: String, key: Secret)]) -> String {
        var text = serviceEnvHeader + "\n"
        for entry in entries.sorted(by: { $0.variable < $1.variable }) {
            text += "\(entry.variable)='\(entry.key.revealed)'\n"
        }
        return text
    }

    /// The entries of the `.service_env` that `connections` (one user's live rows) gave when
    /// accessctl wrote it: the active ones with a key, under their live service's variable.
    public static func lastWritten(_ connections: [LiveConnection], services: [String: LiveService])
        -> [(variable: String, key: Secret)] {
        connections.compactMap { connection in
            guard connection.status == .active, let key = connection.apiKey,
                  let service = services[connection.service] else { return nil }
            return (service.envVar, key)
        }
    }

    /// The name of a service's skill file in `~/.claude_rules`.
    public static func skillFile(_ service: String) -> String { "sc_\(service).md" }

    /// The service id of a managed skill file name, if it is one.
    public static func service(ofSkillFile name: String) -> String? {
        guard name.hasPrefix("sc_"), name.hasSuffix(".md"), name.count > 6 else { return nil }
        return String(name.dropFirst(3).dropLast(3))
    }

    /// SHA-256 (64 hex) of a text's UTF-8 bytes.
    public static func sha256(_ text: String) -> String { SHA256.hex(text.utf8) }
}
