#!/usr/bin/python3
"""Check the JSON Schemas in schemas/ against the example and fixture repositories.

Run with Debian's Python and packages:
    apt-get install -y python3-jsonschema python3-ruamel.yaml
    /usr/bin/python3 Tests/schemas/check.py

1. every schema in schemas/ for a file kind is itself a valid draft 2020-12 schema;
2. every YAML file of examples/acme and Tests/Fixtures/base is accepted by the schema of
   its kind (and uses no anchor, alias, merge key or explicit tag);
3. for every Tests/Fixtures/invalid/<name>/ that has a file `schema` (one line: a
   repository-relative path inside that fixture's overlay/), the file overlay/<path> is
   rejected by the schema of its kind.

Prints one line per failure, then `schema: N passed, M failed`; exits 1 on any failure.
The schemas only cover what a single file can say; cross-file rules are left to
`accessctl validate`.
"""

import json
import re
import sys
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMAS = ROOT / "schemas"
VALID_REPOS = [ROOT / "examples" / "acme", ROOT / "Tests" / "Fixtures" / "base"]
INVALID_DIR = ROOT / "Tests" / "Fixtures" / "invalid"

KINDS = {
    "accessctl": "accessctl.schema.json",
    "service": "service.schema.json",
    "user": "user.schema.json",
    "group": "group.schema.json",
    "catalog": "catalog.schema.json",
}
KIND_DIRS = {"services": "service", "users": "user", "groups": "group", "catalogs": "catalog"}


class CoreConstructor(SafeConstructor):
    """ruamel's safe constructor, closer to the YAML 1.2 core schema accessctl uses:
    timestamps stay strings, and only [-+]?[0-9]+, 0o.. and 0x.. are integers."""

    _INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")

    def construct_core_int(self, node):
        if self._INT.fullmatch(node.value):
            return SafeConstructor.construct_yaml_int(self, node)
        return self.construct_scalar(node)

    def construct_core_str(self, node):
        return self.construct_scalar(node)


CoreConstructor.add_constructor("tag:yaml.org,2002:int", CoreConstructor.construct_core_int)
CoreConstructor.add_constructor("tag:yaml.org,2002:timestamp", CoreConstructor.construct_core_str)


def make_yaml():
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    yaml.Constructor = CoreConstructor
    yaml.allow_duplicate_keys = False
    return yaml


def kind_of(rel):
    """File kind of a repository-relative path, or None if it is not an entity file."""
    parts = rel.split("/")
    if parts == ["accessctl.yaml"]:
        return "accessctl"
    if len(parts) == 2 and parts[0] in KIND_DIRS and parts[1].endswith(".yaml"):
        return KIND_DIRS[parts[0]]
    return None


def strictness_problems(text):
    """Anchors, aliases, explicit tags and merge keys: accepted by ruamel, errors in accessctl."""
    problems = []
    for event in make_yaml().parse(text):
        mark = event.start_mark
        where = f"{mark.line + 1}:{mark.column + 1}"
        if isinstance(event, AliasEvent):
            problems.append(f"{where}: alias *{event.anchor}")
            continue
        if isinstance(event, (ScalarEvent, MappingStartEvent, SequenceStartEvent)):
            if event.anchor is not None:
                problems.append(f"{where}: anchor &{event.anchor}")
            if isinstance(event, ScalarEvent):
                explicit = event.tag is not None and event.implicit == (False, False)
                if event.value == "<<" and event.style is None:
                    problems.append(f"{where}: merge key <<")
            else:
                explicit = event.tag is not None and not event.implicit
            if explicit:
                problems.append(f"{where}: explicit tag {event.tag}")
    return problems


def describe(exc):
    """One-line description of a load error (ruamel's messages span several lines)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{mark.line + 1}:{mark.column + 1}: {problem}"
    return " ".join(str(exc).split())


def schema_errors(validator, data):
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    out = []
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        out.append(f"{where}: {error.message}")
    return out


def main():
    passed = 0
    failures = []

    def fail(message):
        failures.append(message)

    # 1. The schemas themselves.
    validators = {}
    for kind, name in KINDS.items():
        path = SCHEMAS / name
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except Exception as exc:  # missing file, bad JSON or an invalid schema
            fail(f"schemas/{name}: invalid schema: {exc}".splitlines()[0])
            continue
        validators[kind] = jsonschema.Draft202012Validator(schema)
        passed += 1

    def load(path):
        text = path.read_bytes().decode("utf-8")
        return text, make_yaml().load(text)

    # 2. Valid repositories: every entity file is accepted.
    for repo in VALID_REPOS:
        label = repo.relative_to(ROOT).as_posix()
        if not (repo / "accessctl.yaml").is_file():
            fail(f"{label}: missing accessctl.yaml")
            continue
        for path in sorted(repo.rglob("*")):
            rel = path.relative_to(repo).as_posix()
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            if not path.is_file() or path.suffix not in (".yaml", ".yml"):
                continue
            shown = f"{label}/{rel}"
            kind = kind_of(rel)
            if kind is None:
                fail(f"{shown}: unknown file (not accessctl.yaml, services/, users/, groups/ or catalogs/*.yaml)")
                continue
            if kind not in validators:
                fail(f"{shown}: no usable schema for kind {kind}")
                continue
            try:
                text, data = load(path)
            except Exception as exc:
                fail(f"{shown}: cannot load: {describe(exc)}")
                continue
            problems = strictness_problems(text)
            problems += schema_errors(validators[kind], data)
            if problems:
                fail(f"{shown}: " + "; ".join(problems))
            else:
                passed += 1

    # 3. Invalid fixtures marked for the schema test: the overlay file is rejected.
    fixtures = sorted(INVALID_DIR.glob("*/schema")) if INVALID_DIR.is_dir() else []
    for marker in fixtures:
        fixture = marker.parent
        label = fixture.relative_to(ROOT).as_posix()
        lines = [l.strip() for l in marker.read_text(encoding="utf-8").splitlines() if l.strip()]
        if len(lines) != 1:
            fail(f"{label}/schema: expected exactly one path, found {len(lines)}")
            continue
        rel = lines[0]
        kind = kind_of(rel)
        target = fixture / "overlay" / rel
        if kind is None:
            fail(f"{label}: {rel} is not an accessctl.yaml, services/, users/, groups/ or catalogs/ file")
            continue
        if ".." in rel.split("/") or not target.is_file():
            fail(f"{label}: overlay/{rel} does not exist")
            continue
        if kind not in validators:
            fail(f"{label}: no usable schema for kind {kind}")
            continue
        try:
            _, data = load(target)
        except Exception as exc:
            fail(f"{label}: overlay/{rel} cannot be loaded, so the schema cannot judge it: "
                 f"{describe(exc)}")
            continue
        if schema_errors(validators[kind], data):
            passed += 1
        else:
            fail(f"{label}: overlay/{rel} was accepted by schemas/{KINDS[kind]} but should be rejected")

    # 5. The root helper's JSON documents: the shipped examples (real requests and real
    #    responses of install-service-env) against their schemas.
    helper_examples = {
        "inspect-request.json": "helper-inspect-request.schema.json",
        "apply-request.json": "helper-apply-request.schema.json",
        "inspect-response.json": "helper-response.schema.json",
        "apply-response.json": "helper-response.schema.json",
    }
    for example, schema_name in helper_examples.items():
        label = f"examples/helper/{example}"
        try:
            schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            data = json.loads((ROOT / "examples" / "helper" / example).read_text(encoding="utf-8"))
        except Exception as exc:
            fail(f"{label}: {describe(exc)}")
            continue
        problems = schema_errors(jsonschema.Draft202012Validator(schema), data)
        if problems:
            fail(f"{label}: rejected by schemas/{schema_name}: {problems[0]}")
        else:
            passed += 1

    # 6. The golden JSON documents of the end-to-end tests against their schemas: plans,
    # diffs (which embed a plan: plan.schema.json is given to the resolver by its $id) and
    # live snapshots.
    for prefix, schema_name in [("plan-", "plan.schema.json"), ("diff-", "diff.schema.json"),
                                ("snapshot-", "snapshot.schema.json")]:
        try:
            schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            plan_schema = json.loads((SCHEMAS / "plan.schema.json").read_text(encoding="utf-8"))
            resolver = jsonschema.RefResolver.from_schema(schema, store={plan_schema["$id"]: plan_schema})
            validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
        except Exception as exc:
            fail(f"schemas/{schema_name}: {describe(exc)}")
            continue
        documents = sorted((ROOT / "Tests" / "Golden").glob(prefix + "*.json"))
        if not documents:
            fail(f"Tests/Golden: no {prefix}*.json to check against schemas/{schema_name}")
        for path in documents:
            label = str(path.relative_to(ROOT))
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except Exception as exc:
                fail(f"{label}: {describe(exc)}")
                continue
            problems = schema_errors(validator, data)
            if problems:
                fail(f"{label}: rejected by schemas/{schema_name}: {problems[0]}")
            else:
                passed += 1

    for message in failures:
        print(message)
    print(f"schema: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
