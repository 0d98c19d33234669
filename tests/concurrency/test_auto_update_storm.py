"""Exactly-once auto-update rollouts when webhooks on four instances race the schedulers' tick.

Six autoUpdates watch one deployment's image in a real registry. A newer tag is pushed and,
released just before a minute boundary (when every instance's scheduler fires the tick),
48 webhook calls arrive at once: per autoUpdate three with the owner's token, three with its
``X-Webhook-Secret`` and two with the id alone. Token and secret calls share one cooldown
per autoUpdate (``store.claim_webhook_call``), so one of the six runs a check and the others
get 429; id-only calls only make the record due (202). The tick (one instance holds the
lease) checks all six as well, so up to seven checks per autoUpdate-set race to replace the
same running rollout: ``state_machine.replace_running`` commits only while the rollout it
read still runs unchanged, so exactly one rollout of the new tag is created, whoever wins."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_client import nginx_manifest, records
from docker_registry import DockerRegistry, push_image, registry_binary
from fleet_state import (
    LeaseWatch,
    admin_api,
    cluster_rollout,
    is_pocketbase_error,
    scan,
    seconds_to_next_minute,
)
from local_server import Fleet
from prerequisites import require
from storm import FleetUser, make_fleet_users, report, storm
from waiting import wait_for

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.dynamodb_local,
    pytest.mark.cluster,
    pytest.mark.registry,
]

AUTO_UPDATES = 6
OWNER_CALLS, SECRET_CALLS, ID_ONLY_CALLS = 3, 3, 2
# The storm is released this long before the minute boundary the schedulers tick on.
LEAD_SECONDS = 0.3
REPOSITORY = "team/storm"
TICK_LEASE = "auto-update-tick"  # image_updates.tick.LEASE


@pytest.fixture(scope="module")
def registry() -> Iterator[DockerRegistry]:
    require(registry_binary() is not None, "docker-registry (Debian package) is not installed")
    with DockerRegistry() as running:
        yield running


def _created(fleet: Fleet, user: FleetUser, collection: str, body: dict[str, Any]) -> dict:
    status, record = fleet[0].request("POST", records(collection), body, token=user.token)
    assert status == 200, record
    return record


def _webhook(auto_update: dict[str, Any], kind: str, user: FleetUser) -> Any:
    path = f"/pb/auto-update/{auto_update['id']}"
    if kind == "owner":
        return lambda server: ("owner", server.request("POST", path, token=user.token))
    if kind == "secret":
        headers = {"X-Webhook-Secret": auto_update["webhookSecret"]}
        return lambda server: ("secret", server.request("POST", path, headers=headers))
    return lambda server: ("id", server.request("POST", path))


def _moment(stamp: str) -> float:
    """A PocketBase date (``YYYY-MM-DD HH:MM:SS.sssZ``) as a Unix time."""
    from datetime import UTC, datetime

    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _checked_by_tick_after(auto_update: dict[str, Any], moment: float) -> bool:
    """Only a tick moves the next check onto the record's grid (``created`` + k minutes)
    past ``moment``; webhooks keep it and id-only calls set it to their own time."""
    due, anchor = _moment(auto_update["nextCheck"]), _moment(auto_update["created"])
    return due > moment and round((due - anchor) * 1000) % 60_000 == 0


def _wait_until_just_before_a_minute(setup_seconds: float) -> None:
    """Sleep until ``LEAD_SECONDS + setup_seconds`` before the next minute boundary (the
    schedulers' tick), skipping to the following one if that is too close."""
    left = seconds_to_next_minute() - LEAD_SECONDS - setup_seconds
    if left < 0.5:
        left += 60
    time.sleep(left)


def test_racing_webhooks_and_ticks_roll_out_a_new_tag_exactly_once(
    fleet: Fleet, control_plane: Any, registry: DockerRegistry, new_server_errors: Any
) -> None:
    """Invariant: after a newer tag appears and 48 webhook calls on four instances race
    the instances' scheduled tick, exactly one rollout of the new tag exists and runs
    (the cluster shows it), the old one is ended, per autoUpdate exactly one token/secret
    call ran a check (200) and the other five were 429 in PocketBase's shape, every
    id-only call was 202, and once the racing tick is over every autoUpdate has seen the
    new tag without an error."""
    [user] = make_fleet_users(fleet, 1)
    project = _created(fleet, user, "projects", {"name": "autoupd", "user": user.id})
    deployment = _created(
        fleet, user, "deployments", {"name": "web", "user": user.id, "project": project["id"]}
    )
    parent = {"user": user.id, "project": project["id"], "deployment": deployment["id"]}
    push_image(registry.url, REPOSITORY, "3.0.0")
    manifest = nginx_manifest("3.0.0")
    manifest["spec"]["image"].update(registry=registry.host, repository=REPOSITORY)
    old = _created(fleet, user, "rollouts", {**parent, "manifest": manifest})
    auto_updates = [
        _created(
            fleet, user, "autoUpdates", {**parent, "interval": "1m", "pattern": "", "policy": p}
        )
        for p in ["semver", "semver:3.x", "semver:>=3.0.0", "semver:^3.0", "", "semver:~3.1"]
    ]
    assert len(auto_updates) == AUTO_UPDATES
    assert all(a["webhookSecret"] for a in auto_updates)
    calls = []
    for auto_update in auto_updates:
        calls += [_webhook(auto_update, "owner", user)] * OWNER_CALLS
        calls += [_webhook(auto_update, "secret", user)] * SECRET_CALLS
        calls += [_webhook(auto_update, "id", user)] * ID_ONLY_CALLS
    owners = [a["id"] for a in auto_updates for _ in range(len(calls) // AUTO_UPDATES)]

    _wait_until_just_before_a_minute(setup_seconds=0.1)
    push_image(registry.url, REPOSITORY, "3.1.0")  # no tick can have seen it before the storm
    boundary = time.time() + seconds_to_next_minute()
    with LeaseWatch(fleet, TICK_LEASE) as ticks:
        released = time.time()
        outcomes = storm(fleet, calls)
        took = time.time() - released
        # The tick the schedulers fired at the boundary raced the storm: judge once it is over.
        wait_for("the boundary's tick to finish", lambda: ticks.finished_after(boundary, 1.5), 90)

    by_kind: dict[str, dict[int, int]] = {}
    for kind, (status, _) in outcomes:
        by_kind.setdefault(kind, {}).setdefault(status, 0)
        by_kind[kind][status] += 1
    webhook_rollouts = [
        body["check"]["rollout"]
        for _, (status, body) in outcomes
        if status == 200 and body["check"]["rollout"]
    ]
    report(
        f"webhooks on {AUTO_UPDATES} autoUpdates of one deployment, released "
        f"{boundary - released:.2f}s before the tick, {took:.1f}s",
        fleet,
        len(calls),
        {**by_kind, "webhook rollouts": len(webhook_rollouts)},
    )
    assert new_server_errors() == []
    for auto_update in auto_updates:
        mine = [o for o, owner in zip(outcomes, owners, strict=True) if owner == auto_update["id"]]
        checked = [(k, body) for k, (status, body) in mine if status == 200]
        assert len(checked) == 1, mine  # one call per cooldown ran a check
        kind, body = checked[0]
        assert kind in ("owner", "secret") and body["check"]["error"] == "", body
        assert body["check"]["tag"] == "3.1.0", body
        assert (kind == "secret") == (set(body) == {"id", "check"})  # a secret reads nothing
        for k, (status, body) in mine:
            if k == "id":
                assert status == 202 and set(body) == {"message"}, body
            elif status != 200:
                assert status == 429 and is_pocketbase_error(body, 429), body
    assert len(webhook_rollouts) <= 1

    stored_updates = scan(fleet, "autoUpdates", deployment=deployment["id"])
    by_tick = [a for a in stored_updates if _checked_by_tick_after(a, boundary)]
    print(
        f"[storm] the tick finished {ticks.free_since - boundary:.1f}s after the boundary; "
        f"{len(by_tick)} of {AUTO_UPDATES} autoUpdates show its check last"
    )
    assert {a["lastTag"] for a in stored_updates} == {"3.1.0"}
    assert [a["lastError"] for a in stored_updates if a.get("lastError")] == []

    rollouts = scan(fleet, "rollouts", deployment=deployment["id"])
    assert len(rollouts) == 2, rollouts  # the old one and exactly one for 3.1.0
    [new] = [r for r in rollouts if r["id"] != old["id"]]
    assert new.get("endDate", "") == "" and new.get("pendingKind", "") == ""
    [ended] = [r for r in rollouts if r["id"] == old["id"]]
    assert ended.get("endDate", "") != ""
    if webhook_rollouts:
        assert webhook_rollouts == [new["id"]]
    status, shown = fleet[3].request("GET", f"{records('rollouts')}/{new['id']}", token=user.token)
    assert status == 200 and shown["manifest"]["spec"]["image"]["tag"] == "3.1.0", shown
    [pointer] = scan(fleet, "deployments", id=deployment["id"])
    assert pointer.get("runningRollout") == new["id"]
    admin = admin_api(control_plane)

    def cluster_runs_new() -> dict[str, Any] | None:
        found = cluster_rollout(admin, project["id"], deployment["id"])
        labels = found["metadata"]["labels"]
        return found if labels.get("one-click.dev/rolloutId") == new["id"] else None

    resource = wait_for("the cluster to run the new rollout", cluster_runs_new, 60)
    assert resource["spec"]["image"]["tag"] == "3.1.0"
    print(f"[storm] the 3.1.0 rollout came from {'a webhook' if webhook_rollouts else 'the tick'}")
