import AccessModel
import Foundation

extension PlanRenderer {
    /// The JSON document of `schemas/plan.schema.json`: the plan's fields, a `summary` object
    /// with its counts, the `--replace` patterns when there are any (`replace`, format version
    /// 2), and the actions in plan order. Absent values (`commit`, `old`, `new`) are written
    /// as `null`, not left out. Pretty-printed with sorted keys and unescaped `/`, ending with
    /// a newline. `Plan`'s `Decodable` reads it back (it ignores `summary`).
    public static func json(_ plan: Plan) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Strings, integers and booleans always encode.
        let data = (try? encoder.encode(document(plan))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The plan as the encodable document `json` writes.
    static func document(_ plan: Plan) -> Document {
        Document(
            formatVersion: plan.formatVersion, commit: plan.commit, desiredDigest: plan.desiredDigest,
            liveDigest: plan.liveDigest, createdAt: plan.createdAt, adopt: plan.adopt, replace: plan.replace.map(\.address),
            holds: plan.holds ?? [], summary: plan.summary,
            actions: plan.actions.map {
                Document.Action(kind: $0.kind, address: $0.address, reason: $0.reason,
                                changes: $0.changes.map { .init(field: $0.field, old: $0.old, new: $0.new) })
            })
    }

    struct Document: Encodable {
        struct Change: Encodable {
            var field: String
            var old: String?
            var new: String?

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(field, forKey: .field)
                try c.encode(old, forKey: .old)  // explicit null
                try c.encode(new, forKey: .new)
            }

            enum CodingKeys: String, CodingKey { case field, old, new }
        }

        struct Action: Encodable {
            var kind: PlannedAction.Kind
            var address: String
            var reason: String
            var changes: [Change]
        }

        var formatVersion: Int
        var commit: String?
        var desiredDigest: String
        var liveDigest: String
        var createdAt: Int64
        var adopt: Bool
        /// Written only when not empty (a plan of format version 2).
        var replace: [String]
        /// The holds in force; written only when there are any.
        var holds: [Hold]
        var summary: PlanSummary
        var actions: [Action]

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(commit, forKey: .commit)  // explicit null
            try c.encode(desiredDigest, forKey: .desiredDigest)
            try c.encode(liveDigest, forKey: .liveDigest)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(adopt, forKey: .adopt)
            if !replace.isEmpty { try c.encode(replace, forKey: .replace) }
            if !holds.isEmpty { try c.encode(holds, forKey: .holds) }
            try c.encode(summary, forKey: .summary)
            try c.encode(actions, forKey: .actions)
        }

        enum CodingKeys: String, CodingKey {
            case formatVersion = "format_version"
            case commit
            case desiredDigest = "desired_digest"
            case liveDigest = "live_digest"
            case createdAt = "created_at"
            case adopt, replace, holds, summary, actions
        }
    }
}
