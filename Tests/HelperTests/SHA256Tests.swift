import HelperProtocol
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180-4 test vectors")
    func vectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("incremental updates across block boundaries equal one update")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 999] {
            var hasher = SHA256()
            hasher.update(bytes[..<split])
            hasher.update(bytes[split...])
            #expect(SHA256.hexString(hasher.finalize()) == SHA256.hex(bytes), "split at \(split)")
        }
    }

    @Test("fingerprints and tagged digests: sha256: and the hex digest, short or whole")
    func formats() {
        #expect(SHA256.fingerprint(Array("abc".utf8)) == "sha256:ba7816bf8f01")
        #expect(SHA256.fingerprint(hexDigest: SHA256.hex(Array("abc".utf8))) == "sha256:ba7816bf8f01")
        var hasher = SHA256()
        hasher.update(Array("abc".utf8))
        #expect(SHA256.tagged(hasher.finalize())
            == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("a non-contiguous sequence hashes like its bytes")
    func nonContiguous() {
        let bytes = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(SHA256.hex(bytes.lazy.map { $0 }) == SHA256.hex(bytes))
    }
}
