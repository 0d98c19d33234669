"""The project namespace: created on first rollout, relabelled by merge-patch, deleted with
the project.

Unlike the original (an unconditional PUT that wiped every other label, Pod Security ones
included), only our four labels are ever written. A namespace that happens to carry a
project's id but not our ``projectId`` label belongs to someone else: it is never adopted,
relabelled or deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.cluster.connection import MERGE_PATCH, KubeError, guarded, path, request
from chalicelib.cluster.names import (
    DISPLAY_NAME_LABEL,
    PROJECT_LABEL,
    USER_LABEL,
    USERNAME_LABEL,
    carries_project,
    label_value,
    require_namespace,
)
from chalicelib.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)

FOREIGN = (
    "A Kubernetes namespace with this project's id already exists and does not belong to One-Click."
)
TERMINATING = (
    "The project's Kubernetes namespace is still being deleted. Please try again in a moment."
)


def _labels(project_id: str, owner_id: str, username: str, display_name: str) -> dict[str, Any]:
    """Our four labels; None marks one with no valid value (a merge-patch removes it)."""
    return {
        PROJECT_LABEL: project_id,
        USER_LABEL: label_value(owner_id),
        USERNAME_LABEL: label_value(username),
        DISPLAY_NAME_LABEL: label_value(display_name),
    }


@guarded("ensuring a project namespace")
def ensure_namespace(project_id: str, owner_id: str, username: str, display_name: str) -> bool:
    """Create the project's namespace, or bring our labels on the existing one up to date;
    True if this call created it.

    GET first: every rollout calls this and the namespace usually exists, so the common
    case costs one read and no write when the labels are already right.
    """
    try:
        require_namespace(project_id)
    except NotFound:
        raise BadRequest("The project id is not a valid Kubernetes namespace name.") from None
    labels = _labels(project_id, owner_id, username, display_name)
    url = path("api", "v1", "namespaces", project_id)
    for _ in range(3):
        try:
            current = request("GET", url)
        except KubeError as err:
            if err.status != 404:
                raise
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": project_id,
                    "labels": {k: v for k, v in labels.items() if v is not None},
                },
            }
            try:
                request("POST", path("api", "v1", "namespaces"), body=body)
            except KubeError as create_err:
                if create_err.status == 409:  # created concurrently: relabel it instead
                    continue
                raise
            return True
        if not carries_project(current, project_id):
            log.warning("namespace %s exists without our projectId label; not adopting it", url)
            raise Conflict(FOREIGN)
        if (current.get("status") or {}).get("phase") == "Terminating":
            raise Conflict(TERMINATING)
        existing = current.get("metadata", {}).get("labels") or {}
        changes = {k: v for k, v in labels.items() if existing.get(k) != v}
        if not changes:
            return False
        try:
            request(
                "PATCH",
                url,
                body={"metadata": {"labels": changes}},
                content_type=MERGE_PATCH,
            )
        except KubeError as err:
            if err.status == 404:  # deleted meanwhile: create it on the next round
                continue
            raise
        return False
    raise Conflict()


@guarded("deleting a project namespace")
def delete_namespace(project_id: str) -> None:
    """Delete the project's namespace; missing is fine, a foreign one is left alone.

    A foreign namespace (no ``projectId=<id>`` label) is logged and kept, without failing
    the caller: nothing of the project lives there, so the project itself can still go.
    The delete carries the uid we checked, so a namespace recreated between the check and
    the delete is not removed either.
    """
    if not isinstance(project_id, str) or not project_id:
        return
    try:
        require_namespace(project_id)
    except NotFound:  # a name Kubernetes refuses cannot exist
        return
    url = path("api", "v1", "namespaces", project_id)
    try:
        current = request("GET", url)
    except KubeError as err:
        if err.status == 404:
            return
        raise
    if not carries_project(current, project_id):
        log.warning("refusing to delete namespace %s: it lacks %s", project_id, PROJECT_LABEL)
        return
    uid = current.get("metadata", {}).get("uid")
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if uid:
        options["preconditions"] = {"uid": uid}
    try:
        request("DELETE", url, body=options)
    except KubeError as err:
        if err.status in (404, 409):  # already gone, or replaced by a different namespace
            return
        raise
