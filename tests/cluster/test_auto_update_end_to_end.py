"""Image auto-update end to end: images pushed to a real registry (Debian's docker-registry),
the tick and the webhook on DynamoDB Local, new rollouts applied to the real control plane.
Covers exactly-once under racing checks and the retry after a failed cluster apply."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from api_client import Api, make_deployment, make_project, nginx_manifest, records
from docker_registry import DockerRegistry, push_image, registry_binary
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from prerequisites import require

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.registry,
    pytest.mark.dynamodb_local,
    pytest.mark.parametrize("backend", ["dynamodb_local"], indirect=True),
]

GROUP, VERSION, PLURAL = "one-click.dev", "v1alpha1", "rollouts"
# A cluster that refuses connections: port 9 (discard) on loopback has no listener.
UNREACHABLE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.fixture(scope="module")
def registry() -> Iterator[DockerRegistry]:
    require(registry_binary() is not None, "docker-registry (Debian package) is not installed")
    with DockerRegistry() as running:
        yield running


@pytest.fixture
def admin(control_plane: Any) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))


class Setup:
    def __init__(self, api: Api, user: Any, registry: DockerRegistry, repository: str) -> None:
        self.api, self.user, self.registry, self.repository = api, user, registry, repository
        self.project = make_project(api, user)
        self.deployment = make_deployment(api, user, self.project)

    def push(self, tag: str) -> str:
        return push_image(self.registry.url, self.repository, tag)

    def roll_out(self, tag: str) -> dict:
        manifest = nginx_manifest(tag)
        manifest["spec"]["image"].update(registry=self.registry.host, repository=self.repository)
        reply = self.api.post(
            records("rollouts"),
            {
                "manifest": manifest,
                "project": self.project["id"],
                "deployment": self.deployment["id"],
                "user": self.user.id,
            },
            token=self.user.token,
        )
        assert reply.status == 200, reply.body
        return reply.body

    def auto_update(self, policy: str, pattern: str = "") -> dict:
        reply = self.api.post(
            records("autoUpdates"),
            {
                "interval": "1m",
                "pattern": pattern,
                "policy": policy,
                "user": self.user.id,
                "project": self.project["id"],
                "deployment": self.deployment["id"],
            },
            token=self.user.token,
        )
        assert reply.status == 200, reply.body
        return reply.body

    def rollouts(self) -> list[dict]:
        reply = self.api.get(
            records("rollouts") + "?perPage=500&sort=created", token=self.user.token
        )
        return [r for r in reply.body["items"] if r["deployment"] == self.deployment["id"]]

    def running_tags(self) -> list[str]:
        return [r["manifest"]["spec"]["image"]["tag"] for r in self.rollouts() if not r["endDate"]]

    def status(self, auto_update: dict) -> dict:
        path = records("autoUpdates") + f"/{auto_update['id']}"
        return self.api.get(path, token=self.user.token).body

    def cluster_tag(self, admin: k8s.ApiClient) -> str:
        resource = k8s.CustomObjectsApi(admin).get_namespaced_custom_object(
            GROUP, VERSION, self.project["id"], PLURAL, self.deployment["id"]
        )
        return resource["spec"]["image"]["tag"]


def _due_now(auto_update: dict) -> None:
    """Make the record due again (instead of waiting an interval)."""
    from chalicelib.records import store

    store.record_check(auto_update["id"], {"nextCheck": auto_update["created"]})


def _tick() -> Any:
    from chalicelib.image_updates import tick

    return tick.run()


def test_semver_tick_rolls_out_the_newest_matching_tag_once(
    api: Api, make_user: Any, registry: DockerRegistry, admin: k8s.ApiClient
) -> None:
    setup = Setup(api, make_user(), registry, "team/semver")
    for tag in ("1.26.0", "1.27.1", "v1.27.3", "1.28.0-rc1", "2.0.0", "latest"):
        setup.push(tag)
    setup.roll_out("1.26.0")
    auto_update = setup.auto_update("semver:~1.27", pattern="")
    report = _tick()
    assert report.checked == 1 and len(report.rolled_out) == 1, report
    assert setup.running_tags() == ["v1.27.3"]  # prefixed tags count (the original dropped them)
    assert len(setup.rollouts()) == 2
    assert setup.cluster_tag(admin) == "v1.27.3"
    status = setup.status(auto_update)
    assert status["lastTag"] == "v1.27.3" and status["lastError"] == "" and status["lastCheck"]
    _due_now(auto_update)
    assert _tick().rolled_out == []  # up to date: nothing new
    assert len(setup.rollouts()) == 2


def test_racing_checks_create_exactly_one_rollout(
    api: Api, make_user: Any, registry: DockerRegistry
) -> None:
    from chalicelib.image_updates.check import check, running_rollout
    from chalicelib.records import store
    from chalicelib.registry.client import RegistryClient

    setup = Setup(api, make_user(), registry, "team/race")
    for tag in ("3.0.0", "3.1.0"):
        setup.push(tag)
    setup.roll_out("3.0.0")
    auto_update = store.get("autoUpdates", setup.auto_update("semver")["id"])
    deployment = store.get("deployments", setup.deployment["id"])
    running = running_rollout(deployment, {})  # every racer decides from the same state
    barrier = threading.Barrier(6)
    outcomes: list[Any] = []

    def racer() -> None:
        barrier.wait()
        outcomes.append(check(auto_update, running, RegistryClient()))

    threads = [threading.Thread(target=racer) for _ in range(5)]
    for thread in threads:
        thread.start()
    barrier.wait()
    webhook = api.post(f"/pb/auto-update/{auto_update['id']}", token=setup.user.token)
    for thread in threads:
        thread.join(timeout=120)
    assert webhook.status == 200, webhook.body
    created = [o.rollout for o in outcomes if o.rollout]
    if webhook.body["check"]["rollout"]:
        created.append(webhook.body["check"]["rollout"])
    assert len(created) == 1, (outcomes, webhook.body)
    assert setup.running_tags() == ["3.1.0"]
    assert len(setup.rollouts()) == 2
    assert all(o.error == "" for o in outcomes), outcomes


def test_a_check_that_read_the_deployment_before_a_racing_rollout_follows_it(
    api: Api, make_user: Any, registry: DockerRegistry
) -> None:
    """A webhook reads the deployment; a racing check's rollout commits (the pointer moves,
    the rollout it named ends); then the webhook reads that rollout. It must follow the
    pointer again, not report "no running rollout" (the fleet's auto-update storm saw it)."""
    from chalicelib.image_updates.check import running_rollout
    from chalicelib.records import store

    setup = Setup(api, make_user(), registry, "team/skew")
    for tag in ("3.0.0", "3.1.0"):
        setup.push(tag)
    setup.roll_out("3.0.0")
    read_before = store.get("deployments", setup.deployment["id"])
    setup.roll_out("3.1.0")
    running = running_rollout(read_before, {})
    assert running is not None and running["manifest"]["spec"]["image"]["tag"] == "3.1.0"
    stop = api.patch(
        records("rollouts") + f"/{running['id']}",
        {"endDate": "2026-01-01 00:00:00.000Z"},
        token=setup.user.token,
    )
    assert stop.status == 200, stop.body
    assert running_rollout(read_before, {}) is None  # stopped: nothing runs, after a re-read


def test_latest_policy_follows_a_moved_tag(
    api: Api, make_user: Any, registry: DockerRegistry
) -> None:
    setup = Setup(api, make_user(), registry, "team/latest")
    setup.push("latest")
    setup.roll_out("latest")
    auto_update = setup.auto_update("latest")
    assert _tick().rolled_out == []  # first sight: remembers the digest
    _due_now(auto_update)
    assert _tick().rolled_out == []  # unchanged digest
    setup.push("latest")  # a rebuilt image under the same tag
    _due_now(auto_update)
    assert len(_tick().rolled_out) == 1
    assert len(setup.rollouts()) == 2 and setup.running_tags() == ["latest"]


def test_failed_cluster_apply_is_retried_on_the_next_tick(
    api: Api, make_user: Any, registry: DockerRegistry, admin: k8s.ApiClient, tmp_path: Any
) -> None:
    from api_client import reset_settings

    from chalicelib.cluster import connection

    setup = Setup(api, make_user(), registry, "team/retry")
    setup.push("1.0.0")
    setup.roll_out("1.0.0")
    auto_update = setup.auto_update("semver")
    setup.push("1.1.0")
    unreachable = tmp_path / "unreachable-kubeconfig"
    unreachable.write_text(UNREACHABLE_KUBECONFIG)
    working = os.environ["LOCAL_KUBECONFIG_FILE"]
    reset_settings(LOCAL_KUBECONFIG_FILE=str(unreachable))
    connection.reset()
    try:
        report = _tick()
    finally:
        reset_settings(LOCAL_KUBECONFIG_FILE=working)
        connection.reset()
    assert report.rolled_out == [] and report.errors == 1
    status = setup.status(auto_update)
    assert status["lastError"].startswith("Could not roll out 1.1.0; retrying on the next tick")
    assert status["nextCheck"] == status["lastCheck"]  # due again at the next tick
    assert setup.running_tags() == ["1.0.0"] and setup.cluster_tag(admin) == "1.0.0"
    report = _tick()  # no _due_now: the failure kept it due
    assert len(report.rolled_out) == 1
    assert setup.running_tags() == ["1.1.0"] and setup.cluster_tag(admin) == "1.1.0"
    assert setup.status(auto_update)["lastError"] == ""


def test_registry_errors_are_shown_in_plain_words(
    api: Api, make_user: Any, registry: DockerRegistry
) -> None:
    setup = Setup(api, make_user(), registry, "team/missing")
    setup.roll_out("1.0.0")  # nothing was ever pushed to team/missing
    auto_update = setup.auto_update("semver")
    assert _tick().errors == 1
    error = setup.status(auto_update)["lastError"]
    assert "team/missing" in error and "not found" in error
