"""The rollout state machine and the /pb cluster routes, end to end: the Chalice app on
DynamoDB Local driving the real control plane as the least-privilege backend user."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from api_client import MANIFEST, Api, make_deployment, make_project, nginx_manifest, records
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from waiting import deleted, wait_for

# The real DynamoDB engine only: every test here also costs cluster time.
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.dynamodb_local,
    pytest.mark.parametrize("backend", ["dynamodb_local"], indirect=True),
]

GROUP, VERSION, PLURAL = "one-click.dev", "v1alpha1", "rollouts"
NGINX = nginx_manifest()
tagged = nginx_manifest


@pytest.fixture
def admin(control_plane: Any) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))


def custom(admin: k8s.ApiClient, project: dict, deployment: dict) -> dict | None:
    try:
        return k8s.CustomObjectsApi(admin).get_namespaced_custom_object(
            GROUP, VERSION, project["id"], PLURAL, deployment["id"]
        )
    except k8s.ApiException as error:
        if error.status == 404:
            return None
        raise


def rollout(api: Api, user, project: dict, deployment: dict, manifest: dict) -> Any:
    return api.post(
        records("rollouts"),
        {
            "manifest": manifest,
            "startDate": "",
            "endDate": "",
            "project": project["id"],
            "user": user.id,
            "deployment": deployment["id"],
        },
        token=user.token,
    )


def rollout_body(user, deployment: dict, tag: str) -> dict:
    """A rollout create body, for tests that call the state machine without HTTP."""
    return {
        "manifest": tagged(tag),
        "project": deployment["project"],
        "user": user.id,
        "deployment": deployment["id"],
    }


def unreachable(*_args: object) -> None:
    """A cluster call that fails as an unreachable API server does."""
    from chalicelib.errors import ServiceUnavailable

    raise ServiceUnavailable("The Kubernetes cluster is not reachable.")


def running(api: Api, user, deployment: dict) -> list[dict]:
    items = api.get(records("rollouts") + "?perPage=500", token=user.token).body["items"]
    return [r for r in items if r["deployment"] == deployment["id"] and r["endDate"] == ""]


def test_create_applies_and_the_next_rollout_replaces_it(api: Api, make_user, admin) -> None:
    user = make_user("Jan Lauber")
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    first = rollout(api, user, project, deployment, tagged("1.27"))
    assert first.status == 200, first.body
    assert first.body["endDate"] == "" and first.body["startDate"] != ""
    resource = custom(admin, project, deployment)
    assert resource is not None and resource["spec"]["image"]["tag"] == "1.27"
    assert resource["metadata"]["labels"] == {
        "one-click.dev/projectId": project["id"],
        "one-click.dev/deploymentId": deployment["id"],
        "one-click.dev/rolloutId": first.body["id"],
    }
    namespace = k8s.CoreV1Api(admin).read_namespace(project["id"])
    assert namespace.metadata.labels["one-click.dev/userId"] == user.id
    second = rollout(api, user, project, deployment, tagged("1.28"))
    assert second.status == 200, second.body
    assert [r["id"] for r in running(api, user, deployment)] == [second.body["id"]]
    resource = custom(admin, project, deployment)
    assert resource["spec"]["image"]["tag"] == "1.28"
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == second.body["id"]
    ended = api.get(records("rollouts") + f"/{first.body['id']}", token=user.token).body
    assert ended["endDate"] != ""


def test_enddate_on_create_and_invalid_manifests_are_400(api: Api, make_user, admin) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    with_end = api.post(
        records("rollouts"),
        {
            "manifest": NGINX,
            "endDate": "2024-01-01T00:00:00Z",
            "project": project["id"],
            "user": user.id,
            "deployment": deployment["id"],
        },
        token=user.token,
    )
    assert with_end.status == 400
    assert with_end.body["message"] == "endDate is not allowed on create"
    broken = nginx_manifest()
    del broken["spec"]["image"]["tag"]
    broken["spec"]["horizontalScale"]["minReplicas"] = "one"
    reply = rollout(api, user, project, deployment, broken)
    assert reply.status == 400
    message = reply.body["data"]["manifest"]["message"]
    assert "spec.image.tag" in message and "minReplicas" in message
    privileged = tagged("1.27")
    privileged["spec"]["securityContext"] = {"privileged": True}
    denied = rollout(api, user, project, deployment, privileged)
    assert denied.status == 400 and "privileged" in denied.body["data"]["manifest"]["message"]
    assert rollout(api, user, project, deployment, MANIFEST | {"kind": "Pod"}).status == 400
    assert running(api, user, deployment) == []
    assert custom(admin, project, deployment) is None


def test_hide_and_historical_edits_never_touch_the_cluster(api: Api, make_user, admin) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    old = rollout(api, user, project, deployment, tagged("1.26")).body
    new = rollout(api, user, project, deployment, tagged("1.27")).body
    generation = custom(admin, project, deployment)["metadata"]["generation"]
    for rollout_id, body in (
        (new["id"], {"hide": True}),
        (old["id"], {"hide": True}),
        (old["id"], {"manifest": tagged("0.1")}),
        (old["id"], {}),
    ):
        reply = api.patch(records("rollouts") + f"/{rollout_id}", body, token=user.token)
        assert reply.status == 200, reply.body
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["generation"] == generation  # status writes do not count
    assert resource["spec"]["image"]["tag"] == "1.27"


def test_rollback_stop_and_delete(api: Api, make_user, admin) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    old = rollout(api, user, project, deployment, tagged("1.26")).body
    new = rollout(api, user, project, deployment, tagged("1.27")).body
    back = api.patch(
        records("rollouts") + f"/{old['id']}",
        {**old, "endDate": "", "hide": False},
        token=user.token,
    )
    assert back.status == 200 and back.body["endDate"] == ""
    assert [r["id"] for r in running(api, user, deployment)] == [old["id"]]
    assert custom(admin, project, deployment)["spec"]["image"]["tag"] == "1.26"
    stop = api.patch(
        records("rollouts") + f"/{old['id']}", {"endDate": "2030-01-01T00:00:00Z"}, token=user.token
    )
    assert stop.status == 200 and stop.body["endDate"] == "2030-01-01 00:00:00.000Z"
    assert custom(admin, project, deployment) is None and running(api, user, deployment) == []
    again = api.patch(records("rollouts") + f"/{new['id']}", {"endDate": ""}, token=user.token)
    assert again.status == 200 and custom(admin, project, deployment) is not None
    assert api.delete(records("rollouts") + f"/{new['id']}", token=user.token).status == 204
    assert custom(admin, project, deployment) is None
    assert api.get(records("rollouts") + f"/{new['id']}", token=user.token).status == 404


def test_concurrent_rollouts_leave_exactly_one_running(api: Api, make_user, admin) -> None:
    from chalicelib.records.access import Viewer
    from chalicelib.records.store import get
    from chalicelib.rollouts.state_machine import create_rollout

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    viewer = Viewer(get("users", user.id))
    outcomes: list[str] = []

    def click(tag: str) -> None:
        try:
            outcomes.append(create_rollout(rollout_body(user, deployment, tag), {}, viewer)["id"])
        except Exception as error:  # noqa: BLE001 - a conflict is an allowed outcome
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=click, args=(f"1.{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [o for o in outcomes if len(o) == 15]
    assert winners and all(o in {"Conflict", *winners} for o in outcomes), outcomes
    # Lists come from an index (eventually consistent); judge by consistent reads.
    pointer = get("deployments", deployment["id"])["runningRollout"]
    states = {w: get("rollouts", w)["endDate"] for w in winners}
    assert [w for w, end in states.items() if end == ""] == [pointer], (states, pointer)
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == pointer


def test_a_stale_cluster_write_landing_last_is_repaired(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving a storm of clicks can produce, made deterministic: click T commits,
    is overtaken by S, and while T writes S's state to the cluster, Z commits and finishes.
    T's write lands last; T must notice the newer commit and write Z's state."""
    from chalicelib.cluster import rollouts as cluster_rollouts
    from chalicelib.records.access import Viewer
    from chalicelib.records.store import get
    from chalicelib.rollouts.state_machine import create_rollout

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    viewer = Viewer(get("users", user.id))
    real_apply = cluster_rollouts.apply_rollout
    main = threading.current_thread()
    created: dict[str, str] = {}

    def click(tag: str) -> None:
        created[tag] = create_rollout(rollout_body(user, deployment, tag), {}, viewer)["id"]

    def click_meanwhile(tag: str) -> None:
        other = threading.Thread(target=click, args=(tag,))
        other.start()
        other.join(120)

    def interleaving(project_id: str, deployment_id: str, rollout_id: str, manifest: dict) -> None:
        tag = manifest["spec"]["image"]["tag"]
        if threading.current_thread() is main and tag == "1.2" and "1.3" not in created:
            click_meanwhile("1.3")  # Z commits and finishes before T's stale write lands
        real_apply(project_id, deployment_id, rollout_id, manifest)
        if threading.current_thread() is main and tag == "1.1" and "1.2" not in created:
            click_meanwhile("1.2")  # S overtakes T right after T's own write

    monkeypatch.setattr(cluster_rollouts, "apply_rollout", interleaving)
    click("1.1")
    assert set(created) == {"1.1", "1.2", "1.3"}
    assert get("deployments", deployment["id"])["runningRollout"] == created["1.3"]
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == created["1.3"]
    assert resource["spec"]["image"]["tag"] == "1.3"


def test_a_click_overtaken_while_its_cluster_write_fails_still_succeeds(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Click T commits; while its cluster write is on its way, S commits and finishes; then
    T's write fails (a 409 storm on the Rollout). T's rollout is stored and already ended by
    S, so T must answer 200 with it, not an error for a record that exists (the fleet storm
    caught this), and the cluster shows S."""
    from chalicelib.cluster import rollouts as cluster_rollouts
    from chalicelib.errors import Conflict

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_apply = cluster_rollouts.apply_rollout
    main = threading.current_thread()
    overtaking: list[Any] = []

    def overtaken_then_fails(project_id: str, deployment_id: str, rollout_id: str, manifest: dict):
        if threading.current_thread() is main and manifest["spec"]["image"]["tag"] == "1.1":
            other = threading.Thread(
                target=lambda: overtaking.append(
                    rollout(api, user, project, deployment, tagged("1.2"))
                )
            )
            other.start()
            other.join(120)
            raise Conflict()
        real_apply(project_id, deployment_id, rollout_id, manifest)

    monkeypatch.setattr(cluster_rollouts, "apply_rollout", overtaken_then_fails)
    reply = rollout(api, user, project, deployment, tagged("1.1"))
    [newer] = overtaking
    assert newer.status == 200, newer.body
    assert reply.status == 200, reply.body
    assert reply.body["endDate"] != ""
    items = api.get(records("rollouts"), token=user.token).body["items"]
    assert {r["id"]: r["endDate"] == "" for r in items} == {
        reply.body["id"]: False,
        newer.body["id"]: True,
    }
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == newer.body["id"]
    from chalicelib.records import store

    assert store.pending_rollouts() == []


def test_a_failed_convergence_after_the_commit_is_left_to_the_reconciler(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollout committed and reached the cluster, then converging fails: the change
    stands, so the caller gets 200; the pending mark stays and the reconciler clears it."""
    from chalicelib.records import store, values
    from chalicelib.rollouts import state_machine

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_converge = state_machine._converge

    monkeypatch.setattr(state_machine, "_converge", unreachable)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert reply.status == 200, reply.body
    assert reply.body["endDate"] == ""
    [pending] = store.pending_rollouts()
    assert pending["id"] == reply.body["id"]
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == reply.body["id"]
    monkeypatch.setattr(state_machine, "_converge", real_converge)
    later = values.format_date(values.parse_date(values.now()) + timedelta(minutes=5))
    assert state_machine.reconcile_pending(now=later) == 1
    assert store.pending_rollouts() == []


def test_a_rollout_racing_its_projects_delete_leaves_no_namespace(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project's first rollout passed its reference check; before it ensures the
    namespace, the project's delete marks the project (and, finding no namespace yet, has
    none to remove). The create must answer 400 (missing relation) and remove the namespace
    it made (the fleet's cascade storm found namespaces outliving their projects)."""
    from chalicelib.cluster import namespaces
    from chalicelib.records import store, values

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_ensure = namespaces.ensure_namespace

    def after_the_delete_began(*args: str) -> bool:
        store.set_deleting("projects", project["id"], values.now())
        return real_ensure(*args)

    monkeypatch.setattr(namespaces, "ensure_namespace", after_the_delete_began)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert reply.status == 400, reply.body
    assert reply.body["data"]["project"]["code"] == "validation_missing_rel_records"
    core = k8s.CoreV1Api(admin)
    wait_for(
        f"namespace {project['id']} deleted",
        lambda: deleted(lambda: core.read_namespace(project["id"])),
    )
    assert store.query("rollouts", "deployment", deployment["id"]) == []


def test_a_rollout_whose_project_is_deleted_after_its_reference_check_is_400(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create's reference check saw the project; the project's whole delete then runs
    before the create reads the project again (the fleet's cascade storm answered 500
    here). The create must answer 400 (missing relation) and leave nothing behind."""
    from chalicelib.records import service, store

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_prepare = service.prepare_create
    deletes: list[Any] = []

    def then_the_project_goes(*args: Any) -> dict[str, Any]:
        prepared = real_prepare(*args)
        deletes.append(api.delete(f"{records('projects')}/{project['id']}", token=user.token))
        return prepared

    monkeypatch.setattr(service, "prepare_create", then_the_project_goes)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert [r.status for r in deletes] == [204]
    assert reply.status == 400, reply.body
    assert reply.body["data"]["project"]["code"] == "validation_missing_rel_records"
    assert store.query("rollouts", "project", project["id"]) == []
    assert custom(admin, project, deployment) is None


@pytest.mark.parametrize("change", ["stop", "delete"])
def test_a_change_to_a_rollout_whose_project_is_deleted_meanwhile_is_404(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A stop or delete read the running rollout; the project's whole delete then runs
    (the rollout with it) before the change reads the project: 404, as for any record
    deleted meanwhile, and nothing is left behind."""
    from chalicelib.records import service, store

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    created = rollout(api, user, project, deployment, tagged("1.27")).body
    step = "prepare_update" if change == "stop" else "owned_record"
    real_step = getattr(service, step)
    deletes: list[Any] = []

    def then_the_project_goes(*args: Any) -> Any:
        read = real_step(*args)
        if args[0].name == "rollouts" and not deletes:  # the cascade reads records too
            deletes.append(None)
            url = f"{records('projects')}/{project['id']}"
            deletes[0] = api.delete(url, token=user.token)
        return read

    monkeypatch.setattr(service, step, then_the_project_goes)
    url = f"{records('rollouts')}/{created['id']}"
    if change == "stop":
        reply = api.patch(url, {"endDate": "2026-12-04 10:00:00.000Z"}, token=user.token)
    else:
        reply = api.delete(url, token=user.token)
    assert [r.status for r in deletes] == [204]
    assert reply.status == 404, reply.body
    assert store.query("rollouts", "project", project["id"]) == []
    wait_for("the Rollout resource deleted", lambda: custom(admin, project, deployment) is None)


def test_a_rollout_cascaded_away_before_its_confirmation_answers_200(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create committed and reached the cluster; the project's delete then removes
    the new rollout before the create clears its pending mark (the fleet's cascade storm
    answered 500 here). The create did happen, so it answers 200 with the rollout as
    committed; the cascade leaves no record and no Rollout resource."""
    from chalicelib.records import store
    from chalicelib.rollouts import state_machine

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_converge = state_machine._converge
    deletes: list[Any] = []

    def then_the_project_goes(*args: Any) -> None:
        real_converge(*args)
        if not deletes:
            url = f"{records('projects')}/{project['id']}"
            deletes.append(api.delete(url, token=user.token))

    monkeypatch.setattr(state_machine, "_converge", then_the_project_goes)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert [r.status for r in deletes] == [204]
    assert reply.status == 200, reply.body
    assert (reply.body["deployment"], reply.body["endDate"]) == (deployment["id"], "")
    assert store.query("rollouts", "project", project["id"]) == []
    wait_for("the Rollout resource deleted", lambda: custom(admin, project, deployment) is None)


def test_cluster_failure_leaves_records_as_before(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from chalicelib.cluster import connection

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    first = rollout(api, user, project, deployment, tagged("1.26")).body
    from chalicelib.cluster import rollouts as cluster_rollouts

    monkeypatch.setattr(cluster_rollouts, "apply_rollout", unreachable)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert reply.status == 503 and reply.body["code"] == 503
    assert [r["id"] for r in running(api, user, deployment)] == [first["id"]]
    items = api.get(records("rollouts"), token=user.token).body["items"]
    assert [r["id"] for r in items] == [first["id"]]
    assert custom(admin, project, deployment)["spec"]["image"]["tag"] == "1.26"
    connection.reset()


def test_a_change_racing_the_undo_of_a_failed_cluster_call_is_retried(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The cluster call fails; while the records are being put back, a concurrent request
    deletes the rollout the click had ended (the fleet's cascade storm deletes records
    the same way). The undo's transaction then conflicts: it must read again and put the
    rest back, not give up and leave the click's rollout pending with a traceback."""
    from chalicelib.cluster import rollouts as cluster_rollouts
    from chalicelib.records import store

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    first = rollout(api, user, project, deployment, tagged("1.26")).body
    real_write_together = store.write_together
    racing: list[Any] = []

    def deleted_meanwhile(**writes: Any) -> None:
        if writes.get("deletes") and not racing:  # the undo of the click's create
            url = records("rollouts") + f"/{first['id']}"
            other = threading.Thread(
                target=lambda: racing.append(api.delete(url, token=user.token))
            )
            other.start()
            other.join(120)
        real_write_together(**writes)

    monkeypatch.setattr(cluster_rollouts, "apply_rollout", unreachable)
    monkeypatch.setattr(store, "write_together", deleted_meanwhile)
    reply = rollout(api, user, project, deployment, tagged("1.27"))
    assert reply.status == 503 and reply.body["code"] == 503
    assert [r.status for r in racing] == [204]
    assert api.get(records("rollouts"), token=user.token).body["items"] == []
    assert store.pending_rollouts() == []
    assert "could not restore" not in caplog.text
    assert custom(admin, project, deployment) is None  # nothing runs, on record or cluster


def test_pb_routes_are_owner_checked(api: Api, make_user, admin, control_plane) -> None:
    user, other = make_user(), make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    assert rollout(api, user, project, deployment, tagged("1.27")).status == 200
    base = f"/pb/{project['id']}/{deployment['id']}"

    def operator_status() -> Any:
        reply = api.get(base + "/status", token="Bearer " + user.token)
        return reply if reply.status == 200 else None

    status = wait_for("the operator's status through /status", operator_status)
    assert set(status.body["deployment"]) == {"replicas", "podNames", "resources", "status"}
    for path in ("/status", "/metrics", "/events"):
        assert api.get(base + path, token=other.token).status == 404
        assert api.get("/api" + base + path).status == 401
        assert api.get("/api" + base + path, token=user.token).status == 200
    events = api.get(base + "/events", token=user.token).body["events"]
    assert isinstance(events, list)
    # The rollout drawer asks with the running rollout's id: its deployment answers.
    (current,) = running(api, user, deployment)
    by_rollout = f"/pb/{project['id']}/{current['id']}"
    drawer_status = api.get(by_rollout + "/status", token=user.token)
    assert drawer_status.status == 200, drawer_status.body
    assert set(drawer_status.body["deployment"]) == set(status.body["deployment"])
    drawer_events = api.get(by_rollout + "/events", token=user.token)
    assert drawer_events.status == 200 and isinstance(drawer_events.body["events"], list)
    elsewhere = f"/pb/{make_project(api, user)['id']}/{current['id']}"
    for path in ("/status", "/events"):
        assert api.get(by_rollout + path, token=other.token).status == 404
        assert api.get(elsewhere + path, token=user.token).status == 404
        assert api.get(by_rollout + path).status == 401
    info = api.get("/pb/cluster-info", token=user.token)
    assert info.status == 200 and set(info.body) == {"storageClasses", "ingressClasses"}
    assert api.get("/pb/cluster-info").status == 401
    assert (
        api.call("DELETE", f"/pb/kube-system/pod/{uuid.uuid4().hex[:8]}", token=user.token).status
        == 404
    )
    assert api.call("DELETE", f"/pb/{project['id']}/pod/nope", token=other.token).status == 404


def test_deleting_deployment_and_project_cleans_the_cluster(api: Api, make_user, admin) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    assert rollout(api, user, project, deployment, tagged("1.27")).status == 200
    assert (
        api.delete(records("deployments") + f"/{deployment['id']}", token=user.token).status == 204
    )
    assert custom(admin, project, deployment) is None
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 204
    core = k8s.CoreV1Api(admin)
    try:
        namespace = core.read_namespace(project["id"])
        assert namespace.metadata.deletion_timestamp is not None
    except k8s.ApiException as error:
        assert error.status == 404


def test_a_deployment_changed_while_it_is_deleted_keeps_its_workload(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete removes the Rollout resource, then a concurrent write changes the
    deployment. By default the cascade reads its plan again and finishes (204). When every
    round is lost (one round here), the delete fails (409) and the running rollout is
    applied again instead of leaving a running record without a workload."""
    from chalicelib.records import cascade, store

    user = make_user()
    project = make_project(api, user)

    def concurrent_edit(collection: str, record: dict, _plan: list) -> None:
        current = store.get("deployments", record["id"])
        store.update("deployments", current, dict(current, name="renamed"))

    monkeypatch.setattr(cascade, "_before_delete", [*cascade._before_delete, concurrent_edit])
    finished = make_deployment(api, user, project)
    assert rollout(api, user, project, finished, tagged("1.27")).status == 200
    reply = api.delete(records("deployments") + f"/{finished['id']}", token=user.token)
    assert reply.status == 204, reply.body
    assert store.get("deployments", finished["id"]) is None
    wait_for("the Rollout gone", lambda: custom(admin, project, finished) is None)

    monkeypatch.setattr(cascade, "_ROUNDS", 1)
    deployment = make_deployment(api, user, project)
    assert rollout(api, user, project, deployment, tagged("1.27")).status == 200
    reply = api.delete(records("deployments") + f"/{deployment['id']}", token=user.token)
    assert reply.status == 409, reply.body
    assert running(api, user, deployment)  # the records still say it runs ...
    resource = custom(admin, project, deployment)  # ... and so does the cluster again
    assert resource is not None and resource["spec"]["image"]["tag"] == "1.27"
    assert not store.get("deployments", deployment["id"])["deleting"]  # and it is usable


def test_reconciler_finishes_what_a_dead_request_left(
    api: Api, make_user, admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster call fails and so does putting the records back (as if the Lambda died):
    the rollout stays marked pending, and the scheduled reconciler applies it later."""
    from chalicelib.cluster import rollouts as cluster_rollouts
    from chalicelib.records import store, values
    from chalicelib.rollouts import state_machine

    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    real_apply = cluster_rollouts.apply_rollout

    def cannot_restore(_changed: object) -> None:
        raise RuntimeError("DynamoDB went away too")

    monkeypatch.setattr(cluster_rollouts, "apply_rollout", unreachable)
    monkeypatch.setattr(state_machine, "_restore", cannot_restore)
    assert rollout(api, user, project, deployment, tagged("1.27")).status == 503
    [pending] = store.pending_rollouts()
    assert pending["pendingKind"] == "apply" and custom(admin, project, deployment) is None
    monkeypatch.setattr(cluster_rollouts, "apply_rollout", real_apply)
    assert state_machine.reconcile_pending() == 0  # too young: its request may still run
    later = values.format_date(values.parse_date(values.now()) + timedelta(minutes=5))
    assert state_machine.reconcile_pending(now=later) == 1
    assert store.pending_rollouts() == []
    resource = custom(admin, project, deployment)
    assert resource["metadata"]["labels"]["one-click.dev/rolloutId"] == pending["id"]
    assert (
        api.get(records("rollouts") + f"/{pending['id']}", token=user.token).body["endDate"] == ""
    )
