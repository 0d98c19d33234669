"""Unique e-mails and usernames under concurrent sign-ups and renames on four instances.

A user's e-mail and username are claimed in the ``uniqueKeys`` table (one item per
lower-cased value, created with ``attribute_not_exists``) in the same DynamoDB transaction
as the user record, and a rename releases the old key in it too (records.store
``_claim_uniques``). So of concurrent claims of one value exactly one commits, the others
get PocketBase's 400 naming the field, a refused write leaves nothing behind (no user, no
key), and afterwards the keys and the users agree one to one.

Sign-up is off by default; the shared fleet runs with ``ALLOW_SIGNUP=true``
(conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fleet_state import is_pocketbase_error, scan
from local_server import Fleet, LocalServer
from storm import FleetUser, make_fleet_users, report, statuses, storm

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

USERS = "/api/collections/users/records"
PASSWORD = "storm-pass-123"


def _sign_up(email: str, username: str) -> Any:
    body = {
        "email": email,
        "username": username,
        "password": PASSWORD,
        "passwordConfirm": PASSWORD,
        "name": username,
    }
    return lambda server: server.request("POST", USERS, body)


def _rename(user: FleetUser, username: str) -> Any:
    return lambda server: server.request(
        "PATCH", f"{USERS}/{user.id}", {"username": username}, token=user.token
    )


def _refused_as_taken(body: Any, field: str) -> bool:
    code = "validation_invalid_email" if field == "email" else "validation_invalid_username"
    return (
        is_pocketbase_error(body, 400)
        and set(body["data"]) == {field}
        and body["data"][field]["code"] == code
    )


def _keys(fleet: Fleet, field: str) -> dict[str, str]:
    """The unique claims of ``field``: lower-cased value -> owning user id."""
    prefix = f"users.{field}#"
    return {
        item["key"].removeprefix(prefix): item["owner"]
        for item in scan(fleet, "uniqueKeys")
        if item["key"].startswith(prefix)
    }


def _users(fleet: Fleet) -> dict[str, dict[str, Any]]:
    return {user["id"]: user for user in scan(fleet, "users")}


def _index_agrees_with_users(fleet: Fleet) -> None:
    """Every user's e-mail and username is claimed by that user, and every claim belongs
    to a user who holds that value: the table and the users agree one to one."""
    users = _users(fleet)
    for field in ("email", "username"):
        keys = _keys(fleet, field)
        held = {u[field].strip().lower(): u["id"] for u in users.values() if u.get(field)}
        assert len(held) == len([u for u in users.values() if u.get(field)]), field  # distinct
        assert keys == held, field


def _login(server: LocalServer, identity: str) -> tuple[int, Any]:
    return server.request(
        "POST",
        "/api/collections/users/auth-with-password",
        {"identity": identity, "password": PASSWORD},
    )


def test_one_of_many_sign_ups_with_one_email_wins(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: 24 sign-ups at once on four instances claiming one e-mail (in different
    letter cases, each with its own username) create exactly one user; the other 23 get
    PocketBase's 400 with ``data.email`` ``validation_invalid_email`` and leave no user and
    no username claim; the winner logs in on every instance."""
    run = uuid.uuid4().hex[:8]
    email = f"same-{run}@example.com"
    spellings = [email, email.upper(), f"Same-{run}@Example.com", f"SAME-{run}@example.COM"]
    names = [f"u{run}{n}" for n in range(24)]
    replies = storm(fleet, [_sign_up(spellings[n % 4], names[n]) for n in range(24)])
    counts = statuses(replies)
    report("sign-ups claiming one e-mail", fleet, len(replies), dict(counts))
    assert new_server_errors() == []
    assert counts == {200: 1, 400: 23}, replies
    [winner] = [body for status, body in replies if status == 200]
    assert all(_refused_as_taken(b, "email") for s, b in replies if s == 400), replies
    users = [u for u in _users(fleet).values() if u["email"].lower() == email]
    assert [u["id"] for u in users] == [winner["id"]]
    usernames = _keys(fleet, "username")
    assert [n for n in names if n.lower() in usernames] == [winner["username"]]
    assert _keys(fleet, "email")[email] == winner["id"]
    _index_agrees_with_users(fleet)
    for server in fleet.servers:
        status, auth = _login(server, email.upper())
        assert status == 200 and auth["record"]["id"] == winner["id"], auth


def test_sign_ups_and_renames_racing_for_one_username(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: 12 sign-ups and 12 renames of existing users claiming one username at
    once on four instances leave exactly one holder; every other call got PocketBase's
    400 with ``data.username`` ``validation_invalid_username``; losing sign-ups left no
    user and no e-mail claim, losing renames kept their old username (still claimed by
    them), and the keys and users agree."""
    run = uuid.uuid4().hex[:8]
    wanted = f"wanted-{run}"
    existing = make_fleet_users(fleet, 12)
    old_names = {u.id: _users(fleet)[u.id]["username"] for u in existing}
    emails = [f"new{n}-{run}@example.com" for n in range(12)]
    calls = []
    for n in range(12):
        calls += [
            _sign_up(emails[n], wanted.upper() if n % 2 else wanted),
            _rename(existing[n], wanted),
        ]
    replies = storm(fleet, calls)
    counts = statuses(replies)
    report("sign-ups and renames claiming one username", fleet, len(replies), dict(counts))
    assert new_server_errors() == []
    assert counts == {200: 1, 400: 23}, replies
    assert all(_refused_as_taken(b, "username") for s, b in replies if s == 400), replies
    [winner] = [body for status, body in replies if status == 200]
    users = _users(fleet)
    holders = [u["id"] for u in users.values() if u["username"].lower() == wanted]
    assert holders == [winner["id"]]
    assert _keys(fleet, "username")[wanted] == winner["id"]
    signed_up = {u["email"] for u in users.values() if u["email"] in emails}
    winner_email = users[winner["id"]]["email"]
    assert signed_up == ({winner_email} if winner_email in emails else set())
    for user in existing:
        if user.id != winner["id"]:
            assert users[user.id]["username"] == old_names[user.id]
    _index_agrees_with_users(fleet)
    status, auth = _login(fleet[3], wanted)
    assert status == 200 and auth["record"]["id"] == winner["id"], auth


def test_a_chain_of_renames_keeps_the_index_in_step(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: 16 users each renaming themself at once on four instances to the
    username the next one holds (the last to a fresh one), so each claim races the release
    of the name it wants, end with distinct usernames, each claimed by exactly its holder
    and no stale claim left; every call got 200 or PocketBase's 400 for a taken username,
    and a 200 means the rename is what is stored."""
    chain = make_fleet_users(fleet, 16)
    names = {u.id: _users(fleet)[u.id]["username"] for u in chain}
    targets = [names[chain[n + 1].id] for n in range(len(chain) - 1)]
    targets.append(f"fresh-{uuid.uuid4().hex[:8]}")
    calls = [_rename(user, target) for user, target in zip(chain, targets, strict=True)]
    replies = storm(fleet, calls)
    counts = statuses(replies)
    report("a chain of renames onto each other's usernames", fleet, len(replies), dict(counts))
    assert new_server_errors() == []
    assert set(counts) <= {200, 400}, replies
    assert replies[-1][0] == 200, replies[-1]  # the fresh name was free
    assert all(_refused_as_taken(b, "username") for s, b in replies if s == 400), replies
    users = _users(fleet)
    for user, target, (status, _) in zip(chain, targets, replies, strict=True):
        expected = target if status == 200 else names[user.id]
        assert users[user.id]["username"] == expected, (user.id, status)
    _index_agrees_with_users(fleet)


def test_one_users_concurrent_renames_leave_one_claim(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: one user's 12 renames to 12 different usernames at once on four
    instances: each is written under the version it read, so they serialize or fail
    with 409 in PocketBase's shape; the user ends with the name of a 200, that name alone
    is claimed for them, the old one and every losing name are free again."""
    [user] = make_fleet_users(fleet, 1)
    old = _users(fleet)[user.id]["username"]
    run = uuid.uuid4().hex[:8]
    wanted = [f"self-{run}-{n}" for n in range(12)]
    replies = storm(fleet, [_rename(user, name) for name in wanted])
    counts = statuses(replies)
    report("one user's renames to different usernames", fleet, len(replies), dict(counts))
    assert new_server_errors() == []
    assert set(counts) <= {200, 409} and counts[200] >= 1, replies
    assert all(is_pocketbase_error(b, 409) for s, b in replies if s == 409), replies
    final = _users(fleet)[user.id]["username"]
    assert final in {name for name, (s, _) in zip(wanted, replies, strict=True) if s == 200}
    keys = _keys(fleet, "username")
    assert [n for n in [old, *wanted] if n in keys] == [final]
    assert keys[final] == user.id
    _index_agrees_with_users(fleet)
