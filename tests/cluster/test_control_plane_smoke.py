"""Smoke test of the real control plane: the whole path the backend relies on.

A project namespace, a Rollout for nginx, the operator's Deployment, a pod that
kwok runs, its log, its events, its metrics through metrics.k8s.io, and garbage
collection when the Rollout goes. The backend-side calls run as the
least-privilege user bound to infra/rbac/one-click-backend.yaml, so the test also
proves that role is enough; checks of what the operator/controllers did run as admin.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from waiting import wait_for

from chalicelib.local.control_plane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # first use may build

GROUP, VERSION, PLURAL = "one-click.dev", "v1alpha1", "rollouts"


def api_client(kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


def rollout(name: str, namespace: str) -> dict[str, Any]:
    """A Rollout as the backend applies it (manifest of a blueprint + our metadata)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "one-click.dev/projectId": namespace,
                "one-click.dev/deploymentId": name,
                "one-click.dev/rolloutId": "r" + uuid.uuid4().hex[:14],
            },
        },
        "spec": {
            "image": {"registry": "docker.io", "repository": "library/nginx", "tag": "1.27"},
            "horizontalScale": {
                "minReplicas": 1,
                "maxReplicas": 3,
                "targetCPUUtilizationPercentage": 80,
            },
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "200m", "memory": "256Mi"},
            },
            "env": [{"name": "MODE", "value": "smoke"}],
            "secrets": [{"name": "API_KEY", "value": "s3cr3t"}],
            "interfaces": [{"name": "http", "port": 80}],
            "serviceAccountName": "one-click",
        },
    }


def test_rollout_end_to_end(control_plane: ControlPlane) -> None:
    admin = api_client(str(control_plane.kubeconfig))
    backend = api_client(str(control_plane.kubeconfig_for("one-click-backend")))
    core_b, custom_b = client.CoreV1Api(backend), client.CustomObjectsApi(backend)
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    custom = client.CustomObjectsApi(admin)

    project = "p" + uuid.uuid4().hex[:14]
    name = "d" + uuid.uuid4().hex[:14]
    selector = f"one-click.dev/deploymentId={name}"

    # 1. The project namespace, with the backend's own identity.
    core_b.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=project, labels={"one-click.dev/projectId": project})
        )
    )

    # 2. Apply the Rollout; the operator creates the Deployment it owns.
    created = custom_b.create_namespaced_custom_object(
        GROUP, VERSION, project, PLURAL, rollout(name, project)
    )
    uid = created["metadata"]["uid"]
    deployment = wait_for(
        "the operator's Deployment", lambda: apps.read_namespaced_deployment(name, project)
    )
    owners = deployment.metadata.owner_references or []
    assert [(o.kind, o.uid, o.controller) for o in owners] == [("Rollout", uid, True)]
    container = deployment.spec.template.spec.containers[0]
    assert container.image == "docker.io/library/nginx:1.27"
    assert container.env_from[0].secret_ref.name == f"{name}-secrets"
    # The operator makes the Service after the Deployment: wait for it too.
    service = wait_for(
        "the operator's Service",
        lambda: core.read_namespaced_service(f"http-{name}-svc", project),
    )
    assert service.spec.ports[0].port == 80

    # 3. A pod is scheduled onto the kwok node and reaches Running.
    def running_pod() -> client.V1Pod | None:
        pods = core_b.list_namespaced_pod(project, label_selector=selector).items
        return next((p for p in pods if p.status.phase == "Running"), None)

    pod = wait_for("a Running pod", running_pod)
    assert pod.spec.node_name == "kwok-node-0"
    pod_name = pod.metadata.name

    # 4. Its log (kwok's log emulation streams control_plane.pod_log_file).
    log = wait_for(
        "the pod log",
        lambda: core_b.read_namespaced_pod_log(pod_name, project, container=name),
    )
    assert "nginx" in log

    # 5. Its events and the Rollout's events.
    def events() -> list[client.CoreV1Event] | None:
        items = core_b.list_namespaced_event(project).items
        kinds = {(e.involved_object.kind, e.reason) for e in items}
        if ("Pod", "Scheduled") in kinds and ("Rollout", "Created") in kinds:
            return items
        return None

    items = wait_for("Scheduled and Created events", events)
    pod_events = [e for e in items if e.involved_object.name == pod_name]
    assert any(e.reason == "Scheduled" for e in pod_events)

    # 6. Its metrics through the aggregated metrics.k8s.io API.
    metrics = wait_for(
        "pod metrics",
        lambda: custom_b.get_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", project, "pods", pod_name
        ),
    )
    usage = metrics["containers"][0]["usage"]
    assert metrics["containers"][0]["name"] == name
    assert usage["memory"].endswith("Ki") and int(usage["memory"][:-2]) > 0
    assert usage["cpu"].endswith("n")

    # 7. The operator wrote a real status.
    def status() -> dict[str, Any] | None:
        obj = custom_b.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, name)
        dep = obj.get("status", {}).get("deployment", {})
        return (
            obj["status"]
            if pod_name in dep.get("podNames", []) and dep.get("status") == "OK"
            else None
        )

    st = wait_for("Rollout status with the pod", status)
    assert st["deployment"]["resources"]["requestSum"] == {"cpu": "0.100", "memory": "134217728"}
    assert st["services"] == [{"name": f"http-{name}-svc", "ports": [80], "status": "OK"}]

    # 8. Deleting the Rollout garbage-collects every child, pods included.
    custom_b.delete_namespaced_custom_object(GROUP, VERSION, project, PLURAL, name)

    def all_gone() -> bool:
        left = []
        if apps.list_namespaced_deployment(project, label_selector=selector).items:
            left.append("deployment")
        if apps.list_namespaced_replica_set(project, label_selector=selector).items:
            left.append("replicaset")
        if core.list_namespaced_pod(project, label_selector=selector).items:
            left.append("pod")
        if core.list_namespaced_service(project, label_selector=selector).items:
            left.append("service")
        if core.list_namespaced_secret(project, label_selector=selector).items:
            left.append("secret")
        hpas = client.AutoscalingV2Api(admin).list_namespaced_horizontal_pod_autoscaler(project)
        if hpas.items:
            left.append("hpa")
        return not left

    wait_for("garbage collection of the Rollout's children", all_gone, timeout=90)
    with pytest.raises(ApiException) as gone:
        custom.get_namespaced_custom_object(GROUP, VERSION, project, PLURAL, name)
    assert gone.value.status == 404

    # The project namespace can be removed by the backend too.
    core_b.delete_namespace(project)


def test_backend_role_is_least_privilege(control_plane: ControlPlane) -> None:
    """The backend's role cannot do what it never needs (read Secrets' data, touch RBAC)."""
    backend = api_client(str(control_plane.kubeconfig_for("one-click-backend")))
    core = client.CoreV1Api(backend)
    with pytest.raises(ApiException) as denied:
        core.read_namespaced_secret("anything", "default")
    assert denied.value.status == 403
    for namespace in ("kube-system", "default"):
        with pytest.raises(ApiException) as denied:
            core.list_namespaced_secret(namespace)
        assert denied.value.status == 403
    with pytest.raises(ApiException) as denied:
        core.list_secret_for_all_namespaces()
    assert denied.value.status == 403
    with pytest.raises(ApiException) as denied:
        client.RbacAuthorizationV1Api(backend).list_cluster_role()
    assert denied.value.status == 403
    with pytest.raises(ApiException) as denied:
        client.AppsV1Api(backend).list_namespaced_deployment("default")
    assert denied.value.status == 403
