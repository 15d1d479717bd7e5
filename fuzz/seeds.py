#!/usr/bin/env python3
"""Writes fuzzing seeds for one target into a corpus folder.

    fuzz/seeds.py strictyaml CORPUS   # every YAML file of examples/ and Tests/Fixtures
    fuzz/seeds.py loader CORPUS       # whole repositories as archives (see fuzz-loader)
    fuzz/seeds.py tokenresponse CORPUS  # services' answers to an exchange or a revoke

A tokenresponse seed is the body of a service's answer.
A loader seed is a repository in the archive form the loader target reads: `=== PATH`
starts a regular file, `=== @link PATH` a symbolic link, `=== @module PATH` a submodule.
The seeds are examples/acme, the fixture base and every invalid fixture built on it
(overlay, removals, links and submodules; `generate` files are too large to seed).
"""
import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_SEED = 65536  # fuzz/run's -max_len


def tree(folder):
    files = {}
    for base, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def archive(files, links=(), modules=()):
    out = bytearray()
    for path in sorted(files):
        out += b"=== " + path.encode() + b"\n" + files[path]
        if not files[path].endswith(b"\n"):
            out += b"\n"
    for path in links:
        out += b"=== @link " + path.encode() + b"\n"
    for path in modules:
        out += b"=== @module " + path.encode() + b"\n"
    return bytes(out)


def loader_seeds():
    yield archive(tree(os.path.join(ROOT, "examples/acme")))
    base = tree(os.path.join(ROOT, "Tests/Fixtures/base"))
    yield archive(base)
    invalid = os.path.join(ROOT, "Tests/Fixtures/invalid")
    for name in sorted(os.listdir(invalid)):
        folder = os.path.join(invalid, name)
        if not os.path.isdir(folder):
            continue
        files = dict(base)
        for path in lines(os.path.join(folder, "remove")):
            files.pop(path, None)
        files.update(tree(os.path.join(folder, "overlay")))
        links = [l.split("\t")[0] for l in lines(os.path.join(folder, "symlinks"))]
        yield archive(files, links, lines(os.path.join(folder, "submodules")))


def yaml_seeds():
    for top in ("examples", "Tests/Fixtures"):
        for base, _, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    with open(os.path.join(base, name), "rb") as f:
                        yield f.read()


def token_response_seeds():
    """Answers a service may give (docs/protocol.md), well-formed and not."""
    ok = b'{"status":"ok","api_key":"crm_3xVq0123456789abcdef","token_id":"tok_5d1e","expires_at":"2099-11-21T20:00:00Z"}'
    yield ok
    yield b'{"status": "ok"}'
    yield b'{"status":"error","error":"not found"}'
    yield b'{"status":"error","error":{"message":"crm_shared-SECRET-0123456789abcdef"}}'
    yield ok.replace(b"crm_3xVq", b"crm_3x\nEVIL=1")
    yield ok.replace(b"crm_3xVq", b"crm_${HOME}")
    yield ok.replace(b"2099-11-21T20:00:00Z", b"2001-01-01T00:00:00+02:00")
    yield ok.replace(b"2099-11-21T20:00:00Z", b"2099-02-30T00:00:00.5Z")
    yield ok.replace(b'"tok_5d1e"', b"42")
    yield ok[:40]
    yield b"[1,2]"
    yield b"<html><body>Sign in</body></html>"
    yield b""


SEEDS = {"strictyaml": yaml_seeds, "loader": loader_seeds, "tokenresponse": token_response_seeds}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SEEDS:
        sys.exit("usage: fuzz/seeds.py " + "|".join(SEEDS) + " CORPUS")
    target, corpus = sys.argv[1:]
    os.makedirs(corpus, exist_ok=True)
    count = 0
    for seed in SEEDS[target]():
        if len(seed) > MAX_SEED:
            continue
        name = "seed-" + hashlib.sha256(seed).hexdigest()[:16]
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(seed)
        count += 1
    print(f"{count} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
