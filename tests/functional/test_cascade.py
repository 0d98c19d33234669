"""Deletes cascade children-first, and the cluster hook runs before anything is removed."""

from __future__ import annotations

import pytest
from api_client import Api, make_deployment, make_project, make_rollout, nginx_manifest, records

from chalicelib.records import cascade, store, values


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


def test_a_failed_cascade_leaves_the_parent_usable(
    api: Api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    project = make_project(api, user)

    def refuse(*_: object) -> None:
        raise RuntimeError("cluster unreachable")

    monkeypatch.setattr(cascade, "_before_delete", [refuse])
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 500
    make_deployment(api, user, project)  # the deleting mark was taken back


def test_children_cannot_be_added_under_a_parent_being_deleted(api: Api, make_user) -> None:
    """Once a cascade's mark is in, every create below it fails: at the reference check
    through the API, and in the create's own transaction when the mark lands after it."""
    user = make_user()
    project, deployment, _, _ = make_tree(api, user)
    store.set_deleting("deployments", deployment["id"], values.now())
    body = {"interval": "5m", "policy": "semver", "user": user.id}
    for collection, extra in (
        ("autoUpdates", body),
        ("rollouts", {"manifest": nginx_manifest(), "user": user.id}),
    ):
        reply = api.post(
            records(collection),
            {**extra, "project": project["id"], "deployment": deployment["id"]},
            token=user.token,
        )
        assert reply.status == 400, reply.body
        assert reply.body["data"]["deployment"]["code"] == "validation_missing_rel_records"
    store.set_deleting("projects", project["id"], values.now())
    reply = api.post(
        records("deployments"),
        {"name": "d", "user": user.id, "project": project["id"]},
        token=user.token,
    )
    assert reply.status == 400 and "project" in reply.body["data"], reply.body
    late = {**make_deployment_record(user.id, project["id"]), "id": values.new_id()}
    with pytest.raises(store.ParentGone) as gone:
        store.create("deployments", late)
    assert gone.value.field == "project"
    assert store.get("deployments", late["id"]) is None
    assert [d["id"] for d in store.query("deployments", "project", project["id"])] == [
        deployment["id"]
    ]


def make_deployment_record(user_id: str, project_id: str) -> dict:
    from chalicelib.records.schema import DEPLOYMENTS
    from chalicelib.records.validation import empty_record

    stamp = values.now()
    return {
        **empty_record(DEPLOYMENTS),
        "name": "late",
        "user": user_id,
        "project": project_id,
        "created": stamp,
        "updated": stamp,
    }


def test_a_cascade_repeats_when_a_child_changes_under_it(
    api: Api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child written between the plan and the delete (a rollout being confirmed) makes
    that round's version condition fail; the cascade reads the plan again and finishes."""
    user = make_user()
    project, deployment, rollout, auto = make_tree(api, user)
    touched: list[str] = []

    def touch_the_rollout(collection: str, record: dict, plan: list) -> None:
        current = store.get("rollouts", rollout["id"])
        assert current is not None
        store.update("rollouts", current, dict(current, updated=values.now()))
        touched.append(collection)

    monkeypatch.setattr(cascade, "_before_delete", [*cascade._before_delete, touch_the_rollout])
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 204
    assert touched == ["projects"]
    for collection, record in (
        ("projects", project),
        ("deployments", deployment),
        ("rollouts", rollout),
        ("autoUpdates", auto),
    ):
        assert store.get(collection, record["id"]) is None
