"""The soak's invariants, checked after every cycle's clean apply (soak/README.md says what
each one means). Each check returns a list of violations (empty when it held). Messages
name users, services, token ids and key fingerprints, never a key."""
import hashlib
import json
import os
import re
import stat

HEADER = "# Managed by accessctl; local edits are overwritten."
MANAGED_SKILL = re.compile(r"sc_[a-z0-9][a-z0-9_]*\.md")
ENV_LINE = re.compile(r"([A-Z_][A-Z0-9_]*)='([A-Za-z0-9._~+/=:@%-]{8,4096})'")
KEY_FIELD = re.compile(r"; key: (sha256:[0-9a-f]{12}|-) -> (\(new key\)|-)")


def fingerprint(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def read_ledger(path):
    """The mock's ledger: token id -> {service, user_email, fp}, the set of revoked token
    ids, and key -> token id (only for check_secrets; never printed)."""
    issued, revoked, keys = {}, set(), {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if event["event"] == "issued":
                issued[event["token_id"]] = {"service": event["service"], "user_email": event["user_email"],
                                             "fp": fingerprint(event["api_key"])}
                keys[event["api_key"]] = event["token_id"]
            else:
                revoked.add(event["token_id"])
    return issued, revoked, keys


class Ids:
    """Translations between the mock's view (service path segment, user email) and
    accessctl's ids."""

    def __init__(self, repo):
        self.service_of_mock = {s["mock_name"]: sid for sid, s in repo.services.items()}
        self.user_of_email = {u["email"]: uid for uid, u in repo.users.items()}


def check_tokens(repo, export, ledger_live):
    """Converged: every connection active and none retired; the database's connections are
    the repository's; the mock's live tokens are exactly the database's active keys."""
    out = []
    ids = Ids(repo)
    for c in export["connections"]:
        if c["status"] != "active":
            out.append(f"connection {c['user']}.{c['service']} is {c['status']} after a clean apply ({c.get('last_error')})")
    for t in export["retired_tokens"]:
        out.append(f"replaced token {t['service']}.{t['token_id']} still to revoke after a clean apply")
    db = {(c["user"], c["service"]): c["key_fingerprint"] for c in export["connections"] if c["status"] == "active"}
    expected = repo.expected_connections()
    for pair in sorted(expected - set(db)):
        out.append(f"connection {'.'.join(pair)} is in the repository but has no active key in the database")
    for pair in sorted(set(db) - expected):
        out.append(f"connection {'.'.join(pair)} has an active key in the database but is not in the repository")
    live = {}
    for t in ledger_live["live"]:
        user = ids.user_of_email.get(t["user_email"], "<unknown email>")
        live.setdefault((user, ids.service_of_mock.get(t["service"], t["service"])), []).append((t["key_fingerprint"], t["token_id"]))
    for pair in sorted(set(live) | set(db)):
        have = sorted(fp for fp, _ in live.get(pair, []))
        if have != ([db[pair]] if pair in db else []):
            tokens = ", ".join(f"{tid} ({fp})" for fp, tid in live.get(pair, [])) or "none"
            out.append(f"{'.'.join(pair)}: the database's active key is {db.get(pair, 'none')}, the mock's live tokens: {tokens}")
    if ledger_live.get("redirects_followed"):
        out.append(f"the client followed {ledger_live['redirects_followed']} redirects")
    return out


def check_homes(repo, export, accounts, homes_root):
    """Every home holds exactly what the database says: `.service_env` with the keys of the
    user's active connections (compared by fingerprint), each `sc_<service>.md` with the skill
    text, mode 600, owned by the user; no managed file for a user without active connections.
    Also the product's own view (`state export`): every home observed, every `.service_env`
    matching the database."""
    out = []
    by_user = {}
    for c in export["connections"]:
        if c["status"] == "active":
            by_user.setdefault(c["user"], {})[c["service"]] = c["key_fingerprint"]
    user_of_account = {u["unix_user"]: uid for uid, u in repo.users.items()}
    for account, failure in sorted(export["home_failures"].items()):
        out.append(f"{account}: the product could not observe the home: {failure}")
    for account, observed in sorted(export["homes"].items()):
        env = observed["service_env"]
        if env["state"] == "present" and not env.get("matches_database"):
            out.append(f"{account}: state export says .service_env does not match the database")
    for account, (uid, gid) in sorted(accounts.items()):
        home = os.path.join(homes_root, "home", account)
        conns = by_user.get(user_of_account.get(account), {})
        expected_env = {repo.services[s]["env_var"]: fp for s, fp in conns.items()}
        out += [f"{account}: {m}" for m in check_env(os.path.join(home, ".service_env"), expected_env, uid, gid)]
        rules = os.path.join(home, ".claude_rules")
        names = set()
        if os.path.lexists(rules):
            st = os.lstat(rules)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
                out.append(f"{account}: .claude_rules is not a directory owned by the user")
                continue
            names = {n for n in os.listdir(rules) if MANAGED_SKILL.fullmatch(n)}
            if names and stat.S_IMODE(st.st_mode) != 0o700:
                out.append(f"{account}: .claude_rules has mode {stat.S_IMODE(st.st_mode):o}, not 700")
        wanted = {f"sc_{s}.md": s for s in conns}
        for name in sorted(names - set(wanted)):
            out.append(f"{account}: .claude_rules/{name} should not exist")
        for name, service in sorted(wanted.items()):
            path = os.path.join(rules, name)
            problem = file_problem(path, uid, gid)
            if problem:
                out.append(f"{account}: .claude_rules/{name} {problem}")
            elif read_bytes(path) != repo.services[service]["skill_text"].encode():
                out.append(f"{account}: .claude_rules/{name} differs from the skill file of {service}")
    return out


def file_problem(path, uid, gid):
    """Why `path` is not a regular, single-link file of the user with mode 600, or None."""
    if not os.path.lexists(path):
        return "is missing"
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if (st.st_uid, st.st_gid) != (uid, gid):
        return f"is owned by {st.st_uid}:{st.st_gid}, not {uid}:{gid}"
    if stat.S_IMODE(st.st_mode) != 0o600 or st.st_nlink != 1:
        return f"has mode {stat.S_IMODE(st.st_mode):o} and {st.st_nlink} links, not 600 and 1"
    return None


def check_env(path, expected, uid, gid):
    """`.service_env` against {variable: key fingerprint}; absent when `expected` is empty."""
    if not expected:
        return [".service_env exists but the user has no active connection"] if os.path.lexists(path) else []
    problem = file_problem(path, uid, gid)
    if problem:
        return [f".service_env {problem}"]
    lines = read_bytes(path).decode("utf-8", "replace").split("\n")
    if lines[0] != HEADER or lines[-1] != "":
        return [".service_env does not start with the header or does not end with a newline"]
    found = []
    for number, line in enumerate(lines[1:-1], 2):
        m = ENV_LINE.fullmatch(line)
        if not m:
            return [f".service_env line {number} is not VARIABLE='key'"]
        found.append((m.group(1), fingerprint(m.group(2))))
    if [v for v, _ in found] != sorted(v for v, _ in found):
        return [".service_env is not sorted by variable"]
    if dict(found) != expected or len(found) != len(expected):
        have = ", ".join(f"{v}={fp}" for v, fp in found)
        want = ", ".join(f"{v}={fp}" for v, fp in sorted(expected.items()))
        return [f".service_env holds {have}; the database says {want}"]
    return []


def snapshot_tree(homes_root):
    """Relative path -> identity() of everything under `homes_root` (the mtime of a directory
    left out: creating a managed file in it changes it)."""
    out = {}
    for directory, dirs, files in os.walk(homes_root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            out[os.path.relpath(path, homes_root)] = identity(path)
    return out


def check_tree(homes_root, planted):
    """Nothing but the managed names changed in the homes tree: every path planted before the
    first apply (homes, their directories, the decoy files) has the identity it had, and every
    other path is a managed name (`.service_env`, `.claude_rules`, `.claude_rules/sc_<x>.md`)."""
    out = []
    now = snapshot_tree(homes_root)
    for rel, was in sorted(planted.items()):
        if rel not in now:
            if not managed(rel):
                out.append(f"{rel} was removed")
        elif now[rel] != was:
            out.append(f"{rel} changed: {describe(was, now[rel])}")
    for rel in sorted(set(now) - set(planted)):
        if not managed(rel):
            out.append(f"unexpected file {rel}")
    return out


def managed(rel):
    parts = rel.split(os.sep)
    return (len(parts) == 3 and parts[0] == "home" and parts[2] in (".service_env", ".claude_rules")) or (
        len(parts) == 4 and parts[0] == "home" and parts[2] == ".claude_rules" and MANAGED_SKILL.fullmatch(parts[3]))


def identity(path):
    """What must not change about a file: content digest, inode, mtime, mode, owner; for a
    directory the same without content and mtime."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        return (None, st.st_ino, None, st.st_mode, st.st_uid, st.st_gid)
    digest = hashlib.sha256(read_bytes(path)).hexdigest()[:16] if stat.S_ISREG(st.st_mode) else None
    return (digest, st.st_ino, st.st_mtime_ns, st.st_mode, st.st_uid, st.st_gid)


def describe(before, after):
    names = ("content", "inode", "mtime", "mode", "owner", "group")
    return ", ".join(f"{n} {a} -> {b}" for n, a, b in zip(names, before, after) if a != b)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def audit_rows(log):
    """(action, address, old key fingerprint or None, failed) for every audit row of `accessctl
    log --format json`."""
    rows = []
    for run in log["runs"]:
        for a in run["actions"]:
            detail = a.get("detail") or ""
            cut = detail.find("; FAILED: ")
            fields = KEY_FIELD.findall(detail if cut < 0 else detail[:cut])
            old = fields[-1][0] if fields and fields[-1][0] != "-" else None
            rows.append((a["action"], a["address"], old, cut >= 0))
    return rows


def check_audit(repo, issued, revoked, log):
    """The audit log accounts for every token the mock issued and revoked (soak/README.md,
    "The audit invariant"):

    1. issued: for each connection address, the tokens the mock issued for that user and
       service are at most the audit rows that can have asked for one there: `connect` and
       `rotate` (each makes or retries one request id), and `disconnect` (an exchange in flight,
       whose key the database never learnt, is recovered under its request id to revoke it);
    2. revoked: each token revoked at the mock is named by fingerprint as the old key of a row
       that did not fail: a `disconnect` (at its connection, or at `token.<service>.<token id>`
       for a replaced key whose revocation failed before) or a `rotate` (whose replaced key is
       revoked in the same run); tokens whose key the database never held are counted against
       successful `disconnect` rows at their connection;
    3. conversely, every successful `disconnect` row naming a fingerprint names a token the
       mock has revoked."""
    ids = Ids(repo)
    rows = audit_rows(log)
    asks, unknown_revokes, named_ok, disconnected = {}, {}, set(), set()
    for action, address, old, failed in rows:
        if action in ("connect", "rotate"):
            asks[address] = asks.get(address, 0) + 1
        # A disconnect can ask too: a connection whose exchange was in flight is exchanged
        # again under its request id to learn that key, which is then revoked with it.
        if action == "disconnect" and address.startswith("connection."):
            asks[address] = asks.get(address, 0) + 1
            if not failed:
                unknown_revokes[address] = unknown_revokes.get(address, 0) + 1
        if action in ("disconnect", "rotate") and old is not None and not failed:
            named_ok.add(old)
            if action == "disconnect":
                disconnected.add(old)
    out = []
    per_address, unnamed = {}, {}
    for token_id, t in issued.items():
        user = ids.user_of_email.get(t["user_email"], t["user_email"])
        address = f"connection.{user}.{ids.service_of_mock.get(t['service'], t['service'])}"
        per_address.setdefault(address, []).append(token_id)
        if token_id in revoked and t["fp"] not in named_ok:
            unnamed.setdefault(address, []).append(token_id)
    for address, tokens in sorted(per_address.items()):
        if len(tokens) > asks.get(address, 0):
            listed = ", ".join(f"{tid} ({issued[tid]['fp']})" for tid in tokens)
            out.append(f"{address}: the mock issued {len(tokens)} tokens ({listed}) but the audit log has "
                       f"{asks.get(address, 0)} rows that asked for one")
    for address, tokens in sorted(unnamed.items()):
        if len(tokens) > unknown_revokes.get(address, 0):
            listed = ", ".join(f"{tid} ({issued[tid]['fp']})" for tid in tokens)
            out.append(f"{address}: revoked at the mock but not named by a successful disconnect row: {listed}")
    by_fp = {t["fp"]: tid for tid, t in issued.items()}
    for fp in sorted(disconnected):
        tid = by_fp.get(fp)
        if tid is None or tid not in revoked:
            out.append(f"a successful disconnect row names {fp}, which the mock has not revoked ({tid or 'never issued'})")
    return out


ALNUM_RUN = re.compile(r"[A-Za-z0-9]{40,}")


def check_secrets(paths, keys, shared_secret):
    """No key the mock issued (`keys`: key -> token id) and not the shared secret appears in
    any of the output files `paths`. The mock's keys end in 40 random base62 characters, so
    a key is found by its tail, whatever surrounds it."""
    tails = {key[-40:]: token_id for key, token_id in keys.items()}
    out = []
    for path in paths:
        text = read_bytes(path).decode("utf-8", "replace")
        leaked = {tails[run[i:i + 40]] for run in ALNUM_RUN.findall(text) for i in range(len(run) - 39)
                  if run[i:i + 40] in tails}
        if leaked:
            out.append(f"{os.path.basename(path)} contains the key of {', '.join(sorted(leaked))}")
        if shared_secret in text:
            out.append(f"{os.path.basename(path)} contains the shared secret")
    return out
