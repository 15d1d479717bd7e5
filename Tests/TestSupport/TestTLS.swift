import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A certificate authority made for one test with the openssl CLI, and the server
/// certificates it signs (ECDSA P-256, valid for two days), in `directory`.
public struct TestCA: Sendable {
    /// The CA's certificate (PEM): what `http.ca_file` names.
    public let certificate: String
    private let key: String
    private let directory: String

    /// Whether the openssl CLI is there to make one.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    /// Makes a CA called `name`; its files are `<directory>/<file>.crt` and `.key`.
    public init(directory: String, file: String = "ca", name: String = "accessctl test CA") throws {
        self.directory = directory
        certificate = directory + "/\(file).crt"
        key = directory + "/\(file).key"
        try Self.openssl(in: directory, [
            "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", key, "-out", certificate,
        ])
    }

    /// A server certificate for `names` (each an IP address or a DNS name), signed by this
    /// CA: the paths of the certificate and of its key.
    public func serverCertificate(_ file: String, names: [String]) throws -> (certificate: String, key: String) {
        let paths = (directory + "/\(file).crt", directory + "/\(file).key")
        let alternatives = names.map { $0.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? "IP:\($0)" : "DNS:\($0)" }
        try Self.openssl(in: directory, [
            "-subj", "/CN=\(names.first ?? "server")", "-CA", certificate, "-CAkey", key,
            "-addext", "subjectAltName=" + alternatives.joined(separator: ","),
            "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
            "-keyout", paths.1, "-out", paths.0,
        ])
        return paths
    }

    /// `openssl req -x509` with a fresh P-256 key and `arguments`, with a configuration of
    /// no extensions of its own (the ones given are all the certificate gets).
    private static func openssl(in directory: String, _ arguments: [String]) throws {
        let config = directory + "/openssl-minimal.cnf"
        try "[req]\ndistinguished_name = dn\n[dn]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let made = try Command.run("/usr/bin/openssl", [
            "req", "-x509", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2",
        ] + arguments)
        guard made.status == 0 else { throw TLSSetupError(message: "openssl req failed: \(made.stderr)") }
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A TLS front on a loopback port for a plain HTTP server on another: each connection's
/// TLS handshake is done here with the given certificate, and only then is a connection
/// to `backendPort` opened and the decrypted bytes passed both ways. A client that refuses
/// the certificate never reaches the backend. Runs on SwiftNIO's shared event loops until
/// `stop()`.
public final class TLSProxy: Sendable {
    public let port: Int
    private let listener: any Channel

    public init(certificate: String, key: String, backendPort: Int, host: String = "127.0.0.1") throws {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        let context = try NIOSSLContext(configuration: configuration)
        listener = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(Front(backendHost: host, backendPort: backendPort))
                }
            }
            .bind(host: host, port: 0).wait()
        guard let port = listener.localAddress?.port else { throw TLSSetupError(message: "the TLS proxy has no port") }
        self.port = port
    }

    /// `https://host:port`.
    public var origin: String { "https://127.0.0.1:\(port)" }

    public func stop() {
        try? listener.close().wait()
    }
}

/// The client's side of a proxied connection: after the handshake, connects to the backend
/// on the same event loop and forwards what the client sends (held until then).
private final class Front: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let backendHost: String
    private let backendPort: Int
    private var backend: (any Channel)?
    private var held: [ByteBuffer] = []
    private var closed = false

    init(backendHost: String, backendPort: Int) {
        self.backendHost = backendHost
        self.backendPort = backendPort
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            let client = context.channel
            ClientBootstrap(group: context.eventLoop)
                .channelInitializer { backend in
                    backend.eventLoop.makeCompletedFuture {
                        try backend.pipeline.syncOperations.addHandler(Back(client: client))
                    }
                }
                .connect(host: backendHost, port: backendPort)
                .whenComplete { result in
                    let front = me.value
                    switch result {
                    case .success(let backend) where !front.closed:
                        front.backend = backend
                        for buffer in front.held { backend.write(buffer, promise: nil) }
                        front.held = []
                        backend.flush()
                    case .success(let backend):
                        backend.close(promise: nil)
                    case .failure:
                        client.close(promise: nil)
                    }
                }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let backend {
            backend.writeAndFlush(buffer, promise: nil)
        } else {
            held.append(buffer)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        backend?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refused handshake, a reset: the connection ends.
        context.close(promise: nil)
    }
}

/// The backend's side: what the backend answers goes back to the client.
private final class Back: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let client: any Channel

    init(client: any Channel) {
        self.client = client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
