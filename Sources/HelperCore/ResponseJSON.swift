import HelperProtocol

/// The response as JSON, written by hand: the same document as `JSONEncoder` with sorted
/// keys would write (the schema and the examples are the contract), at a fraction of the
/// cost for 10,000 users.
enum ResponseJSON {
    static func encode(_ response: HelperResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + response.users.count * 600)
        out += Array(#"{"#.utf8)
        if let error = response.error {
            key("error", &out)
            string(error, &out)
            out.append(0x2C)
        }
        key("users", &out)
        out.append(0x5B)
        for (index, report) in response.users.enumerated() {
            if index > 0 { out.append(0x2C) }
            user(report, &out)
        }
        out.append(0x5D)
        out.append(0x2C)
        key("version", &out)
        out += Array(String(response.version).utf8)
        out += [0x7D, 0x0A]
        return out
    }

    private static func user(_ r: UserReport, _ out: inout [UInt8]) {
        out.append(0x7B)
        var first = true
        func field(_ name: String, _ body: (inout [UInt8]) -> Void) {
            if !first { out.append(0x2C) }
            first = false
            key(name, &out)
            body(&out)
        }
        // Keys in sorted order, as JSONEncoder's .sortedKeys writes them.
        if let state = r.claudeRules { field("claude_rules") { file(state, &$0) } }
        if let error = r.error { field("error") { string(error, &$0) } }
        field("ok") { $0 += Array((r.ok ? "true" : "false").utf8) }
        if let removed = r.removed { field("removed") { strings(removed, &$0) } }
        if let state = r.serviceEnv { field("service_env") { file(state, &$0) } }
        if let skills = r.skills {
            field("skills") { out in
                out.append(0x7B)
                for (index, name) in skills.keys.sorted().enumerated() {
                    if index > 0 { out.append(0x2C) }
                    key(name, &out)
                    file(skills[name]!, &out)
                }
                out.append(0x7D)
            }
        }
        field("user") { string(r.user, &$0) }
        if let written = r.written { field("written") { strings(written, &$0) } }
        out.append(0x7D)
    }

    private static func file(_ state: FileState, _ out: inout [UInt8]) {
        out.append(0x7B)
        if let mode = state.mode { key("mode", &out); string(mode, &out); out.append(0x2C) }
        if let reason = state.reason { key("reason", &out); string(reason, &out); out.append(0x2C) }
        if let sha = state.sha256 { key("sha256", &out); string(sha, &out); out.append(0x2C) }
        key("state", &out)
        string(state.state.rawValue, &out)
        out.append(0x7D)
    }

    private static func strings(_ values: [String], _ out: inout [UInt8]) {
        out.append(0x5B)
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(0x2C) }
            string(value, &out)
        }
        out.append(0x5D)
    }

    private static func key(_ name: String, _ out: inout [UInt8]) {
        string(name, &out)
        out.append(0x3A)
    }

    /// A JSON string: quotes, backslashes and control characters escaped; other bytes as UTF-8.
    static func string(_ text: String, _ out: inout [UInt8]) {
        out.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}
