import TokenProtocol
import DesiredRepo
import Foundation
import NIOSSL

/// The certificates that services' TLS certificates must chain to, read from a PEM file
/// (`http.ca_file` in the server configuration) and used instead of the system trust store
/// for exchanges, revocations and health checks: a company's own CA, trusted by accessctl
/// only and not by every program on the host.
public struct TrustRoots: Sendable, Hashable {
    /// The file they came from, named in messages.
    public let path: String
    let certificates: [NIOSSLCertificate]

    /// How many certificates the file holds.
    public var count: Int { certificates.count }

    /// Why a file cannot serve: `message` names the file and the cause.
    public struct Problem: Error, Sendable, Hashable {
        public let message: String
    }

    /// Reads the PEM file at `path`: one or more `-----BEGIN CERTIFICATE-----` blocks. A
    /// symbolic link is followed (CA files under /etc/ssl/certs are links).
    public static func load(path: String) throws(Problem) -> TrustRoots {
        let bytes: [UInt8]
        do {
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            bytes = try DirectorySource.readFile(at: target, shown: path)
        } catch {
            throw Problem(message: error.message)
        }
        return try parse(bytes, path: path)
    }

    /// The certificates of PEM text `bytes`, read from `path`.
    public static func parse(_ bytes: [UInt8], path: String) throws(Problem) -> TrustRoots {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw Problem(message: "\(path) is not a PEM file of certificates (-----BEGIN CERTIFICATE----- blocks), "
                + "or one of them is damaged")
        }
        guard !certificates.isEmpty else { throw Problem(message: "\(path) holds no certificate") }
        return TrustRoots(path: path, certificates: certificates)
    }
}
