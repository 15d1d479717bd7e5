/// A position in a YAML file, 1-based. Columns count Unicode scalars, as libyaml does.
public struct Mark: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of a file, used for problems that concern the whole file.
    public static let start = Mark(line: 1, column: 1)

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written. Only plain scalars are resolved to null, booleans and numbers.
public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// The value of a scalar under the YAML 1.2 core schema.
public enum ScalarValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer; `nil` when it does not fit in `Int`.
    case int(Int?)
    case float(Double)
    case string(String)

    /// A short name of the type, for messages ("a boolean", "an integer", ...).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .float: return "a number"
        case .string: return "a string"
        }
    }
}

/// A scalar with its text exactly as written (after YAML unescaping), where it starts and
/// where it ends.
public struct Scalar: Sendable, Hashable {
    public var text: String
    public var style: ScalarStyle
    public var mark: Mark
    /// Just after the scalar's last character (after the closing quote of a quoted scalar).
    /// For a block scalar (`|`, `>`) this is after the line breaks it consumed: the start
    /// of the line after its content, or the first non-space character of a less indented
    /// comment line. For an empty plain scalar (`key:` with no value) it equals `mark`.
    public var end: Mark

    /// A scalar; `end` defaults to `mark`.
    public init(text: String, style: ScalarStyle, mark: Mark, end: Mark? = nil) {
        self.text = text
        self.style = style
        self.mark = mark
        self.end = end ?? mark
    }

    /// The YAML 1.2 core-schema value: quoted and block scalars are always strings;
    /// plain scalars may be null, booleans, integers or floats.
    public var value: ScalarValue {
        style == .plain ? CoreSchema.resolve(text) : .string(text)
    }
}

/// One `key: value` pair of a mapping. Keys are always scalars in strict YAML.
public struct MappingEntry: Sendable, Hashable {
    public var key: Scalar
    public var value: Node
}

/// A mapping in source order. Duplicate keys are rejected while parsing, so keys are unique.
public struct Mapping: Sendable, Hashable {
    public var entries: [MappingEntry]
    public var mark: Mark
    /// Whether it was written in flow style (`{a: 1}`) rather than as indented lines.
    public var isFlow: Bool
    /// Where it ends: for a flow mapping just after the closing `}`; for a block mapping the
    /// start of the token that ended it (the next less indented key or the end of the
    /// file), which may lie after comments and blank lines.
    public var end: Mark

    /// The entry for `key`, if present.
    public func entry(_ key: String) -> MappingEntry? {
        entries.first { $0.key.text == key }
    }
}

/// A sequence in source order.
public struct Sequence: Sendable, Hashable {
    public var items: [Node]
    public var mark: Mark
    /// Whether it was written in flow style (`[a, b]`) rather than as `- item` lines.
    public var isFlow: Bool
    /// Where it ends: for a flow sequence just after the closing `]`; for a block sequence
    /// the start of the token that ended it, which may lie after comments and blank lines.
    public var end: Mark
}

/// A node of a strict YAML document.
public indirect enum Node: Sendable, Hashable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// Where the node starts.
    public var mark: Mark {
        switch self {
        case .scalar(let s): return s.mark
        case .mapping(let m): return m.mark
        case .sequence(let s): return s.mark
        }
    }

    /// A short name of the node's type, for messages.
    public var typeName: String {
        switch self {
        case .scalar(let s): return s.value.typeName
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

/// A problem found while reading a file: where, and what.
public struct Problem: Sendable, Hashable, CustomStringConvertible {
    public var mark: Mark
    public var message: String

    public init(mark: Mark, message: String) {
        self.mark = mark
        self.message = message
    }

    public var description: String { "\(mark): \(message)" }
}
