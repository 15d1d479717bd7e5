import AccessModel
import Foundation
import Testing
import TestSupport
import TokenExchange
import TokenProtocol

/// The token client over TLS against a real server on 127.0.0.1: the test service behind a
/// TLS front (TestSupport's TLSProxy) whose certificate comes from a CA made in the test.
@Suite("Token client over TLS", .serialized, .enabled(if: TestCA.isAvailable, "needs openssl"))
struct TokenClientTLSTests {
    /// A scratch directory for certificates, removed after `body`.
    private func withDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try await body(dir)
    }

    /// The test service's crm, its URLs at `origin`.
    private func crm(_ service: TestService, at origin: String) -> Service {
        var crm = service.service()
        crm.tokenExchangeURL = origin + "/exchange"
        crm.tokenRevokeURL = origin + "/revoke"
        crm.healthURL = origin + "/health"
        return crm
    }

    private func startService() async throws -> TestService {
        try await TestService.start { _, call, _ in
            call.path == "/revoke" ? json(["status": "ok"]) : json(okBody(token: "tok-tls"))
        }
    }

    @Test("a certificate from the CA in trustRoots: exchange, revoke and health over TLS, by IP and by name")
    func trusted() async throws {
        try await withDirectory { dir in
            let ca = try TestCA(directory: dir)
            let certificate = try ca.serverCertificate("server", names: ["127.0.0.1", "localhost"])
            let service = try await startService()
            defer { service.stop() }
            let proxy = try TLSProxy(certificate: certificate.certificate, key: certificate.key, backendPort: Int(service.port))
            defer { proxy.stop() }
            let roots = try TrustRoots.load(path: ca.certificate)
            #expect(roots.count == 1 && roots.path == ca.certificate)
            let client = TokenClient(settings: fast { $0.trustRoots = roots }, secrets: secrets)
            for origin in [proxy.origin, "https://localhost:\(proxy.port)"] {
                let crm = crm(service, at: origin)
                let issued = await client.exchange([request(crm)])
                #expect(succeeded(issued[0])?.tokenID == "tok-tls", "\(origin): \(String(describing: failed(issued[0])))")
                let revoked = await client.revoke([RevokeRequest(service: crm, tokenID: "tok-tls")])
                #expect(failed(revoked[0]) == nil, "\(origin)")
                #expect(failed(await client.health(origin + "/health", service: "crm")) == nil, "\(origin)")
            }
            #expect(service.recorder.calls.map(\.path) == ["/exchange", "/revoke", "/health", "/exchange", "/revoke", "/health"])
            #expect(service.recorder.calls.first?.authorization == "Bearer \(sharedSecret)")
        }
    }

    @Test("a certificate for another host: refused, naming the host checked; not retried, nothing sent")
    func wrongName() async throws {
        try await withDirectory { dir in
            let ca = try TestCA(directory: dir)
            let certificate = try ca.serverCertificate("other", names: ["crm.internal.example.com"])
            let service = try await startService()
            defer { service.stop() }
            let proxy = try TLSProxy(certificate: certificate.certificate, key: certificate.key, backendPort: Int(service.port))
            defer { proxy.stop() }
            let client = TokenClient(settings: fast { $0.trustRoots = try? TrustRoots.load(path: ca.certificate) }, secrets: secrets)
            let error = try #require(failed(await client.exchange([request(crm(service, at: proxy.origin))])[0]))
            #expect(error.kind == .network)
            #expect(error.attempts == 1)
            #expect(error.message == "crm: TLS certificate refused (not issued for 127.0.0.1)")
            let byName = try #require(failed(await client.exchange([request(crm(service, at: "https://localhost:\(proxy.port)"))])[0]))
            #expect(byName.message == "crm: TLS certificate refused (not issued for localhost)")
            #expect(service.recorder.count == 0)
        }
    }

    @Test("an untrusted certificate: refused against the system store without trustRoots, and against another CA")
    func untrusted() async throws {
        try await withDirectory { dir in
            let ca = try TestCA(directory: dir)
            let other = try TestCA(directory: dir, file: "other-ca", name: "another test CA")
            let certificate = try ca.serverCertificate("server", names: ["127.0.0.1"])
            let service = try await startService()
            defer { service.stop() }
            let proxy = try TLSProxy(certificate: certificate.certificate, key: certificate.key, backendPort: Int(service.port))
            defer { proxy.stop() }
            let crm = crm(service, at: proxy.origin)

            let system = try #require(failed(await TokenClient(settings: fast(), secrets: secrets).exchange([request(crm)])[0]))
            #expect(system.message == "crm: TLS certificate refused (not verified by the system trust store)")
            #expect(system.kind == .network && system.attempts == 1)

            let roots = try TrustRoots.load(path: other.certificate)
            let client = TokenClient(settings: fast { $0.trustRoots = roots }, secrets: secrets)
            let error = try #require(failed(await client.exchange([request(crm)])[0]))
            #expect(error.message == "crm: TLS certificate refused (not verified by the trust roots of \(other.certificate))")
            let revoke = try #require(failed(await client.revoke([RevokeRequest(service: crm, tokenID: "t")])[0]))
            #expect(revoke.message == error.message)
            let health = try #require(failed(await client.health(proxy.origin + "/health", service: "crm")))
            #expect(health.message == error.message)
            #expect(service.recorder.count == 0)
        }
    }

    @Test("https:// at a plain HTTP listener: TLS handshake failed, not retried")
    func plainHTTP() async throws {
        let plain = try HostileService { _ in .json(["status": "ok"]) }
        defer { plain.stop() }
        var crm = Service(id: "crm", name: "CRM", tokenExchangeURL: plain.url("/exchange", scheme: "https"),
                          tokenRevokeURL: plain.url("/revoke", scheme: "https"), envVar: "CRM_API_KEY",
                          secretEnv: "SC_SECRET_CRM", skillPath: "skills/crm.md", skill: "", ttlDays: 90)
        crm.keyPrefix = nil
        let error = try #require(failed(await TokenClient(settings: fast(), secrets: secrets).exchange([request(crm)])[0]))
        #expect(error.message == "crm: TLS handshake failed (the server did not answer in TLS)")
        #expect(error.kind == .network && error.attempts == 1)
        #expect(plain.requests.count == 1 && plain.requests.allSatisfy { $0.path == nil })
    }

    @Test("a refused connection: retried, then 'could not connect (connection refused)'")
    func refused() async throws {
        let closed = try await startService()
        let crm = closed.service()
        closed.stop()
        try await Task.sleep(nanoseconds: 100_000_000)
        let error = try #require(failed(await TokenClient(settings: fast(), secrets: secrets).exchange([request(crm)])[0]))
        #expect(error.message == "crm: could not connect (connection refused) after 3 attempts")
        #expect(error.kind == .network && error.attempts == 3)
    }

    @Test("trust roots: PEM certificates, through a symbolic link; a missing, unreadable or non-PEM file is refused")
    func trustRootsFile() async throws {
        try await withDirectory { dir in
            let ca = try TestCA(directory: dir)
            let other = try TestCA(directory: dir, file: "other-ca", name: "another test CA")
            let bundle = dir + "/bundle.pem"
            try (String(contentsOfFile: ca.certificate, encoding: .utf8) + String(contentsOfFile: other.certificate, encoding: .utf8))
                .write(toFile: bundle, atomically: true, encoding: .utf8)
            #expect(try TrustRoots.load(path: bundle).count == 2)
            try FileManager.default.createSymbolicLink(atPath: dir + "/link.pem", withDestinationPath: bundle)
            #expect(try TrustRoots.load(path: dir + "/link.pem").count == 2)

            func problem(_ path: String) -> String? {
                do {
                    _ = try TrustRoots.load(path: path)
                    return nil
                } catch {
                    return error.message
                }
            }
            #expect(problem(dir + "/missing.pem") == "cannot open \(dir)/missing.pem: No such file or directory")
            #expect(problem(dir) == "\(dir) is not a regular file")
            try "not a certificate\n".write(toFile: dir + "/text.pem", atomically: true, encoding: .utf8)
            let notPEM = "\(dir)/text.pem is not a PEM file of certificates (-----BEGIN CERTIFICATE----- blocks), "
                + "or one of them is damaged"
            #expect(problem(dir + "/text.pem") == notPEM)
            // A private key is not a certificate.
            #expect(problem(dir + "/ca.key")?.hasPrefix("\(dir)/ca.key is not a PEM file of certificates") == true)
        }
    }

    @Test("each call shuts its HTTP client down: the event loop threads are shared, none is left behind")
    func noThreadsLeft() async throws {
        let service = try await startService()
        defer { service.stop() }
        let client = TokenClient(settings: fast(), secrets: secrets)
        #expect(succeeded(await client.exchange([request(service.service())])[0]) != nil)
        let before = eventLoopThreads()
        #expect(before > 0)
        for n in 0..<20 {
            _ = await client.exchange([request(service.service(), n)])
            _ = await client.health(service.url("/health"))
        }
        #expect(eventLoopThreads() == before)
        #expect(service.recorder.count == 41)
    }
}

/// SwiftNIO's event loop threads in this process (named `NIO-…`).
private func eventLoopThreads() -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter { task in
        ((try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? "").hasPrefix("NIO-")
    }.count
}
