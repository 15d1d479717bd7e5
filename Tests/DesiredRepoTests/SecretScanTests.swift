@testable import DesiredRepo
import AccessModel
import Foundation
import Testing
import TestSupport

/// Real-shaped fake keys: each must be found, alone on a line or inside a sentence.
/// (None is a real credential; they are made up in the shapes services issue.)
let fakeSecrets: [(kind: String, value: String)] = [
    ("Stripe", "sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ"),
    ("Stripe", "sk_test_51HxYzAbCdEfGhIjKlMnOpQr"),
    ("Stripe", "rk_live_9ZyXwVuTsRqPoNmLkJiH"),
    ("Stripe", "sk_live_4f9a0b1c2d3e4f5a6b7c8d9e"),
    ("GitHub", "ghp_R2d2C3poX9wQ7eLm4KsT8vBn1ZyHa6JuFg0i"),
    ("GitHub", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("GitHub", "github_pat_11AAQX7YQ0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789abcdefGHIJKLmnop"),
    ("Slack", "xoxb-2048417893-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("Slack", "xoxp-1111111111-2222222222-3333333333-abcdef0123456789abcdef0123456789"),
    ("AWS", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS", "ASIAY34FZKBOKMUTVV7A"),
    ("JWT", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("key_prefix", "bill_8fJ2kL9qXz3mN7pR4tW6"),
    ("key_prefix", "bill_0123456789abcdef0123456789abcdef"),
    ("entropy", "Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA"),
    ("entropy", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzK3m9Q2vLp"),
    ("entropy", "u8Kp2Zq+Lr9Xw3Tb7Nf/Vd1Hy5Mc0Gj4Es6Ao=="),
    ("entropy", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ"),
]

/// Ordinary text that must pass.
let ordinaryText: [String] = [
    "Finance team: invoices, payments and the yearly report for 2024.",
    "https://po.example.com/api/internal/token-exchange?limit=100&offset=200",
    "maria.lopez@example.com, john.doe@example.com",
    "token_exchange_url token_revoke_url health_url rotate_before_days",
    "ProjectAlpha2024Budget DataWarehouseAccessRole ThisIsARatherLongCamelCaseIdentifier",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "commit 4b02006c1f7e2d3a9b8c7d6e5f4a3b2c1d0e9f8a",
    "123e4567-e89b-12d3-a456-426614174000",
    "acme-tools/po-helper finance.invoices finance-procedures crm-tools/lookup",
    "Base64EncodedPayload is a word, and so is aGVsbG8= in a description",
    "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "Keys start with bill_ and look like bill_...; po_archive_2019_readonly is a table.",
    "bill_payments_2024_quarterly bill_Quarterly_Report_2024",
    "Use `$BILLING_API_KEY` as a bearer token: `Authorization: Bearer $BILLING_API_KEY`.",
    "sk_live_ and sk_test_ keys are refused; ghp_ tokens too; AKIA is the AWS prefix.",
    "AKIAIOSFODNN7EXAMPLEPLUS is not a key id (too long)",
    "-----BEGIN PUBLIC KEY----- is not private",
    "curl -sS -H 'Accept: application/json' 'https://crm.acme.example/api/opportunities?stage=proposal&close_before=2025-06-30'",
]

private let billing = [SecretScan.KeyPrefix(prefix: Array("bill_".utf8), service: "billing")]

@Suite("Secret scan")
struct SecretScanTests {
    @Test("each real-shaped fake key is found, alone and inside a sentence", arguments: fakeSecrets.indices)
    func fakeKeyIsFound(_ index: Int) {
        let secret = fakeSecrets[index]
        for line in [secret.value, "description: \"the key is \(secret.value) for now\"", "  - \(secret.value)  # old"] {
            let found = SecretScan.scan(Array(line.utf8), markdown: false, prefixes: billing)
            #expect(found.count == 1, "\(secret.kind): \(line) -> \(found.map(\.kind))")
            #expect(found.first?.value == secret.value, "\(secret.kind): \(line)")
            let column = line.distance(from: line.startIndex, to: line.range(of: secret.value)!.lowerBound) + 1
            #expect(found.first?.column == column)
        }
    }

    @Test("ordinary text, URLs, emails, ids and digests pass", arguments: ordinaryText)
    func ordinaryTextPasses(_ text: String) {
        let found = SecretScan.scan(Array(text.utf8), markdown: false, prefixes: billing)
        #expect(found.isEmpty, "\(text) -> \(found.map { "\($0.kind): \($0.value)" })")
    }

    @Test("a PEM private key block is one finding at its BEGIN line, its body is not reported line by line")
    func pemBlock() {
        let text = """
            skill: |
              -----BEGIN RSA PRIVATE KEY-----
              MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
              VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK
              -----END RSA PRIVATE KEY-----
            other: Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA
            """
        let found = SecretScan.scan(Array(text.utf8), markdown: false, prefixes: [])
        #expect(found.map(\.line) == [2, 6])
        #expect(found.first?.column == 3)
        #expect(found.first?.kind == "a private key (PEM block)")
    }

    @Test("the allow comment: '# accessctl: allow-secret' in YAML, also '<!-- … -->' in Markdown; only on its own line")
    func allowComment() {
        let key = "Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA"
        func count(_ text: String, markdown: Bool = false) -> Int {
            SecretScan.scan(Array(text.utf8), markdown: markdown, prefixes: []).count
        }
        #expect(count("sample: \(key)  # accessctl: allow-secret") == 0)
        #expect(count("sample: \(key) #accessctl: allow-secret") == 0)
        #expect(count("# accessctl: allow-secret\nsample: \(key)") == 1)  // the line above does not count
        #expect(count("sample: \"\(key)#accessctl: allow-secret\"") == 1)  // not a comment
        #expect(count("sample: \(key) <!-- accessctl: allow-secret -->") == 1)  // not a YAML comment
        #expect(count("Example: \(key) <!-- accessctl: allow-secret -->", markdown: true) == 0)
        #expect(count("export KEY=\(key)  # accessctl: allow-secret", markdown: true) == 0)
    }

    @Test("masks show length, fingerprint and at most a quarter of the value, never more than 4 characters")
    func masks() {
        let value = "sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ"
        #expect(Masked.describe(value) == "(\(value.count) characters, \(Secret(value).fingerprint), starts \"sk_l\")")
        #expect(Masked.describe("1X") == "(2 characters, \(Secret("1X").fingerprint))")
        #expect(Masked.describe("abcdefgh") == "(8 characters, \(Secret("abcdefgh").fingerprint), starts \"ab\")")
        #expect(Masked.typed("yes") == "'yes'")
        #expect(Masked.typed("2024-01-01") == "'2024-01-01'")
        #expect(Masked.typed("0x1F") == "'0x1F'")
        #expect(Masked.typed("hunter2") == Masked.describe("hunter2"))
        #expect(Masked.typed(value) == Masked.describe(value))
    }

    @Test("a secret pasted where a name belongs is masked in every message, with one secret error at its position")
    func secretInNameFields() throws {
        try Scratch.with { scratch in
            let repo = scratch.path("repo")
            try Fixture.copyTree(from: Fixture.basePath, to: repo)
            try Fixture.write(Data("""
                name: Orders
                token_exchange_url: http://127.0.0.1:8710/orders/token-exchange
                token_revoke_url: http://127.0.0.1:8710/orders/token-revoke
                env_var: ORDERS_API_KEY
                secret_env: sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ
                key_prefix: "AKIAIOSFODNN7EXAMPLE "

                """.utf8), to: repo + "/services/orders.yaml")
            try Fixture.write(Data("email: erin@example.com\nunix_user: Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA\nactive: sk_test_51HxYzAbCdEfGhIjKlMnOpQr\nconnections: [sk_live_4f9a0b1c2d3e4f5a6b7c8d9e]\n".utf8),
                              to: repo + "/users/erin.yaml")
            let result = try DesiredStateLoader.load(from: DirectorySource(path: repo))
            let text = result.diagnostics.map(\.description).joined(separator: "\n")
            for secret in ["sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ", "AKIAIOSFODNN7EXAMPLE", "Xq7vR2mK9pL4wZ8nB3jT6yH1cF5gD0sA",
                           "sk_test_51HxYzAbCdEfGhIjKlMnOpQr", "sk_live_4f9a0b1c2d3e4f5a6b7c8d9e"] {
                #expect(!text.contains(secret), "\(secret) in:\n\(text)")
                #expect(text.contains(Masked.describe(secret)), "\(secret) not masked in:\n\(text)")
            }
            #expect(text.contains("services/orders.yaml:5:13: error: 'secret_env' value (34 characters, \(Secret("sk_live_4f9aB7cD2eF1gH3iJ5kL6mN8pQ").fingerprint), starts \"sk_l\") must match ^[A-Z_][A-Z0-9_]{0,127}$"), "\(text)")
            #expect(text.contains("services/orders.yaml:5:13: error: this looks like a Stripe secret key"), "\(text)")
            #expect(text.contains("users/erin.yaml:4:15: error: unknown service (32 characters"), "\(text)")
            #expect(result.state == nil)
        }
    }

    @Test("no expected diagnostics file holds a fake key in clear")
    func goldenFilesHoldNoSecret() throws {
        var checked = 0
        for name in Fixture.invalidNames {
            let text = try Fixture(name).expectedText
            for secret in fakeSecrets.map(\.value) + fixtureSecrets {
                #expect(!text.contains(secret), "\(name)/expected.txt holds \(secret)")
            }
            checked += 1
        }
        #expect(checked >= 120)
    }
}

/// The keys planted in fixture 128 that are not in `fakeSecrets`.
let fixtureSecrets = [
    "ord_T9bX4kQ2mV7nL5pR8sW1zY3c", "Zt5Kq8Wm2Rv7Lp4Xn9Bc6Hj3Df1Gs0Ay",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
]
