import LiveStore
import AccessModel
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 17, point 7: the email goes with its request id. A key issued whose answer was
/// lost is asked for again under the same request id; when the user's email changed
/// meanwhile, the retry still sends the first email, so the service answers with the key it
/// issued instead of refusing the id (which would leave that key live and unknown).
@Suite("request ids keep their email", .enabled(if: geteuid() == 0, "runs the root helper"))
struct RequestEmailTests {
    typealias Setup = ApplyCommandTests.Setup

    @Test("an email changed while an exchange is in flight: the retry sends the first email; nothing is orphaned")
    func emailChangedInFlight() throws {
        try Scratch.with { scratch in
            // Every answer is lost after the service issued the key: no connection gets its key (each stays in error, its request id kept).
            let setup = try Setup(scratch, firstUID: 47900, mockFlags: ["--lost-response-rate", "1"])
            let first = try setup.apply()
            #expect(first.status == 3, "\(first.stdout)\(first.stderr)")
            let pending = try LiveStore.snapshot(path: setup.server.database, sealing: setup.server.sealing).connections
                .filter { $0.user == "sofia" }
            #expect(!pending.isEmpty && pending.allSatisfy { $0.status != .active && $0.requestEmail == "sofia.rossi@acme.example" })
            let issued = try setup.mock.liveTokens()
            #expect(!issued.isEmpty, "the service issued keys whose answers were lost")

            try setup.server.commit("sofia's email changes") { repo in
                let path = repo + "/users/sofia.yaml"
                let text = try String(contentsOfFile: path, encoding: .utf8)
                try text.replacingOccurrences(of: "sofia.rossi@acme.example", with: "sofia.bianchi@acme.example")
                    .write(toFile: path, atomically: false, encoding: .utf8)
            }
            try setup.mock.faults(["lost_response_rate": 0])
            let second = try setup.apply()
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            // The keys the service issued under the first requests are the ones in use: none
            // was refused with 409 and replaced, none is live and unknown.
            let tokens = try setup.databaseTokens()
            #expect(issued.isSubset(of: tokens.active), "every key issued in the first run is the database's")
            try setup.expectConverged("after the email change")
        }
    }
}
