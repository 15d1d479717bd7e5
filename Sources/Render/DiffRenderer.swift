import AccessModel
import Foundation

/// Renders a `DesiredDiff` (`accessctl diff`): text for terminals and CI logs, JSON
/// (`schemas/diff.schema.json`), and Markdown parts for a pull-request comment.
///
/// Every form starts with the one-line summary (`3 users gain access, 1 loses; 2 keys to
/// issue, 1 to revoke.`), then the effective-access change per user, then the plan actions
/// exactly as `plan` renders them. Values pass through `escapingControlCharacters`.
public enum DiffRenderer {
    /// `3 users gain access, 1 loses; 2 keys to issue, 1 to revoke.` or
    /// `No access changes between the two commits.` (a diff compares two commits; it has no
    /// live state to match).
    public static func summaryLine(_ diff: DesiredDiff) -> String {
        guard diff.hasChanges else { return "No access changes between the two commits." }
        let s = diff.summary
        return "\(s.usersGaining) \(s.usersGaining == 1 ? "user gains" : "users gain") access, "
            + "\(s.usersLosing) \(s.usersLosing == 1 ? "loses" : "lose"); "
            + "\(s.keysToIssue) \(s.keysToIssue == 1 ? "key" : "keys") to issue, \(s.keysToRevoke) to revoke."
    }

    // MARK: Text

    public static func text(_ diff: DesiredDiff, color: Bool) -> String {
        let style = PlanRenderer.Style(enabled: color)
        var out = style.bold("accessctl diff: base " + side(diff.base) + " -> head " + side(diff.head)) + "\n"
        out += summaryLine(diff) + "\n"
        if !diff.users.isEmpty {
            out += "\n" + style.bold("Effective access:") + "\n"
            for user in diff.users {
                out += "\n  " + style.bold(user.user.escapingControlCharacters) + (user.change == "changed" ? "" : " (\(user.change))") + "\n"
                for line in accessLines(user) {
                    let colour: PlanRenderer.Colour = line.hasPrefix("+") ? .green : .red
                    out += "    " + style.paint(String(line.prefix(1)), colour) + String(line.dropFirst()) + "\n"
                }
            }
        }
        out += "\n" + style.bold("Actions:") + "\n"
        out += diff.plan.actions.isEmpty ? "  (none)\n" : PlanRenderer.textBody(diff.plan, style: style)
        return out
    }

    /// `main (commit 1a2b3c4d5e6f)`, or just the commit when the ref is one.
    private static func side(_ side: DesiredDiff.Side) -> String {
        guard let commit = shownCommit(side) else { return side.ref.escapingControlCharacters }
        return side.ref.escapingControlCharacters + " (commit " + commit.escapingControlCharacters + ")"
    }

    /// The commit to show beside the ref: its first 12 digits, or nil when the ref is
    /// already (a prefix of) the commit id.
    private static func shownCommit(_ side: DesiredDiff.Side) -> String? {
        guard let commit = side.commit, !(side.ref.count >= 7 && commit.hasPrefix(side.ref.lowercased())) else { return nil }
        return String(commit.prefix(12))
    }

    /// One line per change of a user: `+ service invoicing  (via finance)`, `+ key invoicing  (to issue)`.
    static func accessLines(_ user: DesiredDiff.UserChange) -> [String] {
        var lines: [String] = []
        for grant in user.gained { lines.append("+ " + describe(grant)) }
        for grant in user.lost { lines.append("- " + describe(grant)) }
        for service in user.keysToIssue { lines.append("+ key " + service.escapingControlCharacters + "  (to issue)") }
        for service in user.keysToRevoke { lines.append("- key " + service.escapingControlCharacters + "  (to revoke)") }
        return lines
    }

    private static func describe(_ grant: DesiredDiff.Grant) -> String {
        (grant.type + " " + grant.resource).escapingControlCharacters
            + "  (via " + grant.via.joined(separator: ", ").escapingControlCharacters + ")"
    }

    // MARK: JSON

    /// The document of `schemas/diff.schema.json`.
    public static func json(_ diff: DesiredDiff) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let document = Document(base: diff.base, head: diff.head,
                                summary: .init(counts: diff.summary, line: summaryLine(diff), hasChanges: diff.hasChanges),
                                users: diff.users, plan: PlanRenderer.document(diff.plan))
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private struct Document: Encodable {
        struct Summary: Encodable {
            var counts: DesiredDiff.Summary
            var line: String
            var hasChanges: Bool

            func encode(to encoder: any Encoder) throws {
                try counts.encode(to: encoder)
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(line, forKey: .line)
                try c.encode(hasChanges, forKey: .hasChanges)
            }

            enum CodingKeys: String, CodingKey {
                case line
                case hasChanges = "has_changes"
            }
        }

        var formatVersion = 1
        var base: DesiredDiff.Side
        var head: DesiredDiff.Side
        var summary: Summary
        var users: [DesiredDiff.UserChange]
        var plan: PlanRenderer.Document

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(SideDocument(base), forKey: .base)
            try c.encode(SideDocument(head), forKey: .head)
            try c.encode(summary, forKey: .summary)
            try c.encode(users, forKey: .users)
            try c.encode(plan, forKey: .plan)
        }

        enum CodingKeys: String, CodingKey {
            case base, head, summary, users, plan
            case formatVersion = "format_version"
        }
    }

    /// A side with an explicit `null` commit.
    private struct SideDocument: Encodable {
        var side: DesiredDiff.Side
        init(_ side: DesiredDiff.Side) { self.side = side }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: DesiredDiffSideKeys.self)
            try c.encode(side.ref, forKey: .ref)
            try c.encode(side.commit, forKey: .commit)
        }
    }

    private enum DesiredDiffSideKeys: String, CodingKey { case ref, commit }

    // MARK: Markdown

    /// The diff as Markdown parts for a pull-request comment, each under `maxPartLength`
    /// UTF-8 bytes: the summary line in bold, a line naming both commits and the plan's
    /// summary, then collapsible sections: "Effective access" (a `diff` block per user, `@@`
    /// line first), then the plan's sections as `plan --format markdown` shows them. Split
    /// and escaped like the plan (see `PlanRenderer.markdown`).
    public static func markdown(_ diff: DesiredDiff, maxPartLength: Int = 60_000) -> [String] {
        func describe(_ side: DesiredDiff.Side) -> String {
            PlanRenderer.codeSpan(side.ref.count > 40 ? String(side.ref.prefix(40)) : side.ref)
                + (shownCommit(side).map { " " + PlanRenderer.codeSpan($0) } ?? "")
        }
        let actions = diff.plan.summary.hasChanges ? PlanRenderer.summaryLine(diff.plan.summary) : "no actions"
        let meta = "Base " + describe(diff.base) + " → head " + describe(diff.head) + " · " + actions
        return PlanRenderer.markdownParts(summary: "**" + summaryLine(diff) + "**", meta: meta, maxPartLength: maxPartLength) { lineCap in
            var sections: [PlanRenderer.MarkdownSection] = []
            if !diff.users.isEmpty {
                let s = diff.summary
                var counts = ["\(diff.users.count) user\(diff.users.count == 1 ? "" : "s")"]
                if s.usersGaining > 0 { counts.append("\(s.usersGaining) gain") }
                if s.usersLosing > 0 { counts.append("\(s.usersLosing) lose") }
                let blocks = diff.users.map { user in
                    (["@@ " + user.user.escapingControlCharacters + (user.change == "changed" ? "" : " (\(user.change))") + " @@"]
                        + accessLines(user)).map { PlanRenderer.truncated($0, to: lineCap) }
                }
                sections.append(.init(title: "Effective access: " + counts.joined(separator: ", "), blocks: blocks))
            }
            return sections + PlanRenderer.markdownSections(diff.plan, lineCap: lineCap)
        }
    }
}
