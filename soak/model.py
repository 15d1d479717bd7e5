"""The soak's desired-state repository: examples/acme enlarged, held as a model that random,
valid edits change and that is written back as YAML files and committed.

The model knows the policy of docs/format.md that an edit could break (every connection
backed by a service grant of one of the user's groups, Everyone included; Admin keeps an
active member; members are existing users), so edits stay valid; soak.py still runs
`accessctl validate` on every commit and reverts an edit it refuses.
"""
import copy
import os
import re
import shutil
import subprocess

EVERYONE = "Everyone"
ADMIN = "Admin"
# The token service of examples/acme, replaced by the mock's address in the files written.
ACME_HOST = "127.0.0.1:8710"
# Services added to acme so that edits have more to connect (ids, variables, key prefixes).
EXTRA_SERVICES = [("tickets", "TICKETS_API_KEY", "tk_"), ("wiki", "WIKI_API_KEY", "wk_")]
OTHER_GRANTS = {"table": ["sales.accounts", "finance.invoices", "warehouse.daily_orders", "hr.headcount"],
                "knowledge": ["handbook", "pricing", "month-end-close", "oncall"]}


def parse_yaml_subset(text, path):
    """The YAML that examples/acme uses: `key: scalar`, `key: [a, b]`, and one level of
    nested `key:` blocks of those. Anything else is refused, so a change to the example that
    this reader does not understand fails loudly instead of being misread."""
    out, block = {}, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line:
            continue
        m = re.fullmatch(r"( *)([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?", line)
        if not m or len(m.group(1)) not in (0, 2) or (m.group(1) and block is None):
            raise ValueError(f"{path}:{number}: not understood by soak/model.py: {raw!r}")
        indent, key, value = m.groups()
        target = out if not indent else out[block]
        if not indent:
            block = None
        if value is None:
            if indent:
                raise ValueError(f"{path}:{number}: nesting deeper than one level")
            target[key], block = {}, key
        elif value.startswith("["):
            target[key] = [x.strip() for x in value.strip("[]").split(",") if x.strip()]
        else:
            target[key] = {"true": True, "false": False}.get(value, value)
    return out


def flow(items):
    return "[" + ", ".join(items) + "]"


class Repo:
    """Services, users and groups of the repository, and the text of the files that do not
    change (accessctl.yaml, skill files)."""

    def __init__(self, acme, extra_users):
        self.static = {}          # relative path -> text, written once
        self.services = {}        # id -> dict(lines, enabled, env_var, secret_env, mock_name, key_prefix, skill_text)
        self.users = {}           # id -> dict(email, unix_user, active, connections, present)
        self.groups = {}          # id -> dict(head, members, grants, connect)
        self.static["accessctl.yaml"] = read(os.path.join(acme, "accessctl.yaml"))
        names = sorted(os.listdir(os.path.join(acme, "services")))
        for name in names:
            if name.endswith(".md"):
                self.static["services/" + name] = read(os.path.join(acme, "services", name))
        for name in (n for n in names if n.endswith(".yaml")):
            text = read(os.path.join(acme, "services", name))
            sid, fields = name[:-5], parse_yaml_subset(text, name)
            lines = [line for line in text.splitlines() if not line.startswith("enabled:")]
            self.add_service(sid, lines, fields, self.static["services/" + fields.get("skill", sid + ".md")])
        for sid, env_var, prefix in EXTRA_SERVICES:
            url = f"http://{ACME_HOST}/{sid}"
            lines = [f"name: {sid.capitalize()}", f"token_exchange_url: {url}/api/internal/token-exchange",
                     f"token_revoke_url: {url}/api/internal/token-revoke", f"env_var: {env_var}", f"key_prefix: {prefix}"]
            skill = f"# {sid.capitalize()}\n\nAuthenticate with `Authorization: Bearer ${env_var}`.\n"
            self.static[f"services/{sid}.md"] = skill
            self.add_service(sid, lines, parse_yaml_subset("\n".join(lines), sid), skill)
        for name in sorted(os.listdir(os.path.join(acme, "users"))):
            fields = parse_yaml_subset(read(os.path.join(acme, "users", name)), name)
            uid = name[:-5]
            self.users[uid] = {"email": fields["email"], "unix_user": fields.get("unix_user", uid),
                               "active": fields.get("active", True), "connections": fields.get("connections", []),
                               "present": True}
        for name in sorted(os.listdir(os.path.join(acme, "groups"))):
            fields = parse_yaml_subset(read(os.path.join(acme, "groups", name)), name)
            head = [f"description: {fields['description']}"] if "description" in fields else []
            self.groups[name[:-5]] = {"head": head, "members": fields.get("members", []),
                                      "grants": fields.get("grants", {}), "connect": fields.get("connect", [])}
        for n in range(1, extra_users + 1):
            uid = f"analyst{n:02d}"
            self.users[uid] = {"email": f"{uid}@acme.example", "unix_user": uid, "active": True,
                               "connections": [], "present": True}
        self.teams = [g for g in self.groups if g not in (EVERYONE, ADMIN)]
        self.port = None

    def snapshot(self):
        return copy.deepcopy((self.users, self.groups, self.services))

    def restore(self, saved):
        self.users, self.groups, self.services = saved

    def add_service(self, sid, lines, fields, skill_text):
        path = fields["token_exchange_url"].split("://", 1)[1].split("/")
        self.services[sid] = {"lines": lines, "enabled": fields.get("enabled", True), "env_var": fields["env_var"],
                              "secret_env": fields.get("secret_env", "SC_SECRET_" + sid.upper()),
                              "mock_name": path[1], "key_prefix": fields.get("key_prefix"), "skill_text": skill_text}

    def seed_members(self, rng):
        """Grants each added service to a team group and puts each added user into one or two
        team groups, with up to two connections of their own."""
        for sid, _, _ in EXTRA_SERVICES:
            grants = self.groups[rng.choice(self.teams)]["grants"]
            grants["service"] = grants.get("service", []) + [sid]
        for uid, user in self.users.items():
            if not uid.startswith("analyst"):
                continue
            for group in rng.sample(self.teams, rng.randint(1, 2)):
                self.groups[group]["members"].append(uid)
            backed = sorted(self.granted(uid))
            user["connections"] = rng.sample(backed, min(len(backed), rng.randint(0, 2)))
        self.repair()
        assert not self.problems(), self.problems()

    # ------------------------------------------------------------------ policy

    def groups_of(self, uid):
        return [g for g, group in self.groups.items() if g == EVERYONE or uid in group["members"]]

    def granted(self, uid):
        return {s for g in self.groups_of(uid) for s in self.groups[g]["grants"].get("service", [])}

    def wanted(self, uid):
        """The services a user's files name: their own connections and their groups' connect."""
        return set(self.users[uid]["connections"]).union(*(self.groups[g]["connect"] for g in self.groups_of(uid)))

    def expected_connections(self):
        """(user, service) pairs that hold a key once converged: present, active users,
        enabled services."""
        return {(uid, s) for uid, u in self.users.items() if u["present"] and u["active"]
                for s in self.wanted(uid) if self.services[s]["enabled"]}

    def problems(self):
        out = []
        present = {uid for uid, u in self.users.items() if u["present"]}
        for uid in sorted(present):
            for s in sorted(self.wanted(uid) - self.granted(uid)):
                out.append(f"{uid} -> {s} not backed by a grant")
        for g, group in self.groups.items():
            if set(group["members"]) - present:
                out.append(f"group {g} lists a removed user")
        if not any(self.users[m]["active"] for m in self.groups[ADMIN]["members"] if m in present):
            out.append("Admin has no active member")
        return out

    def repair(self):
        """Drops a user's own connections that no grant backs any more (what an admin removing
        a grant or a membership would do in the same commit)."""
        for uid, user in self.users.items():
            granted = self.granted(uid)
            user["connections"] = [s for s in user["connections"] if s in granted]

    # ------------------------------------------------------------------ edits

    def random_edit(self, rng, users_on_and_off=True):
        """Applies one random edit that keeps the repository valid and returns its
        description, or None (the model unchanged) when 20 tries found none. Without
        `users_on_and_off`, no user file is deleted or added back.

        Each edit picks a random pair (group and user, user and service, ...) and flips it,
        adding with a lower probability than removing where a sparse state is wanted, so the
        repository keeps about the same density however long the soak runs: each user in
        about a third of the team groups, most users active and present, most services
        enabled."""
        kinds = [("member", 6), ("grant", 4), ("conn", 6), ("connect", 2), ("active", 2), ("user", 1), ("service", 1),
                 ("other_grant", 1)]
        kinds = [(k, w) for k, w in kinds if users_on_and_off or k != "user"]
        for _ in range(20):
            kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
            before = self.snapshot()
            what = getattr(self, "edit_" + kind)(rng)
            if what:
                self.repair()
                if not self.problems():
                    return what
            self.restore(before)
        return None

    def present_users(self):
        return sorted(uid for uid, u in self.users.items() if u["present"])

    @staticmethod
    def flip(rng, items, item, add_probability):
        """Removes `item` from `items` if there, else adds it with `add_probability`; returns
        "add", "remove" or None."""
        if item in items:
            items.remove(item)
            return "remove"
        if rng.random() < add_probability:
            items.append(item)
            return "add"
        return None

    def edit_member(self, rng):
        g, u = rng.choice(self.teams + [ADMIN]), rng.choice(self.present_users())
        done = self.flip(rng, self.groups[g]["members"], u, 0.4)
        return done and f"{done} {u} {'to' if done == 'add' else 'from'} {g}"

    def edit_grant(self, rng):
        g, s = rng.choice(sorted(self.groups)), rng.choice(sorted(self.services))
        grants = self.groups[g]["grants"]
        grants["service"] = list(grants.get("service", []))
        done = self.flip(rng, grants["service"], s, 0.5)
        return done and f"{'grant' if done == 'add' else 'withdraw'} {s} {'to' if done == 'add' else 'from'} {g}"

    def edit_other_grant(self, rng):
        g, kind = rng.choice(sorted(self.groups)), rng.choice(sorted(OTHER_GRANTS))
        resource = rng.choice(OTHER_GRANTS[kind])
        grants = self.groups[g]["grants"]
        grants[kind] = list(grants.get(kind, []))
        done = self.flip(rng, grants[kind], resource, 0.5)
        return done and f"{done} the {kind} grant {resource} of {g}"

    def edit_conn(self, rng):
        u = rng.choice(self.present_users())
        granted = sorted(self.granted(u))
        if not granted:
            return None
        s = rng.choice(granted)
        done = self.flip(rng, self.users[u]["connections"], s, 0.6)
        return done and f"{'connect' if done == 'add' else 'disconnect'} {u} {'to' if done == 'add' else 'from'} {s}"

    def edit_connect(self, rng):
        g = rng.choice(self.teams)
        granted = sorted(self.groups[g]["grants"].get("service", []))
        if not granted:
            return None
        s = rng.choice(granted)
        done = self.flip(rng, self.groups[g]["connect"], s, 0.5)
        return done and f"{g} {'connects' if done == 'add' else 'no longer connects'} {s}"

    def edit_active(self, rng):
        u = rng.choice(self.present_users())
        user = self.users[u]
        if user["active"] and rng.random() >= 0.2:
            return None
        user["active"] = not user["active"]
        return f"{'reactivate' if user['active'] else 'deactivate'} {u}"

    def edit_user(self, rng):
        u = rng.choice(sorted(self.users))
        user = self.users[u]
        if not user["present"]:
            user.update(present=True, connections=[])
            return f"add the user {u} again"
        if rng.random() >= 0.1:
            return None
        user["present"] = False
        for group in self.groups.values():
            if u in group["members"]:
                group["members"].remove(u)
        return f"remove the user {u}"

    def edit_service(self, rng):
        s = rng.choice(sorted(self.services))
        service = self.services[s]
        if service["enabled"] and rng.random() >= 0.25:
            return None
        service["enabled"] = not service["enabled"]
        return f"{'enable' if service['enabled'] else 'disable'} {s}"

    # ------------------------------------------------------------------ files

    def files(self):
        """Relative path -> text of every file of the repository."""
        out = dict(self.static)
        for sid, s in self.services.items():
            text = "\n".join(s["lines"] + ([] if s["enabled"] else ["enabled: false"])) + "\n"
            out[f"services/{sid}.yaml"] = text.replace(ACME_HOST, f"127.0.0.1:{self.port}")
        for uid, u in self.users.items():
            if not u["present"]:
                continue
            lines = [f"email: {u['email']}", f"unix_user: {u['unix_user']}"]
            if not u["active"]:
                lines.append("active: false")
            if u["connections"]:
                lines.append(f"connections: {flow(u['connections'])}")
            out[f"users/{uid}.yaml"] = "\n".join(lines) + "\n"
        for gid, g in self.groups.items():
            lines = list(g["head"])
            if g["members"] and gid != EVERYONE:
                lines.append(f"members: {flow(g['members'])}")
            grants = [(kind, ids) for kind, ids in g["grants"].items() if ids]
            if grants:
                lines.append("grants:")
                lines += [f"  {kind}: {flow(ids)}" for kind, ids in grants]
            if g["connect"]:
                lines.append(f"connect: {flow(g['connect'])}")
            out[f"groups/{gid}.yaml"] = "\n".join(lines) + "\n"
        return out

    def write(self, repo):
        """Makes the working tree of `repo` hold exactly files() (outside .git)."""
        wanted = self.files()
        for top in ("services", "users", "groups"):
            directory = os.path.join(repo, top)
            if os.path.isdir(directory):
                for name in os.listdir(directory):
                    if f"{top}/{name}" not in wanted:
                        os.unlink(os.path.join(directory, name))
        for rel, text in wanted.items():
            path = os.path.join(repo, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(path) or read(path) != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def git(repo, *args):
    """Runs git in `repo` as the soak's author; returns stdout."""
    return subprocess.run(["git", "-C", repo, "-c", "user.name=Soak", "-c", "user.email=soak@acme.example",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


def init_repo(repo):
    if os.path.isdir(repo):
        shutil.rmtree(repo)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
