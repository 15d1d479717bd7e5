#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import HelperCore
import HelperProtocol
import Testing
import TestSupport

// HelperCore's functions called directly, over real files in a `HomesTree`.
//
// Only the verbs switch the effective uid (`Credentials.asUser`), and glibc applies that to
// every thread of the process: run beside the other tests, a switch would make their file
// work fail (or succeed) with a test user's permissions. So the tests that reach a user's
// file work through `inspect` or `apply` run them in a child process (an exit test, see
// VerbTests.swift); everything else runs here as root, which the ownership, link and type
// checks do not depend on. A request refused before any user is resolved is safe here too.

/// A Helper over the tree's passwd file and homes root, as `install-service-env` builds it.
func makeHelper(_ tree: HomesTree) throws(HelperError) -> Helper {
    try Helper(options: HelperOptions(passwdFile: tree.passwdPath, homesRoot: tree.root), credentials: Credentials.ofRoot())
}

/// The account of one of the tree's users, as the passwd file gives it.
func account(_ tree: HomesTree, _ name: String) -> Account {
    Account(name: name, uid: tree.uid(name), gid: tree.uid(name), home: "/home/" + name)
}

/// Opens a user's home in the tree with HomeIO, runs `body`, closes it.
func withHome<T>(_ tree: HomesTree, _ name: String, _ body: (DirectoryHandle) throws -> T) throws -> T {
    let home = try HomeIO.openHome(path: tree.home(name), account: account(tree, name))
    defer { home.close() }
    return try body(home)
}

/// Runs `body` on alice's opened home and expects root's files (`<root>/etc`) unchanged by it.
func withAliceHome(_ tree: HomesTree, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: (DirectoryHandle) throws -> Void) throws {
    let victims = tree.snapshot(under: tree.root + "/etc")
    try withHome(tree, "alice", body)
    #expect(tree.snapshot(under: tree.root + "/etc") == victims, "files outside the home changed", sourceLocation: sourceLocation)
}

/// The SHA-256 of a text, as the helper reports it.
func sha(_ text: String) -> String { SHA256.hex(Array(text.utf8)) }

/// The message of the HelperError `body` throws, or nil when it throws none.
func helperError<T>(_ body: () throws(HelperError) -> T) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.message
    }
}

/// The tree's files under `path` that the helper may have left as temp files.
func tempFiles(under path: String) -> [String] {
    ((try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? [])
        .filter { ($0 as NSString).lastPathComponent.hasPrefix(Helper.tempPrefix) }
}
