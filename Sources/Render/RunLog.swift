import AccessModel
import Foundation
import LiveStore

/// Renders `accessctl log`: runs, newest first, with their audit rows.
public enum RunLog {
    public static func render(_ runs: [(LiveRun, [LiveAuditEntry])], json: Bool) -> String {
        json ? renderJSON(runs) : renderText(runs)
    }

    static func time(_ seconds: Int64?) -> String {
        guard let seconds else { return "-" }
        return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    static func renderText(_ runs: [(LiveRun, [LiveAuditEntry])]) -> String {
        if runs.isEmpty { return "No runs recorded yet.\n" }
        var out = ""
        for (run, entries) in runs {
            let counts = run.counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            out += "run \(run.id ?? 0)  \(time(run.startedAt))  \(resultText(run.result))"
            out += "  commit \(run.commit.map { String($0.prefix(12)) } ?? "-")"
            if let author = run.author { out += "  by \(author.escapingControlCharacters)" }
            out += "\n"
            if run.result.isRefusal, let message = run.message { out += "  \(message.escapingControlCharacters)\n" }
            if !counts.isEmpty { out += "  " + counts.joined(separator: ", ") + "\n" }
            for entry in entries {
                out += "  \(entry.action.padding(toLength: 11, withPad: " ", startingAt: 0)) \(entry.address.escapingControlCharacters)"
                if let detail = entry.detail { out += "  (\(detail.escapingControlCharacters))" }
                out += "\n"
            }
        }
        return out
    }

    /// `refused by the mass-removal guard`, or the stored result.
    public static func resultText(_ result: RunResult) -> String {
        switch result {
        case .refused(let refusal?): "refused by " + refusal.title
        case .unknown(let text): text.escapingControlCharacters
        default: result.stored
        }
    }

    struct RunJSON: Encodable {
        struct Entry: Encodable {
            var at: String
            var action: String
            var address: String
            var detail: String?
            var actor: String?
        }
        var id: Int64?
        var commit: String?
        var author: String?
        var started_at: String
        var finished_at: String
        var result: String
        /// For a refused run: the guard (`mass-removal`, `fast-forward`, `signature`, ...).
        var refused_by: String?
        var message: String?
        var counts: [String: Int]
        var actions: [Entry]
    }

    static func renderJSON(_ runs: [(LiveRun, [LiveAuditEntry])]) -> String {
        let documents = runs.map { run, entries in
            RunJSON(id: run.id, commit: run.commit, author: run.author, started_at: time(run.startedAt),
                    finished_at: time(run.finishedAt), result: run.result.stored,
                    refused_by: LiveStoreWriter.refusedBy(run.result),
                    message: run.message, counts: run.counts,
                    actions: entries.map { .init(at: time($0.at), action: $0.action, address: $0.address, detail: $0.detail, actor: $0.actor) })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(["runs": documents])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
