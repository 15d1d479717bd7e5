# Shared by scripts/*: the project root and installation of missing Debian packages.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Packages the build needs (C libraries through pkg-config, git for tests and demo).
BUILD_PACKAGES=(pkg-config libgit2-dev libyaml-dev libsqlite3-dev git ca-certificates)
# Packages the test script needs on top (JSON Schema checks with YAML 1.2 semantics; GNU
# time for the peak memory of hostile inputs; openssl for a self-signed TLS service;
# openssh-server for fetches from a real sshd on the loopback interface; sqlite3 for
# reading the database as an operator would, in tests and the demo).
TEST_PACKAGES=(python3 python3-jsonschema python3-ruamel.yaml sudo openssh-client openssh-server systemd time openssl sqlite3)
# Packages for the CI examples: scripts/check-ci-examples needs a venv for actionlint
# (from PyPI), shellcheck (the workflow's run: scripts, examples/ci/pr-check.sh) and dash;
# the workflow's comment step is tested against a stand-in gh that uses jq.
CI_CHECK_PACKAGES=(python3 python3-venv shellcheck dash jq)

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing missing packages: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: swift is not on PATH; install the Swift 6 toolchain first" >&2
        exit 1
    fi
}
