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

        /// The same bytes as `record`, field by field, for hot loops: no array per record.
        mutating func begin(_ kind: String) { buffer.append(contentsOf: kind.utf8) }

        mutating func field(_ value: String?) {
            buffer.append(0x1F)
            if let value { buffer.append(contentsOf: value.utf8) } else { buffer.append(0) }
        }

        /// A file observation: `absent`, `present <sha256 or -> <mode>` or `unsafe <why>`.
        mutating func field(_ observation: FileObservation) {
            buffer.append(0x1F)
            switch observation {
            case .absent: buffer.append(contentsOf: "absent".utf8)
            case .present(let sha, let mode):
                buffer.append(contentsOf: "present ".utf8)
                buffer.append(contentsOf: (sha ?? "-").utf8)
                buffer.append(0x20)
                buffer.append(contentsOf: mode.utf8)
            case .unsafe(let why):
                buffer.append(contentsOf: "unsafe ".utf8)
                buffer.append(contentsOf: why.utf8)
            }
        }

        mutating func end() {
            buffer.append(0x0A)
            if buffer.count >= 1 << 16 { flush() }
        }

        private mutating func flush() {
            buffer.withUnsafeBytes { hasher.update($0) }
            buffer.removeAll(keepingCapacity: true)
        }

        mutating func finish() -> String {
            flush()
            return SHA256.tagged(hasher.finalize())
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
        for m in state.members {
            w.begin("member")
            w.field(m.group)
            w.field(m.user)
            w.field(m.source.rawValue)
            w.end()
        }
        for g in state.grants {
            w.begin("grant")
            w.field(g.group)
            w.field(g.type)
            w.field(g.resource)
            w.field(g.source.rawValue)
            w.end()
        }
        for c in state.connections {
            w.begin("connection")
            w.field(c.user)
            w.field(c.service)
            w.field(c.status.rawValue)
            w.field(c.requestID)
            w.field(c.tokenID)
            w.field(c.keyFingerprint)
            w.field(c.issuedAt.map(String.init))
            w.field(c.expiresAt.map(String.init))
            w.field(c.lastError)
            w.field(String(c.attempts))
            w.end()
        }
        for t in state.retiredTokens {
            w.record("retired", t.service, t.tokenID, t.user, t.keyFingerprint, String(t.retiredAt), t.lastError, String(t.attempts))
        }
        // A hold placed after a plan was saved makes the saved plan stale.
        for h in state.holds { w.record("hold", h.kind.rawValue, h.name, h.reason, h.placedBy, String(h.placedAt)) }
        for (account, home) in homes.homes.sorted(by: { $0.key < $1.key }) {
            w.begin("home")
            w.field(account)
            w.field(home.serviceEnv)
            w.field(home.claudeRules)
            w.end()
            for (name, observation) in home.skills.sorted(by: { $0.key < $1.key }) {
                w.begin("skill")
                w.field(account)
                w.field(name)
                w.field(observation)
                w.end()
            }
        }
        for (account, failure) in homes.failures.sorted(by: { $0.key < $1.key }) { w.record("unavailable", account, failure) }
        return w.finish()
    }
}
