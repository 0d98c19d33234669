"""Cascade deletes against concurrent child creates, on four instances at once.

The delete commits a ``deleting`` mark on the parent first; every child create checks its
parents in its own transaction (records.cascade, store.PARENTS). So each create either
commits before the mark (and the cascade, reading its plan after the mark, removes it) or
fails with 400: no child outlives its parent."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from api_client import nginx_manifest, records
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from local_server import Fleet
from storm import FleetUser, make_fleet_users, report, statuses, storm
from waiting import deleted, wait_for

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

CREATES = 19
ROUNDS = 2


def _stored(fleet: Fleet, collection: str, field: str, value: str) -> list[dict[str, Any]]:
    """Every item of ``collection`` whose ``field`` is ``value``, by a consistent Scan of
    the table itself: what the indexes may not show yet is found too."""
    server = fleet[0]
    table = server.env["TABLE_PREFIX"] + collection
    client = boto3.client("dynamodb", endpoint_url=server.env["DYNAMODB_ENDPOINT"])
    found = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found += [item for item in page["Items"] if item.get(field, {}).get("S") == value]
    return found


def _post(user: FleetUser, collection: str, body: dict[str, Any]) -> Any:
    return lambda server: server.request("POST", records(collection), body, token=user.token)


def _delete(user: FleetUser, collection: str, record_id: str) -> Any:
    return lambda server: server.request(
        "DELETE", f"{records(collection)}/{record_id}", token=user.token
    )


def _created(fleet: Fleet, user: FleetUser, collection: str, body: dict[str, Any]) -> dict:
    status, record = fleet[0].request("POST", records(collection), body, token=user.token)
    assert status == 200, record
    return record


# A rollout create may also meet the project's namespace terminating, or lose to the
# other rollout creates for the same deployment after its retries (as in the rollout
# storm): 409, in words.
ROLLOUT_CONFLICTS = ("namespace is still being deleted", "changed by another request")


def _answered_cleanly(
    replies: list[tuple[int, Any]], kinds: list[str], new_server_errors: Any
) -> None:
    """Each create committed (200) or was refused in words (400; 409 for a rollout);
    nothing failed on the server."""
    unexpected = [
        (kind, status, body)
        for kind, (status, body) in zip(kinds, replies, strict=True)
        if status not in (200, 204, 400)
        and not (
            status == 409
            and kind == "rollouts"
            and any(words in body["message"] for words in ROLLOUT_CONFLICTS)
        )
    ]
    assert (unexpected, new_server_errors()) == ([], [])  # both, so a 500 shows its trace


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_project_delete_leaves_no_child_of_a_concurrent_create(
    fleet: Fleet, control_plane: Any, new_server_errors: Any, round_: int
) -> None:
    """Invariant: after deleting a project while 19 deployments, rollouts and autoUpdates
    are being created in it on four instances, no deployment, rollout or autoUpdate of
    that project exists, every create answered 200 or 400, and the namespace goes."""
    [user] = make_fleet_users(fleet, 1)
    project = _created(fleet, user, "projects", {"name": f"storm{round_}", "user": user.id})
    deployment = _created(
        fleet, user, "deployments", {"name": "web", "user": user.id, "project": project["id"]}
    )
    parent = {"user": user.id, "project": project["id"], "deployment": deployment["id"]}
    delete = _delete(user, "projects", project["id"])
    kinds = ["deployments", "rollouts", "autoUpdates"]
    _delete_during_creates(
        fleet, user, delete, parent, kinds, f"project delete (round {round_})", new_server_errors
    )
    for collection in ("deployments", "rollouts", "autoUpdates"):
        assert _stored(fleet, collection, "project", project["id"]) == [], collection
    assert (
        fleet[1].request("GET", f"{records('projects')}/{project['id']}", token=user.token)[0]
        == 404
    )
    _namespace_goes(control_plane, project["id"])


def test_a_deployment_delete_leaves_no_rollout_or_auto_update(
    fleet: Fleet, control_plane: Any, new_server_errors: Any
) -> None:
    """Invariant: after deleting a deployment while rollouts and autoUpdates are being
    created for it, none of either exists for it and its Rollout resource is gone."""
    [user] = make_fleet_users(fleet, 1)
    project = _created(fleet, user, "projects", {"name": "stormd", "user": user.id})
    deployment = _created(
        fleet, user, "deployments", {"name": "web", "user": user.id, "project": project["id"]}
    )
    parent = {"user": user.id, "project": project["id"], "deployment": deployment["id"]}
    _created(fleet, user, "rollouts", {**parent, "manifest": nginx_manifest()})
    delete = _delete(user, "deployments", deployment["id"])
    kinds = ["rollouts", "autoUpdates"]
    _delete_during_creates(
        fleet, user, delete, parent, kinds, "deployment delete", new_server_errors
    )
    for collection in ("rollouts", "autoUpdates"):
        assert _stored(fleet, collection, "deployment", deployment["id"]) == [], collection
    _rollout_goes(control_plane, project["id"], deployment["id"])


def _delete_during_creates(
    fleet: Fleet,
    user: FleetUser,
    delete: Any,
    parent: dict[str, str],
    kinds: list[str],
    name: str,
    new_server_errors: Any,
) -> None:
    """Storm ``delete`` together with CREATES child creates of ``kinds`` in turn; the
    delete must succeed and every create answer cleanly."""
    bodies = {
        "deployments": {"name": "child", "user": user.id, "project": parent["project"]},
        "rollouts": {**parent, "manifest": nginx_manifest()},
        "autoUpdates": {**parent, "interval": "5m", "policy": "semver"},
    }
    creates = [kinds[n % len(kinds)] for n in range(CREATES)]
    calls = [delete, *(_post(user, kind, bodies[kind]) for kind in creates)]
    replies = storm(fleet, calls)
    outcome = {"delete": replies[0][0], "creates": dict(statuses(replies[1:]))}
    report(f"{name} + {CREATES} child creates", fleet, len(calls), outcome)
    _answered_cleanly(replies, ["delete", *creates], new_server_errors)
    assert replies[0][0] == 204, replies[0]


def _namespace_goes(control_plane: Any, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(str(control_plane.kubeconfig)))
    wait_for(
        f"namespace {namespace} deleted", lambda: deleted(lambda: core.read_namespace(namespace))
    )


def _rollout_goes(control_plane: Any, namespace: str, name: str) -> None:
    custom = k8s.CustomObjectsApi(k8s_config.new_client_from_config(str(control_plane.kubeconfig)))

    def read() -> Any:
        return custom.get_namespaced_custom_object(
            "one-click.dev", "v1alpha1", namespace, "rollouts", name
        )

    wait_for(f"Rollout {namespace}/{name} deleted", lambda: deleted(read))
