import FuzzDriver
import StrictYAML

/// One input: any bytes, parsed as one repository file. It must never crash, hang or grow
/// without bound, whatever the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStrictYAML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = StrictYAML.parse(bytes)
    return 0
}

/// The executable's entry point: libFuzzer drives ``fuzzStrictYAML``.
@_cdecl("fuzz_strictyaml_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzStrictYAML)
}
