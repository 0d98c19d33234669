"""Deleting a tenant's pod (restart) or job: only objects labelled with the project.

The original deleted whatever name it was given in whatever namespace the URL said,
``kube-system`` included. Here the object must exist in the project's namespace *and*
carry ``one-click.dev/projectId=<project>``; otherwise the answer is NotFound, so no route
can reach into a namespace that is not a One-Click project. Deletes carry the uid that was
checked, so an object recreated in between under the same name is not hit.
"""

from __future__ import annotations

from typing import Any

from chalicelib.cluster.connection import KubeError, guarded, path, request
from chalicelib.cluster.names import PROJECT_LABEL, require_namespace, require_object_name
from chalicelib.cluster.observe import project_object
from chalicelib.errors import Conflict


def _delete_options(obj: dict[str, Any], propagation: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    uid = (obj.get("metadata") or {}).get("uid")
    if uid:
        options["preconditions"] = {"uid": uid}
    if propagation:
        options["propagationPolicy"] = propagation
    return options


def _delete(url: str, options: dict[str, Any]) -> None:
    try:
        request("DELETE", url, body=options)
    except KubeError as err:
        if err.status == 404:  # gone meanwhile: the caller's wish is fulfilled
            return
        if err.status == 409:  # precondition failed: a different object now has the name
            raise Conflict() from None
        raise


@guarded("deleting a pod")
def delete_pod(project_id: str, pod_name: str) -> None:
    """Delete one of the project's pods (its controller starts a fresh one)."""
    require_namespace(project_id)
    require_object_name(pod_name)
    url = path("api", "v1", "namespaces", project_id, "pods", pod_name)
    pod = project_object(project_id, url)
    _delete(url, _delete_options(pod))


@guarded("deleting a job")
def delete_job(project_id: str, job_name: str) -> None:
    """Delete one of the project's jobs and its pods, like the original: the pods first
    (``job-name=<job>``, narrowed to the project's label), then the Job in the foreground."""
    require_namespace(project_id)
    require_object_name(job_name)
    url = path("apis", "batch", "v1", "namespaces", project_id, "jobs", job_name)
    job = project_object(project_id, url)
    request(
        "DELETE",
        path("api", "v1", "namespaces", project_id, "pods"),
        query={"labelSelector": f"job-name={job_name},{PROJECT_LABEL}={project_id}"},
        body={"apiVersion": "v1", "kind": "DeleteOptions"},
    )
    _delete(url, _delete_options(job, "Foreground"))
