import AccessModel
import StrictYAML
import DesiredRepo

/// The outcome of formatting one file's bytes.
public enum FileFormatResult: Sendable, Equatable {
    /// The canonical bytes (equal to the input when the file is already canonical).
    case formatted([UInt8])
    /// Nothing to lay out: the file holds no document (empty, or only comments) or its top
    /// level is a single scalar. Left as it is; `validate` reports such files.
    case leftAsIs
    /// The file does not parse, or cannot be formatted without losing or moving a comment
    /// ambiguously: the diagnostics say where and why. The file must be left untouched.
    case failed([Diagnostic])
}

/// Canonical layout of one YAML file of a desired-state repository (`accessctl fmt`).
///
/// The rules (also in docs/format.md, "Canonical layout"):
/// - keys in the documented order of their file kind (see ``LayoutRule/forPath(_:resourceTypes:)``);
///   unknown keys after the known ones, in their original order;
/// - `members`, `connect`, `connections` and every `grants` list sorted in byte order
///   (duplicates are kept: they are a validation error, not a layout matter); grant types in
///   the order of `resource_types`;
/// - two-space indentation, block mappings, lists as `[a, b]` when they fit in 100 characters
///   and no item has a comment, else one `- item` per line;
/// - scalar values unchanged, quoting style kept where possible (see ``ScalarText``);
/// - comments kept (see ``LayoutDocument``), single blank lines kept between entries;
/// - LF line endings, no trailing spaces (outside block scalars, whose spaces are content),
///   exactly one final newline.
///
/// Formatting never changes what a file means: the result is parsed again and compared with
/// the original (same keys, values and list items; same comments), and a file that would
/// differ is refused rather than written.
public enum FileFormatter {
    /// Largest file formatted, as for loading.
    public static let maxBytes = DesiredStateLoader.maxFileBytes

    /// Formats `bytes`, the file at repository-relative `path` (its kind decides the key order).
    /// `resourceTypes` orders grant types in group files; nil sorts them.
    public static func format(_ bytes: [UInt8], path: String, resourceTypes: [String]? = nil) -> FileFormatResult {
        func failure(_ mark: Mark, _ message: String) -> FileFormatResult {
            .failed([Diagnostic(path: path, line: mark.line, column: mark.column, severity: .error, message: message)])
        }
        let document = StrictYAML.parse(bytes, limits: Limits(maxBytes: maxBytes))
        if !document.problems.isEmpty {
            return .failed(document.problems.map {
                Diagnostic(path: path, line: $0.mark.line, column: $0.mark.column, severity: .error, message: $0.message)
            }.sorted())
        }
        guard let root = document.root else { return .leftAsIs }
        if case .scalar = root { return .leftAsIs }

        let normalized: [UInt8]
        switch normalizeLineBreaks(bytes) {
        case .success(let text): normalized = text
        case .failure(let refusal): return failure(refusal.mark, refusal.message)
        }
        let source = SourceText(normalized)
        let rule = LayoutRule.forPath(path, resourceTypes: resourceTypes)
        let layout: LayoutDocument
        do {
            layout = try LayoutDocument(root: root, source: source)
        } catch {
            return failure(error.mark, error.message)
        }
        layout.root.apply(rule)
        let output = Array(LayoutEmitter.emit(layout, source: source).utf8)
        if output == bytes { return .formatted(output) }

        // The formatted file must read exactly as the original, comments included.
        let check = StrictYAML.parse(output, limits: Limits(maxBytes: Int.max))
        let originalComments = source.comments(outside: layout.spans).map(\.text)
        var sameComments = false
        if check.problems.isEmpty, let reparsed = check.root, LayoutEquivalence.equivalent(root, reparsed, rule: rule),
           let again = try? LayoutDocument(root: reparsed, source: SourceText(output)) {
            sameComments = SourceText(output).comments(outside: again.spans).map(\.text).sorted() == originalComments.sorted()
        }
        guard sameComments else {
            return failure(.start, "cannot format: the formatted file would not read the same (a bug in accessctl fmt; please report it with this file); the file is left as it is")
        }
        return .formatted(output)
    }

    /// CR LF becomes LF. Any other line break libyaml knows (a lone CR, NEL, U+2028, U+2029)
    /// is refused: lines and columns would no longer match between the parser and the text.
    static func normalizeLineBreaks(_ bytes: [UInt8]) -> Result<[UInt8], FormatRefusal> {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var line = 1, column = 1
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b == 0x0D {
                if i + 1 < n && bytes[i + 1] == 0x0A {
                    i += 1
                    continue
                }
                return .failure(FormatRefusal(mark: Mark(line: line, column: column), message: "cannot format: a carriage return that does not end a CR LF line break; use LF (or CR LF) line breaks"))
            }
            if b == 0xC2 && i + 1 < n && bytes[i + 1] == 0x85
                || b == 0xE2 && i + 2 < n && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9) {
                return .failure(FormatRefusal(mark: Mark(line: line, column: column), message: "cannot format: a Unicode line break (NEL, U+2028 or U+2029); use LF line breaks, or write it as an escape (\\N, \\L, \\P) in a double-quoted string"))
            }
            out.append(b)
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return .success(out)
    }
}
