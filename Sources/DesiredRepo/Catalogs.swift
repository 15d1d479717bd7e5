import AccessModel
import StrictYAML

/// The optional catalogs: `catalogs/<type>.yaml` lists the known ids of one resource type
/// (plugins, tables, knowledge categories, ...). When a type has a catalog, every grant of
/// that type must name an id it lists; a type without one is checked for its shape only, as
/// before. `service` has no catalog: the files in `services/` are its catalog.
///
/// ```yaml
/// # catalogs/table.yaml
/// description: Warehouse tables that groups may be granted
/// ids: [finance.invoices, finance.payments]
/// ```
///
/// Decoding is per file (``decode(type:path:_:readable:into:)``); the cross-file rules run
/// once every file is read (``check(config:groups:into:)``), next to the validator's.
package struct Catalogs {
    /// The keys of a catalog file, in canonical order (docs/format.md, `fmt`).
    package static let keys = ["description", "ids"]

    struct Parsed {
        var type: String
        var path: String
        var ids: [Located<String>]
    }

    private(set) var parsed: [Parsed] = []
    /// Types whose catalog file exists but could not be read (its problems are reported):
    /// grants of those types are not checked, rather than all reported as unknown.
    private(set) var unreadable: Set<String> = []

    /// "Did you mean" hints left for this run (each scans a catalog), as in the validator.
    private var hintsLeft = 100

    /// Decodes `catalogs/<type>.yaml`; `root` is nil when the file's YAML has problems.
    mutating func decode(type: String, path: String, _ root: Node?, readable: Bool, into d: inout FileDiagnostics) {
        guard readable, let fields = Fields(root, context: "a catalog file", known: Self.keys, into: &d) else {
            unreadable.insert(type)
            return
        }
        _ = fields.string("description", nonEmpty: false, into: &d)
        let before = d.items.count
        guard let entry = fields.entry("ids") else {
            d.error(fields.mapping.mark, "missing required key 'ids' in a catalog file: list the known \(type) ids, for example ids: [\(Self.example(type))]")
            unreadable.insert(type)
            return
        }
        guard let list = Fields.stringList(entry.value, name: "'ids'", pattern: Rules.resourceID, itemName: "\(type) id", into: &d) else {
            unreadable.insert(type)
            return
        }
        parsed.append(Parsed(type: type, path: path, ids: list.items))
        // An id that could not be read might be the one a grant names: no follow-on errors.
        if d.items.count != before { unreadable.insert(type) }
    }

    /// Checks every catalog against `accessctl.yaml` and every non-service grant against its
    /// type's catalog. Returns the known ids by type, for the desired state.
    mutating func check(config: ParsedConfig, groups: [ParsedGroup], into out: inout [Diagnostic]) -> [String: [String]] {
        let types = config.config.resourceTypes
        var known: [String: Set<String>] = [:]
        var files: [String: String] = [:]
        for catalog in parsed {
            if catalog.type == "service" {
                out.append(Diagnostic(path: catalog.path, severity: .error, message: "there is no catalog of services: the files in services/ are their catalog, and grants.service is checked against them; remove \(catalog.path)"))
                continue
            }
            if config.typesOK && !types.contains(catalog.type) {
                out.append(Diagnostic(path: catalog.path, severity: .error, message: "catalog of resource type '\(catalog.type)', which is not listed in resource_types of accessctl.yaml (\(types.joined(separator: ", ")))" + (Suggest.closest(to: catalog.type, in: types.filter { $0 != "service" }).map { "; did you mean 'catalogs/\($0).yaml'?" } ?? "; rename the file after a listed type, or add '\(catalog.type)' to resource_types")))
                continue
            }
            known[catalog.type] = Set(catalog.ids.map(\.value))
            files[catalog.type] = catalog.path
        }
        for group in groups {
            for (type, ids) in group.grants {
                guard let catalog = known[type.value], !unreadable.contains(type.value), let file = files[type.value] else { continue }
                for id in ids where !catalog.contains(id.value) {
                    let hint = hint(id.value, catalog)
                    let fix = hint.isEmpty ? "; correct the id, or add it to \(file) if it is new" : hint
                    out.append(Diagnostic(path: group.path, line: id.mark.line, column: id.mark.column, severity: .error,
                                          message: "unknown \(type.value) id '\(id.value)': \(file) does not list it\(fix)"))
                }
            }
        }
        return known.mapValues { $0.sorted() }
    }

    private mutating func hint(_ word: String, _ candidates: Set<String>) -> String {
        guard hintsLeft > 0 else { return "" }
        hintsLeft -= 1
        return Suggest.hint(word, candidates)
    }

    private static func example(_ type: String) -> String {
        switch type {
        case "table": "finance.invoices, finance.payments"
        case "plugin": "acme-tools/po-helper"
        default: "first-id, second-id"
        }
    }
}
