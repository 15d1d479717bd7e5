import Digest

/// Digests of the desired and the live state: a saved plan records both, and apply
/// refuses the plan when the live digest no longer matches.
///
/// Each digest is SHA-256 over a canonical line-oriented rendering (fields separated by
/// U+001F, records by newlines, every collection in sorted order), so equal states give
/// equal digests whatever order they were read in. Keys enter only as fingerprints.
public enum StateDigest {
    struct Writer {
        var hasher = SHA256()
        var buffer: [UInt8] = []

        init() { buffer.reserveCapacity(1 << 16) }

        /// Appends one record; fields go in as UTF-8 bytes, without building a line string.
        mutating func record(_ fields: String?...) {
            for (index, field) in fields.enumerated() {
                if index > 0 { buffer.append(0x1F) }
                if let field { buffer.append(contentsOf: field.utf8) } else { buffer.append(0) }
            }
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 { flush() }
        }

        private mutating func flush() {
            buffer.withUnsafeBytes { hasher.update($0) }
            buffer.removeAll(keepingCapacity: true)
        }

        mutating func finish() -> String {
            flush()
            return "sha256:" + SHA256.hexString(hasher.finalize())
        }
    }

    public static func desired(_ state: DesiredState) -> String {
        var w = Writer()
        let c = state.config
        w.record("config", String(c.version), c.resourceTypes.sorted().joined(separator: ","),
                 String(c.requireServiceGrant), String(c.ttlDays), String(c.rotateBeforeDays))
        for s in state.services {
            w.record("service", s.id, s.name, s.description, s.tokenExchangeURL, s.tokenRevokeURL, s.healthURL,
                     s.envVar, s.secretEnv, s.skillPath, HomeFiles.sha256(s.skill), String(s.ttlDays), s.keyPrefix,
                     String(s.enabled))
        }
        for u in state.users {
            w.record("user", u.id, u.email, u.unixUser, String(u.active), u.connections.joined(separator: ","))
        }
        for g in state.groups {
            w.record("group", g.id, g.description, g.members.joined(separator: ","), g.connect.joined(separator: ","))
            for (type, ids) in g.grants.sorted(by: { $0.key < $1.key }) {
                w.record("grant", g.id, type, ids.joined(separator: ","))
            }
        }
        return w.finish()
    }

    public static func live(_ state: LiveState, homes: HomeObservations) -> String {
        var w = Writer()
        for s in state.services {
            w.record("service", s.id, s.name, s.description, s.tokenExchangeURL, s.tokenRevokeURL, s.healthURL, s.envVar,
                     s.secretEnv, s.skillSHA256, String(s.ttlDays), s.keyPrefix, String(s.enabled), s.source.rawValue)
        }
        for u in state.users { w.record("user", u.id, u.email, u.unixUser, String(u.active), u.source.rawValue) }
        for g in state.groups { w.record("group", g.id, g.description, g.source.rawValue) }
        for m in state.members { w.record("member", m.group, m.user, m.source.rawValue) }
        for g in state.grants { w.record("grant", g.group, g.type, g.resource, g.source.rawValue) }
        for c in state.connections {
            w.record("connection", c.user, c.service, c.status.rawValue, c.requestID, c.tokenID, c.keyFingerprint,
                     c.issuedAt.map(String.init), c.expiresAt.map(String.init), c.lastError, String(c.attempts))
        }
        for t in state.retiredTokens {
            w.record("retired", t.service, t.tokenID, t.user, t.keyFingerprint, String(t.retiredAt), t.lastError, String(t.attempts))
        }
        for (account, home) in homes.homes.sorted(by: { $0.key < $1.key }) {
            w.record("home", account, describe(home.serviceEnv), describe(home.claudeRules))
            for (name, observation) in home.skills.sorted(by: { $0.key < $1.key }) {
                w.record("skill", account, name, describe(observation))
            }
        }
        for (account, failure) in homes.failures.sorted(by: { $0.key < $1.key }) { w.record("unavailable", account, failure) }
        return w.finish()
    }

    static func describe(_ observation: FileObservation) -> String {
        switch observation {
        case .absent: return "absent"
        case .present(let sha, let mode): return "present \(sha ?? "-") \(mode)"
        case .unsafe(let why): return "unsafe \(why)"
        }
    }
}
