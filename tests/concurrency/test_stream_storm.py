"""Live-stream leases with subscribers on four instances at once.

Each subscription (one per socket: ``$connect`` stores the connection, the first message
the subscription) is relayed by exactly one worker: the one holding its ``lease``
(records.stream_store). A worker renews the lease every ``STREAM_CHECK_SECONDS``, and at
the end of its window hands it to its successor in the same conditional write that saves
where the client is, so a hand-over neither loses nor repeats a frame and two workers never
relay one subscription (README "Live streams", streams.worker). Subscribers of the same
Kubernetes feed do not share a worker: each subscription has its own lease and worker.

Windows are 4 seconds in the shared fleet (conftest.py), so every storm crosses
several hand-overs on every instance. Only a worker that relays twice can make a client see
a frame twice, so "every subscriber sees each change exactly once" is how the tests observe
"one worker per subscription"."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from api_client import records
from fleet_state import admin_api, scan
from http_json import request_json
from local_server import Fleet, LocalServer
from storm import FleetUser, make_fleet_users, report
from stream_client import StreamClient, until

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.dynamodb_local,
    pytest.mark.cluster,
]

SUBSCRIBERS_PER_INSTANCE = 2
WORKER_FUNCTION = "one-click-serverless-dev-stream_worker"  # settings' default name


def _window(fleet: Fleet) -> int:
    return int(fleet[0].env["STREAM_WINDOW_SECONDS"])


class Feed:
    """One deployment of one user, its namespace (made directly: no rollout needed), and
    labelled ConfigMaps to change while clients watch."""

    def __init__(self, fleet: Fleet, control_plane: Any) -> None:
        from kubernetes import client as k8s

        [self.user] = make_fleet_users(fleet, 1)
        self.project = self._create(fleet, "projects", {"name": "feed", "user": self.user.id})
        self.deployment = self._create(
            fleet,
            "deployments",
            {"name": "web", "user": self.user.id, "project": self.project["id"]},
        )
        self.namespace = self.project["id"]
        self.core = k8s.CoreV1Api(admin_api(control_plane))
        self.core.create_namespace(
            k8s.V1Namespace(
                metadata=k8s.V1ObjectMeta(
                    name=self.namespace, labels={"one-click.dev/projectId": self.namespace}
                )
            )
        )
        self.first = {"deploymentId": self.deployment["id"], "projectId": self.namespace}

    def _create(self, fleet: Fleet, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        status, record = fleet[0].request("POST", records(collection), body, token=self.user.token)
        assert status == 200, record
        return record

    def config_map(self, name: str, value: str) -> None:
        from kubernetes import client as k8s

        labels = {
            "one-click.dev/projectId": self.namespace,
            "one-click.dev/deploymentId": self.deployment["id"],
        }
        self.core.create_namespaced_config_map(
            self.namespace,
            k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, labels=labels), data={"v": value}),
        )

    def patch(self, name: str, value: str) -> None:
        self.core.patch_namespaced_config_map(name, self.namespace, {"data": {"v": value}})

    def delete(self, name: str) -> None:
        self.core.delete_namespaced_config_map(name, self.namespace)

    def remove(self) -> None:
        self.core.delete_namespace(self.namespace)


class Subscriber(StreamClient):
    """A websocket client on one instance, collecting every text frame."""

    def __init__(self, server: LocalServer, ws: aiohttp.ClientWebSocketResponse) -> None:
        super().__init__(ws)
        self.server = server

    def changes(self) -> list[tuple[str, str, str]]:
        """(kind, name, status) of every push but keepalives."""
        return [(p["kind"], p["name"], p["status"]) for p in self.pushes()]


def _url(server: LocalServer, user: FleetUser) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/k8s/deployments?token={urllib.parse.quote(user.token)}"


async def _subscribe_all_at_once(
    session: aiohttp.ClientSession, servers: list[LocalServer], feed: Feed
) -> list[Subscriber]:
    """Open every socket, then send every first message in the same moment."""
    sockets = await asyncio.gather(*(session.ws_connect(_url(s, feed.user)) for s in servers))
    subscribers = [Subscriber(s, ws) for s, ws in zip(servers, sockets, strict=True)]
    first = json.dumps(feed.first)
    await asyncio.gather(*(s.ws.send_str(first) for s in subscribers))
    return subscribers


def _subscriptions(fleet: Fleet) -> list[dict[str, Any]]:
    return scan(fleet, "streamSubscriptions")


async def _every_lease_handed_over(fleet: Fleet, since: dict[str, str], timeout: float) -> None:
    """Wait until each subscription in ``since`` (connection -> lease) has a new lease:
    each has crossed a hand-over after that moment."""

    def done() -> bool:
        now = {s["connection"]: s["lease"] for s in _subscriptions(fleet)}
        return all(now.get(c, lease) != lease for c, lease in since.items())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(done):
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"no hand-over of every subscription within {timeout}s")


@pytest.fixture
def feed(fleet: Fleet, control_plane: Any) -> Iterator[Feed]:
    made = Feed(fleet, control_plane)
    yield made
    made.remove()


def test_every_subscriber_on_every_instance_gets_each_change_once(
    fleet: Fleet, feed: Feed, new_server_errors: Any
) -> None:
    """Invariant: 8 subscribers of one deployment's resource map (2 per instance),
    subscribing at once, get one subscription and one lease each (held for the socket's
    own instance), and each receives every change of the labelled ConfigMaps exactly once
    and in order across several hand-overs; closing the sockets removes every
    subscription and connection."""
    feed.config_map("before", "0")
    servers = [fleet[n] for n in range(len(fleet) * SUBSCRIBERS_PER_INSTANCE)]
    expected = [("configmap", "before", "ADDED")]

    async def scenario() -> list[Subscriber]:
        async with aiohttp.ClientSession() as session:
            subscribers = await _subscribe_all_at_once(session, servers, feed)
            await until(
                "every subscriber to see the existing ConfigMap",
                lambda: all(s.changes() for s in subscribers),
            )
            stored = await asyncio.to_thread(_subscriptions, fleet)
            assert len(stored) == len(subscribers), stored
            assert len({s["lease"] for s in stored}) == len(subscribers)
            endpoints = sorted(s["endpoint"] for s in stored)
            assert endpoints == sorted(s.url for s in servers)
            for n in range(6):  # ~6 s: every subscription crosses a hand-over meanwhile
                await asyncio.to_thread(feed.config_map, f"live-{n}", str(n))
                expected.append(("configmap", f"live-{n}", "ADDED"))
                await asyncio.sleep(1.0)
            await asyncio.to_thread(feed.patch, "live-0", "changed")
            await asyncio.to_thread(feed.delete, "live-1")
            expected.extend(
                [("configmap", "live-0", "MODIFIED"), ("configmap", "live-1", "DELETED")]
            )
            await until(
                "every subscriber to see the last change",
                lambda: all(s.changes()[-1:] == [expected[-1]] for s in subscribers),
            )
            leases = {
                s["connection"]: s["lease"] for s in await asyncio.to_thread(_subscriptions, fleet)
            }
            # Past one more hand-over of every subscription, a repeated frame would show.
            await _every_lease_handed_over(fleet, leases, _window(fleet) * 3)
            await asyncio.sleep(0.5)
            for subscriber in subscribers:
                await subscriber.ws.close()
            return subscribers

    started = time.monotonic()
    subscribers = asyncio.run(scenario())
    seen = [s.changes() for s in subscribers]
    report(
        "resource-map subscribers of one deployment",
        fleet,
        len(subscribers),
        {
            "changes made": len(expected),
            "received per subscriber": [len(s) for s in seen],
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    for subscriber, changes in zip(subscribers, seen, strict=True):
        assert changes == expected, (subscriber.server.url, changes)
    assert new_server_errors() == []
    _wait_until_forgotten(fleet)


def test_a_duplicated_worker_invocation_does_not_relay_twice(
    fleet: Fleet, feed: Feed, new_server_errors: Any
) -> None:
    """Invariant: Lambda delivers an asynchronous invocation at least once, so the worker
    event ``{connection, lease}`` may arrive again, on any instance. Delivered four more
    times at once (once per instance) right after a hand-over, the subscription is still
    relayed by one worker: the subscriber sees each later change exactly once, and the
    chain of leases goes on."""
    feed.config_map("before", "0")

    async def scenario() -> tuple[Subscriber, list[int]]:
        async with aiohttp.ClientSession() as session:
            [subscriber] = await _subscribe_all_at_once(session, [fleet[0]], feed)
            await until("the existing ConfigMap", lambda: subscriber.changes())
            [stored] = await asyncio.to_thread(_subscriptions, fleet)
            await _every_lease_handed_over(
                fleet, {stored["connection"]: stored["lease"]}, _window(fleet) * 3
            )
            [current] = await asyncio.to_thread(_subscriptions, fleet)  # fresh window: ~4 s
            event = {"connection": current["connection"], "lease": current["lease"]}
            statuses = await asyncio.to_thread(_deliver_again, fleet, event)
            await asyncio.to_thread(feed.config_map, "after", "1")
            await until(
                "the change after the duplicates",
                lambda: ("configmap", "after", "ADDED") in subscriber.changes(),
            )
            [now] = await asyncio.to_thread(_subscriptions, fleet)
            await _every_lease_handed_over(
                fleet, {now["connection"]: now["lease"]}, _window(fleet) * 3
            )
            await asyncio.to_thread(feed.patch, "after", "2")
            await until(
                "the change after the next hand-over",
                lambda: ("configmap", "after", "MODIFIED") in subscriber.changes(),
            )
            await asyncio.sleep(1.0)  # what a second worker would send comes within a check
            await subscriber.ws.close()
            return subscriber, statuses

    subscriber, statuses = asyncio.run(scenario())
    changes = subscriber.changes()
    report(
        "duplicate deliveries of one stream worker's invocation",
        fleet,
        len(statuses),
        {"invoke statuses": statuses, "pushes received": len(changes)},
    )
    assert statuses == [202] * len(fleet)
    assert changes == [
        ("configmap", "before", "ADDED"),
        ("configmap", "after", "ADDED"),
        ("configmap", "after", "MODIFIED"),
    ], changes
    assert new_server_errors() == []
    _wait_until_forgotten(fleet)


def _deliver_again(fleet: Fleet, event: dict[str, str]) -> list[int]:
    """The worker's invocation again on every instance at once, as Lambda may deliver an
    asynchronous event more than once (the local invoke API, loopback only)."""
    barrier = threading.Barrier(len(fleet))
    path = f"/2015-03-31/functions/{WORKER_FUNCTION}/invocations"

    def invoke(server: LocalServer) -> int:
        barrier.wait(timeout=30)
        status, _ = request_json(
            server.url, "POST", path, body=event, headers={"X-Amz-Invocation-Type": "Event"}
        )
        return status

    with ThreadPoolExecutor(len(fleet)) as pool:
        return list(pool.map(invoke, fleet.servers))


def _wait_until_forgotten(fleet: Fleet) -> None:
    from waiting import wait_for

    wait_for(
        "closed sockets to leave no subscription or connection",
        lambda: not scan(fleet, "streamSubscriptions") and not scan(fleet, "streamConnections"),
        30,
    )
