import StrictYAML
import DesiredRepo

/// How the entries of one node are ordered in canonical layout.
indirect enum LayoutRule: Sendable {
    /// Keep the source order, here and below.
    case keep
    /// A list of scalars sorted by text (byte order); duplicates are kept.
    case sortedList
    /// A mapping: the keys of `order` first, in that order; other keys after them, in source
    /// order or (with `restSorted`) in byte order. Values follow `children[key]`, else `other`.
    case mapping(order: [String], restSorted: Bool, children: [String: LayoutRule], other: LayoutRule)

    /// The rule for a value under `key` of a mapping with this rule.
    func child(_ key: String) -> LayoutRule {
        if case .mapping(_, _, let children, let other) = self { return children[key] ?? other }
        return .keep
    }

    /// The canonical layout of each file kind: keys in the order of docs/format.md (the order
    /// the decoders list them), lists of ids sorted, grant types in the order of
    /// `resource_types` (types not listed follow in byte order; all in byte order when
    /// `resourceTypes` is nil because accessctl.yaml cannot be read).
    static func forPath(_ path: String, resourceTypes: [String]?) -> LayoutRule {
        guard case .entity(let kind) = DesiredStateLoader.classify(path) else { return .keep }
        switch kind {
        case .config:
            return .mapping(order: Decoders.configKeys, restSorted: false, children: [
                "policy": .mapping(order: Decoders.policyKeys, restSorted: false, children: [:], other: .keep),
                "defaults": .mapping(order: Decoders.defaultsKeys, restSorted: false, children: [:], other: .keep),
            ], other: .keep)
        case .service:
            return .mapping(order: Decoders.serviceKeys, restSorted: false, children: [:], other: .keep)
        case .user:
            return .mapping(order: Decoders.userKeys, restSorted: false, children: ["connections": .sortedList], other: .keep)
        case .group:
            return .mapping(order: Decoders.groupKeys, restSorted: false, children: [
                "members": .sortedList,
                "connect": .sortedList,
                "grants": .mapping(order: resourceTypes ?? [], restSorted: true, children: [:], other: .sortedList),
            ], other: .keep)
        case .catalog:
            return .mapping(order: Catalogs.keys, restSorted: false, children: ["ids": .sortedList], other: .keep)
        }
    }
}

extension LayoutContainer {
    /// Reorders entries (and their descendants) by `rule`. Sorting is stable.
    func apply(_ rule: LayoutRule) {
        switch rule {
        case .keep:
            break
        case .sortedList:
            if !isMapping, entries.allSatisfy({ if case .scalar = $0.value { return true } else { return false } }) {
                entries = entries.enumerated().sorted { a, b in
                    let x = a.element.sortText, y = b.element.sortText
                    if x != y { return x.utf8.lexicographicallyPrecedes(y.utf8) }
                    return a.offset < b.offset
                }.map(\.element)
            }
        case .mapping(let order, let restSorted, _, _):
            if isMapping {
                let rank = Dictionary(order.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
                entries = entries.enumerated().sorted { a, b in
                    let ka = a.element.key?.text ?? "", kb = b.element.key?.text ?? ""
                    let ra = rank[ka], rb = rank[kb]
                    switch (ra, rb) {
                    case let (x?, y?): return x < y
                    case (_?, nil): return true
                    case (nil, _?): return false
                    case (nil, nil):
                        if restSorted && ka != kb { return ka.utf8.lexicographicallyPrecedes(kb.utf8) }
                        return a.offset < b.offset
                    }
                }.map(\.element)
            }
        }
        for entry in entries {
            guard case .collection(let child, _) = entry.value else { continue }
            switch rule {
            case .mapping where isMapping: child.apply(rule.child(entry.key?.text ?? ""))
            case .sortedList, .mapping: child.apply(.keep)
            case .keep: child.apply(.keep)
            }
        }
    }
}

private extension LayoutEntry {
    var sortText: String {
        if case .scalar(let s) = value { return s.text }
        return ""
    }
}

/// Rule-aware structural comparison of two parsed documents: the formatted file must read
/// exactly as the original (same keys, same scalar texts and types, same list items; key
/// order is free, and lists the rule sorts may be in any order).
enum LayoutEquivalence {
    static func equivalent(_ a: Node, _ b: Node, rule: LayoutRule) -> Bool {
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)):
            return same(x, y)
        case (.mapping(let x), .mapping(let y)):
            guard x.entries.count == y.entries.count else { return false }
            var byKey: [String: MappingEntry] = [:]
            for entry in y.entries { byKey[entry.key.text] = entry }
            for entry in x.entries {
                guard let other = byKey[entry.key.text], same(entry.key, other.key) else { return false }
                let childRule: LayoutRule = if case .mapping = rule { rule.child(entry.key.text) } else { .keep }
                if !equivalent(entry.value, other.value, rule: childRule) { return false }
            }
            return true
        case (.sequence(let x), .sequence(let y)):
            guard x.items.count == y.items.count else { return false }
            if case .sortedList = rule {
                func texts(_ s: Sequence) -> [String]? {
                    var out: [String] = []
                    for item in s.items {
                        guard case .scalar(let scalar) = item else { return nil }
                        out.append(scalar.value.typeName + "\u{0}" + scalar.text)
                    }
                    return out.sorted()
                }
                if let tx = texts(x), let ty = texts(y) { return tx == ty }
            }
            return zip(x.items, y.items).allSatisfy { equivalent($0, $1, rule: .keep) }
        default:
            return false
        }
    }

    private static func same(_ x: Scalar, _ y: Scalar) -> Bool {
        x.text == y.text && x.value.typeName == y.value.typeName
    }
}
