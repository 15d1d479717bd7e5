@testable import AccessctlCLI
import GitStore
import Testing

/// The command line maps its environment to the git credentials (GitStore reads none).
@Suite("Git credentials from the environment")
struct GitCredentialsTests {
    @Test("credentials from an environment: empty variables are unset; the password is never shown")
    func fromEnvironment() {
        let credentials = GitCredentials(environment: [
            "ACCESSCTL_GIT_USERNAME": "ada", "ACCESSCTL_GIT_PASSWORD": "s3cret", "SSH_AUTH_SOCK": "/run/agent",
            "HOME": "/home/ada", "PATH": "/usr/bin",
        ])
        #expect(credentials == GitCredentials(username: "ada", password: "s3cret", hasAgent: true,
                                              knownHostsPath: "/home/ada/.ssh/known_hosts"))
        #expect(!"\(credentials)".contains("s3cret"))
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("s3cret"))
        let empty = GitCredentials(environment: ["ACCESSCTL_GIT_USERNAME": "", "ACCESSCTL_GIT_PASSWORD": "", "SSH_AUTH_SOCK": ""])
        #expect(empty == GitCredentials(knownHostsPath: "/.ssh/known_hosts"))
    }
}
