import AccessModel

extension PlanRenderer {
    /// The plan as Markdown for pull-request comments, in one or more parts.
    ///
    /// Each part starts with the summary line in bold (`(part 2 of 3)` after it when there are
    /// several parts) and a line naming the commit and digests; then one collapsible
    /// `<details>` section per non-empty category, in this order: Registry (services, users,
    /// groups), Memberships & grants, Keys (connect, rotate, disconnect), Home files, Conflicts
    /// & drift. A section is a `diff` fenced block: the action line with the same symbol and
    /// wording as `text`, then its fields as `+` (set), `-` (old value) lines.
    ///
    /// Hostile values cannot escape: control characters (newlines included) are escaped, so
    /// every value stays inside its line, and every line inside a block starts with a symbol
    /// or a space followed by more than three spaces, so none can close the fence; inside a
    /// fenced block `|`, `<`, `>` and backticks are plain text. The values outside blocks (commit,
    /// digests) are in code spans whose delimiters are longer than any backtick run inside.
    ///
    /// Parts are split between sections, or for a section too long for one part, between its
    /// lines, closing the fence and `<details>` at the end of a part and reopening them
    /// (`(continued)`) in the next. Each part is shorter than `maxPartLength` counted in UTF-8
    /// bytes (never fewer than characters however counted); values below 4,000 are raised to
    /// 4,000. A line longer than about 2,000 bytes is cut with ` … (truncated)`: the text and
    /// JSON forms keep it whole. The output depends only on the plan.
    public static func markdown(_ plan: Plan, maxPartLength: Int = 60_000) -> [String] {
        markdownParts(summary: "**" + summaryLine(plan.summary) + "**", meta: metaLine(plan),
                      maxPartLength: maxPartLength) { markdownSections(plan, lineCap: $0) }
    }

    /// Parts of at most `maxPartLength` UTF-8 bytes, each starting with `summary` (with
    /// ` (part k of n)` when there are several) and `meta`, holding the sections made by
    /// `sections` for a longest line of the given size, packed in order.
    static func markdownParts(summary: String, meta: String, maxPartLength: Int,
                              sections makeSections: (Int) -> [MarkdownSection]) -> [String] {
        let budget = max(maxPartLength, 4_000) - 1
        // Room left for the body of a part once its header is written; the " (part k of n)"
        // suffix is reserved for as many digits as the part count turns out to need.
        var digits = 1
        while true {
            let suffix = " (part \(String(repeating: "9", count: digits)) of \(String(repeating: "9", count: digits)))"
            let room = budget - (summary + suffix + "\n" + meta + "\n").utf8.count
            let lineCap = min(2_000, room - 600)
            let sections = makeSections(lineCap)
            let bodies = pack(sections, room: room)
            if String(bodies.count).count > digits {
                digits = String(bodies.count).count
                continue
            }
            return bodies.enumerated().map { index, body in
                let part = bodies.count > 1 ? " (part \(index + 1) of \(bodies.count))" : ""
                return summary + part + "\n" + meta + "\n" + body
            }
        }
    }

    /// `Commit `1a2b…` · desired `sha256:…` · live `sha256:…` · computed 2025-01-01T00:00:00Z`.
    private static func metaLine(_ plan: Plan) -> String {
        var parts: [String] = []
        parts.append(plan.commit.map { "Commit " + codeSpan($0) } ?? "Not from git")
        parts.append("desired " + codeSpan(plan.desiredDigest))
        parts.append("live " + codeSpan(plan.liveDigest))
        parts.append("computed " + iso8601(plan.createdAt))
        if plan.adopt { parts.append("adopting conflicting objects (`--adopt`)") }
        if !plan.replace.isEmpty { parts.append("replacing " + plan.replace.map { codeSpan($0.address) }.joined(separator: ", ") + " (`--replace`)") }
        return parts.joined(separator: " · ")
    }

    /// An inline code span for a short value: control characters escaped, cut at 100
    /// characters, delimited by more backticks than the longest run inside, so the value is
    /// shown literally (no HTML, emphasis, links or mentions).
    static func codeSpan(_ value: String) -> String {
        var text = value.escapingControlCharacters
        if text.count > 100 { text = String(text.prefix(100)) + "…" }
        if text.isEmpty { return "(empty)" }
        var longest = 0, run = 0
        for c in text {
            run = c == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = text.first == "`" || text.last == "`" || text.first == " " || text.last == " " ? " " : ""
        return fence + pad + text + pad + fence
    }

    struct MarkdownSection {
        /// The text of `<summary>`: made here from fixed words and counts only.
        var title: String
        /// One block of lines per action, each line without its newline.
        var blocks: [[String]]
    }

    private enum Category: Int, CaseIterable {
        case registry, memberships, keys, files, notes
    }

    private static func category(of action: PlannedAction) -> Category {
        switch action.kind {
        case .conflict, .drift: return .notes
        case .connect, .rotate, .disconnect: return .keys
        case .writeFile, .removeFile: return .files
        case .create, .update, .delete:
            switch action.target.category {
            case .membership, .grant: return .memberships
            default: return .registry
            }
        }
    }

    static func markdownSections(_ plan: Plan, lineCap: Int) -> [MarkdownSection] {
        var grouped: [Category: [PlannedAction]] = [:]
        for action in plan.actions { grouped[category(of: action), default: []].append(action) }
        return Category.allCases.compactMap { category in
            guard let actions = grouped[category], !actions.isEmpty else { return nil }
            let s = PlanSummary(actions)
            let counts: [String?]
            let name: String
            switch category {
            case .registry:
                name = "Registry (services, users, groups)"
                counts = [nonZero(s.add, "to add"), nonZero(s.change, "to change"), nonZero(s.remove, "to remove")]
            case .memberships:
                name = "Memberships &amp; grants"
                counts = [nonZero(s.add, "to add"), nonZero(s.change, "to change"), nonZero(s.remove, "to remove")]
            case .keys:
                name = "Keys"
                counts = [nonZero(s.keysToIssue, "to issue"), nonZero(s.keysToRotate, "to rotate"),
                          nonZero(s.keysToRevoke, "to revoke")]
            case .files:
                name = "Home files"
                counts = [nonZero(s.filesToWrite, "to write"), nonZero(s.filesToRemove, "to remove")]
            case .notes:
                name = "Conflicts &amp; drift"
                counts = [counted(s.conflicts, "conflict"), counted(s.drift, "drift note")]
            }
            let title = name + ": " + counts.compactMap { $0 }.joined(separator: ", ")
            return MarkdownSection(title: title, blocks: actions.map { diffLines($0).map { truncated($0, to: lineCap) } })
        }
    }

    private static func nonZero(_ n: Int, _ words: String) -> String? {
        n == 0 ? nil : "\(n) \(words)"
    }

    /// The action's line, then one line per field: `+` the value set, `-` the value replaced
    /// or removed.
    static func diffLines(_ action: PlannedAction) -> [String] {
        var lines = [symbol(for: action).character + " " + action.address.escapingControlCharacters + "  " + describe(action)]
        for change in action.changes {
            let field = change.field.escapingControlCharacters + ": "
            switch (change.old, change.new) {
            case (nil, nil): lines.append("      " + field + "(none)")
            default:
                if let old = change.old { lines.append("-     " + field + quoted(old)) }
                if let new = change.new { lines.append("+     " + field + quoted(new)) }
            }
        }
        return lines
    }

    /// The line cut to at most `limit` UTF-8 bytes, marked when cut.
    static func truncated(_ line: String, to limit: Int) -> String {
        guard line.utf8.count > limit else { return line }
        let mark = " … (truncated)"
        var out = "", size = 0
        for c in line {
            let n = String(c).utf8.count
            if size + n + mark.utf8.count > limit { break }
            out.append(c)
            size += n
        }
        return out + mark
    }

    private static func open(_ section: MarkdownSection, continued: Bool) -> String {
        "\n<details>\n<summary>" + section.title + (continued ? " (continued)" : "") + "</summary>\n\n```diff\n"
    }

    private static let close = "```\n\n</details>\n"

    /// Section bodies packed into parts of at most `room` UTF-8 bytes each: whole sections
    /// when they fit, else split between actions (between lines only for an action too long
    /// for a part on its own).
    private static func pack(_ sections: [MarkdownSection], room: Int) -> [String] {
        var parts: [String] = []
        var current = ""
        var used = 0
        func append(_ text: String) {
            current += text
            used += text.utf8.count
        }
        func flush() {
            parts.append(current)
            current = ""
            used = 0
        }
        for section in sections {
            let whole = open(section, continued: false) + section.blocks.joined().map { $0 + "\n" }.joined() + close
            let size = whole.utf8.count
            if used + size <= room {
                append(whole)
                continue
            }
            if size <= room {
                flush()
                append(whole)
                continue
            }
            // Too long for any part: split between actions.
            let overhead = open(section, continued: true).utf8.count + close.utf8.count
            var units: [String] = []
            for block in section.blocks {
                let text = block.map { $0 + "\n" }.joined()
                if text.utf8.count + overhead <= room { units.append(text) } else { units += block.map { $0 + "\n" } }
            }
            var index = 0
            var continued = false
            while index < units.count {
                let opening = open(section, continued: continued)
                if used + opening.utf8.count + units[index].utf8.count + close.utf8.count > room, used > 0 { flush() }
                append(opening)
                repeat {
                    append(units[index])
                    index += 1
                } while index < units.count && used + units[index].utf8.count + close.utf8.count <= room
                append(close)
                continued = true
                if index < units.count { flush() }
            }
        }
        if !current.isEmpty || parts.isEmpty { parts.append(current) }
        return parts
    }
}
