#if canImport(Glibc)
import Glibc
#endif
import HelperCore

// install-service-env: the root helper that writes analysts' ~/.service_env and
// ~/.claude_rules/sc_*.md. See docs/helper.md. Argument parsing and I/O only.

let usage = """
    usage: install-service-env inspect|apply   < request.json > response.json

    Reads one JSON request on stdin and writes one JSON response on stdout.
    Exit codes: 0 all users ok, 3 some users failed, 1 bad request, 64 usage.

    Test-only options (refused when SUDO_UID is set):
      --passwd-file FILE   resolve users from FILE (passwd(5) format) instead of the system
      --homes-root DIR     prefix every home directory with DIR

    """

func fail(_ message: String, status: Int32) -> Never {
    let text = "install-service-env: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

var options = HelperOptions()
var verb: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--passwd-file", "--homes-root":
        guard let value = arguments.popFirst(), !value.isEmpty else { fail("\(argument) needs a value\n\n\(usage)", status: HelperExit.usage) }
        if argument == "--passwd-file" { options.passwdFile = value } else { options.homesRoot = value }
    case "-h", "--help":
        print(usage, terminator: "")
        exit(HelperExit.ok)
    case "inspect", "apply":
        guard verb == nil else { fail("one verb only\n\n\(usage)", status: HelperExit.usage) }
        verb = argument
    default:
        fail("unknown argument \(argument.debugDescription)\n\n\(usage)", status: HelperExit.usage)
    }
}
guard let verb else { fail("missing verb (inspect or apply)\n\n\(usage)", status: HelperExit.usage) }
if (options.passwdFile != nil || options.homesRoot != nil) && getenv("SUDO_UID") != nil {
    fail("--passwd-file and --homes-root are for tests and are refused under sudo", status: HelperExit.usage)
}

// Read stdin up to the cap (one byte more tells that it is too large).
var input: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 1 << 16)
while input.count <= Helper.maxRequestBytes {
    let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { break }
    input.append(contentsOf: chunk[0..<n])
}

let (status, output) = Helper.run(verb: verb, input: input, options: options)
output.withUnsafeBytes { raw in
    var offset = 0
    while offset < raw.count {
        let n = write(1, raw.baseAddress! + offset, raw.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        offset += n
    }
}
exit(status)
