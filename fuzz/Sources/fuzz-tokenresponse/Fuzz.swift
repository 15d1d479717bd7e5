import AccessModel
import Foundation
import FuzzDriver
import TokenProtocol

/// The service and shared secret every input is checked for.
private let service = Service(
    id: "crm", name: "CRM", tokenExchangeURL: "https://crm.example.com/api/internal/token-exchange",
    tokenRevokeURL: "https://crm.example.com/api/internal/token-revoke", envVar: "CRM_API_KEY",
    secretEnv: "SC_SECRET_CRM", skillPath: "skills/crm.md", skill: "", ttlDays: 90, keyPrefix: "crm_")
private let secret = Secret("crm_shared-SECRET-0123456789abcdef")

/// One input: any bytes as the body of a service's `200` answer with a JSON content type,
/// through the checks of an exchange's answer (and of the key it reports issued) and of a
/// revoke's answer. None of it may crash, hang or grow without bound, and no message may
/// show the shared secret, whatever the body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenResponse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = data.map { Data(UnsafeBufferPointer(start: $0, count: size)) } ?? Data()
    var messages: [String] = []
    let exchange = ResponseValidation.exchangeAnswer(status: 200, contentType: "application/json", body: body,
                                                     service: service, secret: secret, now: 1_800_000_000)
    if case .failure(let error) = exchange { messages.append(error.message) }
    _ = ResponseValidation.issuedToken(contentType: "application/json", body: body)
    for status in [200, 404] {
        let revoke = ResponseValidation.revokeAnswer(status: status, contentType: "application/json", body: body,
                                                     serviceID: service.id, secret: secret)
        if case .failure(let error) = revoke { messages.append(error.message) }
    }
    for message in messages where message.contains(secret.revealed) {
        fatalError("a message shows the shared secret")
    }
    return 0
}

/// The executable's entry point: libFuzzer drives ``fuzzTokenResponse``.
@_cdecl("fuzz_tokenresponse_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzTokenResponse)
}
