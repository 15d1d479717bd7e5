#!/usr/bin/env python3
"""Synthetic homes for benchmarking the root helper (install-service-env).

Writes, under --out DIR:
  passwd              one account per user: uNNNNN, uid/gid = --first-uid + n, home /home/uNNNNN
  ROOT/home/uNNNNN/   the empty homes (mode 0700, owned by the user); ROOT is --root,
                      default DIR/root (bench/run mounts a fresh ext4 image there)
  apply.json          an apply request: for each user a .service_env with 2 keys and 2 skills
                      (3 files per user), the skill texts sent once in "contents"
  inspect.json        an inspect request for every user

  homes.py --out DIR --users 10000            # create (or reset to empty homes)
  homes.py --out DIR --users 10000 --reset    # only empty the homes again (fast path)

Deterministic. Must run as root (it chowns the homes).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys


def skill(n):
    body = "".join(f"- `GET /api/v1/items/{i}`: returns item {i} of service s{n:02d}.\n" for i in range(60))
    return f"# Service s{n:02d}\n\nAuthenticate with `Authorization: Bearer $S{n:02d}_API_KEY`.\n\n{body}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--first-uid", type=int, default=30000)
    parser.add_argument("--root", help="where the homes live (default: OUT/root)")
    parser.add_argument("--reset", action="store_true", help="only recreate empty homes")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("homes.py: must run as root (it chowns the homes)")

    out = os.path.abspath(args.out)
    # The same ids as bench/synth.py: at least 5 digits, more when needed.
    digits = max(5, len(str(max(args.users - 1, 0))))
    names = [f"u{n:0{digits}d}" for n in range(args.users)]
    root = os.path.abspath(args.root or os.path.join(out, "root"))
    home_root = os.path.join(root, "home")
    if os.path.isdir(home_root):
        shutil.rmtree(home_root)
    os.makedirs(home_root, mode=0o755, exist_ok=True)
    for path in (out, root, home_root):
        os.chmod(path, 0o755)
    for n, name in enumerate(names):
        home = os.path.join(home_root, name)
        os.mkdir(home, 0o700)
        os.chown(home, args.first_uid + n, args.first_uid + n)
    if args.reset:
        # Flush the deletions and new homes now, so the measured run does not pay for them.
        os.sync()
        return

    with open(os.path.join(out, "passwd"), "w") as f:
        for n, name in enumerate(names):
            uid = args.first_uid + n
            f.write(f"{name}:x:{uid}:{uid}::/home/{name}:/bin/sh\n")
    skills = [skill(n) for n in range(20)]
    digests = [hashlib.sha256(s.encode()).hexdigest() for s in skills]
    users = []
    for n, name in enumerate(names):
        a, b = n % 20, (n * 7 + 3) % 20
        if a == b:
            b = (b + 1) % 20
        first, second = sorted((a, b))
        env = ("# Managed by accessctl; local edits are overwritten.\n"
               f"S{first:02d}_API_KEY='s{first:02d}_{hashlib.sha256(f'{name}-{first}'.encode()).hexdigest()[:40]}'\n"
               f"S{second:02d}_API_KEY='s{second:02d}_{hashlib.sha256(f'{name}-{second}'.encode()).hexdigest()[:40]}'\n")
        users.append({"user": name, "service_env": env,
                      "skills": {f"sc_s{first:02d}.md": digests[first], f"sc_s{second:02d}.md": digests[second]}})
    request = {"version": 1, "contents": dict(zip(digests, skills)), "users": users}
    with open(os.path.join(out, "apply.json"), "w") as f:
        json.dump(request, f, sort_keys=True)
    with open(os.path.join(out, "inspect.json"), "w") as f:
        json.dump({"version": 1, "users": names}, f)
    os.sync()
    print(f"homes.py: {args.users} homes, {3 * args.users} files to write, in {out}")


if __name__ == "__main__":
    main()
