"""The streams' cluster reads against the real control plane, as the least-privilege role:
a watch resumes from a resourceVersion, and one too old for the apiserver is Expired (the
worker then relists)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest

from chalicelib.cluster import streams
from chalicelib.local.control_plane import ControlPlane
from tests.cluster.test_cluster_adapter import backend  # noqa: F401 - the fixture

pytestmark = [pytest.mark.cluster]


def compact_etcd(control_plane: ControlPlane) -> None:
    """Drop etcd's history up to now (its JSON gateway), so older versions are gone."""
    base = f"http://127.0.0.1:{control_plane.ports['etcd']}/v3/kv"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback
            return dict(json.loads(reply.read()))

    revision = post("/range", {"key": "AA=="})["header"]["revision"]
    post("/compaction", {"revision": revision, "physical": True})


@pytest.mark.usefixtures("backend")
def test_watch_resumes_from_a_version_and_an_ancient_one_is_expired(
    control_plane: ControlPlane,
) -> None:
    namespace = "t" + uuid.uuid4().hex[:14]
    control_plane.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    url = streams.EVENTS.url(namespace)
    items, version = streams.list_objects(url, {})
    assert items == [] and version
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "ev-", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": namespace},
        "reason": "Resumed",
        "message": "after the list",
    }
    status, _ = control_plane.request("POST", f"/api/v1/namespaces/{namespace}/events", event)
    assert status == 201
    feed = streams.open_watch(url, {}, version, 2)  # the apiserver ends it after 2 s
    seen = [(kind, obj.get("reason")) for kind, obj in streams.watch_events(feed)]
    feed.close()
    assert ("ADDED", "Resumed") in seen
    compact_etcd(control_plane)  # what etcd does every few minutes on a real cluster
    with pytest.raises(streams.Expired):
        feed = streams.open_watch(url, {}, "1", 2)
        try:
            list(streams.watch_events(feed))
        finally:
            feed.close()
    control_plane.request("DELETE", f"/api/v1/namespaces/{namespace}")
