import AccessModel
import KeyCustody
import LiveStore

/// Tests of the store that are not about sealing use a plain-text database, as a server
/// configured `encryption: none` does.
extension LiveStore {
    public convenience init(path: String) throws(LiveStoreError) {
        try self.init(path: path, sealing: .plaintext)
    }

    public static func snapshot(path: String) throws(LiveStoreError) -> LiveState {
        try snapshot(path: path, sealing: .plaintext)
    }
}
