"""Long-lived reads for the live streams: list-then-watch of a resource and a followed pod log.

Each open stream is a :class:`Feed` whose ``close()`` may be called from another thread, so a
worker whose window ends never waits for a quiet watch or log to produce a byte. Watches
ask the apiserver to end them at the window's end (``timeoutSeconds``) and carry bookmarks,
so a resume point stays fresh even when nothing changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.cluster.connection import KubeError, guarded, path, request
from chalicelib.cluster.names import DEPLOYMENT_LABEL, PROJECT_LABEL
from chalicelib.cluster.observe import read_pod_log

log = logging.getLogger(__name__)

READ_CHUNK = 16 * 1024
STREAM_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Resource:
    """One kind the resource map watches: its short name (the original's ``kind`` field)
    and its collection URL, namespaced or cluster-wide."""

    kind: str
    prefix: tuple[str, ...]
    plural: str
    namespaced: bool = True

    def url(self, namespace: str) -> str:
        if self.namespaced:
            return path(*self.prefix, "namespaces", namespace, self.plural)
        return path(*self.prefix, self.plural)


MAP_RESOURCES = (
    Resource("cronjob", ("apis", "batch", "v1"), "cronjobs"),
    Resource("job", ("apis", "batch", "v1"), "jobs"),
    Resource("pod", ("api", "v1"), "pods"),
    Resource("service", ("api", "v1"), "services"),
    Resource("ingress", ("apis", "networking.k8s.io", "v1"), "ingresses"),
    Resource("configmap", ("api", "v1"), "configmaps"),
    Resource("secret", ("api", "v1"), "secrets"),
    Resource("pvc", ("api", "v1"), "persistentvolumeclaims"),
    Resource("pv", ("api", "v1"), "persistentvolumes", namespaced=False),
    Resource("sa", ("api", "v1"), "serviceaccounts"),
)
EVENTS = Resource("event", ("api", "v1"), "events")


class Expired(Exception):
    """The resume point is older than the apiserver keeps (410 Gone): list again."""


class Feed:
    """An open streaming response, read line by line; closable from any thread."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.closed = False

    def lines(self) -> Iterator[bytes]:
        buffer = b""
        try:
            for chunk in self._response.stream(READ_CHUNK, decode_content=True):
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                yield from complete
        except Exception:  # noqa: BLE001 - a closed or broken stream simply ends
            if not self.closed:
                log.info("a cluster stream ended early", exc_info=True)
        if buffer and not self.closed:
            yield buffer

    def close(self) -> None:
        self.closed = True
        try:
            self._response.shutdown()
            self._response.release_conn()
        except Exception:  # noqa: BLE001 - closing must never fail the worker
            log.debug("closing a cluster stream failed", exc_info=True)


def map_selector(project_id: str, deployment_id: str) -> str:
    """The original's selector: a deployment's objects, or else the whole project's."""
    if deployment_id:
        return f"{DEPLOYMENT_LABEL}={deployment_id}"
    return f"{PROJECT_LABEL}={project_id}"


@guarded("listing objects for a stream")
def list_objects(url: str, selector: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """The current objects and the resourceVersion to watch from."""
    answer = request("GET", url, query=selector)
    items = [i for i in answer.get("items") or [] if isinstance(i, dict)]
    return items, str((answer.get("metadata") or {}).get("resourceVersion") or "")


@guarded("watching objects for a stream")
def open_watch(
    url: str, selector: dict[str, str], resource_version: str, timeout_seconds: int
) -> Feed:
    """A watch from ``resource_version`` that the apiserver ends after ``timeout_seconds``;
    raises Expired when that version is too old."""
    query = {
        **selector,
        "watch": "true",
        "allowWatchBookmarks": "true",
        "resourceVersion": resource_version,
        "timeoutSeconds": str(max(1, timeout_seconds)),
    }
    try:
        timeout = timeout_seconds + STREAM_GRACE_SECONDS
        response = request("GET", url, query=query, stream=True, read_timeout=timeout)
    except KubeError as err:
        if err.status == 410:
            raise Expired() from None
        raise
    return Feed(response)


def watch_events(feed: Feed) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(type, object)`` per watch event (BOOKMARK included); raises Expired on 410."""
    for line in feed.lines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("an unreadable watch event was skipped")
            continue
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            continue
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Expired()
            log.warning("watch error %s: %s", obj.get("code"), obj.get("reason"))
            return
        yield str(kind), obj


@guarded("following a pod log")
def open_pod_log(
    project_id: str,
    pod_name: str,
    container: str | None,
    tail_lines: int | None,
    since_time: str | None,
    read_timeout: float,
) -> Feed:
    """A followed log with timestamps (the resume point), of a pod that carries the
    project's label; NotFound for any other pod."""
    query: list[tuple[str, Any]] = [("follow", "true"), ("timestamps", "true")]
    if tail_lines is not None:
        query.append(("tailLines", int(tail_lines)))
    if since_time:
        query.append(("sinceTime", since_time))
    response = read_pod_log(
        project_id, pod_name, container, query, stream=True, read_timeout=read_timeout
    )
    return Feed(response)
