import DesiredRepo
import HomesClient
import Foundation
import KeyCustody
import TestSupport

// accessctl-bench-seed REPO DATABASE NOW HELPER-ARGS...
// Loads the repository (a git repository, read at HEAD), and makes DATABASE and the homes
// the helper manages match it, with made-up keys: the "live state already matches" setup of
// the plan benchmarks. Benchmark support only; not part of accessctl. With BENCH_KEY_FILE set
// (not empty), the keys are sealed with that master key, as the benchmarked binary keeps them.
let arguments = CommandLine.arguments
guard arguments.count >= 5, let now = Int64(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: accessctl-bench-seed REPO DATABASE NOW HELPER [ARGS...]\n".utf8))
    exit(64)
}
do {
    let load = try DesiredStateLoader.load(from: GitTreeSource(path: arguments[1], ref: "HEAD"))
    guard let desired = load.state else {
        FileHandle.standardError.write(Data("the repository is invalid\n".utf8))
        exit(1)
    }
    var sealing = KeySealing.plaintext
    if let keyFile = ProcessInfo.processInfo.environment["BENCH_KEY_FILE"], !keyFile.isEmpty {
        sealing = .sealed(try MasterKey.load(path: keyFile))
    }
    let failed = try await Converge.run(desired, database: arguments[2], sealing: sealing,
                                        helper: HelperClient(command: Array(arguments[4...])), now: now)
    if !failed.isEmpty {
        FileHandle.standardError.write(Data("\(failed.count) users failed, first: \(failed[0].user): \(failed[0].error ?? "")\n".utf8))
        exit(3)
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
