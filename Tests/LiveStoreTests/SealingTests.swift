import AccessModel
import Foundation
import KeyCustody
import LiveStore
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Sealing at the store (issue 17): what the database holds for a key, and what opens it.
@Suite("Sealed keys in the live store")
struct SealingTests {
    static func connection(_ user: String, _ key: String, token: String = "t1") -> LiveConnection {
        LiveConnection(user: user, service: "crm", status: .active, requestID: "r-\(user)", requestEmail: "\(user)@example.com",
                       tokenID: token, apiKey: Secret(key), issuedAt: 1, expiresAt: 2)
    }

    @Test("a sealed key reads back with its master key; the row holds a blob and the fingerprint, never the key")
    func roundTrip() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let key = MasterKey.generate()
            let store = try LiveStore(path: path, sealing: .sealed(key))
            try store.write { w in try w.upsert(Self.connection("ann", "crm_SECRETVALUE_0123456789")) }
            let state = try store.snapshot()
            #expect(state.connections.first?.apiKey?.revealed == "crm_SECRETVALUE_0123456789")
            #expect(state.connections.first?.requestEmail == "ann@example.com")
            try store.close()
            let rows = try LiveStore.queryForTesting(path: path, sql: "SELECT api_key, sealed_key, key_fingerprint, request_email FROM connections")
            #expect(rows.count == 1)
            #expect(rows[0][0] == nil)
            #expect(rows[0][1]?.hasPrefix("<blob ") == true)
            #expect(rows[0][2] == Secret("crm_SECRETVALUE_0123456789").fingerprint)
            #expect(try LiveStore.queryForTesting(path: path, sql: "SELECT encryption, key_id FROM key_custody") == [["aes-256-gcm", key.id]])
            // Read without the key: every column but the key, and the fingerprint says there is one.
            let keyless = try LiveStore.snapshot(path: path, sealing: .withoutKeys)
            #expect(keyless.connections.first?.apiKey == nil)
            #expect(keyless.connections.first?.keyFingerprint == Secret("crm_SECRETVALUE_0123456789").fingerprint)
        }
    }

    @Test("a sealed key moved to another row does not open")
    func movedCiphertext() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let key = MasterKey.generate()
            let store = try LiveStore(path: path, sealing: .sealed(key))
            try store.write { w in
                try w.upsert(Self.connection("ann", "crm_KEY_OF_ANN_0123456789"))
                try w.upsert(Self.connection("bob", "crm_KEY_OF_BOB_0123456789"))
            }
            try store.close()
            try LiveStore.executeForTesting(path: path, sql: """
                UPDATE connections SET sealed_key = (SELECT sealed_key FROM connections WHERE user = 'ann') WHERE user = 'bob'
                """)
            #expect {
                try LiveStore.snapshot(path: path, sealing: .sealed(key))
            } throws: { error in
                "\(error)".contains("the stored key of connection.bob.crm does not open with this master key")
            }
        }
    }

    @Test("another master key and plain text are refused before anything is read; a sealed database is never rewritten by them")
    func wrongKeys() throws {
        try Scratch.with { scratch in
            let path = scratch.path("live.db")
            let key = MasterKey.generate(), other = MasterKey.generate()
            let store = try LiveStore(path: path, sealing: .sealed(key))
            try store.write { w in try w.upsert(Self.connection("ann", "crm_KEY_OF_ANN_0123456789")) }
            try store.close()
            let before = FileManager.default.contents(atPath: path)
            for sealing in [KeySealing.sealed(other), .plaintext] {
                #expect(throws: LiveStoreError.self) { try LiveStore(path: path, sealing: sealing) }
                #expect(throws: LiveStoreError.self) { try LiveStore.snapshot(path: path, sealing: sealing) }
            }
            #expect(FileManager.default.contents(atPath: path) == before)
        }
    }

    @Test("the master key file: exactly 32 bytes, a regular file, not readable by group or others")
    func keyFiles() throws {
        try Scratch.with { scratch in
            let good = MasterKey.generate()
            try good.write(toNewFile: scratch.path("good.key"))
            #expect(try MasterKey.load(path: scratch.path("good.key")).id == good.id)
            #expect(throws: MasterKeyError.self) { try good.write(toNewFile: scratch.path("good.key")) }
            try FileManager.default.createSymbolicLink(atPath: scratch.path("link.key"), withDestinationPath: scratch.path("good.key"))
            try scratch.write("long.key", String(repeating: "x", count: 33))
            chmod(scratch.path("long.key"), 0o600)
            try FileManager.default.copyItem(atPath: scratch.path("good.key"), toPath: scratch.path("group.key"))
            chmod(scratch.path("group.key"), 0o640)
            for (name, reason) in [("link.key", "is a symbolic link"), ("long.key", "holds 33 bytes"),
                                   ("group.key", "has mode 0640"), ("none.key", "does not exist")] {
                #expect {
                    try MasterKey.load(path: scratch.path(name))
                } throws: { error in
                    "\(error)".contains("master key file \(scratch.path(name)) \(reason)")
                }
            }
            // The key's bytes are in no description.
            let bytes = try #require(FileManager.default.contents(atPath: scratch.path("good.key")))
            #expect("\(good)" == "master key \(good.id)" && String(reflecting: good) == "master key \(good.id)")
            #expect(!String(describing: Mirror(reflecting: good).children.map(\.value)).contains(bytes.base64EncodedString()))
        }
    }
}
