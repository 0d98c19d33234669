"""chalicelib/cluster against the real control plane, running as the least-privilege backend.

Every adapter call runs as the user bound to infra/rbac/one-click-backend.yaml (so these
tests also prove the role is enough); setup and checks of what others did (the operator,
kwok, a foreign namespace) use the admin kubeconfig. Each test works in its own namespaces.
"""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from waiting import wait_for as wait_until

from chalicelib import settings as settings_module
from chalicelib.cluster import connection, namespaces, observe, rollouts, workloads
from chalicelib.errors import BadRequest, Conflict, Invalid, NotFound, ServiceUnavailable
from chalicelib.local.control_plane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # first use may build

# The adapter answers NotFound until the operator (or kwok) has acted.
wait_for = functools.partial(wait_until, retry_on=(NotFound,))
GROUP, VERSION, PLURAL = "one-click.dev", "v1alpha1", "rollouts"
DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def new_id() -> str:
    """A PocketBase-style id: 15 characters of [a-z0-9], starting with a letter."""
    return "t" + uuid.uuid4().hex[:14]


def manifest(tag: str = "1.27", **spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": {"registry": "docker.io", "repository": "library/nginx", "tag": tag},
        "horizontalScale": {
            "minReplicas": 1,
            "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 80,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "200m", "memory": "256Mi"},
        },
        "env": [{"name": "MODE", "value": "adapter"}],
        "secrets": [],
        "interfaces": [{"name": "http", "port": 80}],
        "serviceAccountName": "one-click",
    }
    spec.update(spec_overrides)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout", "spec": spec}


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path | str) -> None:
    monkeypatch.setenv("LOCAL", "true")
    monkeypatch.setenv("LOCAL_KUBECONFIG_FILE", str(kubeconfig))
    monkeypatch.delenv("KUBECONFIG_SSM_PARAMETER", raising=False)
    monkeypatch.delenv("KUBECONFIG_SECRET_ID", raising=False)
    settings_module.get_settings.cache_clear()
    connection.reset()


@pytest.fixture
def backend(control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings pointing the adapter at the control plane as the least-privilege user."""
    use_kubeconfig(monkeypatch, control_plane.kubeconfig_for("one-click-backend"))
    yield
    connection.reset()
    settings_module.get_settings.cache_clear()


@pytest.fixture
def admin(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api
    api.close()


def ns_labels(admin: client.ApiClient, name: str) -> dict[str, str]:
    return client.CoreV1Api(admin).read_namespace(name).metadata.labels or {}


def foreign_namespace(admin: client.ApiClient, name: str) -> None:
    client.CoreV1Api(admin).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"team": "other"}))
    )


def bare_pod(name: str, labels: dict[str, str]) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="main", image="busybox")],
            # Never scheduled: it stays Pending and kwok reports no usage for it.
            node_selector={"no-such-node": "true"},
        ),
    )


# ---------------------------------------------------------------------------- namespaces


def test_namespace_labels_are_merged_and_sanitized(backend: None, admin: client.ApiClient) -> None:
    project, owner = new_id(), new_id()
    namespaces.ensure_namespace(project, owner, "_bob_", "Zoë Müller (ops)")
    labels = ns_labels(admin, project)
    assert labels["one-click.dev/projectId"] == project
    assert labels["one-click.dev/userId"] == owner
    assert labels["one-click.dev/username"] == "bob"
    assert labels["one-click.dev/displayName"] == "Zoe-Muller-ops"

    # A foreign label (Pod Security) set by an administrator survives a re-ensure.
    client.CoreV1Api(admin).patch_namespace(
        project, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    )
    namespaces.ensure_namespace(project, owner, "x" * 100, "!!!")
    labels = ns_labels(admin, project)
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["one-click.dev/username"] == "x" * 63
    assert "one-click.dev/displayName" not in labels  # nothing valid remained: dropped
    assert labels["one-click.dev/projectId"] == project

    # Unchanged labels: nothing to write (and nothing breaks).
    namespaces.ensure_namespace(project, owner, "x" * 100, "!!!")

    namespaces.delete_namespace(project)
    phase = client.CoreV1Api(admin).read_namespace(project).status.phase
    assert phase == "Terminating" or phase is None
    namespaces.delete_namespace(project)  # idempotent while terminating / after it is gone
    namespaces.delete_namespace(new_id())  # never existed


def test_foreign_namespace_is_never_adopted_or_deleted(
    backend: None, admin: client.ApiClient
) -> None:
    name = new_id()
    foreign_namespace(admin, name)
    with pytest.raises(Conflict):
        namespaces.ensure_namespace(name, new_id(), "mallory", "Mallory")
    namespaces.delete_namespace(name)  # refuses silently: not ours
    namespace = client.CoreV1Api(admin).read_namespace(name)
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels == {"team": "other", "kubernetes.io/metadata.name": name}
    namespaces.delete_namespace("kube-system")
    assert client.CoreV1Api(admin).read_namespace("kube-system").status.phase == "Active"
    with pytest.raises(BadRequest):
        namespaces.ensure_namespace("../evil", new_id(), "a", "b")


# ---------------------------------------------------------------------------- rollouts


def test_rollout_apply_status_metrics_events_logs(
    backend: None, admin: client.ApiClient, control_plane: ControlPlane
) -> None:
    project, deployment = new_id(), new_id()
    first_rollout, second_rollout = new_id(), new_id()
    namespaces.ensure_namespace(project, new_id(), "alice", "Alice")
    custom, apps, core = (
        client.CustomObjectsApi(admin),
        client.AppsV1Api(admin),
        client.CoreV1Api(admin),
    )

    # Status before anything exists: NotFound (the caller maps it).
    with pytest.raises(NotFound):
        observe.rollout_status(project, deployment)

    rollouts.validate_manifest(project, deployment, manifest())  # dry-run create path
    with pytest.raises(ApiException) as nothing:  # ... which created nothing
        custom.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, deployment)
    assert nothing.value.status == 404

    sent = manifest()
    sent["metadata"] = {"name": "ignored", "labels": {"evil": "yes"}, "finalizers": ["x/y"]}
    rollouts.apply_rollout(project, deployment, first_rollout, sent)
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, deployment)
    assert obj["metadata"]["labels"] == {
        "one-click.dev/projectId": project,
        "one-click.dev/deploymentId": deployment,
        "one-click.dev/rolloutId": first_rollout,
    }
    assert "finalizers" not in obj["metadata"]
    assert obj["spec"]["image"]["tag"] == "1.27"

    # The operator makes a Deployment and writes a status; kwok runs the pod.
    wait_for(
        "the operator's Deployment", lambda: apps.read_namespaced_deployment(deployment, project)
    )
    selector = f"one-click.dev/deploymentId={deployment}"

    def running_pod(tag: str = "") -> str | None:
        """A Running pod that is not being replaced (during a rolling update the old one
        still runs for a while), of the image tag if given."""
        pods = core.list_namespaced_pod(project, label_selector=selector).items
        live = (
            p
            for p in pods
            if p.status.phase == "Running"
            and p.metadata.deletion_timestamp is None
            and p.spec.containers[0].image.endswith(f":{tag}" if tag else "")
        )
        return next((p.metadata.name for p in live), None)

    pod_name = wait_for("a Running pod", running_pod)

    def status_with_pod() -> dict[str, Any] | None:
        answer = observe.rollout_status(project, deployment)
        return answer if pod_name in (answer["deployment"]["podNames"] or []) else None

    status = wait_for("a status naming the pod", status_with_pod)
    assert set(status) == {"deployment", "services"}  # no ingresses/volumes: omitted
    assert set(status["deployment"]) == {"replicas", "podNames", "resources", "status"}
    assert status["deployment"]["resources"]["requestSum"] == {
        "cpu": "0.100",
        "memory": "134217728",
    }
    assert status["services"] == [{"name": f"http-{deployment}-svc", "ports": [80], "status": "OK"}]

    # Update: spec and labels replaced, resourceVersion respected, status untouched.
    admin_patch = {"metadata": {"labels": {"someone": "else"}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, project, PLURAL, deployment, admin_patch)
    before = custom.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, deployment)
    rollouts.validate_manifest(project, deployment, manifest("1.28"), "Failed to update record.")
    rollouts.apply_rollout(project, deployment, second_rollout, manifest("1.28"))
    after = custom.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, deployment)
    assert after["metadata"]["labels"] == {
        "one-click.dev/projectId": project,
        "one-click.dev/deploymentId": deployment,
        "one-click.dev/rolloutId": second_rollout,
    }
    assert after["spec"]["image"]["tag"] == "1.28"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert "status" in after  # a subresource: our PUT never touches it
    wait_for(
        "the Deployment rolled to 1.28",
        lambda: (
            apps.read_namespaced_deployment(deployment, project)
            .spec.template.spec.containers[0]
            .image.endswith(":1.28")
        ),
    )
    pod_name = wait_for("a Running pod of 1.28", lambda: running_pod("1.28"))

    # Metrics: decimal cores and bytes; a Pending labelled pod without metrics is skipped.
    core.create_namespaced_pod(
        project,
        bare_pod(
            "pending-" + deployment,
            {"one-click.dev/projectId": project, "one-click.dev/deploymentId": deployment},
        ),
    )

    def metrics_with_pod() -> dict[str, Any] | None:
        # The stand-in's CPU is a rate: 0 on its first scrape, ~5m (kwok's default) after.
        answer = observe.deployment_metrics(project, deployment)
        usage = {m["name"]: m for m in answer["metrics"] or []}
        return answer if float(usage.get(pod_name, {}).get("cpu", "0")) > 0 else None

    metrics = wait_for("metrics of the running pod", metrics_with_pod)["metrics"]
    assert all(m["name"] != "pending-" + deployment for m in metrics)
    for entry in metrics:
        assert set(entry) == {"name", "cpu", "memory"}
        assert DECIMAL.match(entry["cpu"]) and DECIMAL.match(entry["memory"]), entry
    mine = next(m for m in metrics if m["name"] == pod_name)
    assert mine["memory"] == str(24 * 1024 * 1024)  # kwok's default usage 24Mi, as "24576Ki"
    assert re.fullmatch(r"0\.\d{9}", mine["cpu"])  # nanocores as cores, Go's scale
    assert float(mine["cpu"]) == pytest.approx(0.005, rel=0.5)
    assert observe.deployment_metrics(project, new_id()) == {"metrics": None}

    # Events of the Rollout (and Deployment/HPA, same name).
    def created_events() -> list[dict[str, str]] | None:
        events = observe.deployment_events(project, deployment)["events"]
        return events if any(e["reason"] == "Created" for e in events) else None

    events = wait_for("the operator's Created events", created_events)
    assert all(set(e) == {"reason", "message", "typus"} for e in events)
    assert {e["typus"] for e in events} <= {"Normal", "Warning"}
    assert observe.deployment_events(project, new_id()) == {"events": []}

    # Logs: the last lines, with tail, since and container.
    marker = "adapter-log-" + uuid.uuid4().hex[:8]
    control_plane.append_pod_log(marker)
    text = wait_for(
        "the marker in the pod log",
        lambda: (lambda t: t if marker in t else None)(
            observe.pod_logs(project, pod_name, None, None, None)
        ),
    )
    assert isinstance(text, str)
    tail = observe.pod_logs(project, pod_name, 1, 3600, deployment)
    assert tail.strip().splitlines() == [marker]
    with pytest.raises(BadRequest):
        observe.pod_logs(project, pod_name, 5, None, "no-such-container")
    with pytest.raises(NotFound):
        observe.pod_logs(project, "no-such-pod", None, None, None)
    with pytest.raises(NotFound):
        observe.pod_logs(project, "../../kube-system/pods/x", None, None, None)

    # Delete: the Rollout goes (children are garbage-collected); twice is fine.
    rollouts.delete_rollout(project, deployment)
    rollouts.delete_rollout(project, deployment)
    with pytest.raises(NotFound):
        observe.rollout_status(project, deployment)
    namespaces.delete_namespace(project)


def test_validate_manifest_reports_every_offending_field(backend: None) -> None:
    project, deployment = new_id(), new_id()
    namespaces.ensure_namespace(project, new_id(), "carol", "Carol")

    def problems(value: Any, failure: str = "Failed to create record.") -> str:
        with pytest.raises(Invalid) as caught:
            rollouts.validate_manifest(project, deployment, value, failure)
        assert caught.value.message == failure
        field = caught.value.data["manifest"]
        assert field["code"] == "validation_invalid_manifest"
        return str(field["message"])

    assert "must be a JSON object" in problems(["not", "an", "object"])
    wrong = manifest()
    wrong["apiVersion"], wrong["kind"] = "apps/v1", "Deployment"
    message = problems(wrong, "Failed to update record.")
    assert "apiVersion:" in message and "kind:" in message

    broken = manifest()
    del broken["spec"]["image"]["tag"]
    broken["spec"]["horizontalScale"]["minReplicas"] = "one"
    broken["spec"]["horizontalScale"]["maxReplicas"] = 2**40
    del broken["spec"]["serviceAccountName"]
    message = problems(broken)
    assert (
        "spec.horizontalScale.maxReplicas: Checked value must be of type integer with "
        "format int32" in message
    )
    assert "spec.image.tag: Required value" in message
    assert "spec.horizontalScale.minReplicas:" in message
    assert "spec.serviceAccountName: Required value" in message

    assert "spec: Required value" in problems(
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout"}
    )

    privileged = manifest(
        securityContext={
            "privileged": True,
            "allowPrivilegeEscalation": True,
            "capabilities": {"add": ["NET_ADMIN"]},
        }
    )
    message = problems(privileged)
    assert "spec.securityContext.privileged" in message
    assert "spec.securityContext.allowPrivilegeEscalation" in message
    assert "spec.securityContext.capabilities.add" in message

    message = problems(manifest(serviceAccountName="cluster-admin-sa", nodeSelector={"a": "b"}))
    assert "spec.serviceAccountName" in message and "cluster-admin-sa" in message
    assert "spec.nodeSelector" in message
    assert "spec.tolerations" in problems(
        manifest(tolerations=[{"key": "k", "operator": "Exists"}])
    )

    # A good manifest passes, and validation never applied anything.
    rollouts.validate_manifest(
        project, deployment, manifest(securityContext={"runAsNonRoot": True})
    )
    with pytest.raises(NotFound):
        rollouts.get_rollout(project, deployment)
    # apply_rollout re-checks the policy (no call needed) so nothing skips it.
    with pytest.raises(Invalid):
        rollouts.apply_rollout(project, deployment, new_id(), privileged)
    namespaces.delete_namespace(project)


def test_concurrent_applies_all_land(backend: None, admin: client.ApiClient) -> None:
    """Racing writers (two clicks, a tick) never fail on create/replace races."""
    project, deployment = new_id(), new_id()
    namespaces.ensure_namespace(project, new_id(), "frank", "Frank")
    ids = [new_id() for _ in range(6)]
    errors: list[BaseException] = []

    def apply(rollout_id: str) -> None:
        try:
            rollouts.apply_rollout(project, deployment, rollout_id, manifest(rollout_id[-4:]))
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=apply, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    obj = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        GROUP, VERSION, project, PLURAL, deployment
    )
    winner = obj["metadata"]["labels"]["one-click.dev/rolloutId"]
    assert winner in ids and obj["spec"]["image"]["tag"] == winner[-4:]
    namespaces.delete_namespace(project)


def test_policy_follows_settings(backend: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_PRIVILEGED", "true")
    monkeypatch.setenv("ALLOWED_SERVICE_ACCOUNTS", "one-click,builder")
    settings_module.get_settings.cache_clear()
    project, deployment = new_id(), new_id()
    namespaces.ensure_namespace(project, new_id(), "dave", "Dave")
    rollouts.validate_manifest(
        project,
        deployment,
        manifest(securityContext={"privileged": True}, serviceAccountName="builder"),
    )
    namespaces.delete_namespace(project)


# ---------------------------------------------------------------------------- workloads


def test_delete_pod_and_job_only_with_the_project_label(
    backend: None, admin: client.ApiClient
) -> None:
    project = new_id()
    namespaces.ensure_namespace(project, new_id(), "erin", "Erin")
    core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)
    ours = {"one-click.dev/projectId": project}

    core.create_namespaced_pod(project, bare_pod("mine", ours))
    core.create_namespaced_pod(project, bare_pod("unlabelled", {}))
    core.create_namespaced_pod(project, bare_pod("other-project", {"one-click.dev/projectId": "x"}))
    foreign = new_id()
    foreign_namespace(admin, foreign)
    core.create_namespaced_pod(foreign, bare_pod("victim", {}))

    workloads.delete_pod(project, "mine")
    wait_for(
        "the pod to go",
        lambda: not any(p.metadata.name == "mine" for p in core.list_namespaced_pod(project).items),
    )
    for name in ("unlabelled", "other-project", "no-such-pod", "../x", "a/b"):
        with pytest.raises(NotFound):
            workloads.delete_pod(project, name)
    with pytest.raises(NotFound):
        workloads.delete_pod(foreign, "victim")  # a namespace that is not a One-Click project
    with pytest.raises(NotFound):
        workloads.delete_pod("kube-system", "kube-apiserver")
    assert core.read_namespaced_pod("unlabelled", project).metadata.name == "unlabelled"

    def job(name: str, labels: dict[str, str]) -> client.V1Job:
        return client.V1Job(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1JobSpec(
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        restart_policy="Never",
                        containers=[client.V1Container(name="job", image="busybox")],
                    ),
                )
            ),
        )

    batch.create_namespaced_job(project, job("cleanup", ours))
    batch.create_namespaced_job(project, job("strange", {}))
    wait_for(
        "the job's pod",
        lambda: core.list_namespaced_pod(project, label_selector="job-name=cleanup").items,
    )
    workloads.delete_job(project, "cleanup")

    def job_gone() -> bool:
        jobs = batch.list_namespaced_job(project).items
        pods = core.list_namespaced_pod(project, label_selector="job-name=cleanup").items
        return not any(j.metadata.name == "cleanup" for j in jobs) and not pods

    wait_for("the job and its pods to go", job_gone)
    with pytest.raises(NotFound):
        workloads.delete_job(project, "strange")
    with pytest.raises(NotFound):
        workloads.delete_job(project, "cleanup")
    with pytest.raises(NotFound):
        workloads.delete_job("kube-system", "anything")
    assert batch.read_namespaced_job("strange", project).metadata.name == "strange"
    namespaces.delete_namespace(project)


# ---------------------------------------------------------------------------- cluster


def test_cluster_info_lists_storage_and_ingress_classes(
    backend: None, admin: client.ApiClient
) -> None:
    storage_class, ingress_class = new_id(), new_id()
    client.StorageV1Api(admin).create_storage_class(
        client.V1StorageClass(
            metadata=client.V1ObjectMeta(name=storage_class), provisioner="example.com/none"
        )
    )
    client.NetworkingV1Api(admin).create_ingress_class(
        client.V1IngressClass(
            metadata=client.V1ObjectMeta(name=ingress_class),
            spec=client.V1IngressClassSpec(controller="example.com/none"),
        )
    )
    try:
        info = observe.cluster_info()
        assert set(info) == {"storageClasses", "ingressClasses"}
        assert storage_class in info["storageClasses"]
        assert ingress_class in info["ingressClasses"]
    finally:
        client.StorageV1Api(admin).delete_storage_class(storage_class)
        client.NetworkingV1Api(admin).delete_ingress_class(ingress_class)


def test_the_control_plane_binds_volumes_of_its_default_class(
    backend: None, admin: client.ApiClient
) -> None:
    """What the frontend's volume form needs: classes to offer, and claims that get bound."""
    info = observe.cluster_info()
    assert "standard" in info["storageClasses"] and "nginx" in info["ingressClasses"]
    project, deployment = new_id(), new_id()
    namespaces.ensure_namespace(project, new_id(), "alice", "Alice")
    volume = {"name": "data", "mountPath": "/data", "size": "2Gi", "storageClass": "standard"}
    rollouts.apply_rollout(project, deployment, new_id(), manifest(volumes=[volume]))
    core = client.CoreV1Api(admin)
    claim_name = f"data-{deployment}"

    def bound_claim() -> client.V1PersistentVolumeClaim | None:
        claim = core.read_namespaced_persistent_volume_claim(claim_name, project)
        return claim if claim.status.phase == "Bound" else None

    claim = wait_for("the rollout's claim to be Bound", bound_claim)
    pv = core.read_persistent_volume(claim.spec.volume_name)
    assert pv.spec.capacity["storage"] == "2Gi" and pv.spec.storage_class_name == "standard"
    assert pv.spec.claim_ref.uid == claim.metadata.uid

    def status_volume_bound() -> list[dict[str, str]] | None:
        volumes = observe.rollout_status(project, deployment).get("volumes")
        return volumes if volumes == [{"name": claim_name, "status": "Bound"}] else None

    wait_for("the operator's status to show the volume Bound", status_volume_bound)
    # The claim goes with its Rollout; the provisioner then removes the released volume.
    rollouts.delete_rollout(project, deployment)

    def volume_gone() -> bool:
        names = {v.metadata.name for v in core.list_persistent_volume().items}
        return pv.metadata.name not in names

    wait_for("the released volume to be deleted", volume_gone)
    namespaces.delete_namespace(project)


def test_missing_permission_is_a_503_without_details(backend: None) -> None:
    # The role cannot read Secrets in kube-system; the answer does not say what was tried.
    with pytest.raises(ServiceUnavailable) as denied:
        connection.request("GET", "/api/v1/namespaces/kube-system/secrets/anything")
    assert "lacks a permission" in denied.value.message
    assert "kube-system" not in denied.value.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_cluster_is_a_quick_503(
    control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kubeconfig = yaml.safe_load(control_plane.kubeconfig_for("one-click-backend").read_text())
    for cluster in kubeconfig["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{_closed_port()}"
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    use_kubeconfig(monkeypatch, path)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as down:
        observe.cluster_info()
    assert time.monotonic() - started < 5
    assert "not reachable" in down.value.message
    connection.reset()


def test_no_cluster_configured_is_a_503(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCAL", "false")
    monkeypatch.delenv("KUBECONFIG_SSM_PARAMETER", raising=False)
    monkeypatch.delenv("KUBECONFIG_SECRET_ID", raising=False)
    settings_module.get_settings.cache_clear()
    connection.reset()
    with pytest.raises(ServiceUnavailable) as missing:
        observe.cluster_info()
    assert "No Kubernetes cluster is configured" in missing.value.message

    use_kubeconfig(monkeypatch, tmp_path / "missing.kubeconfig")
    with pytest.raises(ServiceUnavailable) as missing:
        observe.cluster_info()
    assert "No Kubernetes cluster is configured" in missing.value.message

    garbage = tmp_path / "garbage.kubeconfig"
    garbage.write_text("clusters: [this is: not a kubeconfig")
    use_kubeconfig(monkeypatch, garbage)
    with pytest.raises(ServiceUnavailable) as unreadable:
        observe.cluster_info()
    assert "could not be loaded" in unreadable.value.message
    settings_module.get_settings.cache_clear()
    connection.reset()


class _Flaky(http.server.BaseHTTPRequestHandler):
    """An HTTP endpoint that is overloaded twice (503 + Retry-After), then answers."""

    answers: list[tuple[int, dict[str, str], bytes]] = []
    seen: list[float] = []

    def do_GET(self) -> None:
        _Flaky.seen.append(time.monotonic())
        status, headers, body = _Flaky.answers.pop(0) if _Flaky.answers else (200, {}, b"{}")
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_retries_honour_retry_after_then_give_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The retry helper itself, against a plain HTTP endpoint that misbehaves on cue."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        path = tmp_path / "flaky.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        use_kubeconfig(monkeypatch, path)
        busy = (503, {"Retry-After": "1"}, b'{"kind":"Status","code":503}')
        _Flaky.answers[:] = [busy, (429, {}, b"{}"), (200, {}, b'{"items":[]}')]
        _Flaky.seen[:] = []
        assert observe.deployment_events("ns", "dep") == {"events": []}
        assert len(_Flaky.seen) == 3
        assert _Flaky.seen[1] - _Flaky.seen[0] >= 0.95  # Retry-After: 1 was honoured

        _Flaky.answers[:] = [(500, {}, b"{}")] * 5
        _Flaky.seen[:] = []
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as gave_up:
            observe.deployment_events("ns", "dep")
        assert len(_Flaky.seen) == 3 and time.monotonic() - started < 5
        assert "not answering properly" in gave_up.value.message

        _Flaky.answers[:] = [(404, {}, b'{"kind":"Status","code":404}')]
        with pytest.raises(NotFound):
            observe.rollout_status("ns", "dep")
    finally:
        server.shutdown()
        server.server_close()
        settings_module.get_settings.cache_clear()
        connection.reset()


@pytest.mark.parametrize("source", ["ssm", "secretsmanager"])
def test_kubeconfig_from_aws(
    source: str, control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS the kubeconfig text comes from an SSM SecureString or a Secrets Manager secret
    (moto stands in for AWS; the cluster is the real control plane)."""
    from moto import mock_aws

    text = control_plane.kubeconfig_for("one-click-backend").read_text()
    with mock_aws():
        import boto3

        monkeypatch.setenv("LOCAL", "false")
        monkeypatch.delenv("KUBECONFIG_SSM_PARAMETER", raising=False)
        monkeypatch.delenv("KUBECONFIG_SECRET_ID", raising=False)
        if source == "ssm":
            boto3.client("ssm", region_name="us-east-1").put_parameter(
                Name="/one-click/kubeconfig", Value=text, Type="SecureString"
            )
            monkeypatch.setenv("KUBECONFIG_SSM_PARAMETER", "/one-click/kubeconfig")
        else:
            boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="one-click-kubeconfig", SecretString=text
            )
            monkeypatch.setenv("KUBECONFIG_SECRET_ID", "one-click-kubeconfig")
        settings_module.get_settings.cache_clear()
        connection.reset()
        try:
            assert set(observe.cluster_info()) == {"storageClasses", "ingressClasses"}
        finally:
            settings_module.get_settings.cache_clear()
            connection.reset()

    # A parameter that does not exist: a 503 that names no secret.
    with mock_aws():
        monkeypatch.setenv("LOCAL", "false")
        monkeypatch.delenv("KUBECONFIG_SECRET_ID", raising=False)
        monkeypatch.setenv("KUBECONFIG_SSM_PARAMETER", "/missing")
        settings_module.get_settings.cache_clear()
        connection.reset()
        try:
            with pytest.raises(ServiceUnavailable) as missing:
                observe.cluster_info()
            assert "could not be loaded" in missing.value.message
        finally:
            settings_module.get_settings.cache_clear()
            connection.reset()
