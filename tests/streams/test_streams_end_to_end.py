"""The three live streams end to end: real websocket clients against the local server, which
runs the app's handlers and workers, answers the API Gateway Management API and Lambda's
async invoke itself, and reads the real control plane as the least-privilege backend.

Windows are 3 seconds, so every test crosses several worker hand-overs.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from http_json import request_json
from kubernetes import client, config
from local_server import LocalServer
from stream_client import StreamClient
from waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

WINDOW = 3
PASSWORD = "password123"


class Account:
    def __init__(self, server: LocalServer) -> None:
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        self.id = server.create_user(email, PASSWORD)
        status, body = server.request(
            "POST",
            "/api/collections/users/auth-with-password",
            {"identity": email, "password": PASSWORD},
        )
        assert status == 200, body
        self.token = body["token"]
        self.server = server

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        status, record = self.server.request(
            "POST", f"/api/collections/{collection}/records", body, token=self.token
        )
        assert status == 200, record
        return record


@pytest.fixture(scope="module")
def server(moto_endpoint: str, backend_kubeconfig: str) -> Iterator[LocalServer]:
    env = {
        "LOCAL": "true",
        "LOCAL_KUBECONFIG_FILE": backend_kubeconfig,
        "STREAM_WINDOW_SECONDS": str(WINDOW),
        "STREAM_CHECK_SECONDS": "1",
        "STREAM_KEEPALIVE_SECONDS": "2",
    }
    with LocalServer(moto_endpoint, extra_env=env) as running:
        yield running


@contextmanager
def server_of_its_own(
    moto_endpoint: str, kubeconfig: str, **settings: str
) -> Iterator[tuple[LocalServer, Account, dict[str, Any]]]:
    """A local server with its own stream settings, a user and a project of theirs."""
    env = {"LOCAL_KUBECONFIG_FILE": kubeconfig, "STREAM_CHECK_SECONDS": "1", **settings}
    with LocalServer(moto_endpoint, extra_env=env) as running:
        user = Account(running)
        yield running, user, user.create("projects", {"name": "own", "user": user.id})


@pytest.fixture(scope="module")
def admin(control_plane: Any) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def owner(server: LocalServer) -> Account:
    return Account(server)


@pytest.fixture
def project(owner: Account, admin: client.ApiClient) -> Iterator[dict[str, str]]:
    """A project and deployment of ``owner``, its namespace, and the per-project grant that
    lets the backend list the namespace's Secrets (infra/rbac)."""
    record = owner.create("projects", {"name": "shop", "user": owner.id})
    deployment = owner.create(
        "deployments", {"name": "web", "user": owner.id, "project": record["id"]}
    )
    namespace = record["id"]
    core = client.CoreV1Api(admin)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=namespace, labels={"one-click.dev/projectId": namespace}
            )
        )
    )
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "one-click-backend-secrets"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "one-click-backend-project-secrets",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": "one-click-backend",
                }
            ],
        },
    )
    yield {"project": namespace, "deployment": deployment["id"]}
    try:
        core.delete_namespace(namespace)
    except client.ApiException as err:
        assert err.status == 404  # the test deleted the project (and so its namespace)


def labels(ids: dict[str, str]) -> dict[str, str]:
    return {
        "one-click.dev/projectId": ids["project"],
        "one-click.dev/deploymentId": ids["deployment"],
    }


def running_pod(admin: client.ApiClient, ids: dict[str, str]) -> str:
    core = client.CoreV1Api(admin)
    name = "web-" + uuid.uuid4().hex[:6]
    core.create_namespaced_pod(
        ids["project"],
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels=labels(ids)),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="nginx")]),
        ),
    )
    wait_for(
        "the pod to run",
        lambda: core.read_namespaced_pod(name, ids["project"]).status.phase == "Running",
    )
    return name


def ws_url(server: LocalServer, stream: str, token: str | None = None) -> str:
    query = f"?token={urllib.parse.quote(token)}" if token else ""
    return f"ws://127.0.0.1:{server.port}/ws/k8s/{stream}{query}"


async def subscribe(
    session: aiohttp.ClientSession, url: str, first: dict[str, Any], **kwargs: Any
) -> StreamClient:
    ws = await session.ws_connect(url, **kwargs)
    await ws.send_str(json.dumps(first))
    return StreamClient(ws)


def table_items(server: LocalServer, name: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=server.env["DYNAMODB_ENDPOINT"])
    table = server.env["TABLE_PREFIX"] + name
    return dynamodb.scan(TableName=table)["Items"]  # test data only


# ---------------------------------------------------------------------------- connect


def test_connect_needs_a_token_from_query_protocol_or_cookie(
    server: LocalServer, owner: Account
) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            for url in (ws_url(server, "logs"), ws_url(server, "logs", "not-a-token")):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url)
                assert refused.value.status == 401
            ws = await session.ws_connect(ws_url(server, "logs", owner.token))
            await ws.close()
            ws = await session.ws_connect(
                ws_url(server, "logs"), protocols=("pb-auth", owner.token)
            )
            assert ws.protocol == "pb-auth"
            await ws.close()
            cookie = urllib.parse.quote(json.dumps({"token": owner.token, "model": {}}))
            jar = {"Cookie": f"pb_auth={cookie}"}
            own_origin = f"http://{urllib.parse.urlsplit(ws_url(server, 'logs')).netloc}"
            ws = await session.ws_connect(ws_url(server, "logs"), headers=jar, origin=own_origin)
            await ws.close()
            # The cookie alone, or from another site's page (a tenant's app on a sibling
            # subdomain), is no credential: cross-site websocket hijacking.
            for origin in (None, "https://tenant-app.example.com"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(ws_url(server, "logs"), headers=jar, origin=origin)
                assert refused.value.status == 401, origin

    asyncio.run(scenario())


def test_invalid_first_messages_get_the_originals_answers_and_close(
    server: LocalServer, owner: Account
) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            for stream, body, expected in (
                (
                    "deployments",
                    {"deploymentId": "", "projectId": ""},
                    '{"error":"Invalid request"}',
                ),
                (
                    "logs",
                    {"rolloutId": "x", "podName": ""},
                    "Error: projectId and podName must not be empty",
                ),
            ):
                client_ = await subscribe(session, ws_url(server, stream, owner.token), body)
                await asyncio.wait_for(client_.closed.wait(), 10)
                assert client_.frames == [expected]

    asyncio.run(scenario())


def test_someone_elses_project_is_refused(
    server: LocalServer, project: dict[str, str], admin: client.ApiClient
) -> None:
    stranger = Account(server)
    pod = running_pod(admin, project)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            url = ws_url(server, "deployments", stranger.token)
            first = {"deploymentId": project["deployment"], "projectId": project["project"]}
            for stream, message, expected in (
                ("deployments", first, '{"error":"The requested resource wasn\'t found."}'),
                (
                    "logs",
                    {"rolloutId": project["project"], "podName": pod},
                    "Error: The requested resource wasn't found.",
                ),
                (
                    "events",
                    {"rolloutId": project["project"], "kind": "Pod", "name": pod},
                    '{"error":"The requested resource wasn\'t found."}',
                ),
            ):
                client_ = await subscribe(session, ws_url(server, stream, stranger.token), message)
                await asyncio.wait_for(client_.closed.wait(), 10)
                assert client_.frames == [expected], (url, stream)

    asyncio.run(scenario())
    assert table_items(server, "streamSubscriptions") == []


# ---------------------------------------------------------------------------- streams


def test_logs_follow_across_hand_overs_without_loss_or_repeat(
    server: LocalServer,
    owner: Account,
    project: dict[str, str],
    admin: client.ApiClient,
    control_plane: Any,
) -> None:
    pod = running_pod(admin, project)
    run = uuid.uuid4().hex[:6]
    control_plane.append_pod_log(f"before-{run}")
    markers = [f"line-{run}-{i}" for i in range(12)]
    big = f"big-{run}-" + "é" * 30000  # 60 KB: more than one API Gateway frame

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            first = {"rolloutId": project["project"], "podName": pod, "tailLines": 1}
            stream = await subscribe(session, ws_url(server, "logs", owner.token), first)
            await stream.until("the tail line", lambda: f"before-{run}" in stream.text())
            for marker in markers:  # spread over ~3 windows, so over 2+ hand-overs
                control_plane.append_pod_log(marker)
                await asyncio.sleep(0.7)
            control_plane.append_pod_log(big)
            await stream.until("every line", lambda: big in stream.text())
            await asyncio.sleep(WINDOW + 1)  # one more hand-over: nothing may come again
            lines = [line for line in stream.text().splitlines() if run in line]
            assert lines == [f"before-{run}", *markers, big]
            assert all(len(frame.encode()) <= 32 * 1024 for frame in stream.frames)
            assert "" in stream.frames  # keepalives: empty frames the frontend appends as nothing
            await stream.ws.close()

    asyncio.run(scenario())


def test_events_of_one_object_across_hand_overs(
    server: LocalServer, owner: Account, project: dict[str, str], admin: client.ApiClient
) -> None:
    core = client.CoreV1Api(admin)
    namespace, target = project["project"], "web-" + uuid.uuid4().hex[:6]

    def event(reason: str, name: str = target) -> None:
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"generateName": "ev-"},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace},
                "reason": reason,
                "message": f"{reason} happened",
                "type": "Normal",
            },
        )

    event("Before")
    event("OtherObject", name="someone-else")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            first = {"rolloutId": namespace, "kind": "Pod", "name": target}
            stream = await subscribe(session, ws_url(server, "events", owner.token), first)
            await stream.until("the existing event", lambda: stream.pushes())
            for i in range(6):
                event(f"Live{i}")
                await asyncio.sleep(1.0)
            await stream.until("every event", lambda: len(stream.pushes()) >= 7)
            await asyncio.sleep(WINDOW + 1)
            frames = [f for f in stream.frames if f]
            assert frames == [
                '{"message":"Before happened","reason":"Before","typus":"Normal"}',
                *[
                    f'{{"message":"Live{i} happened","reason":"Live{i}","typus":"Normal"}}'
                    for i in range(6)
                ],
            ]
            await stream.ws.close()

    asyncio.run(scenario())


def test_resource_map_watches_labelled_objects_and_never_sends_secret_data(
    server: LocalServer, owner: Account, project: dict[str, str], admin: client.ApiClient
) -> None:
    core = client.CoreV1Api(admin)
    namespace = project["project"]
    meta = client.V1ObjectMeta(name="settings", labels=labels(project))

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            core.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=meta, data={"a": "1"})
            )
            first = {"deploymentId": project["deployment"], "projectId": namespace}
            stream = await subscribe(session, ws_url(server, "deployments", owner.token), first)
            await stream.until("the existing ConfigMap", lambda: stream.pushes())
            secret_meta = client.V1ObjectMeta(name="web-secrets", labels=labels(project))
            core.create_namespaced_secret(
                namespace,
                client.V1Secret(metadata=secret_meta, string_data={"PASSWORD": "hunter2"}),
            )
            core.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="unlabelled"))
            )
            await asyncio.sleep(WINDOW + 0.5)  # across a hand-over
            core.patch_namespaced_config_map("settings", namespace, {"data": {"a": "2"}})
            await asyncio.sleep(WINDOW + 0.5)
            core.delete_namespaced_config_map("settings", namespace)
            await stream.until(
                "the deletion", lambda: any(p["status"] == "DELETED" for p in stream.pushes())
            )
            await asyncio.sleep(1)
            seen = [(p["kind"], p["name"], p["status"]) for p in stream.pushes()]
            assert seen == [
                ("configmap", "settings", "ADDED"),
                ("secret", "web-secrets", "ADDED"),
                ("configmap", "settings", "MODIFIED"),
                ("configmap", "settings", "DELETED"),
            ]
            pushes = stream.pushes()
            secret = pushes[1]
            assert "data" not in secret["object"] and "stringData" not in secret["object"]
            assert "hunter2" not in "".join(stream.frames)
            assert pushes[0]["labels"] == labels(project)
            assert pushes[0]["namespace"] == namespace
            assert pushes[0]["object"]["data"] == {"a": "1"}
            assert "managedFields" not in pushes[0]["object"]["metadata"]
            assert any('"keepalive"' in f for f in stream.frames)
            await stream.ws.close()

    asyncio.run(scenario())


def test_a_deleted_project_ends_its_streams_at_the_next_hand_over(
    server: LocalServer, owner: Account, project: dict[str, str]
) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            first = {"rolloutId": project["project"], "kind": "Pod", "name": "nothing"}
            stream = await subscribe(session, ws_url(server, "events", owner.token), first)
            await asyncio.sleep(1)
            status, _ = server.request(
                "DELETE",
                f"/api/collections/projects/records/{project['project']}",
                token=owner.token,
            )
            assert status == 204
            await asyncio.wait_for(stream.closed.wait(), WINDOW + 10)
            assert [f for f in stream.frames if f] == [
                '{"error":"The requested resource wasn\'t found."}'
            ]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("ending", "frame"),
    [
        ("the project is deleted", '{"error":"The requested resource wasn\'t found."}'),
        (
            "the password changes",  # which revokes every older token, the socket's too
            '{"error":"The request requires valid record authorization token to be set."}',
        ),
    ],
)
def test_a_stream_ends_within_one_check_period_when_access_ends(
    moto_endpoint: str, backend_kubeconfig: str, ending: str, frame: str
) -> None:
    """With a long window, the end comes from the worker's periodic checks."""
    with server_of_its_own(moto_endpoint, backend_kubeconfig, STREAM_WINDOW_SECONDS="120") as (
        long_window,
        user,
        record,
    ):

        def end_access() -> None:
            if ending == "the project is deleted":
                path = f"/api/collections/projects/records/{record['id']}"
                status, _ = long_window.request("DELETE", path, token=user.token)
                assert status == 204
                return
            changed = "another-password-1"
            body = {"oldPassword": PASSWORD, "password": changed, "passwordConfirm": changed}
            path = f"/api/collections/users/records/{user.id}"
            status, reply = long_window.request("PATCH", path, body, token=user.token)
            assert status == 200, reply

        async def scenario() -> None:
            async with aiohttp.ClientSession() as session:
                first = {"rolloutId": record["id"], "kind": "Pod", "name": "nothing"}
                stream = await subscribe(session, ws_url(long_window, "events", user.token), first)
                await asyncio.sleep(1)
                end_access()
                # far inside the 120-second window: the end comes from a check, not a hand-over
                await asyncio.wait_for(stream.closed.wait(), 30)
                assert [f for f in stream.frames if f] == [frame]

        asyncio.run(scenario())


def test_an_old_connection_is_told_to_reconnect_and_closed(
    moto_endpoint: str, backend_kubeconfig: str, admin: client.ApiClient
) -> None:
    """API Gateway drops sockets after 2 hours; here the limit is 5 seconds."""
    with server_of_its_own(
        moto_endpoint,
        backend_kubeconfig,
        STREAM_WINDOW_SECONDS=str(WINDOW),
        STREAM_MAX_CONNECTION_SECONDS="5",
    ) as (short, user, record):

        async def scenario() -> float:
            async with aiohttp.ClientSession() as session:
                first = {"deploymentId": "", "projectId": record["id"]}
                started = time.monotonic()
                stream = await subscribe(session, ws_url(short, "deployments", user.token), first)
                await asyncio.wait_for(stream.closed.wait(), 20)
                assert stream.frames[-1] == json.dumps(
                    {
                        "error": "The stream reached its time limit; reconnect to continue.",
                        "reconnect": True,
                    },
                    separators=(",", ":"),
                )
                return time.monotonic() - started

        lasted = asyncio.run(scenario())
        assert lasted >= 4  # not before the limit (the wait above bounds the other side)


def test_closing_the_socket_ends_the_worker_and_forgets_the_connection(
    server: LocalServer, owner: Account, project: dict[str, str], admin: client.ApiClient
) -> None:
    pod = running_pod(admin, project)

    def threads() -> int:
        return len(list(Path(f"/proc/{server.pid}/task").iterdir()))

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            first = {"rolloutId": project["project"], "podName": pod}
            stream = await subscribe(session, ws_url(server, "logs", owner.token), first)
            await stream.until("the log", lambda: stream.text())
            assert len(table_items(server, "streamSubscriptions")) == 1
            await stream.ws.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            table_items(server, "streamSubscriptions") or table_items(server, "streamConnections")
        ):
            await asyncio.sleep(0.2)
        assert table_items(server, "streamSubscriptions") == []
        assert table_items(server, "streamConnections") == []

    before = threads()
    asyncio.run(scenario())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and threads() > before:
        time.sleep(0.5)
    assert threads() <= before


def test_management_api_answers_gone_for_unknown_connections(server: LocalServer) -> None:
    status, body = request_json(server.url, "POST", "/@connections/nope", raw_body=b"hi")
    assert status == 410
    assert body == {"message": "The connection is gone."}
