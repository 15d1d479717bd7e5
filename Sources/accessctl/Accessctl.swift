import AccessCore
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct Accessctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accessctl",
        abstract: "GitOps reconciler for service access and API keys on a shared analysis server.",
        discussion: """
            The desired state (services, users, groups, grants, connections) lives as YAML in a \
            git repository. accessctl validates it, plans the difference to the live state, and \
            applies it.

            Exit codes: 0 ok, 1 error or invalid input, 64 usage error.
            """,
        version: AccessctlVersion.current,
        subcommands: [Validate.self]
    )
}

/// Where the desired state is read from.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Repository directory (a git repository, bare or not, or a plain directory).", valueName: "dir"))
    var repo: String = "."

    @Option(name: .long, help: ArgumentHelp("Read this commit of the git repository (branch, tag, HEAD or commit id) instead of the files on disk.", valueName: "ref"))
    var ref: String?

    func source() throws(RepoReadError) -> RepoSource {
        if let ref { return try GitTreeSource(path: repo, ref: ref) }
        return try DirectorySource(path: repo)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Colour only on a terminal, and never when NO_COLOR is set.
func useColor(fd: Int32) -> Bool {
    isatty(fd) == 1 && getenv("NO_COLOR") == nil
}

/// Writes `error: message` to standard error.
func printError(_ message: String) {
    let line = "error: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
