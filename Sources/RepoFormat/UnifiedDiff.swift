import AccessModel

/// A unified diff of two versions of a text file, for `accessctl fmt --diff`.
///
/// The output reads like `git diff`: `--- a/path` and `+++ b/path` headers, `@@` hunks with
/// three lines of context, and `\ No newline at end of file` where a version lacks its final
/// line break. Control characters in lines (a CR of a CR LF file, say) are shown escaped
/// (`\u{D}`), so the diff prints as inert text on a terminal or in a CI log.
public enum UnifiedDiff {
    /// The diff of `old` and `new` (UTF-8 text) for the file at `path`; empty when they are equal.
    public static func render(path: String, old: [UInt8], new: [UInt8], context: Int = 3) -> String {
        guard old != new else { return "" }
        let a = Lines(old), b = Lines(new)
        let ops = edits(a.keys, b.keys)
        let shownPath = path.escapingControlCharacters
        var out = "--- a/\(shownPath)\n+++ b/\(shownPath)\n"
        // Hunks: runs of changes separated by at most 2 * context unchanged lines.
        var index = 0
        while index < ops.count {
            guard let firstChange = ops[index...].firstIndex(where: { !$0.isEqual }) else { break }
            var last = firstChange
            var scan = firstChange
            while scan < ops.count {
                if !ops[scan].isEqual { last = scan; scan += 1; continue }
                var run = scan
                while run < ops.count, ops[run].isEqual { run += 1 }
                if run < ops.count && run - scan <= 2 * context { scan = run } else { break }
            }
            let start = max(index, firstChange - context)
            let end = min(ops.count, last + 1 + context)
            let hunk = ops[start..<end]
            let oldCount = hunk.filter { $0.old != nil }.count
            let newCount = hunk.filter { $0.new != nil }.count
            let oldStart = (hunk.first { $0.old != nil }?.old).map { $0 + 1 } ?? precedingLine(ops, before: start, old: true)
            let newStart = (hunk.first { $0.new != nil }?.new).map { $0 + 1 } ?? precedingLine(ops, before: start, old: false)
            out += "@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\n"
            for op in hunk {
                switch (op.old, op.new) {
                case (let x?, _?): out += " " + a.shown(x)
                case (let x?, nil): out += "-" + a.shown(x)
                case (nil, let y?): out += "+" + b.shown(y)
                case (nil, nil): break
                }
            }
            index = end
        }
        return out
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(start),\(count)"
    }

    /// The 1-based number of the last line before `index` in one version (0 when none).
    private static func precedingLine(_ ops: [Op], before index: Int, old: Bool) -> Int {
        for op in ops[..<index].reversed() {
            if let line = old ? op.old : op.new { return line + 1 }
        }
        return 0
    }

    /// The lines of a text; the comparison key of a last line without a line break differs
    /// from the same text with one.
    private struct Lines {
        var text: [String] = []
        var keys: [String] = []
        var missingNewline = false

        init(_ bytes: [UInt8]) {
            var start = 0
            for (i, b) in bytes.enumerated() where b == 0x0A {
                text.append(String(decoding: bytes[start..<i], as: UTF8.self))
                start = i + 1
            }
            if start < bytes.count {
                text.append(String(decoding: bytes[start...], as: UTF8.self))
                missingNewline = true
            }
            keys = text
            if missingNewline { keys[keys.count - 1] += "\u{0}no newline" }
        }

        func shown(_ index: Int) -> String {
            var line = text[index].escapingControlCharacters + "\n"
            if missingNewline && index == text.count - 1 { line += "\\ No newline at end of file\n" }
            return line
        }
    }

    struct Op {
        var old: Int?
        var new: Int?
        var isEqual: Bool { old != nil && new != nil }
    }

    /// Myers' O(ND) shortest edit script, after trimming the common prefix and suffix. Past
    /// `maxEdits` differences the middle is shown as one replacement instead.
    static func edits(_ a: [String], _ b: [String], maxEdits: Int = 2000) -> [Op] {
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix,
              a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        var ops = (0..<prefix).map { Op(old: $0, new: $0) }
        let x0 = prefix, y0 = prefix
        let n = a.count - prefix - suffix, m = b.count - prefix - suffix
        ops += middle(a, b, x0: x0, y0: y0, n: n, m: m, maxEdits: maxEdits)
        ops += (0..<suffix).map { Op(old: a.count - suffix + $0, new: b.count - suffix + $0) }
        return ops
    }

    private static func middle(_ a: [String], _ b: [String], x0: Int, y0: Int, n: Int, m: Int, maxEdits: Int) -> [Op] {
        let replaceAll = (0..<n).map { Op(old: x0 + $0, new: nil) } + (0..<m).map { Op(old: nil, new: y0 + $0) }
        if n == 0 || m == 0 { return replaceAll }
        let limit = min(n + m, maxEdits)
        let offset = limit + 1
        var v = [Int](repeating: 0, count: 2 * limit + 3)
        var trace: [[Int]] = []
        var found: Int?
        search: for d in 0...limit {
            trace.append(d == 0 ? [] : Array(v[(offset - (d - 1))...(offset + (d - 1))]))
            for k in stride(from: -d, through: d, by: 2) {
                var x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1
                var y = x - k
                while x < n, y < m, a[x0 + x] == b[y0 + y] { x += 1; y += 1 }
                v[offset + k] = x
                if x >= n && y >= m { found = d; break search }
            }
        }
        guard let total = found else { return replaceAll }
        var ops: [Op] = []
        var x = n, y = m
        var d = total
        while d > 0 {
            let previous = trace[d]
            func at(_ k: Int) -> Int { previous[k + d - 1] }
            let k = x - y
            let previousK = k == -d || (k != d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1
            let previousX = at(previousK), previousY = previousX - previousK
            while x > previousX && y > previousY {
                x -= 1; y -= 1
                ops.append(Op(old: x0 + x, new: y0 + y))
            }
            if x == previousX { ops.append(Op(old: nil, new: y0 + previousY)) } else { ops.append(Op(old: x0 + previousX, new: nil)) }
            x = previousX; y = previousY
            d -= 1
        }
        while x > 0 && y > 0 {
            x -= 1; y -= 1
            ops.append(Op(old: x0 + x, new: y0 + y))
        }
        return ops.reversed()
    }
}
