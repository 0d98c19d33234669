"""What a storm left behind, read from outside the fleet: the shared DynamoDB Local table
(consistent scans, so nothing an index has not caught up with is missed), the cluster (an
admin client on the control plane) and the PocketBase error shape the clients were sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from local_server import Fleet

GROUP, VERSION, PLURAL = "one-click.dev", "v1alpha1", "rollouts"


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain Python values."""
    from boto3.dynamodb.types import TypeDeserializer

    reader = TypeDeserializer()
    return {name: reader.deserialize(value) for name, value in item.items()}


def scan(fleet: Fleet, table: str, **equal: str) -> list[dict[str, Any]]:
    """Every item of the fleet's ``table`` whose attributes equal ``equal``, by a
    consistent Scan of the table itself (test data only)."""
    import boto3

    server = fleet[0]
    client = boto3.client("dynamodb", endpoint_url=server.env["DYNAMODB_ENDPOINT"])
    found = []
    pages = client.get_paginator("scan").paginate(
        TableName=server.env["TABLE_PREFIX"] + table, ConsistentRead=True
    )
    for page in pages:
        for item in page["Items"]:
            record = plain(item)
            if all(record.get(k) == v for k, v in equal.items()):
                found.append(record)
    return found


def admin_api(control_plane: Any) -> Any:
    from kubernetes import config as k8s_config

    return k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))


def cluster_rollout(admin: Any, namespace: str, name: str) -> dict[str, Any]:
    """The deployment's ``Rollout`` resource (a 404 propagates: ``wait_for`` retries it)."""
    from kubernetes import client as k8s

    return k8s.CustomObjectsApi(admin).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )


def is_pocketbase_error(body: Any, status: int) -> bool:
    """PocketBase 0.22's error body: ``{"code", "message", "data"}`` with the status."""
    return (
        isinstance(body, dict)
        and set(body) == {"code", "message", "data"}
        and body["code"] == status
        and isinstance(body["message"], str)
        and isinstance(body["data"], dict)
    )


def seconds_to_next_minute() -> float:
    now = datetime.now(UTC)
    return 60 - now.second - now.microsecond / 1e6


@contextmanager
def bounded(what: str, seconds: float) -> Iterator[None]:
    """Fail if the block took longer than ``seconds`` (a storm that hangs is a finding)."""
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took <= seconds, f"{what} took {took:.1f}s (bound {seconds}s)"


class LeaseWatch:
    """Polls one lease item (``leases`` table) on a thread and remembers when each holder
    was seen, so a test can wait for "a tick that started after T has finished" without
    guessing how long a tick takes."""

    def __init__(self, fleet: Fleet, key: str, every: float = 0.02) -> None:
        import threading

        import boto3

        server = fleet[0]
        self._client = boto3.client("dynamodb", endpoint_url=server.env["DYNAMODB_ENDPOINT"])
        self._table = server.env["TABLE_PREFIX"] + "leases"
        self._key = key
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.seen: dict[str, list[float]] = {}  # holder -> [first seen, last seen]
        self.free_since: float | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            reply = self._client.get_item(
                TableName=self._table, Key={"key": {"S": self._key}}, ConsistentRead=True
            )
            now = time.time()
            item = reply.get("Item")
            if item is None:
                self.free_since = self.free_since or now
            else:
                self.free_since = None
                self.seen.setdefault(item["holder"]["S"], [now, now])[1] = now
            self._stop.wait(self._every)

    def finished_after(self, moment: float, quiet: float) -> bool:
        """A holder first seen at or after ``moment`` has come and gone, and the lease has
        been free for ``quiet`` seconds since (a late instance's tick would show)."""
        started = any(first >= moment - self._every for first, _ in self.seen.values())
        free = self.free_since is not None and time.time() - self.free_since >= quiet
        return started and free

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def stop_in_parallel(fleet: Fleet) -> None:
    """Stop every instance at once (each takes ~2 s to wind down), then the fleet."""
    from concurrent.futures import ThreadPoolExecutor

    from local_server import LocalServer

    with ThreadPoolExecutor(len(fleet)) as pool:
        list(pool.map(LocalServer.stop, fleet.servers))
    fleet.stop()  # the shared folder; the instances are stopped already
