import Foundation
import Logging

/// swift-log output as one logfmt line per event on stderr (`level=info msg=... key=value`),
/// which journald stores as is and tools can parse. Values are quoted when needed and never
/// carry a secret: callers log addresses, reasons and fingerprints only.
public struct LogfmtHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "level=\(event.level) msg=\(Self.quote(event.message.description))"
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(Self.quote("\(value)"))"
        }
        line += "\n"
        try? FileHandle.standardError.write(contentsOf: Data(line.utf8))
    }

    static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "=" && $0 != "\\" }
        if plain { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// The level of a run: `configured` when it names one (`ACCESSCTL_LOG`'s value, which
    /// the command line reads: `trace`, `debug`, `info`, `notice`, `warning`, `error` or
    /// `critical`); otherwise info when standard error is not a terminal (a timer, journald),
    /// warnings only on a terminal.
    public static func level(configured: String?, standardErrorIsTerminal: Bool) -> Logger.Level {
        configured.flatMap(Logger.Level.init(rawValue:)) ?? (standardErrorIsTerminal ? .warning : .info)
    }

    /// Sets up logging once, every logger at `level`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in LogfmtHandler(label: label, level: level) }
    }
}
