"""The custom ``/pb`` cluster routes, owner-checked (reference §2.2 had no checks at all):
the project must be the caller's and the deployment must belong to it, else 404; pods
and jobs must carry the project's label (checked by the cluster adapter).

``/status`` and ``/events`` also take a rollout id: the frontend's rollout drawer
(``RolloutsTable.svelte``) sends the running rollout's id, which the original used as a
resource name (status: 400, events: always empty), so the drawer never showed anything.
A rollout of the caller's in that project answers for its deployment."""

from __future__ import annotations

from typing import Any

from chalicelib.cluster import observe, workloads
from chalicelib.errors import BadRequest, NotFound, Unauthorized
from chalicelib.records import service
from chalicelib.records.access import Viewer
from chalicelib.records.schema import DEPLOYMENTS, PROJECTS, ROLLOUTS
from chalicelib.records.store import Record


def owned_project(project_id: str, viewer: Viewer) -> Record:
    if not viewer.authenticated:
        raise Unauthorized()
    return service.owned_record(PROJECTS, project_id, viewer)


def owned_deployment(project_id: str, deployment_id: str, viewer: Viewer) -> Record:
    owned_project(project_id, viewer)
    deployment = service.owned_record(DEPLOYMENTS, deployment_id, viewer)
    if deployment["project"] != project_id:
        raise NotFound()
    return deployment


def deployment_of(project_id: str, deployment_or_rollout_id: str, viewer: Viewer) -> str:
    """The id of the caller's deployment in that project named by its own id or by the id
    of one of its rollouts (the caller's, in that project); 404 for anything else. A
    rollout's deployment is in the rollout's project: both are checked when it is written
    and neither can move."""
    owned_project(project_id, viewer)
    try:
        deployment = service.owned_record(DEPLOYMENTS, deployment_or_rollout_id, viewer)
        project, found = deployment["project"], deployment["id"]
    except NotFound:
        rollout = service.owned_record(ROLLOUTS, deployment_or_rollout_id, viewer)
        project, found = rollout["project"], rollout["deployment"]
    if project != project_id:
        raise NotFound()
    return str(found)


def status(project_id: str, name: str, viewer: Viewer) -> dict[str, Any]:
    return observe.rollout_status(project_id, deployment_of(project_id, name, viewer))


def metrics(project_id: str, deployment_id: str, viewer: Viewer) -> dict[str, Any]:
    owned_deployment(project_id, deployment_id, viewer)
    return observe.deployment_metrics(project_id, deployment_id)


def events(project_id: str, name: str, viewer: Viewer) -> dict[str, Any]:
    return observe.deployment_events(project_id, deployment_of(project_id, name, viewer))


def logs(project_id: str, pod_name: str, query: dict[str, str], viewer: Viewer) -> str:
    owned_project(project_id, viewer)
    return observe.pod_logs(
        project_id,
        pod_name,
        tail_lines=_positive(query, "tailLines"),
        since_seconds=_positive(query, "sinceSeconds"),
        container=query.get("container") or None,
    )


def cluster_info(viewer: Viewer) -> dict[str, Any]:
    if not viewer.authenticated:
        raise Unauthorized()
    return observe.cluster_info()


def delete_pod(project_id: str, pod_name: str, viewer: Viewer) -> str:
    owned_project(project_id, viewer)
    workloads.delete_pod(project_id, pod_name)
    return "Pod deleted"


def delete_job(project_id: str, job_name: str, viewer: Viewer) -> str:
    owned_project(project_id, viewer)
    workloads.delete_job(project_id, job_name)
    return "Job deleted"


def _positive(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) == 0:
        raise BadRequest(f"{name} must be a positive whole number.")
    return int(raw)
