#!/usr/bin/env python3
"""Generate a synthetic, valid accessctl repository (format v1) for benchmarks.

Deterministic: the same arguments always produce byte-identical files (and, with
--git, identical commit ids). Uses only the Python standard library and its own
PRNG (SplitMix64), so the output does not depend on the Python version.

Layout written (see /tmp/rules.md / docs/format.md):
  accessctl.yaml                 version 1, resource_types [service, plugin, table, knowledge]
  services/sNN.yaml, sNN.md      loopback URLs, unique env_var SNN_API_KEY, a few-KB skill
  users/uNNNNN.yaml              unique email, --connections-per-user distinct services
  groups/gNNNN.yaml              team groups: members and --grants-per-group grants of all types
  groups/Admin.yaml              2 members
  groups/Everyone.yaml           grants every service, so every connection is backed
  README.md                      ignored by accessctl (non-YAML), like in a real repository

Example:
  bench/synth.py --out /tmp/repo --users 10000 --git
  bench/synth.py --out /tmp/repo --users 10000 --git --change-percent 1
  bench/synth.py --out /tmp/repo --users 100000 --git --pack      # 100,000 users, 5,000 groups
"""

import argparse
import bisect
import os
import shutil
import subprocess
import sys
import time

MASK64 = (1 << 64) - 1


class Rng:
    """SplitMix64: tiny, fast enough, and stable across Python versions."""

    def __init__(self, seed, stream):
        self.state = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        # n is small (< 2**32) everywhere here; modulo bias is irrelevant for a benchmark.
        return self.next() % n

    def sample(self, n, k):
        """k distinct integers from range(n), in draw order."""
        if k > n:
            raise ValueError("sample larger than population")
        if k * 2 > n:
            pool = list(range(n))
            for i in range(k):
                j = i + self.below(n - i)
                pool[i], pool[j] = pool[j], pool[i]
            return pool[:k]
        seen = set()
        out = []
        while len(out) < k:
            v = self.below(n)
            if v not in seen:
                seen.add(v)
                out.append(v)
        return out


def width(n, minimum):
    return max(minimum, len(str(max(n - 1, 0))))


def yaml_list_block(key, items, indent=""):
    if not items:
        return ""
    return indent + key + ":\n" + "".join(f"{indent}  - {x}\n" for x in items)


SKILL_PARAGRAPHS = [
    "Every request must carry the API key from the environment variable named above in the "
    "`Authorization: Bearer` header. Keys are personal: never paste them into tickets, chat "
    "or shared notebooks, and never log them.",
    "List endpoints are paginated with `limit` (at most 500) and an opaque `cursor`; keep "
    "requesting with the returned cursor until it is absent. Results are ordered by creation "
    "time, newest first.",
    "Write endpoints are idempotent when an `Idempotency-Key` header is sent. Retry on 429 and "
    "503 with exponential backoff starting at 200 ms, honouring `Retry-After` when present.",
    "Errors are JSON objects with `code`, `message` and an optional `details` array. A 403 "
    "means the key is valid but the user lacks a grant for the resource; ask the owning team "
    "to add you to the right group in the access repository.",
    "Timestamps are RFC 3339 in UTC. Amounts are strings with an explicit currency code to "
    "avoid floating point rounding. Identifiers are opaque strings; do not parse them.",
    "The sandbox at the same host under `/sandbox/` accepts the same key and never touches "
    "production data; prefer it while developing an agent or a script.",
]


def skill_text(sid, name, env_var, rng):
    lines = [f"# {name}", "", f"Skill for the `{sid}` service. The API key is in `${env_var}`.", ""]
    sections = ["Authentication", "Pagination", "Retries", "Errors", "Data types", "Sandbox",
                "Examples", "Limits"]
    for i, title in enumerate(sections):
        lines.append(f"## {title}")
        lines.append("")
        for _ in range(2):
            lines.append(SKILL_PARAGRAPHS[rng.below(len(SKILL_PARAGRAPHS))])
            lines.append("")
        if title == "Examples":
            lines += ["```sh",
                      f'curl -H "Authorization: Bearer ${env_var}" \\',
                      f"  http://127.0.0.1:8710/{sid}/api/v1/items?limit=50",
                      "```", ""]
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Generate a synthetic accessctl repository.")
    p.add_argument("--out", required=True, help="output directory (created; replaced if it holds a previous synthetic repo)")
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--groups", type=int, default=None,
                   help="team groups (besides Admin and Everyone); default 50 per 1000 users, at least 3")
    p.add_argument("--memberships-per-user", type=int, default=10)
    p.add_argument("--grants-per-group", type=int, default=100)
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--connections-per-user", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--git", action="store_true", help="git init -b main and commit (deterministic commit id)")
    p.add_argument("--pack", action="store_true", help="with --git: repack objects into one pack, like a clone")
    p.add_argument("--change-percent", type=float, default=None,
                   help="then change this %% of users (in turn: a connection added, a connection removed, "
                        "moved to another team group, deactivated); a second commit with --git")
    a = p.parse_args(argv)
    if a.users < 1:
        p.error("--users must be >= 1")
    if a.services < 1:
        p.error("--services must be >= 1")
    if a.groups is None:
        a.groups = max(3, (a.users * 50) // 1000)
    if a.groups < 1:
        p.error("--groups must be >= 1")
    for name in ("memberships_per_user", "grants_per_group", "connections_per_user", "seed"):
        if getattr(a, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    if a.change_percent is not None and not (0 <= a.change_percent <= 100):
        p.error("--change-percent must be within 0..100")
    if a.pack and not a.git:
        p.error("--pack needs --git")
    return a


def prepare_out(out):
    if os.path.lexists(out):
        if not os.path.isdir(out) or os.path.islink(out):
            sys.exit(f"synth: {out} exists and is not a directory")
        entries = os.listdir(out)
        if entries and "accessctl.yaml" not in entries:
            sys.exit(f"synth: {out} is not empty and does not look like a synthetic repository; refusing to replace it")
        shutil.rmtree(out)
    os.makedirs(out)
    for d in ("services", "users", "groups"):
        os.mkdir(os.path.join(out, d))


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "accessctl bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "accessctl bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
}


def git(out, *args, date=None):
    env = dict(os.environ)
    env.update(GIT_ENV)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return subprocess.run(["git", "-C", out, "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false",
                           *args], env=env, check=True, stdout=subprocess.PIPE).stdout.decode().strip()


def main(argv):
    a = parse_args(argv)
    t0 = time.monotonic()
    out = a.out
    U, S, G = a.users, a.services, a.groups
    mem_per_user = min(a.memberships_per_user, G)
    conn_per_user = min(a.connections_per_user, S)
    uw, sw, gw = width(U, 5), width(S, 2), width(G, 4)
    uid = [f"u{i:0{uw}d}" for i in range(U)]
    sid = [f"s{i:0{sw}d}" for i in range(S)]
    gid = [f"g{i:0{gw}d}" for i in range(G)]

    prepare_out(out)
    files = 0
    nbytes = 0

    def put(rel, text):
        nonlocal files, nbytes
        write(os.path.join(out, rel), text)
        files += 1
        nbytes += len(text.encode("utf-8"))

    # accessctl.yaml
    put("accessctl.yaml",
        "# Synthetic repository generated by bench/synth.py\n"
        "version: 1\n"
        "resource_types: [service, plugin, table, knowledge]\n"
        "policy:\n"
        "  require_service_grant: true\n"
        "defaults:\n"
        "  ttl_days: 365\n"
        "  rotate_before_days: 30\n")
    put("README.md",
        "# Synthetic access repository\n\n"
        f"Generated by `bench/synth.py --users {U} --groups {G} --services {S} --seed {a.seed}`.\n"
        "Not a real organisation; used to benchmark accessctl.\n")

    # services
    rng = Rng(a.seed, 1)
    for i, s in enumerate(sid):
        env_var = f"{s.upper()}_API_KEY"
        name = f"Synthetic Service {s[1:]}"
        base = f"http://127.0.0.1:8710/{s}"
        text = (f"name: {name}\n"
                f"description: Synthetic service number {i} for benchmarks\n"
                f"token_exchange_url: {base}/api/internal/token-exchange\n"
                f"token_revoke_url: {base}/api/internal/token-revoke\n")
        if i % 2 == 0:
            text += f"health_url: {base}/healthz\n"
        text += f"env_var: {env_var}\n"
        if i % 4 == 1:
            text += f"secret_env: SC_SECRET_{s.upper()}\n"
        if i % 3 == 0:
            text += f"ttl_days: {90 + (i % 5) * 30}\n"
        if i % 5 == 2:
            text += f"key_prefix: {s}_\n"
        put(f"services/{s}.yaml", text)
        put(f"services/{s}.md", skill_text(s, name, env_var, rng))

    # users: memberships and connections
    rng = Rng(a.seed, 2)
    members = [[] for _ in range(G)]
    conns = []
    for u in range(U):
        for g in rng.sample(G, mem_per_user):
            members[g].append(u)
        conns.append(sorted(rng.sample(S, conn_per_user)))

    active = [True] * U

    def user_text(u):
        if not active[u]:
            # Offboarded: kept on record, no connections (an inactive user's connections
            # would only draw a warning).
            return f"email: {uid[u]}@example.com\nactive: false\n"
        c = conns[u]
        return f"email: {uid[u]}@example.com\nconnections: [{', '.join(sid[x] for x in c)}]\n"

    for u in range(U):
        put(f"users/{uid[u]}.yaml", user_text(u))

    # team groups: members (rewritten by --change-percent), and grants and connect: drawn once
    rng = Rng(a.seed, 3)
    other_types = ("plugin", "table", "knowledge")
    pool = max(1000, a.grants_per_group * 10)
    fmt = {"plugin": "p-{}", "table": "db.t{}", "knowledge": "k{}"}
    total_grants = 0
    group_tail = []
    group_connect = [None] * G
    for g in range(G):
        ngr = a.grants_per_group
        nsvc = min(S, ngr, 1 + rng.below(5))
        svc = sorted(rng.sample(S, nsvc)) if ngr else []
        rest = ngr - len(svc)
        text = ""
        if ngr:
            text += "grants:\n"
            text += yaml_list_block("service", [sid[x] for x in svc], "  ")
            for k, t in enumerate(other_types):
                n = rest // 3 + (1 if k < rest % 3 else 0)
                ids = sorted(rng.sample(pool, n))
                text += yaml_list_block(t, [fmt[t].format(x) for x in ids], "  ")
        total_grants += ngr
        if g % 10 == 0 and svc:
            text += f"connect: [{sid[svc[0]]}]\n"
            group_connect[g] = svc[0]
        group_tail.append(text)

    def group_text(g):
        return f"description: Synthetic team {gid[g]}\n" + yaml_list_block("members", [uid[u] for u in members[g]]) + group_tail[g]

    for g in range(G):
        put(f"groups/{gid[g]}.yaml", group_text(g))

    admins = uid[:2]
    put("groups/Admin.yaml",
        "description: Administrators of the access repository\n"
        + yaml_list_block("members", admins)
        + "grants:\n"
        + yaml_list_block("service", sid, "  ")
        + yaml_list_block("plugin", ["p-admin-console"], "  "))
    put("groups/Everyone.yaml",
        "description: Every user (implicit members)\n"
        "grants:\n"
        + yaml_list_block("service", sid, "  ")
        + yaml_list_block("knowledge", ["k-handbook", "k-security-policy"], "  "))

    commits = []
    if a.git:
        git(out, "init", "-q", "-b", "main")
        git(out, "add", "-A")
        git(out, "commit", "-q", "-m", f"synthetic repository: {U} users, {G} groups, {S} services, seed {a.seed}")
        commits.append(git(out, "rev-parse", "HEAD"))

    changed = 0
    kinds = {}
    if a.change_percent is not None:
        # Four kinds of change, in turn over the chosen users (sorted): a connection added,
        # a connection removed, a move from one team group to another (two group files
        # rewritten), and an offboarding (active: false). The two admins are never chosen.
        rng = Rng(a.seed, 4)
        changed = int(round(U * a.change_percent / 100.0))
        if a.change_percent > 0:
            changed = max(1, changed)
        candidates = list(range(2, U)) if U > 2 else list(range(U))
        changed = min(changed, len(candidates))
        picked = sorted(candidates[i] for i in rng.sample(len(candidates), changed))
        user_groups = [[] for _ in range(U)]
        for g in range(G):
            for u in members[g]:
                user_groups[u].append(g)
        touched_users, touched_groups = set(), set()
        order = ("connection added", "connection removed", "group moved", "deactivated")
        for i, u in enumerate(picked):
            kind = order[i % 4]
            c = conns[u]
            if kind == "connection added" and len(c) == S:
                kind = "connection removed"
            if kind == "connection removed" and not c:
                kind = "connection added"
            if kind == "group moved" and (not user_groups[u] or len(user_groups[u]) == G):
                kind = "deactivated"
            if kind == "connection added":
                free = [x for x in range(S) if x not in c]
                conns[u] = sorted(c + [free[rng.below(len(free))]])
                touched_users.add(u)
            elif kind == "connection removed":
                drop = c[rng.below(len(c))]
                conns[u] = [x for x in c if x != drop]
                touched_users.add(u)
            elif kind == "group moved":
                old = user_groups[u][rng.below(len(user_groups[u]))]
                mine = set(user_groups[u])
                new = rng.below(G)
                while new in mine:
                    new = rng.below(G)
                members[old].remove(u)
                bisect.insort(members[new], u)
                user_groups[u] = [g for g in user_groups[u] if g != old] + [new]
                touched_groups.update((old, new))
            else:
                active[u] = False
                touched_users.add(u)
            kinds[kind] = kinds.get(kind, 0) + 1
        for u in sorted(touched_users):
            write(os.path.join(out, f"users/{uid[u]}.yaml"), user_text(u))
        for g in sorted(touched_groups):
            write(os.path.join(out, f"groups/{gid[g]}.yaml"), group_text(g))
        if a.git:
            git(out, "add", "-A")
            git(out, "commit", "-q", "--allow-empty", "-m",
                f"synthetic change: {a.change_percent:g}% of users ({changed}): "
                + ", ".join(f"{n} {k}" for k, n in kinds.items()),
                date="2025-01-02T00:00:00+0000")
            commits.append(git(out, "rev-parse", "HEAD"))

    if a.pack:
        git(out, "repack", "-a", "-d", "-q")
        git(out, "prune")

    elapsed = time.monotonic() - t0
    memberships = sum(len(m) for m in members)
    # Keys the last commit holds: each active user's own connections plus the connect: of
    # their groups (what an apply from empty exchanges).
    effective = [set(conns[u]) if active[u] else set() for u in range(U)]
    for g in range(G):
        if group_connect[g] is not None:
            for u in members[g]:
                if active[u]:
                    effective[u].add(group_connect[g])
    keys = sum(len(e) for e in effective)
    summary = (f"synth: {U} users, {G + 2} groups ({G} teams + Admin + Everyone), {S} services, "
               f"{memberships} memberships, {sum(len(c) for c in conns)} user connections ({keys} keys with connect:), "
               f"{total_grants} team grants, {files} files, {nbytes / 1e6:.1f} MB")
    if changed or a.change_percent is not None:
        summary += f", {changed} users changed (" + (", ".join(f"{n} {k}" for k, n in kinds.items()) or "none") + ")"
    if commits:
        summary += f", commit {commits[-1][:12]}"
    summary += f" -> {out} in {elapsed:.1f}s"
    print(summary)


if __name__ == "__main__":
    main(sys.argv[1:])
