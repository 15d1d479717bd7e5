import AccessModel
import func Foundation.log2

/// How a value that must not be repeated is shown in a message: its length, its fingerprint
/// and at most its first four characters (never more than a quarter of it), for example
/// `(40 characters, sha256:1a2b3c4d5e6f, starts "sk_l")`.
///
/// Diagnostics go verbatim into CI logs and pull-request comments. A value that failed a
/// check may be a secret pasted into the wrong place, so it is masked rather than quoted.
enum Masked {
    static func describe(_ value: String) -> String {
        let count = value.count
        let shown = min(4, count / 4)
        let start = shown > 0 ? ", starts \"\(value.prefix(shown))\"" : ""
        return "(\(count) character\(count == 1 ? "" : "s"), \(Secret(value).fingerprint)\(start))"
    }

    /// `'text'` for a short word that YAML reads as another type and that cannot be a
    /// secret (`yes`, `0777`, `2024-01-01`, `~`); the mask for anything else.
    static func typed(_ text: String) -> String {
        isPlainWord(text) ? "'\(text)'" : describe(text)
    }

    /// YAML 1.1 booleans, nulls, and numbers or dates of at most 10 characters.
    static func isPlainWord(_ text: String) -> Bool {
        if vocabulary.contains(text.lowercased()) { return true }
        guard (1...10).contains(text.utf8.count) else { return false }
        var body = Substring(text)
        if body.hasPrefix("+") || body.hasPrefix("-") { body = body.dropFirst() }
        let hex = body.hasPrefix("0x")
        if hex || body.hasPrefix("0o") { body = body.dropFirst(2) }
        return !body.isEmpty && body.utf8.contains(where: Rules.digit)
            && body.utf8.allSatisfy { Rules.digit($0) || Rules.isAny($0, hex ? "abcdefABCDEF_" : "._:-") }
    }

    private static let vocabulary: Set<String> = [
        "yes", "no", "on", "off", "y", "n", "true", "false", "null", "~", "",
    ]
}

/// Finds secrets in the text of repository files: known key shapes (Stripe, GitHub, Slack,
/// AWS access key ids, JSON Web Tokens, PEM private keys, the services' own `key_prefix`es)
/// and high-entropy strings. It catches keys pasted by mistake, not an author set on hiding one.
///
/// A line holding the comment `# accessctl: allow-secret` (in a skill file also
/// `<!-- accessctl: allow-secret -->`) is not checked.
enum SecretScan {
    static let allowMarker = "accessctl: allow-secret"

    /// A service's declared key prefix, for "a key of service 'crm'".
    struct KeyPrefix {
        var prefix: [UInt8]
        var service: String
    }

    struct Finding {
        var line: Int
        var column: Int
        /// What it looks like: "a Stripe secret key".
        var kind: String
        var value: String
    }

    /// Only prefixes of at least this many characters are looked for (a one- or two-character
    /// prefix would match ordinary words; such keys are still found by their entropy).
    static let minimumPrefixLength = 3

    /// The diagnostics for the secrets in `bytes`; `values` collects what was found, so that
    /// other messages quoting the same text can be masked too.
    static func diagnostics(path: String, bytes: [UInt8], markdown: Bool, prefixes: [KeyPrefix],
                            values: inout Set<String>) -> [Diagnostic] {
        let allow = markdown ? "<!-- \(allowMarker) -->" : "# \(allowMarker)"
        return scan(bytes, markdown: markdown, prefixes: prefixes).map { finding in
            values.insert(finding.value)
            return Diagnostic(
                path: path, line: finding.line, column: finding.column, severity: .error,
                message: "this looks like \(finding.kind) \(Masked.describe(finding.value)); secrets must not be committed: remove it and rotate the key (revoke it and issue a new one), since once committed it stays in the git history; if it is not a secret, add the comment '\(allow)' at the end of the line")
        }
    }

    static func scan(_ bytes: [UInt8], markdown: Bool, prefixes: [KeyPrefix]) -> [Finding] {
        var findings: [Finding] = []
        var lineNumber = 0
        var start = 0
        var inPEM = false
        // The bytes a shape or a service's prefix can start with, looked up at each word start.
        var starts = [Bool](repeating: false, count: 256)
        for c in shapeStarts { starts[Int(c)] = true }
        for key in prefixes { if let c = key.prefix.first { starts[Int(c)] = true } }
        while start <= bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == 13 { lineEnd -= 1 }
            let line = bytes[start..<lineEnd]
            if inPEM {
                if contains(line, "-----END ") { inPEM = false }
            } else if !isAllowed(line, markdown: markdown) {
                scanLine(line, number: lineNumber, prefixes: prefixes, starts: starts, into: &findings, inPEM: &inPEM,
                         rest: bytes[start...])
            } else if pemStart(line) != nil && !contains(line, "-----END ") {
                inPEM = true  // an allowed PEM block: its body lines are allowed too
            }
            start = end + 1
        }
        return findings
    }

    // MARK: - Lines

    private static func scanLine(_ line: ArraySlice<UInt8>, number: Int, prefixes: [KeyPrefix], starts: [Bool],
                                 into findings: inout [Finding], inPEM: inout Bool, rest: ArraySlice<UInt8>) {
        func column(_ index: Int) -> Int {
            1 + line[line.startIndex..<index].lazy.filter { $0 & 0xC0 != 0x80 }.count
        }
        if let begin = pemStart(line) {
            // The whole block is the value; its body lines are not checked one by one.
            var block = rest
            if let endRange = firstRange(of: "-----END ", in: rest) {
                let afterEnd = rest[endRange.upperBound...].firstIndex(of: 10) ?? rest.endIndex
                block = rest[rest.startIndex..<afterEnd]
            }
            let text = String(decoding: block, as: UTF8.self)
            findings.append(Finding(line: number, column: column(begin), kind: "a private key (PEM block)", value: text))
            if !contains(line, "-----END ") { inPEM = true }
            return
        }
        var covered: [Range<Int>] = []
        var i = line.startIndex
        while i < line.endIndex {
            if starts[Int(line[i])], i == line.startIndex || !isAlnum(line[i - 1]),
               let shape = knownShape(line, at: i, prefixes: prefixes) {
                let (kind, end) = shape
                findings.append(Finding(line: number, column: column(i), kind: kind,
                                        value: String(decoding: line[i..<end], as: UTF8.self)))
                covered.append(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        i = line.startIndex
        while i < line.endIndex {
            guard isTokenCharacter(line[i]) else { i += 1; continue }
            var end = i
            while end < line.endIndex && isTokenCharacter(line[end]) { end += 1 }
            let range = i..<end
            if !covered.contains(where: { $0.overlaps(range) }), isHighEntropy(line[range]) {
                findings.append(Finding(line: number, column: column(i), kind: "a random-looking key or password",
                                        value: String(decoding: line[range], as: UTF8.self)))
            }
            i = end
        }
    }

    /// Whether the line carries the allow comment.
    static func isAllowed(_ line: ArraySlice<UInt8>, markdown: Bool) -> Bool {
        var from = line.startIndex
        while let found = firstRange(of: "accessctl: allow-secret", in: line[from...]) {
            var j = found.lowerBound
            while j > line.startIndex && (line[j - 1] == 32 || line[j - 1] == 9) { j -= 1 }
            if j > line.startIndex && line[j - 1] == 35 /* # */ {
                let hash = j - 1
                if hash == line.startIndex || line[hash - 1] == 32 || line[hash - 1] == 9 { return true }
            }
            if markdown && j - 4 >= line.startIndex && Array(line[(j - 4)..<j]) == Array("<!--".utf8) { return true }
            from = found.upperBound
        }
        return false
    }

    private static func pemStart(_ line: ArraySlice<UInt8>) -> Int? {
        guard let begin = firstRange(of: "-----BEGIN ", in: line) else { return nil }
        let after = line[begin.upperBound...]
        guard let close = firstRange(of: "-----", in: after) else { return nil }
        return contains(after[after.startIndex..<close.lowerBound], "PRIVATE KEY") ? begin.lowerBound : nil
    }

    // MARK: - Known shapes

    private static let stripe = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"].map { Array($0.utf8) }
    private static let github = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].map { Array($0.utf8) }
    /// The first bytes of the fixed shapes (`sk_`/`rk_`, `gh`, `xox`, `AKIA`/`ASIA`, `eyJ`):
    /// any other byte starts none of them, and is only looked at for a service's prefix.
    private static let shapeStarts: Set<UInt8> = Set("srgxAe".utf8)

    /// The kind and end of a known key shape starting at `i` (a word boundary), if any.
    private static func knownShape(_ line: ArraySlice<UInt8>, at i: Int, prefixes: [KeyPrefix]) -> (String, Int)? {
        func run(from start: Int, _ allowed: (UInt8) -> Bool) -> Int {
            var end = start
            while end < line.endIndex && allowed(line[end]) { end += 1 }
            return end
        }
        func hasPrefix(_ p: [UInt8]) -> Bool {
            line.endIndex - i >= p.count && line[i..<(i + p.count)].elementsEqual(p)
        }
        func hasPrefix(_ prefix: StaticString) -> Bool {
            let p = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
            return line.endIndex - i >= p.count && line[i..<(i + p.count)].elementsEqual(p)
        }
        for prefix in stripe where hasPrefix(prefix) {
            let end = run(from: i + prefix.count, isAlnum)
            if end - i - prefix.count >= 12 { return ("a Stripe secret key", end) }
        }
        for prefix in github where hasPrefix(prefix) {
            let end = run(from: i + prefix.count, isAlnum)
            if end - i - prefix.count >= 20 { return ("a GitHub token", end) }
        }
        if hasPrefix("github_pat_") {
            let end = run(from: i + 11) { isAlnum($0) || $0 == 95 }
            if end - i - 11 >= 20 { return ("a GitHub token", end) }
        }
        if hasPrefix("xox"), i + 4 <= line.endIndex, Rules.isAny(line[i + 3], "abposr"), i + 4 < line.endIndex, line[i + 4] == 45 {
            let end = run(from: i + 5) { isAlnum($0) || $0 == 45 }
            if end - i - 5 >= 10, line[(i + 5)..<end].contains(where: Rules.digit) { return ("a Slack token", end) }
        }
        if hasPrefix("AKIA") || hasPrefix("ASIA") {
            let end = run(from: i + 4) { Rules.upper($0) || Rules.digit($0) }
            if end - i - 4 == 16, end == line.endIndex || !isAlnum(line[end]) { return ("an AWS access key id", end) }
        }
        if hasPrefix("eyJ") {
            let base64url: (UInt8) -> Bool = { isAlnum($0) || $0 == 95 || $0 == 45 }
            let header = run(from: i, base64url)
            if header - i >= 10, header < line.endIndex, line[header] == 46 {
                let payload = run(from: header + 1, base64url)
                if payload - header - 1 >= 10, payload < line.endIndex, line[payload] == 46 {
                    let signature = run(from: payload + 1, base64url)
                    if signature - payload - 1 >= 10 { return ("a JSON Web Token", signature) }
                }
            }
        }
        for key in prefixes where key.prefix.count >= minimumPrefixLength && line.endIndex - i >= key.prefix.count
            && line[i..<(i + key.prefix.count)].elementsEqual(key.prefix) {
            var end = run(from: i + key.prefix.count, Rules.keyCharacter)
            while end > i + key.prefix.count && Rules.isAny(line[end - 1], ".:") { end -= 1 }
            if looksIssued(line[(i + key.prefix.count)..<end]) {
                return ("a key of service '\(key.service)'", end)
            }
        }
        return nil
    }

    /// Whether the text after a key prefix looks like an issued key rather than a word
    /// (`po_archive_2019` is a name, `po_8fJ2kL9qXz3mN7pR` a key): a run of at least 12
    /// letters and digits, with both, that is not mostly lower-case words.
    private static func looksIssued(_ rest: ArraySlice<UInt8>) -> Bool {
        var best: ArraySlice<UInt8> = []
        var i = rest.startIndex
        while i < rest.endIndex {
            guard isAlnum(rest[i]) else { i += 1; continue }
            var end = i
            while end < rest.endIndex && isAlnum(rest[end]) { end += 1 }
            if end - i > best.count { best = rest[i..<end] }
            i = end
        }
        return best.count >= 12 && best.contains(where: Rules.digit)
            && best.contains(where: { Rules.lower($0) || Rules.upper($0) }) && wordShare(best) <= 0.5
    }

    // MARK: - Entropy

    /// Characters of a token for the entropy check: base64 and base64url.
    static func isTokenCharacter(_ c: UInt8) -> Bool {
        isAlnum(c) || c == 43 /* + */ || c == 47 /* / */ || c == 61 /* = */ || c == 95 /* _ */ || c == 45 /* - */
    }

    static func isAlnum(_ c: UInt8) -> Bool { Rules.lower(c) || Rules.upper(c) || Rules.digit(c) }

    /// The shortest token checked for entropy.
    static let minimumTokenLength = 20

    /// A token is a likely secret when, with trailing `=` padding removed, it is at least
    /// 20 characters long, is not hexadecimal (digests, commit ids, UUIDs), mixes upper case,
    /// lower case and digits, has a Shannon entropy of at least min(4.5, log2(length) - 0.8)
    /// bits per character, and at most 30% of it is runs of four or more lower-case letters
    /// (camel-case words such as `ProjectAlpha2024Budget`). Measured on this repository's
    /// documentation and sources, the rule flags none of their words, and misses about 7% of
    /// random 20-character base62 keys and fewer of longer ones.
    static func isHighEntropy(_ token: ArraySlice<UInt8>) -> Bool {
        var t = token
        while let last = t.last, last == 61 { t = t.dropLast() }
        let n = t.count
        guard n >= minimumTokenLength else { return false }
        guard !t.allSatisfy({ Rules.digit($0) || Rules.isAny($0, "abcdefABCDEF-") }) else { return false }
        guard t.contains(where: Rules.upper), t.contains(where: Rules.lower), t.contains(where: Rules.digit) else { return false }
        var counts = [Int](repeating: 0, count: 256)
        for c in t { counts[Int(c)] += 1 }
        var entropy = 0.0
        for count in counts where count > 0 {
            let p = Double(count) / Double(n)
            entropy -= p * log2(p)
        }
        guard entropy >= min(4.5, log2(Double(n)) - 0.8) else { return false }
        return wordShare(t) <= 0.3
    }

    /// The share of `text` in runs of four or more lower-case letters.
    private static func wordShare(_ text: ArraySlice<UInt8>) -> Double {
        var inWords = 0, run = 0
        for c in text {
            if Rules.lower(c) { run += 1; continue }
            if run >= 4 { inWords += run }
            run = 0
        }
        if run >= 4 { inWords += run }
        return Double(inWords) / Double(max(1, text.count))
    }

    // MARK: - Bytes

    private static func firstRange(of needle: StaticString, in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        let n = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard haystack.count >= n.count else { return nil }
        var i = haystack.startIndex
        while i + n.count <= haystack.endIndex {
            if haystack[i] == n[0] && haystack[i..<(i + n.count)].elementsEqual(n) { return i..<(i + n.count) }
            i += 1
        }
        return nil
    }

    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: StaticString) -> Bool {
        firstRange(of: needle, in: haystack) != nil
    }
}
