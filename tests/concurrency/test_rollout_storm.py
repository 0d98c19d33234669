"""One running rollout per deployment, under ~20 clicks on four instances at once.

Every change of which rollout runs is one DynamoDB transaction that rewrites the deployment
under its version (rollouts.state_machine): of concurrent creates each either commits (and
ends the one that ran) or is refused with 409 after its retries; afterwards every caller
converges the cluster to what the records say runs. So after the storm exactly one rollout
of the deployment has no ``endDate``, the deployment points at it, no change is left
pending, every 200 is stored and nothing else is, and the cluster's ``Rollout`` carries that
rollout's id and image tag."""

from __future__ import annotations

from typing import Any

import pytest
from api_client import nginx_manifest, records
from fleet_state import admin_api, cluster_rollout, is_pocketbase_error, scan
from local_server import Fleet
from storm import FleetUser, make_fleet_users, report, statuses, storm
from waiting import wait_for

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

CLICKS = 20


def _created(fleet: Fleet, user: FleetUser, collection: str, body: dict[str, Any]) -> dict:
    status, record = fleet[0].request("POST", records(collection), body, token=user.token)
    assert status == 200, record
    return record


def _click(user: FleetUser, parent: dict[str, str], tag: str) -> Any:
    body = {**parent, "manifest": nginx_manifest(tag), "startDate": "", "endDate": ""}
    return lambda server: server.request("POST", records("rollouts"), body, token=user.token)


@pytest.mark.parametrize("first_rollout", [False, True], ids=["fresh", "replacing"])
def test_concurrent_rollout_creates_leave_exactly_one_running(
    fleet: Fleet, control_plane: Any, new_server_errors: Any, first_rollout: bool
) -> None:
    """Invariant: 20 rollout creates for one deployment at once on four instances (on a
    fresh deployment and namespace, and replacing a running rollout) leave exactly one
    rollout without endDate; it is the deployment's pointer, it was answered 200, the
    others were answered 200 (and are ended) or 409 in PocketBase's shape (and left no
    record), no pending mark stays, and the cluster's Rollout matches it."""
    [user] = make_fleet_users(fleet, 1)
    project = _created(fleet, user, "projects", {"name": "storm", "user": user.id})
    deployment = _created(
        fleet, user, "deployments", {"name": "web", "user": user.id, "project": project["id"]}
    )
    parent = {"user": user.id, "project": project["id"], "deployment": deployment["id"]}
    before: list[str] = []
    if first_rollout:
        before.append(
            _created(fleet, user, "rollouts", {**parent, "manifest": nginx_manifest()})["id"]
        )

    tags = [f"1.{n}" for n in range(CLICKS)]
    replies = storm(fleet, [_click(user, parent, tag) for tag in tags])
    counts = statuses(replies)
    report(
        f"rollout creates for one deployment ({'replacing' if first_rollout else 'fresh'})",
        fleet,
        CLICKS,
        dict(counts),
    )
    assert new_server_errors() == []
    assert set(counts) <= {200, 409}, replies
    assert counts[200] >= 1, replies
    for status, body in replies:
        if status == 409:
            assert is_pocketbase_error(body, 409), body
        else:  # already ended again if a later click overtook it before it answered
            assert body["startDate"] != "", body
    answered = {
        body["id"]: tag for (status, body), tag in zip(replies, tags, strict=True) if status == 200
    }

    stored = scan(fleet, "rollouts", deployment=deployment["id"])
    assert {r["id"] for r in stored} == set(answered) | set(before)  # none lost, none extra
    running = [r["id"] for r in stored if r.get("endDate", "") == ""]
    assert len(running) == 1, stored
    [winner] = running
    assert winner in answered
    [pointer] = scan(fleet, "deployments", id=deployment["id"])
    assert pointer.get("runningRollout") == winner
    assert [r["id"] for r in stored if r.get("pendingKind")] == []

    status, listed = fleet[2].request(
        "GET",
        records("rollouts") + f"?perPage=500&filter=(deployment='{deployment['id']}')",
        token=user.token,
    )
    assert status == 200, listed
    running_listed = [r for r in listed["items"] if r["endDate"] == ""]
    assert [r["id"] for r in running_listed] == [winner]
    assert running_listed[0]["manifest"]["spec"]["image"]["tag"] == answered[winner]

    admin = admin_api(control_plane)

    def carries_winner() -> dict[str, Any] | None:
        found = cluster_rollout(admin, project["id"], deployment["id"])
        return (
            found if found["metadata"]["labels"].get("one-click.dev/rolloutId") == winner else None
        )

    resource = wait_for("the cluster's Rollout to carry the running rollout", carries_winner, 60)
    assert resource["spec"]["image"]["tag"] == answered[winner]
    assert resource["metadata"]["labels"] == {
        "one-click.dev/projectId": project["id"],
        "one-click.dev/deploymentId": deployment["id"],
        "one-click.dev/rolloutId": winner,
    }
