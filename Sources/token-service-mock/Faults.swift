import Foundation
import Synchronization

/// The fault switches: probabilities per request (0...1) and a fixed latency.
struct Faults: Sendable, Equatable {
    var errorRate = 0.0
    var latencyMs = 0
    var malformedRate = 0.0
    var oversizedRate = 0.0
    var trickleRate = 0.0
    var redirectRate = 0.0
    var htmlRate = 0.0
    var badKeyRate = 0.0
    var revokeErrorRate = 0.0
    var lostResponseRate = 0.0

    /// Every switch by its JSON name (snake case; the command-line flag is the same name in
    /// kebab case with `--` in front).
    static var rateNames: [(String, WritableKeyPath<Faults, Double>)] { [
        ("error_rate", \.errorRate), ("malformed_rate", \.malformedRate), ("oversized_rate", \.oversizedRate),
        ("trickle_rate", \.trickleRate), ("redirect_rate", \.redirectRate), ("html_rate", \.htmlRate),
        ("bad_key_rate", \.badKeyRate), ("revoke_error_rate", \.revokeErrorRate),
        ("lost_response_rate", \.lostResponseRate),
    ] }

    static let maxLatencyMs = 60_000

    var json: JSONObject {
        var o = JSONObject()
        for (name, path) in Self.rateNames { o.add(name, self[keyPath: path]) }
        o.add("latency_ms", latencyMs)
        return o
    }
}

enum FaultUpdateError: Error, CustomStringConvertible {
    case bad(String)
    var description: String { if case let .bad(m) = self { return m }; return "" }
}

extension Faults {
    /// Applies a `/_faults` body: a JSON object holding any subset of the switches (and
    /// optionally `seed`). Unknown names and out-of-range values are refused as a whole.
    static func update(_ current: Faults, with body: Data) throws -> (Faults, UInt64?) {
        guard let object = JSONValue.object(body) else { throw FaultUpdateError.bad("body must be a JSON object") }
        var faults = current
        var seed: UInt64?
        for (rawKey, value) in object.sorted(by: { $0.key < $1.key }) {
            let key = rawKey.replacingOccurrences(of: "-", with: "_")
            if key == "latency_ms" {
                // Any whole number, so that a client writing `100.0` gets what it meant.
                guard let n = value.number, n == n.rounded(), n >= 0, n <= Double(maxLatencyMs) else {
                    throw FaultUpdateError.bad("latency_ms must be a whole number in 0...\(maxLatencyMs)")
                }
                faults.latencyMs = Int(n)
            } else if key == "seed" {
                guard let n = value.number, n == n.rounded(), n >= 0, n < 9.0e15 else {
                    throw FaultUpdateError.bad("seed must be a non-negative whole number")
                }
                seed = UInt64(n)
            } else if let path = rateNames.first(where: { $0.0 == key })?.1 {
                guard let r = value.number, r >= 0, r <= 1 else { throw FaultUpdateError.bad("\(key) must be a number in 0...1") }
                faults[keyPath: path] = r
            } else {
                throw FaultUpdateError.bad("unknown fault \(jsonString(rawKey))")
            }
        }
        return (faults, seed)
    }
}

/// What the fault dice decided for one request.
struct FaultDecision: Sendable {
    enum Before: Sendable { case none, error, redirect, html, malformed(Int), oversized, badKey(Int) }
    /// A fault answered instead of the real work; nothing is recorded in the ledger.
    var before: Before = .none
    /// After the ledger commit: answer 503 although the work was done (a lost response).
    var lostResponse = false
    /// After the ledger commit: send the real answer one byte per 100 ms.
    var trickle = false
}

/// The current switches and the seeded generator behind them.
final class FaultState: Sendable {
    private struct State {
        var faults: Faults
        var rng: SplitMix64
    }

    private let state: Mutex<State>

    init(faults: Faults, seed: UInt64) {
        state = Mutex(State(faults: faults, rng: SplitMix64(seed: seed)))
    }

    var current: Faults { state.withLock { $0.faults } }

    func set(_ new: Faults, seed: UInt64?) {
        state.withLock { state in
            state.faults = new
            if let seed { state.rng = SplitMix64(seed: seed) }
        }
    }

    /// Rolls the dice for one exchange or revoke. A switch at 0 draws nothing, so a run with
    /// one switch on is reproducible from its seed whatever the others are.
    func decide(revoke: Bool) -> (FaultDecision, latencyMs: Int) {
        state.withLock { state in
            let f = state.faults
            func roll(_ rate: Double) -> Bool { rate > 0 && state.rng.unit() < rate }
            var d = FaultDecision()
            if roll(f.errorRate) || (revoke && roll(f.revokeErrorRate)) {
                d.before = .error
            } else if roll(f.redirectRate) {
                d.before = .redirect
            } else if roll(f.htmlRate) {
                d.before = .html
            } else if roll(f.malformedRate) {
                d.before = .malformed(Int(state.rng.next() % 3))
            } else if roll(f.oversizedRate) {
                d.before = .oversized
            } else if !revoke && roll(f.badKeyRate) {
                d.before = .badKey(Int(state.rng.next() % UInt64(BadKey.variants.count)))
            }
            if case .none = d.before {
                d.lostResponse = roll(f.lostResponseRate)
                d.trickle = !d.lostResponse && roll(f.trickleRate)
            }
            return (d, f.latencyMs)
        }
    }
}

/// Keys a broken or hostile service might hand out: each would corrupt or inject into a
/// single-quoted `.service_env` line if a client wrote it unchecked.
enum BadKey {
    /// What follows the service's prefix.
    static let variants: [String] = [
        "abc\nEVIL=1",
        "abc'; touch /tmp/pwned; '",
        "${HOME}",
        "$(id)",
        "abc def",
        "abc\"quote",
    ]
}
