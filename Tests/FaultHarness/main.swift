// `accessctl-faults`: the accessctl command line with the tests' crash points installed.
// Tests (and soak/) run it instead of `accessctl` when they set ACCESSCTL_FAULT:
//   after-lock, after-registry, after-exchange, after-files, after-revoke: SIGKILL there;
//   exchange:<n>: SIGKILL once n keys of the run are exchanged;
//   hold-lock:<seconds>: keep the lock that long after taking it (for concurrent applies).
// The shipped accessctl has none of this: it installs no ApplyObserver.
import AccessctlCLI
import Foundation
import Reconciler
#if canImport(Glibc)
import Glibc
#endif

struct EnvironmentFaults: ApplyObserver {
    let point: String

    func reached(_ reached: ApplyPoint) {
        if point == reached.rawValue { kill(getpid(), SIGKILL) }
        if reached == .afterLock, point.hasPrefix("hold-lock:"), let seconds = UInt32(point.dropFirst(10)) {
            sleep(seconds)
        }
    }

    func exchanged(_ count: Int) {
        if point.hasPrefix("exchange:"), Int(point.dropFirst(9)) == count { kill(getpid(), SIGKILL) }
    }
}

let point = ProcessInfo.processInfo.environment["ACCESSCTL_FAULT"] ?? ""
await ApplyHooks.$observer.withValue(EnvironmentFaults(point: point)) {
    await AccessctlMain.run()
}
