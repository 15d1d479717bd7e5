import FlyingFox
import FlyingSocks
import Foundation

// token-service-mock: a token-exchange service (docs/protocol.md) for tests and demos.
// Binds loopback only, records every issued and revoked token in an fsync'd ledger, and
// injects faults on request. Never prints a key: fingerprints only.

let options: Options
do {
    guard let parsed = try Options.parse(Array(CommandLine.arguments.dropFirst())) else {
        print(Options.usage)
        exit(0)
    }
    options = parsed
} catch {
    logError("\(error)")
    FileHandle.standardError.write(Data("run token-service-mock --help for usage\n".utf8))
    exit(64)
}

guard let bind = BindAddress(host: options.host) else {
    logError("refusing to bind \(options.host): only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed")
    exit(64)
}

let ledger: Ledger
do {
    ledger = try Ledger(path: options.ledger!)
} catch {
    logError("\(error)")
    exit(1)
}

let seed = options.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
let faultState = FaultState(faults: options.faults, seed: seed)
let info = ServerInfo()
let service = MockService(ledger: ledger, faults: faultState, secrets: options.secrets, defaultSecret: options.defaultSecret,
                          keyPrefixes: options.keyPrefixes, info: info, verbose: options.verbose)

// SIGTERM and SIGINT: exit between two ledger flushes, so that no line is left half-written.
signal(SIGPIPE, SIG_IGN)
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let signalSources = [SIGTERM, SIGINT].map { sig -> any DispatchSourceSignal in
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    source.setEventHandler { ledger.quiesce { exit(0) } }
    source.resume()
    return source
}

let server: HTTPServer
do {
    switch bind {
    case .v4(let a):
        server = HTTPServer(address: try sockaddr_in.inet(ip4: a, port: options.port!), timeout: 120, pool: NoDelayPool(base: HTTPServer.defaultPool()), logger: .disabled,
                            handler: service)
    case .v6(let a):
        server = HTTPServer(address: try sockaddr_in6.inet6(ip6: a, port: options.port!), timeout: 120, pool: NoDelayPool(base: HTTPServer.defaultPool()), logger: .disabled,
                            handler: service)
    }
} catch {
    logError("cannot use address \(options.host): \(error)")
    exit(64)
}

let runTask = Task {
    do {
        try await server.run()
    } catch {
        logError("cannot listen on \(bind.authority(port: options.port!)): \(error)")
        exit(1)
    }
}

do {
    try await server.waitUntilListening(timeout: 10)
} catch {
    logError("the server did not start listening")
    exit(1)
}
let port: UInt16
switch await server.listeningAddress {
case .ip4(_, let p)?, .ip6(_, let p)?: port = p
default:
    logError("cannot tell the listening port")
    exit(1)
}
info.authority = bind.authority(port: port)

if let portFile = options.portFile {
    // Write then rename, so that a watcher never reads a half-written file.
    let temp = portFile + ".tmp-\(getpid())"
    do {
        try Data("\(port)\n".utf8).write(to: URL(fileURLWithPath: temp))
        guard rename(temp, portFile) == 0 else { throw LedgerError(description: String(cString: strerror(errno))) }
    } catch {
        logError("cannot write port file \(portFile): \(error)")
        exit(1)
    }
}

let snapshot = ledger.snapshot()
logError("ledger \(options.ledger!): \(snapshot.issued) issued, \(snapshot.revoked) revoked, \(snapshot.live.count) live; fault seed \(seed)")
FileHandle.standardOutput.write(Data("listening on http://\(info.authority)\n".utf8))

await runTask.value
withExtendedLifetime(signalSources) {}
