"""AutoUpdate records: settings checked when written, status fields, the webhook's access
rules and rate limit, and the tick's due index (registry-free; see
tests/registry/test_auto_update_end_to_end.py for real registries and a real cluster)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_client import Api, make_deployment, make_project, records

AUTO = records("autoUpdates")


def _new(api: Api, user: Any, **fields: str) -> Any:
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    body = {
        "interval": "5m",
        "pattern": "",
        "policy": "semver",
        "user": user.id,
        "project": project["id"],
        "deployment": deployment["id"],
        **fields,
    }
    return api.post(AUTO, body, token=user.token)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval", "30s"),  # the original crashed the server on this one
        ("interval", "1h30"),
        ("interval", "ms"),
        ("interval", "banana"),
        ("pattern", "(unclosed"),
        ("pattern", "(?<=look)behind"),  # not RE2, as in the original's Go regexp
        ("policy", "newest"),
        ("policy", "semver:>=1:x"),
    ],
)
def test_invalid_settings_are_a_400_naming_the_field(
    api: Api, make_user: Any, field: str, value: str
) -> None:
    owner = make_user()
    reply = _new(api, owner, **{field: value})
    assert reply.status == 400, reply.body
    assert list(reply.body["data"]) == [field]
    assert reply.body["data"][field]["message"]
    assert api.get(AUTO, token=owner.token).body["totalItems"] == 0


def test_valid_settings_and_status_fields(api: Api, make_user: Any) -> None:
    owner = make_user()
    created = _new(api, owner, interval="1h30m", policy="semver:>=1.24.x, <1.25.x")
    assert created.status == 200, created.body
    record = created.body
    assert record["lastCheck"] == "" and record["lastTag"] == "" and record["lastError"] == ""
    assert record["nextCheck"] == record["created"]  # due at once
    assert len(record["webhookSecret"]) >= 32
    # Status fields and the secret are not client-writable; the interval is validated.
    path = f"{AUTO}/{record['id']}"
    patched = api.patch(
        path,
        {"lastTag": "9.9", "webhookSecret": "mine", "lastError": "x", "interval": "2d"},
        token=owner.token,
    )
    assert patched.status == 200, patched.body
    assert patched.body["interval"] == "2d"
    assert (patched.body["lastTag"], patched.body["lastError"]) == ("", "")
    assert patched.body["webhookSecret"] == record["webhookSecret"]
    bad = api.patch(path, {"interval": "0m"}, token=owner.token)
    assert bad.status == 400 and "interval" in bad.body["data"]
    assert api.get(path, token=owner.token).body["interval"] == "2d"


def test_project_and_deployment_cannot_move(api: Api, make_user: Any) -> None:
    owner = make_user()
    record = _new(api, owner).body
    other = make_deployment(api, owner, make_project(api, owner, "other"))
    reply = api.patch(
        f"{AUTO}/{record['id']}",
        {"deployment": other["id"], "project": other["project"]},
        token=owner.token,
    )
    assert reply.status == 400
    assert set(reply.body["data"]) == {"project", "deployment"}


def _hook(auto_update_id: str) -> str:
    return f"/pb/auto-update/{auto_update_id}"


def test_webhook_accepts_only_the_owner_or_the_secret(api: Api, make_user: Any) -> None:
    owner, stranger = make_user(), make_user()
    record = _new(api, owner).body
    secret = record["webhookSecret"]
    refused = [
        api.post(_hook(record["id"]), token=stranger.token),
        api.post(_hook(record["id"]), headers={"x-webhook-secret": "wrong" * 8}),
        api.post(_hook(record["id"]) + "?secret=" + secret[:-1]),
        api.post(_hook("aaaaaaaaaaaaaaa"), headers={"x-webhook-secret": secret}),
        api.post(_hook("x" * 3000), headers={"x-webhook-secret": secret}),  # not an id
    ]
    assert [r.status for r in refused] == [401] * 5, [r.body for r in refused]
    assert api.post(_hook("aaaaaaaaaaaaaaa"), token=owner.token).status == 404
    by_secret = api.post(_hook(record["id"]), headers={"x-webhook-secret": secret})
    assert by_secret.status == 200, by_secret.body
    # No running rollout yet: the check says so in plain words, on the record too. A secret
    # holder learns what the check found, not the record (ids, credentials reference).
    assert by_secret.body["check"]["error"] == "The deployment has no running rollout to update."
    assert set(by_secret.body) == {"id", "check"} and by_secret.body["id"] == record["id"]
    stored = api.get(f"{AUTO}/{record['id']}", token=owner.token).body
    assert stored["lastError"] == by_secret.body["check"]["error"] and stored["lastCheck"]


def test_the_id_only_url_makes_the_record_due_and_reveals_nothing(api: Api, make_user: Any) -> None:
    """The URL the UI shows (no token, no secret) only moves the next check to the next
    tick, answers alike for every id, and never takes the secret's cooldown."""
    from chalicelib.image_updates import tick
    from chalicelib.records import store, values

    owner = make_user()
    record = _new(api, owner).body
    far = values.format_date(values.parse_date(record["created"]).replace(year=2099))
    store.record_check(record["id"], {"nextCheck": far})
    replies = [
        api.post(_hook(record["id"])),
        api.post("/api" + _hook(record["id"]) + "?x=1"),  # already due: nothing changes
        api.post(_hook("aaaaaaaaaaaaaaa")),
        api.post(_hook("x" * 3000)),
    ]
    assert [(r.status, r.body) for r in replies] == [(202, replies[0].body)] * 4
    assert set(replies[0].body) == {"message"}
    due = api.get(f"{AUTO}/{record['id']}", token=owner.token).body
    assert due["nextCheck"] <= values.now() and due["lastCheck"] == ""
    assert tick.run().checked == 1  # the policy's check, on the tick
    checked = api.get(f"{AUTO}/{record['id']}", token=owner.token).body
    assert checked["lastError"] == "The deployment has no running rollout to update."
    assert checked["nextCheck"] > values.now()  # back on its grid
    # Id-only calls never hold the cooldown back from the secret's CI call.
    for _ in range(3):
        assert api.post(_hook(record["id"])).status == 202
    secret = {"x-webhook-secret": record["webhookSecret"]}
    assert api.post(_hook(record["id"]), headers=secret).status == 200


def test_webhook_is_rate_limited_per_auto_update(api: Api, make_user: Any) -> None:
    owner = make_user()
    first, second = _new(api, owner).body, _new(api, owner).body
    assert api.post(_hook(first["id"]), token=owner.token).status == 200
    again = api.post(_hook(first["id"]), token=owner.token)
    assert again.status == 429 and "seconds" in again.body["message"]
    assert api.post(_hook(second["id"]), token=owner.token).status == 200


def test_rotating_the_secret_retires_the_old_one(api: Api, make_user: Any) -> None:
    owner, stranger = make_user(), make_user()
    record = _new(api, owner).body
    assert api.post(_hook(record["id"]) + "/secret", token=stranger.token).status == 404
    rotated = api.post(_hook(record["id"]) + "/secret", token=owner.token)
    assert rotated.status == 200
    new_secret = rotated.body["webhookSecret"]
    assert new_secret != record["webhookSecret"]
    old = api.post(_hook(record["id"]), headers={"x-webhook-secret": record["webhookSecret"]})
    assert old.status == 401
    assert api.post(_hook(record["id"]), headers={"x-webhook-secret": new_secret}).status == 200


def test_tick_checks_only_due_records_and_keeps_their_grid(api: Api, make_user: Any) -> None:
    from chalicelib.image_updates import tick
    from chalicelib.records import store, values

    owner = make_user()
    due = _new(api, owner, interval="10m").body
    later = _new(api, owner, interval="1h").body
    created = values.parse_date(due["created"])
    store.record_check(later["id"], {"nextCheck": values.format_date(created.replace(year=2099))})
    # A tick long after creation: a missed tick delays the check, never skips it.
    moment = values.format_date(created + timedelta(hours=1, minutes=25))
    report = tick.run(now=moment)
    assert report.checked == 1 and not report.skipped
    checked = api.get(f"{AUTO}/{due['id']}", token=owner.token).body
    assert checked["lastCheck"] == moment
    next_check = values.parse_date(checked["nextCheck"])
    assert next_check > values.parse_date(moment)
    assert (next_check - created).total_seconds() % 600 == pytest.approx(0, abs=0.002)
    assert (next_check - values.parse_date(moment)).total_seconds() <= 600
    untouched = api.get(f"{AUTO}/{later['id']}", token=owner.token).body
    assert untouched["lastCheck"] == ""


def test_overlapping_ticks_run_once(api: Api, make_user: Any) -> None:
    from chalicelib.image_updates import tick
    from chalicelib.records import store

    owner = make_user()
    _new(api, owner)
    assert store.acquire_lease(tick.LEASE, "another tick", 60)
    assert tick.run().skipped
    store.release_lease(tick.LEASE, "another tick")
    assert tick.run().checked == 1


def test_credential_references_are_scoped_to_their_owner(api: Api, make_user: Any) -> None:
    owner, other = make_user(), make_user()
    mine = f"secretsmanager:oneclick/registry/{owner.id}/ghcr"
    theirs = f"secretsmanager:oneclick/registry/{other.id}/ghcr"
    assert _new(api, owner, credentials=mine).status == 200
    for reference in (theirs, "vault:secret", "kms:not base64!"):
        reply = _new(api, owner, credentials=reference)
        assert reply.status == 400 and list(reply.body["data"]) == ["credentials"], reference
