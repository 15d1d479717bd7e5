import TokenExchange
import TokenProtocol
import Reconciler
import DesiredRepo
import AccessModel
import Foundation
import HelperProtocol
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The shipped server examples: the systemd units (examples/systemd/) and the server
/// configuration (examples/config.yaml, schemas/config.schema.json), checked with the tools
/// that read them.
@Suite("Shipped server examples: systemd units and config.yaml")
struct SystemdTests {
    static let service = Project.root + "/examples/systemd/accessctl-apply.service"
    static let timer = Project.root + "/examples/systemd/accessctl-apply.timer"
    static let config = Project.root + "/examples/config.yaml"
    static let schema = Project.root + "/schemas/config.schema.json"

    // MARK: systemd units

    @Test("systemd-analyze verify accepts both units without a warning")
    func unitsVerify() throws {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(analyze, "systemd-analyze is missing: install the Debian package systemd (scripts/lib.sh TEST_PACKAGES)")
        let accessctl = Project.accessctl
        try #require(FileManager.default.isExecutableFile(atPath: accessctl), "the built accessctl is missing at \(accessctl)")
        try Scratch.with { scratch in
            // verify wants ExecStart's program to exist: point it at the built accessctl, and
            // the credentials at files that exist, in copies of the units with their real names.
            var service = try String(contentsOfFile: Self.service, encoding: .utf8)
            service = service.replacingOccurrences(of: "ExecStart=/usr/local/bin/accessctl ", with: "ExecStart=\(accessctl) ")
            for line in UnitFile(text: service).values("Service", "LoadCredential") {
                let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                try #require(parts.count == 2, "LoadCredential=\(line) has no path")
                let copy = scratch.path("credentials/\(parts[0])")
                try scratch.write("credentials/\(parts[0])", "not a secret\n")
                service = service.replacingOccurrences(of: "LoadCredential=\(line)", with: "LoadCredential=\(parts[0]):\(copy)")
            }
            try scratch.write("units/accessctl-apply.service", service)
            try scratch.write("units/accessctl-apply.timer", String(contentsOfFile: Self.timer, encoding: .utf8))
            let result = try Command.run(tool, ["verify", "--man=no",
                                                scratch.path("units/accessctl-apply.service"),
                                                scratch.path("units/accessctl-apply.timer")],
                                         environment: ["SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            // verify exits 0 on an unknown key or a value out of range ("..., ignoring"):
            // any line about these units is a failure. Lines about other units on this
            // machine are not ours to judge.
            let ours = (result.stdout + result.stderr).split(separator: "\n").filter { $0.contains("accessctl-apply") }
            #expect(ours.isEmpty, "systemd-analyze verify:\n\(ours.joined(separator: "\n"))")
        }
    }

    @Test("the service: oneshot, dedicated user, apply --fetch, credentials, state directory, sandbox")
    func serviceSettings() throws {
        let unit = try UnitFile(path: Self.service)
        #expect(unit.value("Service", "Type") == "oneshot")
        #expect(unit.value("Service", "User") == "accessctl")
        #expect(unit.value("Service", "Group") == "accessctl")
        #expect(unit.value("Service", "ExecStart")
                == "/usr/local/bin/accessctl apply --fetch --auto-approve --config /etc/accessctl/config.yaml")
        #expect(unit.value("Service", "StateDirectory") == "accessctl")
        #expect(unit.value("Service", "ProtectSystem") == "strict")
        #expect(unit.value("Service", "PrivateTmp") == "yes")
        #expect(unit.value("Service", "UMask") == "0077")
        #expect(unit.value("Service", "TimeoutStartSec") != nil)
        #expect(unit.values("Service", "ReadWritePaths").flatMap { $0.split(separator: " ") }.contains("/home"),
                "the helper writes homes from inside the sandbox")
        #expect(unit.value("Service", "ProtectHome") == "no")

        let credentials = unit.values("Service", "LoadCredential")
        #expect(!credentials.isEmpty)
        for credential in credentials {
            // LoadCredential=<secret_env>:/etc/accessctl/credentials/<secret_env>: accessctl
            // reads $CREDENTIALS_DIRECTORY/<secret_env>.
            let parts = credential.split(separator: ":", maxSplits: 1).map(String.init)
            #expect(parts.count == 2 && parts[1] == "/etc/accessctl/credentials/" + parts[0], "LoadCredential=\(credential)")
            #expect(parts.first.map { $0.range(of: "^[A-Z_][A-Z0-9_]*$", options: .regularExpression) != nil } == true)
        }
        // The secrets of examples/acme: the default name and the one override.
        #expect(credentials.contains { $0.hasPrefix("SC_SECRET_PURCHASE_ORDERS:") })
        #expect(credentials.contains { $0.hasPrefix("INVOICING_EXCHANGE_SECRET:") })
    }

    /// sudo gets root from its setuid bit, which the kernel ignores under no_new_privs; and
    /// for a service with User=, systemd sets no_new_privs itself whenever a seccomp-based
    /// setting is present (systemd.exec(5), NoNewPrivileges=). Any of these would make every
    /// run fail at the first helper call, which no offline check notices.
    @Test("the service neither sets nor implies NoNewPrivileges (sudo needs its setuid bit)")
    func noNoNewPrivileges() throws {
        let unit = try UnitFile(path: Self.service)
        #expect(unit.value("Service", "NoNewPrivileges").map { ["no", "false", "0", "off"].contains($0) } ?? true)
        let implying = ["DynamicUser", "LockPersonality", "MemoryDenyWriteExecute", "PrivateDevices", "ProtectClock",
                        "ProtectHostname", "ProtectKernelLogs", "ProtectKernelModules", "ProtectKernelTunables",
                        "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
                        "SystemCallArchitectures", "SystemCallFilter", "SystemCallLog", "PrivateUsers"]
        for key in implying {
            #expect(unit.values("Service", key).isEmpty, "\(key)= implies NoNewPrivileges=yes (or, PrivateUsers=, breaks setuid) and sudo stops working")
        }
        // Root inside the sandbox keeps what sudo and the helper need, and nothing that
        // would let it undo the sandbox.
        let capabilities = Set(unit.values("Service", "CapabilityBoundingSet").flatMap { $0.split(separator: " ").map(String.init) })
        #expect(capabilities == ["CAP_SETUID", "CAP_SETGID", "CAP_AUDIT_WRITE"])
    }

    @Test("the timer: every five minutes by the calendar, persistent, randomized")
    func timerSettings() throws {
        let unit = try UnitFile(path: Self.timer)
        // Persistent= only has an effect on OnCalendar= timers (systemd.timer(5)).
        #expect(unit.value("Timer", "Persistent") == "true")
        #expect(unit.value("Timer", "OnCalendar") == "*:0/5")
        #expect(unit.value("Timer", "RandomizedDelaySec") == "30s")
        #expect(unit.value("Timer", "AccuracySec") != nil)
        #expect(unit.value("Timer", "Unit") == "accessctl-apply.service")
        #expect(unit.value("Install", "WantedBy") == "timers.target")
    }

    /// The deploy key is a credential of the unit that accessctl reads itself (ssh_key_file);
    /// there is no agent wrapper any more. (Fetching with it from a real sshd: SSHKeyFileTests.)
    @Test("the deploy key: config.yaml names the credential the docs load, and nothing names an agent wrapper")
    func deployKeyCredential() throws {
        let config = try ServerConfig.parse(Array(Data(contentsOf: URL(fileURLWithPath: Self.config))), path: "config.yaml")
        #expect(config.sshKeyFile == "$CREDENTIALS_DIRECTORY/git_deploy_key")
        #expect(try config.sshKeyFilePath(credentialsDirectory: "/run/credentials/accessctl-apply.service")
            == "/run/credentials/accessctl-apply.service/git_deploy_key")
        #expect(throws: RepoReadError.self) { try config.sshKeyFilePath(credentialsDirectory: nil) }
        let operations = try String(contentsOfFile: Project.root + "/docs/operations.md", encoding: .utf8)
        #expect(operations.contains("LoadCredential=git_deploy_key:/etc/accessctl/credentials/git_deploy_key\n"))
        #expect(operations.contains("LoadCredentialEncrypted=git_deploy_key:/etc/accessctl/credentials/git_deploy_key.cred\n"))
        #expect(!FileManager.default.fileExists(atPath: Project.root + "/examples/systemd/accessctl-ssh-agent"))
        for file in [Self.service, Self.config, Project.root + "/docs/operations.md"] {
            #expect(try !String(contentsOfFile: file, encoding: .utf8).contains("accessctl-ssh-agent"), "\(file)")
        }
        // An absolute path is taken as it is.
        var absolute = ServerConfig()
        absolute.sshKeyFile = "/etc/accessctl/deploy_key"
        #expect(try absolute.sshKeyFilePath(credentialsDirectory: nil) == "/etc/accessctl/deploy_key")
    }

    // MARK: config.yaml

    @Test("examples/config.yaml is valid against schemas/config.schema.json, a draft 2020-12 schema")
    func configMatchesSchema() throws {
        let result = try SchemaCheck.run(files: [Self.config])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout == "ok \(Self.config)\n", "\(result.stdout)\(result.stderr)")
    }

    @Test("examples/config.yaml parses with ServerConfig, sets every key, without a diagnostic")
    func configParses() throws {
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: Self.config)))
        let config: ServerConfig
        do { config = try ServerConfig.parse(bytes, path: "examples/config.yaml") } catch {
            Issue.record("examples/config.yaml was rejected:\n\(error)")
            return
        }
        #expect(config.repository == "/var/lib/accessctl/access.git")
        #expect(config.remote == "ssh://git@git.example.com/platform/access.git")
        #expect(config.branch == "main")
        #expect(config.database == "/var/lib/accessctl/live.db")
        #expect(config.helper == ServerConfig.defaultHelper)
        #expect(config.allowedSigners == "/etc/accessctl/allowed_signers")
        #expect(config.keyFile == "$CREDENTIALS_DIRECTORY/master-key")
        #expect(config.encryption == .aes256GCM)
        #expect(config.secretOrigins == SecretOrigins([
            "SC_SECRET_PURCHASE_ORDERS": ["https://po.internal.example.com"],
            "INVOICING_EXCHANGE_SECRET": ["https://invoicing.internal.example.com:8443"],
            "SC_SECRET_CRM": ["https://crm.internal.example.com"],
        ]))
        // The example shows the defaults.
        let defaults = ServerConfig()
        #expect(config.maxRemovalPercent == defaults.maxRemovalPercent)
        #expect(config.minRemoval == defaults.minRemoval)
        #expect(config.concurrency == defaults.concurrency)
        #expect(config.connectTimeoutSeconds == defaults.connectTimeoutSeconds)
        #expect(config.timeoutSeconds == defaults.timeoutSeconds)
        #expect(config.caFile?.path == "/etc/ssl/certs/ca-certificates.crt" && (config.caFile?.count ?? 0) > 0)
        // Every key of the parser appears in the example and in the schema.
        let text = String(decoding: bytes, as: UTF8.self)
        let schema = try String(contentsOfFile: Self.schema, encoding: .utf8)
        for key in ["repository", "remote", "ssh_key_file", "branch", "database", "helper", "allowed_signers", "guards",
                    "max_removal_percent", "min_removal", "http", "concurrency", "connect_timeout_seconds", "timeout_seconds", "ca_file",
                    "secret_origins", "key_file", "encryption"] {
            #expect(text.range(of: "(?m)^\\s*\(key):", options: .regularExpression) != nil, "\(key) is not in examples/config.yaml")
            #expect(schema.contains("\"\(key)\""), "\(key) is not in schemas/config.schema.json")
        }
    }

    @Test("a misspelt key in the example is an error at its path:line:column, with a suggestion")
    func configTypo() throws {
        let text = try String(contentsOfFile: Self.config, encoding: .utf8)
        let typo = text.replacingOccurrences(of: "  connect_timeout_seconds:", with: "  conect_timeout_seconds:")
        #expect(typo != text)
        let lines = typo.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.hasPrefix("  conect_timeout_seconds:") }) + 1
        do {
            _ = try ServerConfig.parse(Array(typo.utf8), path: "/etc/accessctl/config.yaml")
            Issue.record("a misspelt key was accepted")
        } catch {
            #expect(error.diagnostics.count == 1, "\(error)")
            let description = error.diagnostics.first?.description ?? ""
            #expect(description.hasPrefix("/etc/accessctl/config.yaml:\(line):3: error: "), "\(description)")
            #expect(description.contains("conect_timeout_seconds") && description.contains("did you mean 'connect_timeout_seconds'"),
                    "\(description)")
        }
        // The schema rejects it too.
        try Scratch.with { scratch in
            try scratch.write("config.yaml", typo)
            let result = try SchemaCheck.run(files: [scratch.path("config.yaml")])
            #expect(result.status == 1 && result.stdout.contains("conect_timeout_seconds"), "\(result.stdout)\(result.stderr)")
        }
    }

    /// Values out of the parser's ranges: both the parser and the schema refuse them, so an
    /// editor using the schema says what accessctl will say.
    @Test("values the parser refuses, the schema refuses too", arguments: [
        "guards:\n  max_removal_percent: 101\n",
        "guards:\n  max_removal_percent: -1\n",
        "guards:\n  min_removal: -1\n",
        "guards:\n  min_removal: \"5\"\n",
        "http:\n  concurrency: 0\n",
        "http:\n  concurrency: 257\n",
        "http:\n  connect_timeout_seconds: 601\n",
        "http:\n  timeout_seconds: 0\n",
        "http:\n  timeout_seconds: 3601\n",
        "http:\n  retries: 3\n",
        "http:\n  ca_file: ca.pem\n",
        "http:\n  ca_file: /etc/../ca.pem\n",
        "helper: []\n",
        "helper: /usr/local/sbin/install-service-env\n",
        "database: [a, b]\n",
        "repository: true\n",
        "guard:\n  min_removal: 5\n",
        "database: live.db\n",
        "repository: /var/lib/accessctl/../../etc/access.git\n",
        "allowed_signers: ../allowed_signers\n",
        "ssh_key_file: git_deploy_key\n",
        "ssh_key_file: /etc/accessctl/../key\n",
        "ssh_key_file: $CREDENTIALS_DIRECTORY/\n",
        "ssh_key_file: $CREDENTIALS_DIRECTORY/a/b\n",
        "ssh_key_file: $CREDENTIALS_DIRECTORY/..\n",
        "ssh_key_file: $HOME/.ssh/id_ed25519\n",
        "branch: \"-main\"\n",
        "branch: \"release 1\"\n",
        "branch: \"a:b\"\n",
        "secret_origins: [https://crm.example.com]\n",
        "secret_origins:\n  sc_secret_crm: [https://crm.example.com]\n",
        "secret_origins:\n  SC_SECRET_CRM: https://crm.example.com\n",
        "secret_origins:\n  SC_SECRET_CRM: [http://crm.example.com]\n",
        "secret_origins:\n  SC_SECRET_CRM: [https://crm.example.com/api]\n",
        "secret_origins:\n  SC_SECRET_CRM: [https://user@crm.example.com]\n",
        "secret_origins:\n  SC_SECRET_CRM: [https://crm.example.com, https://crm.example.com]\n",
        "key_file: master.key\n",
        "encryption: aes-128\n",
        "encryption: none\nkey_file: /etc/accessctl/master.key\n",
    ])
    func rejectedByBoth(text: String) throws {
        do {
            _ = try ServerConfig.parse(Array(text.utf8), path: "config.yaml")
            Issue.record("ServerConfig accepted:\n\(text)")
        } catch {
            #expect(error.diagnostics.allSatisfy { $0.description.hasPrefix("config.yaml:") }, "\(error)")
        }
        try Scratch.with { scratch in
            try scratch.write("config.yaml", text)
            let result = try SchemaCheck.run(files: [scratch.path("config.yaml")])
            #expect(result.status == 1 && result.stdout.hasPrefix("invalid "), "the schema accepted:\n\(text)\(result.stdout)\(result.stderr)")
        }
    }

    /// A rule across two keys, which the schema cannot express: the parser alone checks it.
    @Test("allowed_signers inside the repository is refused by the parser")
    func signersOutsideRepository() throws {
        let text = "repository: /var/lib/accessctl/access.git\nallowed_signers: /var/lib/accessctl/access.git/allowed_signers\n"
        do {
            _ = try ServerConfig.parse(Array(text.utf8), path: "config.yaml")
            Issue.record("allowed_signers inside the repository was accepted")
        } catch {
            #expect(error.diagnostics.map(\.description).contains { $0.hasPrefix("config.yaml:2:18: error: ") }, "\(error)")
        }
    }
}

/// The sandbox of accessctl-apply.service, emulated without systemd: in a private mount
/// namespace, every mount is made read-only (ProtectSystem=strict), the unit's
/// ReadWritePaths= get a writable file system, and the shipped sudoers rule and the built
/// helper are installed; then the service account runs `sudo -n install-service-env` with
/// the unit's capability bounding set and umask, as systemd would start it. Nothing outside
/// the namespace changes: the accounts, the helper and the sudoers rule live in private
/// mounts that disappear with it.
@Suite("The service sandbox lets sudo run the root helper", .enabled(if: SandboxEmulation.available,
                                                                      "needs root and mount namespaces (unshare -m)"))
struct SystemdSandboxTests {
    static let analyst = "e2e_sandbox_analyst"

    @Test("the helper writes a home through sudo under the unit's bounding set, on a read-only system")
    func helperRunsInSandbox() throws {
        let skill = "# Purchase orders\n\nUse $PO_API_KEY.\n"
        let digest = HomeFiles.sha256(skill)
        let request = ApplyRequest(contents: [digest: skill], users: [
            .init(user: Self.analyst, serviceEnv: HomeFiles.serviceEnvHeader + "\nPO_API_KEY='po_SANDBOXKEY0000001'\n",
                  skills: ["sc_purchase_orders.md": digest]),
        ])
        let result = try SandboxEmulation.run(scenario: "apply", request: JSONEncoder().encode(request))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let parts = result.stdout.components(separatedBy: "\n--files--\n")
        try #require(parts.count == 2, "\(result.stdout)\(result.stderr)")
        let response = try JSONDecoder().decode(HelperResponse.self, from: Data(parts[0].utf8))
        #expect(response.users.map(\.ok) == [true], "\(parts[0])")
        #expect(Set(response.users.first?.written ?? []) == [".service_env", ".claude_rules/sc_purchase_orders.md"])
        // Owner and mode as the helper promises, created with the home owner's identity.
        #expect(parts[1].split(separator: "\n").map(String.init) == [
            "\(Self.analyst) 700 .claude_rules",
            "\(Self.analyst) 600 .claude_rules/sc_purchase_orders.md",
            "\(Self.analyst) 600 .service_env",
        ], "\(parts[1])")
    }

    @Test("inside the emulated sandbox, root (the bounding set) cannot write outside ReadWritePaths")
    func rootIsConfined() throws {
        let result = try SandboxEmulation.run(scenario: "root", request: Data("{}".utf8))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("etc=denied"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("sbin=denied"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("homes=written"), "\(result.stdout)\(result.stderr)")
    }

    @Test("why NoNewPrivileges stays off: with no_new_privs, sudo refuses to run")
    func noNewPrivsBreaksSudo() throws {
        let request = ApplyRequest(contents: [:], users: [.init(user: Self.analyst, serviceEnv: nil, skills: [:])])
        let result = try SandboxEmulation.run(scenario: "nnp", request: JSONEncoder().encode(request))
        #expect(result.status != 0)
        #expect(result.stderr.contains("no new privileges"), "\(result.stderr)")
    }

    @Test("why the bounding set is not empty: without CAP_SETUID and CAP_SETGID, sudo cannot switch to root")
    func emptyBoundingSetBreaksSudo() throws {
        let request = ApplyRequest(contents: [:], users: [.init(user: Self.analyst, serviceEnv: nil, skills: [:])])
        let result = try SandboxEmulation.run(scenario: "nocaps", request: JSONEncoder().encode(request))
        #expect(result.status != 0)
        #expect(result.stderr.contains("unable to change to root"), "\(result.stderr)")
    }
}

// MARK: - Support

/// The `key=value` settings of a systemd unit file, by section, in order (comments and
/// blank lines skipped; this project's units use no line continuations).
struct UnitFile {
    private var entries: [(section: String, key: String, value: String)] = []

    init(path: String) throws {
        self.init(text: try String(contentsOfFile: path, encoding: .utf8))
    }

    init(text: String) {
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            entries.append((section, line[..<equals].trimmingCharacters(in: .whitespaces),
                            line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
    }

    /// Every value of `key` in `section`, in order.
    func values(_ section: String, _ key: String) -> [String] {
        entries.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    /// The value of a key set once; nil when absent (and a test failure when set twice).
    func value(_ section: String, _ key: String) -> String? {
        let all = values(section, key)
        #expect(all.count <= 1, "[\(section)] \(key)= is set \(all.count) times")
        return all.last
    }
}

/// Checks YAML files against schemas/config.schema.json with Debian's python3-jsonschema and
/// python3-ruamel.yaml (YAML 1.2). Prints `ok FILE` or `invalid FILE: where: message` per
/// file; exit 1 when one is invalid, 2 when the schema itself is not a valid draft 2020-12
/// schema.
enum SchemaCheck {
    static let script = """
        import json, sys
        import jsonschema
        from ruamel.yaml import YAML
        schema = json.load(open(sys.argv[1], encoding="utf-8"))
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            print("bad schema:", e.message)
            sys.exit(2)
        validator = jsonschema.Draft202012Validator(schema)
        yaml = YAML(typ="safe", pure=True)
        yaml.version = (1, 2)
        status = 0
        for path in sys.argv[2:]:
            data = yaml.load(open(path, encoding="utf-8"))
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
            if errors:
                status = 1
                print("invalid " + path + ": " + "; ".join(
                    ("/".join(str(p) for p in e.absolute_path) or "(root)") + ": " + e.message for e in errors))
            else:
                print("ok " + path)
        sys.exit(status)
        """

    static func run(files: [String]) throws -> CommandResult {
        let python = "/usr/bin/python3"
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "\(python) is missing: scripts/test installs python3, python3-jsonschema and python3-ruamel.yaml")
        return try Command.run(python, ["-c", script, SystemdTests.schema] + files)
    }
}

/// Runs one scenario of the sandbox emulation (see ``SystemdSandboxTests``) in a private
/// mount namespace, with the settings read from the shipped service unit.
enum SandboxEmulation {
    static let available: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        return (try? Command.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/true"]).status) == 0
    }()

    static func run(scenario: String, request: Data) throws -> CommandResult {
        for tool in ["/usr/bin/setpriv", "/usr/bin/sudo", "/usr/bin/unshare"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool),
                         "\(tool) is missing: install util-linux and sudo (scripts/lib.sh TEST_PACKAGES has sudo)")
        }
        let helper = Project.products + "/install-service-env"
        try #require(FileManager.default.isExecutableFile(atPath: helper), "the built helper is missing at \(helper)")
        let unit = try UnitFile(path: SystemdTests.service)
        let capabilities = unit.values("Service", "CapabilityBoundingSet").flatMap { $0.split(separator: " ") }
            .map { $0.lowercased().replacingOccurrences(of: "cap_", with: "+") }
        let writable = unit.values("Service", "ReadWritePaths").flatMap { $0.split(separator: " ") }
            .map { String($0.drop { $0 == "-" || $0 == "+" }) }
        let homes = try #require(writable.first, "the service has no ReadWritePaths= for the homes")
        let umask = try #require(unit.value("Service", "UMask"))
        let user = try #require(unit.value("Service", "User"))
        return try Scratch.with { scratch in
            try scratch.write("sandbox.sh", script)
            try scratch.write("request.json", Array(request))
            return try Command.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/bash", scratch.path("sandbox.sh")],
                                   environment: [
                                       "SCENARIO": scenario, "WORK": scratch.root, "REQUEST": scratch.path("request.json"),
                                       "HELPER": helper, "SUDOERS": Project.root + "/examples/sudoers/accessctl",
                                       "BOUNDING": (["-all"] + capabilities).joined(separator: ","),
                                       "HOMES": homes, "UMASK": umask, "SERVICE_USER": user,
                                       "ANALYST": SystemdSandboxTests.analyst,
                                   ])
        }
    }

    /// The emulation. Exit 100 with a message on stderr when the setup itself fails.
    static let script = #"""
        set -u
        fail() { echo "sandbox setup: $*" >&2; exit 100; }
        free_id() { local id=$1; while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do id=$((id + 1)); done; echo "$id"; }

        # Accounts: the service account (unless the machine has one) and an analyst, in
        # private copies of the account files.
        mkdir -p "$WORK/etc" || fail "mkdir $WORK/etc"
        for f in passwd group shadow; do cp "/etc/$f" "$WORK/etc/$f" || fail "copy /etc/$f"; done
        if ! getent passwd "$SERVICE_USER" >/dev/null; then
            sid=$(free_id 900)
            echo "$SERVICE_USER:x:$sid:$sid:accessctl:/nonexistent:/usr/sbin/nologin" >> "$WORK/etc/passwd"
            echo "$SERVICE_USER:x:$sid:" >> "$WORK/etc/group"
            echo "$SERVICE_USER:!:19000::::::" >> "$WORK/etc/shadow"
        fi
        aid=$(free_id 42000)
        echo "$ANALYST:x:$aid:$aid::$HOMES/$ANALYST:/bin/sh" >> "$WORK/etc/passwd"
        echo "$ANALYST:x:$aid:" >> "$WORK/etc/group"
        echo "$ANALYST:!:19000::::::" >> "$WORK/etc/shadow"
        for f in passwd group shadow; do mount --bind "$WORK/etc/$f" "/etc/$f" || fail "bind /etc/$f"; done

        # The helper and the shipped sudoers rule, where production has them.
        [ -d /usr/local/sbin ] || fail "/usr/local/sbin does not exist"
        mount -t tmpfs -o mode=0755 tmpfs /usr/local/sbin || fail "tmpfs on /usr/local/sbin"
        install -o root -g root -m 0755 "$HELPER" /usr/local/sbin/install-service-env || fail "install the helper"
        grep -Eq '^[@#]includedir /etc/sudoers.d' /etc/sudoers || fail "/etc/sudoers does not include /etc/sudoers.d"
        mount -t tmpfs -o mode=0755 tmpfs /etc/sudoers.d || fail "tmpfs on /etc/sudoers.d"
        install -o root -g root -m 0440 "$SUDOERS" /etc/sudoers.d/accessctl || fail "install the sudoers rule"

        # ProtectSystem=strict: every mount read-only except /dev, /proc and /sys ...
        while read -r mountpoint; do
            case "$mountpoint" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
            mount -o remount,bind,ro "$mountpoint" 2>/dev/null
        done < <(awk '{ print $5 }' /proc/self/mountinfo | sort -u)
        if touch /etc/.accessctl-sandbox-probe 2>/dev/null; then rm -f /etc/.accessctl-sandbox-probe; fail "/etc is still writable"; fi
        # ... then ReadWritePaths=: the homes (a fresh file system here) with the analyst's home.
        [ -d "$HOMES" ] || fail "$HOMES does not exist"
        mount -t tmpfs -o mode=0755 tmpfs "$HOMES" || fail "tmpfs on $HOMES"
        install -d -o "$aid" -g "$aid" -m 0700 "$HOMES/$ANALYST" || fail "create the analyst's home"

        as_service() {
            setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups --inh-caps=-all "$@" -- \
                /bin/sh -c 'umask "$0"; exec sudo -n /usr/local/sbin/install-service-env apply' "$UMASK" < "$REQUEST"
        }
        case "$SCENARIO" in
        apply)
            as_service --bounding-set="$BOUNDING" || exit $?
            echo
            echo "--files--"
            cd "$HOMES/$ANALYST" && find . -mindepth 1 | sed 's|^\./||' | sort | while read -r f; do stat -c "%U %a %n" "$f"; done
            ;;
        nnp)
            as_service --bounding-set="$BOUNDING" --no-new-privs ;;
        nocaps)
            as_service --bounding-set=-all ;;
        root)
            setpriv --bounding-set="$BOUNDING" --inh-caps=-all -- /bin/sh -c '
                touch /etc/.accessctl-sandbox-probe 2>/dev/null && echo etc=written || echo etc=denied
                touch /usr/local/sbin/.accessctl-sandbox-probe 2>/dev/null && echo sbin=written || echo sbin=denied
                touch "$0/.accessctl-sandbox-probe" 2>/dev/null && echo homes=written || echo homes=denied
            ' "$HOMES" ;;
        *) fail "unknown scenario $SCENARIO" ;;
        esac
        """#
}
