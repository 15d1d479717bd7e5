import KeyCustody
import LiveStore
import HomesClient
import AccessModel
import HelperProtocol

/// Makes a database and the homes match a desired state, as an apply would, but with
/// made-up keys and no service called. For tests and benchmarks that need a converged
/// server without a token service.
public enum Converge {
    /// The made-up key of a connection: deterministic, in the service's key format.
    public static func key(user: String, service: Service) -> Secret {
        Secret((service.keyPrefix ?? "") + "TESTKEY-\(user)-\(service.id)-0123456789abcdef")
    }

    /// Writes every registry row and an active connection (expiring `expiresInDays` after
    /// `now`) for each desired connection, then the home files through the helper.
    /// Returns the users the helper could not write for.
    @discardableResult
    public static func run(_ desired: DesiredState, database: String, sealing: KeySealing = .plaintext, helper: HelperClient,
                           now: Int64, expiresInDays: Int64 = 200) async throws -> [UserReport] {
        let store = try LiveStore(path: database, sealing: sealing)
        let effective = desired.effectiveConnections()
        let services = Dictionary(desired.services.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var homes: [ApplyRequest.UserFiles] = []
        var contents: [String: String] = [:]
        try store.write { writer in
            for s in desired.services {
                try writer.upsert(LiveService(id: s.id, name: s.name, description: s.description, tokenExchangeURL: s.tokenExchangeURL,
                                              tokenRevokeURL: s.tokenRevokeURL, healthURL: s.healthURL, envVar: s.envVar,
                                              secretEnv: s.secretEnv, skillSHA256: HomeFiles.sha256(s.skill), ttlDays: s.ttlDays,
                                              keyPrefix: s.keyPrefix, enabled: s.enabled))
            }
            for u in desired.users { try writer.upsert(LiveUser(id: u.id, email: u.email, unixUser: u.unixUser, active: u.active)) }
            for g in desired.groups {
                try writer.upsert(LiveGroup(id: g.id, description: g.description))
                for m in g.members { try writer.upsert(LiveMember(group: g.id, user: m)) }
                for (type, ids) in g.grants { for id in ids { try writer.upsert(LiveGrant(group: g.id, type: type, resource: id)) } }
            }
            for u in desired.users where u.active {
                var entries: [(variable: String, key: Secret)] = []
                var skills: [String: String] = [:]
                for id in effective[u.id] ?? [] {
                    guard let s = services[id], s.enabled else { continue }
                    let key = key(user: u.id, service: s)
                    try writer.upsert(LiveConnection(user: u.id, service: id, status: .active, requestID: "req-\(u.id)-\(id)",
                                                     tokenID: "tok-\(u.id)-\(id)", apiKey: key, issuedAt: now - 86_400,
                                                     expiresAt: now + expiresInDays * 86_400))
                    entries.append((s.envVar, key))
                    let digest = HomeFiles.sha256(s.skill)
                    contents[digest] = s.skill
                    skills[HomeFiles.skillFile(id)] = digest
                }
                homes.append(ApplyRequest.UserFiles(user: u.unixUser, serviceEnv: entries.isEmpty ? nil : HomeFiles.serviceEnv(entries),
                                                    skills: skills))
            }
        }
        try store.close()
        let response = try await helper.apply(ApplyRequest(contents: contents, users: homes))
        return response.users.filter { !$0.ok }
    }
}
