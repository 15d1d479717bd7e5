"""Deterministic reproductions of the violations the soak found (`soak/run --repro NAME`).

Each scenario sets up a fresh server as the soak does, forces one sequence with the mock's
fault switches at 0 or 1 and accessctl's test crash points (`ACCESSCTL_FAULT`), converges
with a clean apply and runs the soak's checks. A scenario "reproduces" when a check fails;
once the product is fixed, each one holds. soak/README.md ("Findings") describes them.
"""
import time


def connectable(soak):
    """A present, active user and a service one of their groups grants that they are not
    connected to."""
    repo = soak.repo
    for uid in repo.present_users():
        if repo.users[uid]["active"]:
            free = sorted(s for s in repo.granted(uid) - repo.wanted(uid) if repo.services[s]["enabled"])
            if free:
                return uid, free[0]
    raise RuntimeError("no user to connect in the seeded repository")


def connect(soak, uid, service):
    soak.repo.users[uid]["connections"].append(service)
    soak.commit(f"connect {uid} to {service}")


def apply(soak, name, **env):
    return soak.run(["apply", "--auto-approve", *soak.config()], name, dict(soak.env, **env))[0]


def rotation_lost(soak):
    """A rotation whose answers are all lost: the old key stays (right), but the request id
    of the rotation is forgotten, so the key the service issued for it is never fetched or
    revoked (tokens)."""
    soak.faults({"lost_response_rate": 1})
    apply(soak, "apply-61-days-later", ACCESSCTL_NOW=str(int(time.time()) + 61 * 86400))


def killed_before_record(soak):
    """An apply SIGKILLed after the home files (step 4), before the run record (step 6): the
    key it issued is in the database and the files, and no audit row mentions it (audit)."""
    connect(soak, *connectable(soak))
    apply(soak, "apply-killed-after-files", ACCESSCTL_FAULT="after-files")


def unknown_key_deleted(soak):
    """A connection whose exchange never got an answer (the service issued a key) is removed;
    the exchange that should learn the key to revoke fails, and the row is deleted anyway:
    the key stays live (tokens)."""
    uid, service = connectable(soak)
    connect(soak, uid, service)
    soak.faults({"lost_response_rate": 1})
    apply(soak, "apply-answers-lost")
    soak.repo.users[uid]["connections"].remove(service)
    soak.commit(f"disconnect {uid} from {service}")
    soak.faults({"lost_response_rate": 0, "error_rate": 1})
    apply(soak, "apply-exchanges-fail")


def removed_user_files(soak):
    """An apply SIGKILLed after the registry transaction on a commit that deletes a user: the
    next runs know the account neither from the repository nor from the database, and never
    remove its .service_env and skill files (homes)."""
    remove_user(soak)
    apply(soak, "apply-killed-after-registry", ACCESSCTL_FAULT="after-registry")


def remove_user(soak):
    """Removes a user who has connections and is not an admin, and commits."""
    repo = soak.repo
    uid = next(u for u, _ in sorted(repo.expected_connections()) if u not in repo.groups["Admin"]["members"])
    repo.users[uid]["present"] = False
    for group in repo.groups.values():
        if uid in group["members"]:
            group["members"].remove(uid)
    soak.commit(f"remove the user {uid}")


def disconnect_in_flight(soak):
    """Rotations whose answers are lost (the service issued the new keys), then a user with
    such a connection is removed: the disconnect revoked only the old key, and the
    rotation's key, never learnt, stayed live (tokens)."""
    soak.faults({"lost_response_rate": 1})
    apply(soak, "apply-61-days-later", ACCESSCTL_NOW=str(int(time.time()) + 61 * 86400))
    soak.faults({"lost_response_rate": 0})
    remove_user(soak)


def refused_replay(soak):
    """A connection whose answers were lost (the service issued a key) is retried and the
    service answers the repeated request id with a key accessctl must refuse: accessctl
    revokes the token id of that answer and spends the request id, so the key issued first
    is never fetched or revoked (tokens)."""
    connect(soak, *connectable(soak))
    soak.faults({"lost_response_rate": 1})
    apply(soak, "apply-answers-lost")
    soak.faults({"lost_response_rate": 0, "bad_key_rate": 1})
    apply(soak, "apply-bad-key-answers")


SCENARIOS = {"rotation-lost": rotation_lost, "killed-before-record": killed_before_record,
             "unknown-key-deleted": unknown_key_deleted, "removed-user-files": removed_user_files,
             "disconnect-in-flight": disconnect_in_flight, "refused-replay": refused_replay}
