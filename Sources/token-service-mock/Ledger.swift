import Foundation
import Synchronization

/// One issued token, as the ledger knows it.
struct Token: Sendable {
    var service: String
    var requestID: String
    var tokenID: String
    var userEmail: String
    var apiKey: String
    var issuedAt: String
    var expiresAt: String
    var revoked = false
    /// The ledger line that made this state durable (issue, then revoke).
    var seq: UInt64 = 0
}

enum ExchangeOutcome: Sendable {
    case issued(Token, new: Bool)
    /// The request_id is known but cannot be answered with its token.
    case conflict(String)
}

enum RevokeOutcome: Sendable { case revoked, notFound }

struct LedgerError: Error, CustomStringConvertible {
    let description: String
}

/// The durable record of issued and revoked tokens: an append-only JSON-lines file.
///
/// Every state change is appended to a buffer and the caller waits until a flush has written
/// and fsync'd it (group commit: while one fsync runs, new lines collect for the next). The
/// in-memory indexes change at once, so a concurrent duplicate request sees the token, and it
/// too waits for the same line to be durable before answering.
final class Ledger: Sendable {
    /// Everything that changes, behind one lock.
    private struct State {
        var tokens: [Token] = []
        var byRequest: [String: Int] = [:]     // "service \0 request_id" -> index
        var byTokenID: [String: Int] = [:]
        var issuedCount = 0
        var revokedCount = 0

        var pending = Data()
        var lastSeq: UInt64 = 0
        var durableSeq: UInt64 = 0
        var flushing = false
        var syncs = 0
        var waiters: [(seq: UInt64, continuation: CheckedContinuation<Void, Never>)] = []

        /// Replays one ledger line.
        mutating func apply(line: Data) throws {
            guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
                throw LedgerError(description: "not a JSON object")
            }
            func string(_ name: String) throws -> String {
                guard let value = object[name] as? String, !value.isEmpty else { throw LedgerError(description: "missing \(name)") }
                return value
            }
            switch object["event"] as? String {
            case "issued":
                let token = Token(service: try string("service"), requestID: try string("request_id"), tokenID: try string("token_id"),
                                  userEmail: try string("user_email"), apiKey: try string("api_key"),
                                  issuedAt: try string("issued_at"), expiresAt: try string("expires_at"))
                guard byTokenID[token.tokenID] == nil else { throw LedgerError(description: "token \(token.tokenID) issued twice") }
                insert(token)
            case "revoked":
                let id = try string("token_id")
                guard let index = byTokenID[id] else { throw LedgerError(description: "revoked an unknown token \(id)") }
                if !tokens[index].revoked {
                    tokens[index].revoked = true
                    revokedCount += 1
                }
            default:
                throw LedgerError(description: "unknown event")
            }
        }

        mutating func insert(_ token: Token) {
            tokens.append(token)
            byRequest[Ledger.key(token.service, token.requestID)] = tokens.count - 1
            byTokenID[token.tokenID] = tokens.count - 1
            issuedCount += 1
        }
    }

    private let fd: Int32
    private let queue = DispatchQueue(label: "token-service-mock.ledger")
    private let state: Mutex<State>

    /// Opens (creating, mode 600) and replays the ledger, and locks it against a second mock.
    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LedgerError(description: "cannot open ledger \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LedgerError(description: "ledger \(path) is in use by another process")
        }
        self.fd = fd
        var state = State()
        try Self.replay(path: path, fd: fd, into: &state)
        self.state = Mutex(state)
        // Make the file's directory entry durable too (the first run creates the file).
        let dir = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    private static func key(_ service: String, _ requestID: String) -> String { service + "\u{0}" + requestID }

    private static func replay(path: String, fd: Int32, into state: inout State) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNumber += 1
            let newline = data[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? data.endIndex
            let line = data[start..<end]
            let isLast = newline == nil
            start = newline.map { $0 + 1 } ?? data.endIndex
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            do {
                try state.apply(line: Data(line))
            } catch {
                guard isLast else { throw LedgerError(description: "\(path):\(lineNumber): \(error)") }
                // A torn last line: the write never completed, so its response was never sent.
                logError("\(path):\(lineNumber): dropping an incomplete last line")
                guard ftruncate(fd, off_t(line.startIndex - data.startIndex)) == 0, fsync(fd) == 0 else {
                    throw LedgerError(description: "cannot truncate \(path): \(String(cString: strerror(errno)))")
                }
                return
            }
            if isLast {
                // A complete record whose newline is missing: finish the line before appending.
                _ = "\n".withCString { write(fd, $0, 1) }
                fsync(fd)
            }
        }
    }

    // MARK: operations

    /// Returns the token of (service, requestID), issuing and recording a new one if there is
    /// none. Returns once the record is on disk.
    func exchange(service: String, userEmail: String, ttlDays: Int, requestID: String, keyPrefix: String) async -> ExchangeOutcome {
        let (outcome, seq): (ExchangeOutcome, UInt64) = state.withLock { state in
            if let index = state.byRequest[Self.key(service, requestID)] {
                let token = state.tokens[index]
                if token.userEmail != userEmail {
                    return (.conflict("request_id was already used for another user_email"), 0)
                }
                if token.revoked {
                    return (.conflict("the token issued for this request_id has been revoked"), token.seq)
                }
                return (.issued(token, new: false), token.seq)
            }
            let now = nowSeconds()
            var token = Token(service: service, requestID: requestID, tokenID: RandomID.tokenID(), userEmail: userEmail,
                              apiKey: keyPrefix + RandomID.base62(count: 40), issuedAt: rfc3339(now),
                              expiresAt: rfc3339(now + ttlDays * 86_400))
            var line = JSONObject()
            line.add("event", "issued")
            line.add("service", token.service)
            line.add("request_id", token.requestID)
            line.add("token_id", token.tokenID)
            line.add("user_email", token.userEmail)
            line.add("api_key", token.apiKey)
            line.add("issued_at", token.issuedAt)
            line.add("expires_at", token.expiresAt)
            token.seq = append(line.text, to: &state)
            state.insert(token)
            return (.issued(token, new: true), token.seq)
        }
        await waitDurable(seq)
        return outcome
    }

    /// Marks a live token of `service` revoked and records it; `.notFound` for an unknown or
    /// already revoked token.
    func revoke(service: String, tokenID: String) async -> RevokeOutcome {
        let (outcome, seq): (RevokeOutcome, UInt64) = state.withLock { state in
            guard let index = state.byTokenID[tokenID], state.tokens[index].service == service else { return (.notFound, 0) }
            if state.tokens[index].revoked { return (.notFound, state.tokens[index].seq) }
            var line = JSONObject()
            line.add("event", "revoked")
            line.add("service", service)
            line.add("token_id", tokenID)
            line.add("revoked_at", rfc3339(nowSeconds()))
            state.tokens[index].revoked = true
            state.tokens[index].seq = append(line.text, to: &state)
            state.revokedCount += 1
            return (.revoked, state.tokens[index].seq)
        }
        await waitDurable(seq)
        return outcome
    }

    /// The live tokens (issued and not revoked) in issue order, the event counts, and how
    /// many fsyncs this process made (fewer than events when commits were grouped).
    func snapshot() -> (live: [Token], issued: Int, revoked: Int, syncs: Int) {
        state.withLock { state in (state.tokens.filter { !$0.revoked }, state.issuedCount, state.revokedCount, state.syncs) }
    }

    /// Runs `body` between two flushes, so that nothing is half-written meanwhile.
    func quiesce(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }

    // MARK: group commit

    /// Adds a line to the next flush (with the lock held) and starts a flush unless one runs.
    private func append(_ line: String, to state: inout State) -> UInt64 {
        state.pending.append(contentsOf: line.utf8)
        state.pending.append(UInt8(ascii: "\n"))
        state.lastSeq += 1
        if !state.flushing {
            state.flushing = true
            queue.async { self.flush() }
        }
        return state.lastSeq
    }

    private func waitDurable(_ seq: UInt64) async {
        guard seq > 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready: Bool = state.withLock { state in
                if state.durableSeq >= seq { return true }
                state.waiters.append((seq, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Writes and fsyncs everything pending, then wakes the requests it made durable. Runs on
    /// the ledger queue; loops while new lines arrived during the fsync.
    private func flush() {
        while true {
            let (data, upto): (Data, UInt64) = state.withLock { state in
                let data = state.pending
                state.pending = Data()
                return (data, state.lastSeq)
            }
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        logError("ledger write failed: \(String(cString: strerror(errno)))")
                        exit(1)
                    }
                    offset += n
                }
            }
            if fsync(fd) != 0 {
                logError("ledger fsync failed: \(String(cString: strerror(errno)))")
                exit(1)
            }
            let (ready, more): ([CheckedContinuation<Void, Never>], Bool) = state.withLock { state in
                state.durableSeq = upto
                state.syncs += 1
                let ready = state.waiters.filter { $0.seq <= upto }.map(\.continuation)
                state.waiters.removeAll { $0.seq <= upto }
                if state.pending.isEmpty { state.flushing = false }
                return (ready, state.flushing)
            }
            for continuation in ready { continuation.resume() }
            if !more { return }
        }
    }
}
