import StrictYAML

/// A line kept around an entry: a blank line or a full-line comment.
enum LayoutLine: Equatable {
    case blank
    case comment(String)
}

/// A mapping or sequence of the document being formatted, with the comments attached to it.
final class LayoutContainer {
    let isMapping: Bool
    /// Written in flow style in the source (`[a, b]`, `{a: 1}`).
    let isFlow: Bool
    /// Inside a flow collection (itself or an ancestor is flow): no comment can attach here.
    let inFlow: Bool
    /// Column of its entries (keys, or the `-` of items) in the source.
    let childColumn: Int
    var entries: [LayoutEntry] = []
    /// Comments (and blank lines) after its last entry, indented at least as deep as its entries.
    var trailer: [LayoutLine] = []
    /// The entry whose value this is; nil for the root.
    weak var parent: LayoutEntry?

    init(isMapping: Bool, isFlow: Bool, inFlow: Bool, childColumn: Int) {
        self.isMapping = isMapping
        self.isFlow = isFlow
        self.inFlow = inFlow
        self.childColumn = childColumn
    }
}

/// The value of an entry.
enum LayoutValue {
    case scalar(Scalar)
    case collection(LayoutContainer, Node)
}

/// A mapping entry (`key: value`) or a sequence item (`- value`).
final class LayoutEntry {
    /// The key; nil for a sequence item.
    let key: Scalar?
    let value: LayoutValue
    /// Where the entry starts: its key, or the `-` of an item (its value inside a flow list).
    let start: Mark
    unowned let container: LayoutContainer
    /// Full-line comments and blank lines before it.
    var leading: [LayoutLine] = []
    /// The comment at the end of its line.
    var trailing: SourceComment?

    init(key: Scalar?, value: LayoutValue, start: Mark, container: LayoutContainer) {
        self.key = key
        self.value = value
        self.start = start
        self.container = container
    }

    var isEmptyPlain: Bool {
        if case .scalar(let s) = value { return s.style == .plain && s.text.isEmpty }
        return false
    }
}

/// Why a file cannot be formatted: a position and a message (without the path).
struct FormatRefusal: Error {
    var mark: Mark
    var message: String
}

/// The document as a tree of entries with comments attached; built from a parsed root and
/// the source text.
///
/// libyaml reports no comments, so they are found in the source outside scalar spans
/// (``SourceText/comments(outside:)``) and attached by position:
/// - a comment at the end of a line belongs to the deepest entry whose value ends on that
///   line, or whose key (or `-`) is on it with the value in a block below (`grants:  # ...`);
/// - a full-line comment (and a blank line) before the first entry belongs to the file's
///   header, which stays at the top;
/// - any other full-line comment belongs to the next entry, unless it is indented at least as
///   deep as the entries of a block that ended just before it and deeper than that next
///   entry: then it stays at the end of that block (a commented-out item, say);
/// - a comment inside a flow collection, between a key (or `-`) and a scalar or flow value on
///   a later line, or at the end of a line with nothing to attach it to is refused
///   (``FormatRefusal``).
struct LayoutDocument {
    let root: LayoutContainer
    let rootNode: Node
    /// Comments and blank lines before the first entry.
    var header: [LayoutLine] = []
    /// Every entry outside flow collections, in source order (parents before children).
    private(set) var entries: [LayoutEntry] = []
    /// Scalar spans (keys and values) in source order, and the outermost flow collections.
    private(set) var spans: [ScalarSpan] = []
    private var flowSpans: [(start: Int, end: Int, mark: Mark)] = []
    private var scalarLines: [(first: Int, last: Int)] = []

    /// Builds the tree of `root` (a mapping or a sequence) and attaches every comment of `source`.
    init(root node: Node, source: SourceText) throws(FormatRefusal) {
        rootNode = node
        root = LayoutDocument.container(for: node, inFlow: false)
        build(node, into: root, source: source)
        spans.sort { $0.start < $1.start }
        try attach(source: source)
    }

    private static func container(for node: Node, inFlow: Bool) -> LayoutContainer {
        switch node {
        case .mapping(let m):
            return LayoutContainer(isMapping: true, isFlow: m.isFlow, inFlow: inFlow || m.isFlow,
                                   childColumn: m.entries.first?.key.mark.column ?? m.mark.column)
        case .sequence(let s):
            return LayoutContainer(isMapping: false, isFlow: s.isFlow, inFlow: inFlow || s.isFlow,
                                   childColumn: s.mark.column)
        case .scalar:
            preconditionFailure("a scalar is not a container")
        }
    }

    private mutating func build(_ node: Node, into container: LayoutContainer, source: SourceText) {
        if container.isFlow && !container.inFlowParent {
            if case .mapping(let m) = node { flowSpans.append((source.offset(m.mark), source.offset(m.end), m.mark)) }
            if case .sequence(let s) = node { flowSpans.append((source.offset(s.mark), source.offset(s.end), s.mark)) }
        }
        func add(key: Scalar?, _ value: Node, start: Mark) {
            let layoutValue: LayoutValue
            switch value {
            case .scalar(let s):
                layoutValue = .scalar(s)
            case .mapping, .sequence:
                let child = LayoutDocument.container(for: value, inFlow: container.inFlow)
                layoutValue = .collection(child, value)
            }
            let entry = LayoutEntry(key: key, value: layoutValue, start: start, container: container)
            container.entries.append(entry)
            if !container.inFlow { entries.append(entry) }
            if let key { record(key, source: source) }
            switch layoutValue {
            case .scalar(let s): record(s, source: source)
            case .collection(let child, let node):
                child.parent = entry
                build(node, into: child, source: source)
            }
        }
        switch node {
        case .mapping(let m):
            for e in m.entries { add(key: e.key, e.value, start: e.key.mark) }
        case .sequence(let s):
            for item in s.items {
                let dash = s.isFlow ? nil : LayoutDocument.dash(before: item.mark, source: source)
                add(key: nil, item, start: dash ?? item.mark)
            }
        case .scalar:
            break
        }
    }

    /// The `-` of a block sequence item whose value starts at `mark`: on the same line, or on
    /// an earlier line with only blank and comment lines between.
    private static func dash(before mark: Mark, source: SourceText) -> Mark? {
        let bytes = source.bytes
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        var line = mark.line
        var end = source.offset(mark)
        while line >= 1 {
            let begin = source.start(ofLine: line)
            if line != mark.line {
                // An earlier line: skip blank and comment lines; cut a comment after the dash.
                let first = bytes[begin..<end].firstIndex { !isSpace($0) }
                guard let first, bytes[first] != UInt8(ascii: "#") else { line -= 1; end = source.end(ofLine: line); continue }
                var i = first
                while i < end, !(bytes[i] == UInt8(ascii: "#") && i > begin && isSpace(bytes[i - 1])) { i += 1 }
                end = i
            }
            var i = end - 1
            while i >= begin, isSpace(bytes[i]) { i -= 1 }
            if i >= begin {
                guard bytes[i] == UInt8(ascii: "-") else { return nil }
                return Mark(line: line, column: source.column(ofOffset: i, line: line))
            }
            if line == mark.line { line -= 1; end = source.end(ofLine: line); continue }
            return nil
        }
        return nil
    }

    private mutating func record(_ scalar: Scalar, source: SourceText) {
        let start = source.offset(scalar.mark), end = source.offset(scalar.end)
        var header: Int?
        if scalar.style == .literal || scalar.style == .folded { header = source.end(ofLine: scalar.mark.line) }
        spans.append(ScalarSpan(start: start, end: max(start, end), headerEnd: header))
        // Lines wholly inside the scalar hold no comments or layout blank lines.
        var last = scalar.end.line
        if scalar.end.column == 1 || source.bytes[source.start(ofLine: last)..<source.offset(scalar.end)]
            .allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
            last -= 1
        }
        // Blank lines after a block scalar's content are part of its value only with keep
        // chomping (`|+`); otherwise they are ordinary blank lines between entries.
        if header != nil && BlockScalar.chomping(scalar, source: source) != "+" {
            while last > scalar.mark.line && source.isBlank(last) { last -= 1 }
        }
        if last > scalar.mark.line { scalarLines.append((scalar.mark.line + 1, last)) }
    }

    // MARK: - Attaching comments

    /// The outermost flow collection around `offset`. They are disjoint and in source order.
    private func flowSpan(containing offset: Int) -> (start: Int, end: Int, mark: Mark)? {
        var low = 0, high = flowSpans.count
        while low < high {
            let mid = (low + high) / 2
            if flowSpans[mid].start < offset { low = mid + 1 } else { high = mid }
        }
        guard low > 0, offset < flowSpans[low - 1].end else { return nil }
        return flowSpans[low - 1]
    }

    /// The line on which an entry's end-of-line comment sits, if it can have one.
    private static func claimedLine(_ entry: LayoutEntry) -> Int? {
        switch entry.value {
        case .scalar(let s):
            if s.style == .plain && s.text.isEmpty { return entry.key?.end.line ?? s.mark.line }
            if s.style == .literal || s.style == .folded { return s.mark.line }
            return s.end.line
        case .collection(let c, let node):
            if c.isFlow { return node.flowEnd.line }
            if let key = entry.key { return key.end.line }
            // `- # comment` above an item's block value.
            return node.mark.line > entry.start.line ? entry.start.line : nil
        }
    }

    /// The value's start when it is a scalar or flow collection written on a later line than
    /// its key or `-` (a comment in between cannot be placed).
    private static func detachedValueStart(_ entry: LayoutEntry) -> Mark? {
        var valueStart: Mark?
        switch entry.value {
        case .scalar(let s) where !(s.style == .plain && s.text.isEmpty): valueStart = s.mark
        case .collection(let c, let node) where c.isFlow: valueStart = node.mark
        default: break
        }
        guard let valueStart, valueStart.line > (entry.key?.end.line ?? entry.start.line) else { return nil }
        return valueStart
    }

    private static func betweenMessage(_ entry: LayoutEntry) -> String {
        if let key = entry.key {
            return "cannot format: comment between the key '\(key.text)' and its value; put it on its own line above the key, or after the value"
        }
        return "cannot format: comment between '-' and its value; put it on its own line above the '-', or after the value"
    }

    private mutating func attach(source: SourceText) throws(FormatRefusal) {
        let comments = source.comments(outside: spans)
        // End-of-line comments belong to the deepest entry whose value (or key, when the
        // value is a block below it) ends on that line.
        var owners: [Int: LayoutEntry] = [:]
        var detached: [Int: LayoutEntry] = [:]
        for entry in entries {
            if let line = LayoutDocument.claimedLine(entry) { owners[line] = entry }
            if LayoutDocument.detachedValueStart(entry) != nil { detached[entry.key?.end.line ?? entry.start.line] = entry }
        }
        // Lines that are inside multi-line scalars or flow collections are not layout lines.
        var covered = Set<Int>()
        for range in scalarLines { for line in range.first...range.last { covered.insert(line) } }
        for span in flowSpans {
            let first = span.mark.line
            var low = 0, high = source.lineCount - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if source.start(ofLine: mid + 1) <= span.end { low = mid } else { high = mid - 1 }
            }
            if low + 1 > first + 1 { for line in (first + 1)...(low + 1) { covered.insert(line) } }
        }

        var gapLines: [(line: Int, comment: SourceComment?)] = []
        for comment in comments {
            if let flow = flowSpan(containing: comment.offset) {
                throw FormatRefusal(mark: Mark(line: comment.line, column: comment.column),
                                    message: "cannot format: comment inside a flow collection (the one at line \(flow.mark.line), column \(flow.mark.column)); put the comment on its own line above the key, or write the list as '- item' lines")
            }
            if comment.fullLine {
                gapLines.append((comment.line, comment))
                continue
            }
            guard let owner = owners[comment.line], owner.trailing == nil else {
                let mark = Mark(line: comment.line, column: comment.column)
                if let entry = detached[comment.line] {
                    throw FormatRefusal(mark: mark, message: LayoutDocument.betweenMessage(entry))
                }
                throw FormatRefusal(mark: mark, message: "cannot format: comment cannot be attached to a key or list item unambiguously; put it on its own line above the entry it describes")
            }
            owner.trailing = comment
        }
        // The empty "line" after a final line break is not a blank line.
        let lastLine = source.bytes.last == 0x0A ? source.lineCount - 1 : source.lineCount
        var line = 1
        while line <= lastLine {
            if source.isBlank(line) && !covered.contains(line) { gapLines.append((line, nil)) }
            line += 1
        }
        gapLines.sort { $0.line < $1.line }

        // Full-line comments and blank lines: before the first entry they are the file's header;
        // otherwise they go before the next entry, unless they are indented as deep as the
        // entries of a block that just ended (then they stay at the end of that block).
        let starts = entries.map(\.start.line)
        var pendingBlanks = 0
        var pendingLine = 0
        var pendingTarget: Int? = nil  // index of the next entry for the current gap
        func gapIndex(_ line: Int) -> Int {
            var low = 0, high = starts.count
            while low < high {
                let mid = (low + high) / 2
                if starts[mid] < line { low = mid + 1 } else { high = mid }
            }
            return low
        }
        for item in gapLines {
            let index = gapIndex(item.line)
            if pendingTarget != index {
                flushBlanks(&pendingBlanks, line: pendingLine, next: pendingTarget)
                pendingTarget = index
            }
            guard let comment = item.comment else {
                if pendingBlanks == 0 { pendingLine = item.line }
                pendingBlanks += 1
                continue
            }
            let previous = index > 0 ? entries[index - 1] : nil
            let next = index < entries.count ? entries[index] : nil
            // A comment between a key (or `-`) and a value that starts on a later line.
            if let previous, let valueStart = LayoutDocument.detachedValueStart(previous), valueStart.line > item.line {
                throw FormatRefusal(mark: Mark(line: comment.line, column: comment.column),
                                    message: LayoutDocument.betweenMessage(previous))
            }
            var lines = Array(repeating: LayoutLine.blank, count: pendingBlanks)
            pendingBlanks = 0
            lines.append(.comment(comment.text))
            appendLines(lines, column: comment.column, line: item.line, previous: previous, next: next)
        }
        flushBlanks(&pendingBlanks, line: pendingLine, next: pendingTarget)
    }

    private mutating func flushBlanks(_ count: inout Int, line: Int, next index: Int?) {
        guard count > 0, let index else { count = 0; return }
        let lines = Array(repeating: LayoutLine.blank, count: count)
        count = 0
        if index == 0 {
            if root.isFlow && line > rootNode.mark.line { root.trailer += lines } else { header += lines }
        } else if index < entries.count {
            entries[index].leading += lines
        } else {
            root.trailer += lines
        }
    }

    private mutating func appendLines(_ lines: [LayoutLine], column: Int, line: Int,
                                      previous: LayoutEntry?, next: LayoutEntry?) {
        guard let previous else {
            // Before the first entry: the header (or, for a root written in flow style, whose
            // entries are not listed, after it: the end of the file).
            if root.isFlow && line > rootNode.mark.line { root.trailer += lines } else { header += lines }
            return
        }
        var inNext = Set<ObjectIdentifier>()
        var walk: LayoutContainer? = next?.container
        while let c = walk {
            inNext.insert(ObjectIdentifier(c))
            walk = c.parent?.container
        }
        // The column where the next entry's line starts: its key, or the `-` of an item.
        let nextColumn = next?.start.column ?? 0
        var candidate: LayoutContainer? = previous.container
        while let c = candidate, !inNext.contains(ObjectIdentifier(c)) {
            if !c.inFlow, column >= c.childColumn, column > nextColumn {
                c.trailer += lines
                return
            }
            candidate = c.parent?.container
        }
        if let next { next.leading += lines } else { root.trailer += lines }
    }
}

private extension LayoutContainer {
    /// Whether the parent collection is itself flow (then this one's span is inside it).
    var inFlowParent: Bool { parent?.container.inFlow ?? false }
}

extension Node {
    /// Just after the closing bracket of a flow collection; the start mark otherwise.
    var flowEnd: Mark {
        switch self {
        case .mapping(let m): return m.end
        case .sequence(let s): return s.end
        case .scalar(let s): return s.end
        }
    }
}
