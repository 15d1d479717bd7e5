import Digest

/// `sha256:` + 12 hex digits of a key's SHA-256: the only form in which the mock shows a key.
func fingerprint(_ key: String) -> String { SHA256.fingerprint(key.utf8) }
