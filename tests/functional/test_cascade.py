"""Deletes cascade children-first, and the cluster hook runs before anything is removed."""

from __future__ import annotations

import pytest
from api_client import Api, make_deployment, make_project, make_rollout, records

from chalicelib.records import cascade


def make_tree(api: Api, user) -> tuple[dict, dict, dict, dict]:
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    rollout = make_rollout(api, user, project, deployment)
    auto = api.post(
        records("autoUpdates"),
        {
            "interval": "5m",
            "policy": "semver",
            "user": user.id,
            "project": project["id"],
            "deployment": deployment["id"],
        },
        token=user.token,
    )
    assert auto.status == 200, auto.body
    return project, deployment, rollout, auto.body


def exists(api: Api, user, collection: str, record: dict) -> bool:
    return api.get(records(collection) + f"/{record['id']}", token=user.token).status == 200


def test_deleting_a_deployment_removes_its_rollouts_and_auto_updates(api: Api, make_user) -> None:
    user = make_user()
    project, deployment, rollout, auto = make_tree(api, user)
    other = make_deployment(api, user, project)
    reply = api.delete(records("deployments") + f"/{deployment['id']}", token=user.token)
    assert reply.status == 204
    for collection, record in (
        ("deployments", deployment),
        ("rollouts", rollout),
        ("autoUpdates", auto),
    ):
        assert not exists(api, user, collection, record)
    assert exists(api, user, "projects", project) and exists(api, user, "deployments", other)


def test_deleting_a_project_with_auto_update_removes_everything(api: Api, make_user) -> None:
    user = make_user()
    tree = make_tree(api, user)
    assert api.delete(records("projects") + f"/{tree[0]['id']}", token=user.token).status == 204
    for collection, record in zip(
        ("projects", "deployments", "rollouts", "autoUpdates"), tree, strict=True
    ):
        assert not exists(api, user, collection, record)


def test_failing_cluster_hook_leaves_every_record(
    api: Api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    tree = make_tree(api, user)
    seen: list[list[str]] = []

    def refuse(collection: str, record: dict, plan: list) -> None:
        seen.append([c for c, _ in plan])
        raise cascade_error

    cascade_error = RuntimeError("cluster unreachable")
    monkeypatch.setattr(cascade, "_before_delete", [refuse])
    reply = api.delete(records("projects") + f"/{tree[0]['id']}", token=user.token)
    assert reply.status == 500
    assert seen == [["rollouts", "autoUpdates", "deployments", "projects"]]
    for collection, record in zip(
        ("projects", "deployments", "rollouts", "autoUpdates"), tree, strict=True
    ):
        assert exists(api, user, collection, record)


def test_large_cascade_runs_in_order_and_completes(api: Api, make_user) -> None:
    user = make_user()
    project, deployment, _, _ = make_tree(api, user)
    for _ in range(110):  # more than one transaction's worth of items
        make_rollout(api, user, project, deployment)
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 204
    assert api.get(records("rollouts"), token=user.token).body["items"] == []
    assert api.get(records("deployments"), token=user.token).body["items"] == []


def test_deleting_a_blueprint_clears_deployments_that_used_it(api: Api, make_user) -> None:
    owner, user = make_user(), make_user()
    blueprint = api.post(
        records("blueprints"),
        {"name": "bp", "manifest": {"spec": {}}, "owner": owner.id},
        token=owner.token,
    ).body
    project = make_project(api, user)
    deployment = api.post(
        records("deployments"),
        {"name": "d", "user": user.id, "project": project["id"], "blueprint": blueprint["id"]},
        token=user.token,
    ).body
    plain = make_deployment(api, user, project)
    assert deployment["blueprint"] == blueprint["id"] and plain["blueprint"] == ""
    assert (
        api.delete(records("blueprints") + f"/{blueprint['id']}", token=owner.token).status == 204
    )
    after = api.get(records("deployments") + f"/{deployment['id']}", token=user.token).body
    assert after["blueprint"] == "" and after["updated"] > deployment["updated"]
    assert (
        api.get(records("deployments") + f"/{plain['id']}", token=user.token).body["blueprint"]
        == ""
    )
