#!/usr/bin/env python3
"""The chaos soak of accessctl (issue 9): run by soak/run, described in soak/README.md.

Sets up a server in a work directory (a git repository seeded from examples/acme and
enlarged, a homes tree of test uids with decoy files, token-service-mock, a configuration
pointing the real helper at the homes), then runs cycles until the time is up: random valid
commits; applies under injected faults, some SIGKILLed at a random moment, some two at
once, some with the clock moved forward so keys rotate; then, faults off, a clean apply
that must exit 0 and converge, and the invariants of checks.py.
"""
import argparse
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

import checks
import model
import repro

FIRST_UID = 46000
EXTRA_USERS = 30
APPLY_TIMEOUT = 300
FAULTS = ["error_rate", "revoke_error_rate", "lost_response_rate", "malformed_rate", "html_rate", "redirect_rate",
          "oversized_rate", "bad_key_rate"]
CHECKS = ["tokens", "homes", "untouched", "audit", "secrets"]
# What --without can leave out of the chaos: the clock moved forward (key rotations), edits
# that delete and re-add user files, and the mock's bad-key answers.
WITHOUT = ["rotation", "user-removal", "bad-key"]
NO_FAULTS = dict({name: 0 for name in FAULTS}, latency_ms=0)
# Files planted in every home before the first apply, none of them a managed name; those
# under .claude_rules only in the homes where the soak creates that directory itself.
DECOYS = {".bashrc": "alias ll='ls -l'\n", ".profile": ". ~/.bashrc\n", "notes/todo.txt": "rotate keys?\n",
          ".service_env.bak": "OLD_API_KEY='not-a-real-key'\n", ".service_env~": "# editor backup\n"}
RULES_DECOYS = {"km_notes.md": "# notes from another sync\n", "SC_CRM.md": "# upper case: not managed\n",
                "sc_crm.md.orig": "# not .md at the end\n", "sc_.md": "# empty id: not managed\n",
                "sc_Wiki.md": "# upper case id: not managed\n"}


class Violation(Exception):
    """An invariant did not hold (exit 1)."""

    def __init__(self, kind, messages):
        super().__init__(kind)
        self.kind, self.messages = kind, messages


def log(message):
    print(f"soak: {message}", file=sys.stderr, flush=True)


class Soak:
    """One soak: its work directory, the mock, the repository model, the counters of what
    happened and of the checks that held."""

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.bin = args.bin_dir
        self.work = args.work
        self.stats = {}
        self.passed = {}
        self.outputs = []
        self.scanned = 0
        self.started = time.monotonic()
        self.secret = secrets.token_hex(24)
        self.mock = None
        self.apply_seconds = 1.0
        self.mock_log_offset = 0
        self.faults_on = False

    def count(self, name, n=1):
        self.stats[name] = self.stats.get(name, 0) + n

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    # ------------------------------------------------------------------ setup

    def setup(self):
        os.chmod(self.work, 0o755)
        os.makedirs(self.path("logs"))
        self.repo = model.Repo(os.path.join(self.args.root, "examples", "acme"), EXTRA_USERS)
        self.repo.seed_members(self.rng)
        self.start_mock()
        self.repo.port = self.port
        model.init_repo(self.path("repo"))
        self.commit("seed: examples/acme and %d analysts" % EXTRA_USERS)
        self.make_homes()
        helper = [os.path.join(self.bin, "install-service-env"), "--passwd-file", self.path("passwd"),
                  "--homes-root", self.path("homes")]
        # The soak runs sealed, as a server does: a master key made by the binary under test.
        if not os.path.exists(self.path("master.key")):
            subprocess.run([os.path.join(self.bin, "accessctl"), "state", "init-key", "--out", self.path("master.key")],
                           check=True, stderr=subprocess.DEVNULL)
        with open(self.path("config.yaml"), "w") as f:
            f.write(f"repository: {self.path('repo')}\nbranch: main\ndatabase: {self.path('live.db')}\n"
                    f"key_file: {self.path('master.key')}\n"
                    f"helper: {json.dumps(helper)}\n"
                    # Random removals may take out a whole service's connections at once: the
                    # mass-removal guard (exit 4) is not what the soak is about.
                    "guards:\n  max_removal_percent: 100\n"
                    "http:\n  connect_timeout_seconds: 2\n  timeout_seconds: 5\n")
        self.env = dict(os.environ, NO_COLOR="1", **{s["secret_env"]: self.secret for s in self.repo.services.values()})
        self.env.pop("ACCESSCTL_NOW", None)
        self.env.pop("ACCESSCTL_FAULT", None)

    def start_mock(self):
        port_file = self.path("mock.port")
        argv = [os.path.join(self.bin, "token-service-mock"), "--port", "0", "--port-file", port_file,
                "--ledger", self.path("ledger.jsonl"), "--secret", self.secret, "--verbose",
                "--seed", str(self.rng.randrange(2 ** 53))]
        argv += [a for s in self.repo.services.values() if s["key_prefix"]
                 for a in ("--key-prefix", f"{s['mock_name']}={s['key_prefix']}")]
        with open(self.path("mock.out"), "w") as out, open(self.path("mock.log"), "w") as err:
            self.mock = subprocess.Popen(argv, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.mock.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("token-service-mock did not start (see mock.log)")
            time.sleep(0.05)
        self.port = int(open(port_file).read())

    def make_homes(self):
        """A home for every user the repository can ever name, owned by a test uid, with the
        decoys planted and recorded; the passwd file the helper resolves them with."""
        self.accounts = {}
        home_root = self.path("homes", "home")
        os.makedirs(home_root)
        os.chmod(self.path("homes"), 0o755)
        os.chmod(home_root, 0o755)
        with open(self.path("passwd"), "w") as f:
            for n, uid in enumerate(sorted(self.repo.users)):
                account = self.repo.users[uid]["unix_user"]
                number = FIRST_UID + n
                self.accounts[account] = (number, number)
                f.write(f"{account}:x:{number}:{number}::/home/{account}:/bin/sh\n")
                home = os.path.join(home_root, account)
                files = dict(DECOYS)
                if n % 2 == 0:
                    files.update({".claude_rules/" + k: v for k, v in RULES_DECOYS.items()})
                for rel, text in files.items():
                    self.plant(home, rel, text, number)
        self.planted = checks.snapshot_tree(self.path("homes"))

    @staticmethod
    def plant(home, rel, text, uid):
        """Writes one file into a home, creating the home and the file's directory (mode 700),
        everything owned by uid."""
        path = os.path.join(home, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for directory in {os.path.dirname(path), home}:
            os.chown(directory, uid, uid)
            os.chmod(directory, 0o700)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, uid, uid)
        os.chmod(path, 0o644)

    # ------------------------------------------------------------------ repository

    def commit(self, message):
        self.repo.write(self.path("repo"))
        model.git(self.path("repo"), "add", "-A")
        model.git(self.path("repo"), "commit", "-q", "--allow-empty", "-m", message)
        self.count("commits")

    def random_commit(self):
        """1 to 3 valid edits in one commit; an edit `accessctl validate` refuses is undone."""
        done = []
        for _ in range(self.rng.randint(1, 3)):
            saved = self.repo.snapshot()
            what = self.repo.random_edit(self.rng, users_on_and_off="user-removal" not in self.args.without)
            if what is None:
                continue
            self.repo.write(self.path("repo"))
            rc, out, _ = self.run(["validate", "--repo", self.path("repo")], "validate")
            if rc != 0:
                self.count("edits refused by validate")
                log(f"validate refused '{what}' (exit {rc}); undone: {first_line(out)}")
                self.repo.restore(saved)
                continue
            done.append(what)
        if done:
            self.commit("; ".join(done))
            self.count("edits", len(done))

    # ------------------------------------------------------------------ processes

    def run(self, arguments, name, env=None, timeout=APPLY_TIMEOUT):
        """Runs accessctl to the end: (exit code, stdout path, stderr path)."""
        p = self.spawn(arguments, name, env)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise Violation("hang", [f"accessctl {' '.join(arguments)} did not finish within {timeout} s"])
        return rc, p.out, p.err

    def spawn(self, arguments, name, env=None):
        number = self.stats.get("processes", 0) + 1
        self.count("processes")
        out, err = self.path("logs", f"{number:05d}-{name}.out"), self.path("logs", f"{number:05d}-{name}.err")
        self.outputs += [out, err]
        with open(out, "w") as o, open(err, "w") as e:
            # A crash point needs the test harness (the same commands with ApplyObserver hooks).
            binary = "accessctl-faults" if "ACCESSCTL_FAULT" in (env or self.env) else "accessctl"
            p = subprocess.Popen([os.path.join(self.bin, binary), *arguments], stdout=o, stderr=e,
                                 env=env or self.env, start_new_session=True)
        p.out, p.err = out, err
        return p

    def config(self):
        return ["--config", self.path("config.yaml")]

    def faults(self, settings):
        self.count_mock_log()
        self.faults_on = settings is not NO_FAULTS
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_faults", data=json.dumps(settings).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def ledger_live(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_ledger", timeout=10) as answer:
            return json.load(answer)

    def random_faults(self):
        """About 20 % of requests faulted, spread at random over the kinds; 0-50 ms latency.
        The switches add up to 18-28 %: a revoke never draws `bad_key_rate`, an exchange never
        `revoke_error_rate`, and the mock draws them one after the other."""
        total = self.rng.uniform(0.18, 0.28)
        names = [f for f in FAULTS if f != "bad_key_rate" or "bad-key" not in self.args.without]
        weights = [self.rng.random() for _ in names]
        settings = {name: round(total * w / sum(weights), 4) for name, w in zip(names, weights)}
        settings.update(latency_ms=self.rng.randint(0, 50), seed=self.rng.randrange(9 * 10 ** 15))  # the mock takes seeds below 9e15
        self.faults(settings)

    # ------------------------------------------------------------------ applies

    def chaos_apply(self):
        """One apply under faults: maybe with the clock moved forward (keys rotate), maybe
        SIGKILLed after 0-2 s (the whole process group, as systemd does, or only accessctl,
        as the OOM killer does, leaving the helper to finish alone)."""
        env = self.env
        if self.rng.random() < 0.15 and "rotation" not in self.args.without:
            days = self.rng.choice([61, 336])
            env = dict(self.env, ACCESSCTL_NOW=str(int(time.time()) + days * 86400))
            self.count("applies with the clock moved forward")
        p = self.spawn(["apply", "--auto-approve", *self.config()], "apply", env)
        kill = self.kill_plan()
        self.finish([p], {p.pid: kill} if kill else {})

    def chaos_pair(self):
        """Two applies at once: the second fails at once on the lock (exit 1), or waits for it
        (--lock-timeout), or runs after the first finished; either may be SIGKILLed. Half the
        pairs start at the same instant; some start after a stale line (a dead pid, as a
        SIGKILLed apply leaves it) was planted in the lock file. A refused one must name the
        other apply of the pair as the holder, never itself and never the dead pid."""
        self.count("concurrent pairs")
        stale = None
        if self.rng.random() < 0.3:
            stale = self.plant_stale_lock_line()
            self.count("pairs after a stale lock line")
        simultaneous = self.rng.random() < 0.5
        if simultaneous:
            self.count("simultaneous starts")
        first = self.spawn(["apply", "--auto-approve", *self.config()], "apply")
        if not simultaneous:
            time.sleep(self.rng.uniform(0, 0.3))
        wait = ["--lock-timeout", "60"] if self.rng.random() < 0.5 else []
        second = self.spawn(["apply", "--auto-approve", *wait, *self.config()], "apply")
        kills = {}
        if self.rng.random() < 0.4:
            kills[self.rng.choice([first, second]).pid] = self.kill_plan(always=True)
        self.finish([first, second], kills, stale=stale)

    def plant_stale_lock_line(self):
        """Writes the line a SIGKILLed apply leaves in the lock file, naming a pid that has
        exited; returns that pid. Only between applies (none runs, so the lock is free)."""
        dead = subprocess.Popen(["/bin/true"])
        dead.wait()
        with open(self.path("live.db.lock"), "w") as f:
            f.write(f"pid {dead.pid} on soak-host, accessctl apply --auto-approve, since 2026-01-01T00:00:00Z\n")
        return dead.pid

    def kill_plan(self, always=False):
        """(delay, whole group?) or None: 60 % of applies are killed, at a moment drawn from
        the length of an apply that ran to its end (a moving average; at most 2 s), so that
        kills land in every step of an apply rather than after it ended."""
        if not always and self.rng.random() >= 0.6:
            return None
        return self.rng.uniform(0, min(2.0, 1.3 * self.apply_seconds)), self.rng.random() < 0.75

    def finish(self, procs, kills, stale=None):
        """Waits for `procs`, SIGKILLing those in `kills` at their moment, and checks each
        outcome: exit 0, 1 (the lock held, or another documented error) or 3, or our SIGKILL.
        On a violation the others are killed, so nothing changes the kept work directory."""
        try:
            self.outcomes(procs, kills, stale)
        except Violation:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            raise
        self.wait_groups([p.pid for p in procs])

    def outcomes(self, procs, kills, stale=None):
        """finish() without the clean-up: the kills at their moments, then each exit code."""
        start = time.monotonic()
        pending = sorted(((delay, pid, group) for pid, (delay, group) in kills.items()))
        by_pid = {p.pid: p for p in procs}
        killed = set()
        for delay, pid, group in pending:
            time.sleep(max(0, start + delay - time.monotonic()))
            if by_pid[pid].poll() is None:
                (os.killpg if group else os.kill)(pid, signal.SIGKILL)
                killed.add(pid)
                self.count("applies killed (process group)" if group else "applies killed (accessctl only)")
        for p in procs:
            try:
                rc = p.wait(max(1, APPLY_TIMEOUT - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                raise Violation("hang", [f"an apply did not finish within {APPLY_TIMEOUT} s ({p.err})"])
            self.count("applies")
            if rc == -signal.SIGKILL and p.pid in killed:
                continue
            if rc not in (0, 1, 3):
                raise Violation("exit code", [f"an apply exited with {rc} (see {p.err})"])
            if rc != 1:
                self.count(f"exit {rc}")
            elif b"another apply holds the lock" in checks.read_bytes(p.err):
                self.count("exit 1 (lock held)")
                self.check_lock_holder(p, procs, stale)
            else:
                self.count("exit 1 (other)")
                log(f"apply exit 1: {'; '.join(error_lines(p.err)) or first_line(p.err)}")
            if len(procs) == 1:
                self.apply_seconds += 0.2 * (time.monotonic() - start - self.apply_seconds)

    def check_lock_holder(self, refused, procs, stale):
        """The refused apply named the other apply of its pair as the holder (pid, host,
        command, start time): never itself, never a dead pid."""
        text = checks.read_bytes(refused.err).decode("utf-8", "replace")
        named = re.search(r"another apply holds the lock \S+: pid (\d+) on \S+, .*accessctl.*, since \S+", text)
        others = {p.pid for p in procs if p.pid != refused.pid}
        if not named or int(named.group(1)) not in others or (stale is not None and int(named.group(1)) == stale):
            raise Violation("lock holder", [f"the refused apply (pid {refused.pid}) did not name the live holder "
                                            f"(one of {sorted(others)}; stale line pid {stale}): {first_line(refused.err)}"])
        self.count("refusals naming the live holder")

    def wait_groups(self, pgids):
        """Waits until no process of these groups is left (a helper whose accessctl was killed
        finishes alone), so the clean apply never runs beside one."""
        deadline = time.monotonic() + 60
        while any(group_alive(g) for g in pgids):
            if time.monotonic() > deadline:
                raise Violation("hang", [f"a process of groups {pgids} still runs 60 s after its apply ended"])
            time.sleep(0.05)

    # ------------------------------------------------------------------ cycles

    def cycle(self):
        commits = self.rng.randint(1, 3)
        self.random_commit()
        commits -= 1
        self.random_faults()
        for _ in range(self.rng.randint(1, 3)):
            if commits and self.rng.random() < 0.5:
                self.random_commit()
                commits -= 1
            if self.rng.random() < 0.2:
                self.chaos_pair()
            else:
                self.chaos_apply()
        for _ in range(commits):
            self.random_commit()
        self.converge()
        self.check()

    def converge(self):
        """Faults off: a clean apply must exit 0, then the plan must show no changes. One case
        takes a second clean apply: a connection the repository wants again while the
        revocation of its old key was still owed is revoked by the first run ("the connection
        is made again after it") and connected by the next; then the plan after the first may
        hold only those connections and their users' files."""
        self.faults(NO_FAULTS)
        if self.clean_apply():
            return
        again = {a["address"] for run in self.audit_log(limit=1)["runs"] for a in run["actions"]
                 if "the connection is made again after it" in (a.get("detail") or "")}
        users = {address.split(".", 1)[1].rsplit(".", 1)[0] for address in again}
        with open(self.last_plan) as f:
            actions = json.load(f)["actions"]
        others = [f"{a['kind']} {a['address']}" for a in actions
                  if not (a["kind"] == "connect" and a["address"] in again)
                  and not any(a["address"].startswith(f"file.{u}.") for u in users)]
        if not again or others:
            raise Violation("convergence", [f"the plan after the clean apply is not empty (see {self.last_plan}):"] + others)
        self.count("clean applies needing a second run")
        if not self.clean_apply():
            raise Violation("convergence", [f"the plan after a second clean apply is not empty (see {self.last_plan})"])

    def clean_apply(self):
        """An apply without faults, which must exit 0; returns whether the plan after it (kept
        in self.last_plan, JSON) has no changes."""
        rc, _, err = self.run(["apply", "--auto-approve", *self.config()], "clean-apply")
        if rc != 0:
            raise Violation("convergence", [f"the clean apply exited {rc} (see {err})"] + error_lines(err))
        self.count("clean applies")
        rc, self.last_plan, err = self.run(["plan", "--detailed-exitcode", "--format", "json", *self.config()], "plan")
        if rc not in (0, 2):
            raise Violation("convergence", [f"the plan after the clean apply exited {rc} (see {err})"] + error_lines(err))
        return rc == 0

    def audit_log(self, limit=1_000_000):
        """`accessctl log --format json`: the last `limit` runs and their audit rows."""
        rc, out, err = self.run(["log", "--format", "json", "--limit", str(limit), *self.config()], "log")
        if rc != 0:
            raise Violation("log", [f"accessctl log exited {rc}: {first_line(err)}"])
        with open(out) as f:
            return json.load(f)

    def check(self):
        export = self.path("export.json")
        rc, _, err = self.run(["state", "export", "--out", export, *self.config()], "export")
        if rc != 0:
            raise Violation("export", [f"state export exited {rc}: {first_line(err)}"])
        with open(export) as f:
            state = json.load(f)
        audit = self.audit_log()
        issued, revoked, keys = checks.read_ledger(self.path("ledger.jsonl"))
        results = [
            ("tokens", lambda: checks.check_tokens(self.repo, state, self.ledger_live())),
            ("homes", lambda: checks.check_homes(self.repo, state, self.accounts, self.path("homes"))),
            ("untouched", lambda: checks.check_tree(self.path("homes"), self.planted)),
            ("audit", lambda: checks.check_audit(self.repo, issued, revoked, audit)),
            # The database is sealed: neither its file nor its WAL may hold a key in clear.
            ("secrets", lambda: checks.check_secrets(self.outputs[self.scanned:] + [self.path("mock.log")]
                                                     + [p for p in (self.path("live.db"), self.path("live.db-wal"))
                                                        if os.path.exists(p)], keys, self.secret)),
        ]
        for kind, check in results:
            if kind in self.args.skip_check:
                continue
            problems = check()
            if problems:
                raise Violation(kind, problems)
            self.passed[kind] = self.passed.get(kind, 0) + 1
        # accessctl's outputs are complete once scanned; the mock's log grows and is read again.
        self.scanned = len(self.outputs)

    # ------------------------------------------------------------------ report

    def count_mock_log(self):
        """Counts what the mock answered since the last call, from its --verbose log: every
        exchange and revoke ("requests under faults" while faults are on), and each fault by
        kind ("fault: <kind>")."""
        with open(self.path("mock.log"), errors="replace") as f:
            f.seek(self.mock_log_offset)
            text = f.read()
        self.mock_log_offset += len(text.encode())
        for line in text.splitlines():
            if line.startswith(("token-service-mock: exchange ", "token-service-mock: revoke ")):
                self.count("requests under faults" if self.faults_on else "requests without faults")
            if "-> injected " in line:
                self.count("fault: " + line.rsplit("-> injected ", 1)[1].split("(")[0].strip())
            elif "-> 503 after commit" in line:
                self.count("fault: lostResponse")

    def report(self, cycles, failure=None):
        elapsed = time.monotonic() - self.started
        self.count_mock_log()
        faults = {k[7:]: v for k, v in self.stats.items() if k.startswith("fault: ")}
        lines = [f"seed {self.args.seed}, budget {self.args.seconds} s, ran {elapsed:.1f} s, work directory {self.work}",
                 f"cycles run: {cycles}",
                 f"commits: {self.stats.get('commits', 0)} ({self.stats.get('edits', 0)} edits, "
                 f"{self.stats.get('edits refused by validate', 0)} refused by validate)"]
        st = self.stats.get
        outcomes = ["exit 0", "exit 3", "exit 1 (lock held)", "exit 1 (other)"]
        killed = st("applies killed (process group)", 0) + st("applies killed (accessctl only)", 0)
        lines.append(f"applies under faults: {st('applies', 0)}: " + ", ".join(f"{k} {st(k, 0)}" for k in outcomes)
                     + f", SIGKILLed {killed} ({st('applies killed (process group)', 0)} with their process group, "
                     f"{st('applies killed (accessctl only)', 0)} accessctl only)")
        lines.append(f"concurrent pairs: {st('concurrent pairs', 0)} ({st('simultaneous starts', 0)} started at the same "
                     f"instant, {st('pairs after a stale lock line', 0)} after a stale lock line; "
                     f"{st('refusals naming the live holder', 0)} refusals named the live holder); "
                     f"applies with the clock moved forward: {st('applies with the clock moved forward', 0)}")
        lines.append(f"clean applies (each exit 0, converged after each cycle): {st('clean applies', 0)}, "
                     f"{st('clean applies needing a second run', 0)} cycles needing a second one (a connection "
                     f"wanted again while its old key's revocation was owed)")
        lines.append(f"faults injected by the mock: {sum(faults.values())} "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(faults.items())) or 'none'}) in "
                     f"{st('requests under faults', 0)} exchanges and revokes under faults "
                     f"(and {st('requests without faults', 0)} in the clean applies)")
        lines.append("invariant checks passed: " + ", ".join(f"{k} {self.passed.get(k, 0)}" for k in CHECKS
                                                            if k not in self.args.skip_check)
                     + "".join(f"; {k} skipped (--skip-check)" for k in self.args.skip_check)
                     + "".join(f"; without {k}" for k in self.args.without))
        if failure:
            lines.append(f"VIOLATED ({failure.kind}) in cycle {cycles}:")
            lines += [f"  {m}" for m in failure.messages[:40]]
            if len(failure.messages) > 40:
                lines.append(f"  ... and {len(failure.messages) - 40} more")
            lines.append(f"reproduce the same sequence: soak/run --seed {self.args.seed} --seconds {self.args.seconds}")
        print("\n".join("soak: " + line for line in lines), flush=True)

    def stop_mock(self):
        if self.mock and self.mock.poll() is None:
            self.mock.terminate()
            self.mock.wait(30)


def group_alive(pgid):
    """Whether a process other than a zombie is left in process group `pgid` (/proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def shown(line):
    """A line of accessctl's output as the soak prints it: at most 300 characters, and any
    run of 32 or more letters and digits (the random part of a key, were one ever printed)
    redacted. Keys in the outputs are the secrets check's business, not the report's."""
    return re.sub(r"[A-Za-z0-9]{32,}", "[redacted]", line.strip())[:300]


def first_line(path):
    with open(path, errors="replace") as f:
        return next((shown(line) for line in f if line.strip()), "(no output)")


def error_lines(path):
    """The error lines of an accessctl stderr (at most 10)."""
    with open(path, errors="replace") as f:
        return [shown(line) for line in f if line.startswith(("level=error", "error", "failed"))][:10]


def reproduce(args):
    """Runs the scenarios of repro.py, each on a fresh server: set up and converge, the
    scenario, faults off, converge again, the checks. Exit 1 when one reproduced its
    violation (its work directory kept), 0 when every one held."""
    status = 0
    for name, scenario in repro.SCENARIOS.items():
        if args.repro not in ("all", name):
            continue
        args.work = tempfile.mkdtemp(prefix=f"accessctl-soak-{name}-")
        soak = Soak(args)
        try:
            soak.setup()
            soak.converge()
            soak.check()
            scenario(soak)
            soak.converge()
            soak.check()
            print(f"soak: {name}: every invariant held", flush=True)
            subprocess.run(["rm", "-rf", "--one-file-system", args.work], check=False)
        except Violation as v:
            status = 1
            print(f"soak: {name}: reproduced ({v.kind}), work directory {args.work}:", flush=True)
            print("\n".join(f"soak:   {m}" for m in v.messages[:10]), flush=True)
        finally:
            soak.stop_mock()
    return status


class Parser(argparse.ArgumentParser):
    """Usage errors exit 64, like soak/run's own."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def main():
    parser = Parser(prog="soak/run", description="The chaos soak of accessctl (see soak/README.md).")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--without", action="append", default=[], choices=WITHOUT)
    parser.add_argument("--skip-check", action="append", default=[], choices=CHECKS)
    parser.add_argument("--repro", choices=["all", *repro.SCENARIOS])
    args = parser.parse_args()
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10 ** 9)
    if args.repro:
        return reproduce(args)
    args.work = tempfile.mkdtemp(prefix="accessctl-soak-")
    log(f"seed {args.seed}, {args.seconds} s, work directory {args.work}")
    soak = Soak(args)
    cycles, failure, status, shown_at = 0, None, 0, 0.0
    try:
        soak.setup()
        soak.converge()
        soak.check()
        longest = 0.0
        while time.monotonic() - soak.started + max(longest, 5.0) < args.seconds:
            begin = time.monotonic()
            cycles += 1
            soak.cycle()
            longest = max(longest, time.monotonic() - begin)
            if time.monotonic() - shown_at >= 30:
                shown_at = time.monotonic()
                log(f"{shown_at - soak.started:.0f} s: {cycles} cycles, every invariant held")
    except Violation as v:
        failure, status = v, 1
    except Exception:
        traceback.print_exc()
        status = 2
    finally:
        soak.stop_mock()
    if status == 2:
        log(f"the soak itself failed; work directory kept: {args.work}")
        return status
    soak.report(cycles, failure)
    if status == 0 and not args.keep:
        subprocess.run(["rm", "-rf", "--one-file-system", args.work], check=False)
    return status


if __name__ == "__main__":
    sys.exit(main())
