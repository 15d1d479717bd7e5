import StrictYAML

/// Writes a ``LayoutDocument`` in canonical layout: block mappings indented two spaces per
/// level; lists of one-line scalars in flow style (`[a, b]`) when the line fits in
/// ``LayoutEmitter/maxWidth`` characters and no item carries a comment, otherwise one
/// `- item` per line, indented two spaces under their key; comments and single blank lines
/// kept where they were attached.
struct LayoutEmitter {
    /// Widest line a flow list may make.
    static let maxWidth = 100

    let source: SourceText
    private var out = ""
    /// Whether the next line opens a block (a blank line there is dropped).
    private var atBlockStart = true
    /// Whether a blank line is due before the next line (dropped at the end of the file).
    private var pendingBlank = false
    /// Whether the last lines were a keep-chomped block scalar (`|+`): a blank line after it
    /// would become part of its value.
    private var afterKeptBlock = false

    init(source: SourceText) {
        self.source = source
    }

    static func emit(_ document: LayoutDocument, source: SourceText) -> String {
        var emitter = LayoutEmitter(source: source)
        emitter.lines(document.header, indent: 0)
        if document.root.entries.isEmpty {
            emitter.line(document.root.isMapping ? "{}" : "[]")
        }
        emitter.entries(of: document.root, indent: 0, firstLead: nil)
        emitter.lines(document.root.trailer, indent: 0)
        return emitter.out
    }

    // MARK: - Lines

    private mutating func line(_ content: String, _ comment: SourceComment? = nil) {
        if pendingBlank { out += "\n" }
        out += content
        if let comment {
            let width = content.unicodeScalars.count
            if width + 1 < comment.column {
                out += String(repeating: " ", count: comment.column - 1 - width)
            } else {
                out += width == 0 ? "" : "  "
            }
            out += comment.text
        }
        out += "\n"
        atBlockStart = false
        pendingBlank = false
        afterKeptBlock = false
    }

    private mutating func blank() {
        if !atBlockStart && !afterKeptBlock { pendingBlank = true }
    }

    private mutating func lines(_ lines: [LayoutLine], indent: Int) {
        for item in lines {
            switch item {
            case .blank: blank()
            case .comment(let text): line(String(repeating: " ", count: indent) + text)
            }
        }
    }

    /// Raw lines of a block scalar: indented, except empty lines.
    private mutating func blockContent(_ lines: [String], indent: Int, kept: Bool) {
        let pad = String(repeating: " ", count: indent)
        for text in lines {
            out += text.isEmpty ? "\n" : pad + text + "\n"
        }
        atBlockStart = false
        pendingBlank = false
        afterKeptBlock = kept
    }

    // MARK: - Entries

    /// The entries of a container. `firstLead` replaces the indentation of the first line of
    /// the first entry (for `- key: value` and `- - item`).
    private mutating func entries(of container: LayoutContainer, indent: Int, firstLead: String?) {
        for (index, entry) in container.entries.enumerated() {
            let lead: String
            if index == 0, let firstLead {
                lead = firstLead
            } else {
                lines(entry.leading, indent: indent)
                lead = String(repeating: " ", count: indent)
            }
            if let key = entry.key {
                value(of: entry, prefix: lead + ScalarText.key(key) + ":", indent: indent)
            } else {
                value(of: entry, prefix: lead + "-", indent: indent)
            }
        }
    }

    /// Writes `prefix` (`key:` or `-`, indented) and the entry's value after or below it.
    private mutating func value(of entry: LayoutEntry, prefix: String, indent: Int) {
        switch entry.value {
        case .scalar(let s):
            if s.style == .plain && s.text.isEmpty {
                line(prefix, entry.trailing)
            } else if s.style == .literal || s.style == .folded, let block = BlockScalar.render(s, source: source) {
                line(prefix + " " + block.header, entry.trailing)
                blockContent(block.lines, indent: indent + 2, kept: block.header.hasSuffix("+"))
            } else {
                line(prefix + " " + (ScalarText.inline(s, flow: false) ?? ScalarText.doubleQuoted(s.text)), entry.trailing)
            }
        case .collection(let c, _):
            if c.entries.isEmpty {
                line(prefix + (c.isMapping ? " {}" : " []"), entry.trailing)
                lines(c.trailer, indent: indent + 2)
                return
            }
            if !c.isMapping, let flow = flowList(c, width: prefix.unicodeScalars.count + 1) {
                line(prefix + " " + flow, entry.trailing)
                return
            }
            // `- key: value` / `- - item` on one line when nothing needs the `-` line alone.
            if entry.key == nil, entry.trailing == nil,
               !c.entries[0].leading.contains(where: { if case .comment = $0 { return true } else { return false } }) {
                entries(of: c, indent: indent + 2, firstLead: prefix + " ")
            } else {
                line(prefix, entry.trailing)
                atBlockStart = true
                entries(of: c, indent: indent + 2, firstLead: nil)
                atBlockStart = false
            }
            lines(c.trailer, indent: indent + 2)
        }
    }

    /// `[a, b, c]` when every item is a one-line scalar without comments and the line fits.
    private func flowList(_ c: LayoutContainer, width: Int) -> String? {
        guard c.trailer.allSatisfy({ $0 == .blank }) else { return nil }
        var parts: [String] = []
        var total = width + 2
        for entry in c.entries {
            guard entry.trailing == nil,
                  !entry.leading.contains(where: { if case .comment = $0 { return true } else { return false } }),
                  case .scalar(let s) = entry.value, let text = ScalarText.inline(s, flow: true),
                  // A plain item that would need quotes in a flow list only keeps the block
                  // style if it stays plain there; one quoted either way (an invisible
                  // character) goes in the flow list, or a second run would move it there.
                  s.style != .plain || text == s.text || ScalarText.inline(s, flow: false) != s.text else { return nil }
            parts.append(text)
            total += text.unicodeScalars.count + (parts.count > 1 ? 2 : 0)
            if total > LayoutEmitter.maxWidth { return nil }
        }
        return "[" + parts.joined(separator: ", ") + "]"
    }
}
