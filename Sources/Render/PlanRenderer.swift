import AccessModel

/// Renders a `Plan` for people and programs: Terraform-like text for terminals and logs
/// (`text`), a JSON document described by `schemas/plan.schema.json` (`json`), and Markdown
/// parts for pull-request comments (`markdown`).
///
/// Every renderer shows only what is in the plan (keys appear there only as fingerprints), in
/// plan order, and passes every address, reason and value through `escapingControlCharacters`,
/// so no value can move the cursor, recolour a terminal or start a new line.
public enum PlanRenderer {
    // MARK: Text

    /// The plan as text: a header line, one block per action (symbol, address, what happens
    /// and why, then the fields it sets or changes), and the summary line.
    ///
    /// Symbols: `+` create, connect (issue a key) and write-file of a new file; `~` update,
    /// rotate and write-file over an existing file; `-` delete, disconnect (revoke) and
    /// remove-file; `!` conflict; `?` drift. `color` adds ANSI colours (green `+`, yellow `~`,
    /// red `-`, magenta `!`, cyan `?`, bold addresses); the caller decides (a terminal, and
    /// `NO_COLOR` unset). Without it the output holds no escape sequence at all.
    public static func text(_ plan: Plan, color: Bool) -> String {
        let style = Style(enabled: color)
        return style.bold(header(plan)) + "\n" + textBody(plan, style: style)
    }

    /// The actions and the summary line of `text`, without its header.
    static func textBody(_ plan: Plan, style: Style) -> String {
        let color = style.enabled
        var out = ""
        for action in plan.actions {
            out += "\n"
            let symbol = symbol(for: action)
            out += "  " + style.paint(symbol.character, symbol.colour) + " " + style.bold(action.address.escapingControlCharacters)
            out += "  " + describe(action) + "\n"
            let rows = action.changes.map { (name: $0.field.escapingControlCharacters, value: textValue($0)) }
            let width = rows.map(\.name.count).max() ?? 0
            for row in rows {
                out += "      " + (row.name + ":").padding(width + 1) + " " + row.value + "\n"
            }
        }
        if !plan.actions.isEmpty { out += "\n" }
        out += holdsText(plan.holds ?? [])
        let line = summaryLine(plan.summary)
        if color, plan.summary.hasChanges, line.hasPrefix("Plan:") {
            out += style.bold("Plan:") + String(line.dropFirst("Plan:".count)) + "\n"
        } else {
            out += line + "\n"
        }
        return out
    }

    /// The holds in force, one line each, before the summary: they explain why keys the
    /// repository grants are revoked (or stay so). Empty without holds.
    static func holdsText(_ holds: [Hold]) -> String {
        guard !holds.isEmpty else { return "" }
        var out = "Holds in force (keys stay revoked until `accessctl release`):\n"
        for hold in holds { out += holdLine(hold) + "\n" }
        return out + "\n"
    }

    /// One hold, as plans and `explain` list it: `  user.alice  by root at 2026-12-03T08:00:00Z: why`.
    public static func holdLine(_ hold: Hold) -> String {
        "  \(hold.target.address.escapingControlCharacters)  by \(hold.placedBy.escapingControlCharacters) at "
            + "\(iso8601(hold.placedAt)): \(hold.reason.escapingControlCharacters)"
    }

    /// The summary line:
    /// `Plan: 3 to add, 1 to change, 2 to remove; 4 keys to issue, 1 to rotate, 1 to revoke; 6 files to write, 1 to remove.`
    /// or `No changes. The live state matches the desired state.`, followed by
    /// ` 2 conflicts, 1 drift note.` when the plan has notes. Every count is shown, zero or not.
    public static func summaryLine(_ s: PlanSummary) -> String {
        var line: String
        if s.hasChanges {
            line = "Plan: \(s.add) to add, \(s.change) to change, \(s.remove) to remove; "
                + "\(s.keysToIssue) \(s.keysToIssue == 1 ? "key" : "keys") to issue, \(s.keysToRotate) to rotate, "
                + "\(s.keysToRevoke) to revoke; "
                + "\(s.filesToWrite) \(s.filesToWrite == 1 ? "file" : "files") to write, \(s.filesToRemove) to remove."
        } else {
            line = "No changes. The live state matches the desired state."
        }
        let notes = [counted(s.conflicts, "conflict"), counted(s.drift, "drift note")].compactMap { $0 }
        if !notes.isEmpty { line += " " + notes.joined(separator: ", ") + "." }
        return line
    }

    // MARK: Shared pieces

    /// `accessctl plan: desired sha256:0123456789ab (commit 1a2b3c4d5e6f), live sha256:…, computed 2025-01-01T00:00:00Z`,
    /// then `, adopting conflicting objects` and `, replacing connection.*.crm` when they apply.
    static func header(_ plan: Plan) -> String {
        var line = "accessctl plan: desired " + short(plan.desiredDigest)
        if let commit = plan.commit {
            line += " (commit " + String(commit.prefix(12)).escapingControlCharacters + ")"
        } else {
            line += " (not from git)"
        }
        line += ", live " + short(plan.liveDigest) + ", computed " + iso8601(plan.createdAt)
        if plan.adopt { line += ", adopting conflicting objects" }
        if !plan.replace.isEmpty { line += ", replacing " + plan.replace.map(\.address.escapingControlCharacters).joined(separator: ", ") }
        return line
    }

    /// A digest shortened to `sha256:` and 12 hex digits, as fingerprints are shown.
    private static func short(_ digest: String) -> String {
        let prefix = "sha256:"
        let kept = digest.hasPrefix(prefix) ? prefix.count + 12 : 19
        return String(digest.prefix(kept)).escapingControlCharacters
    }

    enum Colour: String {
        case green = "32", yellow = "33", red = "31", magenta = "35", cyan = "36"
    }

    /// The symbol of an action and its colour.
    static func symbol(for action: PlannedAction) -> (character: String, colour: Colour) {
        switch action.kind {
        case .create, .connect: return ("+", .green)
        case .update, .rotate: return ("~", .yellow)
        case .delete, .disconnect, .removeFile: return ("-", .red)
        case .writeFile: return isNewFile(action) ? ("+", .green) : ("~", .yellow)
        case .conflict: return ("!", .magenta)
        case .drift: return ("?", .cyan)
        }
    }

    /// A write-file action creates a new file when it lists changes and none has an old value
    /// (nothing was there before); otherwise it replaces an existing file.
    static func isNewFile(_ action: PlannedAction) -> Bool {
        action.kind == .writeFile && !action.changes.isEmpty && action.changes.allSatisfy { $0.old == nil }
    }

    /// What happens to the object, and why: `will be created (added in desired state)`.
    static func describe(_ action: PlannedAction) -> String {
        let verb: String
        switch action.kind {
        case .create: verb = "will be created"
        case .update: verb = "will be updated"
        case .delete: verb = "will be deleted"
        case .connect: verb = "key will be issued"
        case .rotate: verb = "key will be rotated"
        case .disconnect: verb = "key will be revoked"
        case .writeFile: verb = isNewFile(action) ? "will be created" : "will be written"
        case .removeFile: verb = "will be removed"
        case .conflict: verb = "conflict"
        case .drift: verb = "drift"
        }
        var reason = action.reason
        // Notes often carry their kind already ("drift: file changed on disk"): say it once.
        for note in ["conflict: ", "drift: "] where verb + ": " == note && reason.hasPrefix(note) {
            reason.removeFirst(note.count)
        }
        reason = reason.escapingControlCharacters
        return reason.isEmpty ? verb : verb + " (" + reason + ")"
    }

    /// A value as a quoted literal: backslashes and quotes escaped, then control characters,
    /// so `\u{1B}` in the output always means an escaped control character.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out.escapingControlCharacters + "\""
    }

    /// `"new"` for a field being set, `"old" -> "new"` for a change, `"old" -> (removed)` for
    /// a field going away.
    private static func textValue(_ change: FieldChange) -> String {
        switch (change.old, change.new) {
        case (nil, let new?): return quoted(new)
        case (let old?, let new?): return quoted(old) + " -> " + quoted(new)
        case (let old?, nil): return quoted(old) + " -> (removed)"
        case (nil, nil): return "(none)"
        }
    }

    static func counted(_ n: Int, _ word: String) -> String? {
        n == 0 ? nil : "\(n) \(word)\(n == 1 ? "" : "s")"
    }

    /// Unix seconds as `2025-01-01T00:00:00Z` (proleptic Gregorian, UTC), computed without a
    /// formatter so the output never depends on the platform.
    static func iso8601(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let rest = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let y = year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(y)-\(two(month))-\(two(day))T\(two(rest / 3_600)):\(two(rest % 3_600 / 60)):\(two(rest % 60))Z"
    }

    /// ANSI styling that does nothing when disabled.
    struct Style {
        let enabled: Bool
        func paint(_ text: String, _ colour: Colour) -> String {
            enabled ? "\u{1B}[\(colour.rawValue)m" + text + "\u{1B}[0m" : text
        }
        func bold(_ text: String) -> String {
            enabled ? "\u{1B}[1m" + text + "\u{1B}[0m" : text
        }
    }
}

extension String {
    /// The string padded with spaces to `width` characters (never truncated).
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
