"""Read-only views of a deployment for the /pb routes: status, metrics, events, logs, and
what the cluster offers (cluster-info). JSON shapes are the original's (upstream §2.2)."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.cluster.connection import KubeError, guarded, path, request
from chalicelib.cluster.names import (
    DEPLOYMENT_LABEL,
    carries_project,
    is_dns_label,
    require_namespace,
    require_object_name,
)
from chalicelib.cluster.quantity import QuantityError, as_dec_string
from chalicelib.cluster.rollouts import get_rollout
from chalicelib.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

LOG_LIMIT_BYTES = 1024 * 1024
LOG_READ_TIMEOUT_SECONDS = 15.0


# ---------------------------------------------------------------------------- status


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any] | None:
    """A Go slice: a list stays a list (even empty), anything else is nil."""
    return list(value) if isinstance(value, list) else None


def _cpu_memory(value: Any) -> dict[str, str]:
    value = value if isinstance(value, dict) else {}
    return {"cpu": _text(value.get("cpu")), "memory": _text(value.get("memory"))}


def _deployment(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    resources = value.get("resources") if isinstance(value.get("resources"), dict) else {}
    replicas = value.get("replicas")
    return {
        "replicas": replicas if isinstance(replicas, int) else 0,
        "podNames": _list(value.get("podNames")),
        "resources": {
            "requestSum": _cpu_memory(resources.get("requestSum")),
            "limitSum": _cpu_memory(resources.get("limitSum")),
        },
        "status": _text(value.get("status")),
    }


def _entries(value: Any, shape: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for item in value if isinstance(value, list) else []:
        item = item if isinstance(item, dict) else {}
        out.append(
            {
                key: _list(item.get(key)) if kind == "list" else _text(item.get(key))
                for key, kind in shape.items()
            }
        )
    return out


def rollout_status(project_id: str, deployment_id: str) -> dict[str, Any]:
    """The operator's status of the deployment's Rollout, as the original's Go struct
    serialises it; NotFound when there is no Rollout or the operator wrote no status yet."""
    obj = get_rollout(project_id, deployment_id)
    status = obj.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("deployment"), dict):
        raise NotFound()
    answer: dict[str, Any] = {"deployment": _deployment(status["deployment"])}
    sections = {
        "services": {"name": "text", "ports": "list", "status": "text"},
        "ingresses": {"name": "text", "hosts": "list", "status": "text"},
        "volumes": {"name": "text", "status": "text"},
    }
    for key, shape in sections.items():
        entries = _entries(status.get(key), shape)
        if entries:
            answer[key] = entries
    return answer


# ---------------------------------------------------------------------------- metrics


def _pods(project_id: str, label_selector: str) -> list[dict[str, Any]]:
    answer = request(
        "GET",
        path("api", "v1", "namespaces", project_id, "pods"),
        query={"labelSelector": label_selector},
    )
    return [p for p in answer.get("items") or [] if isinstance(p, dict)]


@guarded("reading deployment metrics")
def deployment_metrics(project_id: str, deployment_id: str) -> dict[str, Any]:
    """Usage of the deployment's pods (first container, like the original) in cores and bytes.

    Two calls whatever the pod count: the pods, then the PodMetrics with the same selector
    (the original made one call per pod). A pod metrics-server has no sample for yet is
    left out instead of failing the whole answer; no pods at all is ``null`` as before.
    """
    require_namespace(project_id)
    require_object_name(deployment_id)
    selector = f"{DEPLOYMENT_LABEL}={deployment_id}"
    pods = _pods(project_id, selector)
    if not pods:
        return {"metrics": None}
    try:
        answer = request(
            "GET",
            path("apis", "metrics.k8s.io", "v1beta1", "namespaces", project_id, "pods"),
            query={"labelSelector": selector},
        )
    except KubeError as err:
        if err.status != 404:
            raise
        answer = {}
    usage_by_pod: dict[str, dict[str, Any]] = {}
    for item in answer.get("items") or []:
        name = (item.get("metadata") or {}).get("name")
        containers = item.get("containers") or []
        if name and containers and isinstance(containers[0], dict):
            usage_by_pod[name] = containers[0].get("usage") or {}
    metrics = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        usage = usage_by_pod.get(name)
        if usage is None:
            continue
        try:
            metrics.append(
                {
                    "name": name,
                    "cpu": as_dec_string(usage.get("cpu") or "0"),
                    "memory": as_dec_string(usage.get("memory") or "0"),
                }
            )
        except QuantityError:
            log.warning("pod %s has an unreadable metrics quantity; skipped", name)
    return {"metrics": metrics}


# ---------------------------------------------------------------------------- events


@guarded("reading deployment events")
def deployment_events(project_id: str, deployment_id: str) -> dict[str, Any]:
    """Events of every object named like the deployment (Rollout, Deployment, HPA), in
    API order, as ``{"reason", "message", "typus"}``."""
    require_namespace(project_id)
    require_object_name(deployment_id)
    answer = request(
        "GET",
        path("api", "v1", "namespaces", project_id, "events"),
        query={"fieldSelector": f"involvedObject.name={deployment_id}"},
    )
    events = []
    for item in answer.get("items") or []:
        events.append(
            {
                "reason": _text(item.get("reason")),
                "message": _text(item.get("message")),
                "typus": _text(item.get("type")),
            }
        )
    return {"events": events}


# ---------------------------------------------------------------------------- logs


def project_object(project_id: str, url: str) -> dict[str, Any]:
    """GET an object and prove it belongs to the project (label), else NotFound."""
    try:
        obj = request("GET", url)
    except KubeError as err:
        if err.status == 404:
            raise NotFound() from None
        raise
    if not carries_project(obj, project_id):
        raise NotFound()
    return dict(obj)


def read_pod_log(
    project_id: str,
    pod_name: str,
    container: str | None,
    query: list[tuple[str, Any]],
    **options: Any,
) -> Any:
    """GET a pod's log (``options`` go to ``request``: text, or an open stream), for pods
    labelled with the project only; what Kubernetes refuses becomes our 404 or 400."""
    require_namespace(project_id)
    require_object_name(pod_name)
    pod_url = path("api", "v1", "namespaces", project_id, "pods", pod_name)
    project_object(project_id, pod_url)
    if container:
        if not is_dns_label(container):
            raise BadRequest("container is not a valid container name.")
        query = [*query, ("container", container)]
    try:
        return request("GET", pod_url + "/log", query=query, accept="text/plain, */*", **options)
    except KubeError as err:
        if err.status == 404:
            raise NotFound() from None
        if err.status == 400:
            # e.g. "container x is not valid for pod y", "container is waiting to start"
            raise BadRequest(err.message or "The pod's log cannot be read yet.") from None
        raise


@guarded("reading a pod log")
def pod_logs(
    project_id: str,
    pod_name: str,
    tail_lines: int | None,
    since_seconds: int | None,
    container: str | None,
) -> str:
    """The pod's recent log as text (not following: the logs websocket does that), capped at
    1 MiB. Only pods labelled with the project are readable."""
    query: list[tuple[str, Any]] = [("limitBytes", LOG_LIMIT_BYTES)]
    if tail_lines is not None:
        if tail_lines < 0:
            raise BadRequest("tailLines must not be negative.")
        query.append(("tailLines", int(tail_lines)))
    if since_seconds is not None:
        if since_seconds < 1:
            raise BadRequest("sinceSeconds must be at least 1.")
        query.append(("sinceSeconds", int(since_seconds)))
    text = read_pod_log(
        project_id,
        pod_name,
        container,
        query,
        text=True,
        read_timeout=LOG_READ_TIMEOUT_SECONDS,
    )
    return str(text)


# ---------------------------------------------------------------------------- cluster info


@guarded("reading cluster info")
def cluster_info() -> dict[str, Any]:
    """What the deployment form can offer: StorageClass and IngressClass names."""
    storage = request("GET", path("apis", "storage.k8s.io", "v1", "storageclasses"))
    ingress = request("GET", path("apis", "networking.k8s.io", "v1", "ingressclasses"))
    return {
        "storageClasses": [
            i["metadata"]["name"] for i in storage.get("items") or [] if i.get("metadata")
        ],
        "ingressClasses": [
            i["metadata"]["name"] for i in ingress.get("items") or [] if i.get("metadata")
        ],
    }
