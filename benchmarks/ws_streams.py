"""Live streams on the local server (real websocket clients, the project's control plane):

1. log line written in the pod -> frame received by the client: p50/p95 (goal p95 < 1 s);
2. N concurrent subscribers of one deployment's resource map: does every one receive every
   event, how long until the last one has it, and the local server's memory and CPU.

Prints figures; asserts nothing. Usage: .venv/bin/python benchmarks/ws_streams.py [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench_env import ROOT, cluster, database  # noqa: I001 - sets the environment first

sys.path.insert(0, str(ROOT / "tests" / "support"))

import aiohttp  # noqa: E402
from kubernetes import client, config  # noqa: E402
from local_server import LocalServer  # noqa: E402

LOG_SAMPLES = 60
MAP_OBJECTS = 10  # ConfigMaps created, changed and deleted: 3 events each
WINDOW_SECONDS = "60"  # short enough that the run crosses worker hand-overs


def _proc(pid: int) -> tuple[int, float, int]:
    """RSS bytes, CPU seconds (user+system) and threads of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS")
    )
    threads = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads")
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu, threads


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _setup(server: LocalServer, admin: client.ApiClient) -> tuple[str, str, str, str]:
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "password123"
    user_id = server.create_user(email, password)
    _, auth = server.request(
        "POST",
        "/api/collections/users/auth-with-password",
        {"identity": email, "password": password},
    )
    token = auth["token"]
    _, project = server.request(
        "POST", "/api/collections/projects/records", {"name": "bench", "user": user_id}, token=token
    )
    _, deployment = server.request(
        "POST",
        "/api/collections/deployments/records",
        {"name": "web", "user": user_id, "project": project["id"]},
        token=token,
    )
    namespace, labels = (
        project["id"],
        {
            "one-click.dev/projectId": project["id"],
            "one-click.dev/deploymentId": deployment["id"],
        },
    )
    core = client.CoreV1Api(admin)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    pod = "web-bench"
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=pod, labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="nginx")]),
        ),
    )
    while core.read_namespaced_pod(pod, namespace).status.phase != "Running":
        time.sleep(0.2)
    return token, namespace, deployment["id"], pod


async def _log_latency(url: str, token: str, namespace: str, pod: str, plane: Any) -> list[float]:
    received: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws/k8s/logs?token={token}")
        await ws.send_str(json.dumps({"rolloutId": namespace, "podName": pod, "tailLines": 0}))

        async def read() -> None:
            async for message in ws:
                now = time.perf_counter()
                for line in str(message.data).splitlines():
                    if line.startswith("bench-"):
                        received.setdefault(line, now)

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(2)  # the worker has started following
        written: dict[str, float] = {}
        for i in range(LOG_SAMPLES):
            marker = f"bench-{i}-{uuid.uuid4().hex[:6]}"
            written[marker] = time.perf_counter()
            plane.append_pod_log(marker)
            deadline = time.perf_counter() + 10
            while marker not in received and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
        await ws.close()
        reader.cancel()
    return [received[m] - t for m, t in written.items() if m in received]


async def _fan_out(
    url: str,
    token: str,
    namespace: str,
    deployment: str,
    admin: client.ApiClient,
    count: int,
    pid: int,
) -> tuple[list[int], float, int, tuple[int, float, int]]:
    """``count`` map subscribers; ConfigMap events each must receive, the time until the
    last subscriber had the last event, and the server's figures while all are open."""
    labels = {"one-click.dev/projectId": namespace, "one-click.dev/deploymentId": deployment}
    names = [f"cm-{i}" for i in range(MAP_OBJECTS)]
    expected = 3 * MAP_OBJECTS
    got: list[list[float]] = [[] for _ in range(count)]
    async with aiohttp.ClientSession() as session:
        sockets = []
        for _ in range(count):
            ws = await session.ws_connect(f"{url}/ws/k8s/deployments?token={token}")
            await ws.send_str(json.dumps({"deploymentId": deployment, "projectId": namespace}))
            sockets.append(ws)

        async def read(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if '"kind":"configmap"' in message.data:
                    got[index].append(time.perf_counter())

        readers = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]
        await asyncio.sleep(5)  # every worker is watching
        core = client.CoreV1Api(admin)
        loop = asyncio.get_running_loop()

        def changes() -> None:
            for name in names:
                meta = client.V1ObjectMeta(name=name, labels=labels)
                core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=meta))
            for name in names:
                core.patch_namespaced_config_map(name, namespace, {"data": {"k": "v"}})
            for name in names:
                core.delete_namespaced_config_map(name, namespace)

        started = time.perf_counter()
        await loop.run_in_executor(None, changes)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline and any(len(g) < expected for g in got):
            await asyncio.sleep(0.05)
        last = max((g[-1] for g in got if g), default=started) - started
        busy = _proc(pid)
        for ws in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
    return [len(g) for g in got], last, expected, busy


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with database() as engine, cluster() as plane:
        admin = config.new_client_from_config(config_file=str(plane.kubeconfig))
        env = {"LOCAL_KUBECONFIG_FILE": os.environ["LOCAL_KUBECONFIG_FILE"]}
        env["STREAM_WINDOW_SECONDS"] = WINDOW_SECONDS
        with LocalServer(os.environ["DYNAMODB_ENDPOINT"], extra_env=env) as server:
            token, namespace, deployment, pod = _setup(server, admin)
            assert server.pid is not None
            idle_rss, _, idle_threads = _proc(server.pid)
            latencies = asyncio.run(_log_latency(server.url, token, namespace, pod, plane))
            _, cpu_before, _ = _proc(server.pid)
            wall = time.perf_counter()
            counts, last, expected, busy = asyncio.run(
                _fan_out(server.url, token, namespace, deployment, admin, count, server.pid)
            )
            wall = time.perf_counter() - wall
            busy_rss, cpu_after, busy_threads = busy
        admin.close()
    print(f"engine: {engine}; local server on 127.0.0.1, control plane of tools/kube")
    print(f"log line -> frame, {len(latencies)}/{LOG_SAMPLES} received:")
    if latencies:
        p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
        worst = max(latencies)
        print(f"  p50 {p50 * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  max {worst * 1000:.0f} ms")
    complete = sum(1 for c in counts if c == expected)
    print(
        f"{count} subscribers of one deployment's resource map, {expected} ConfigMap events each:"
    )
    print(f"  {complete}/{count} received every event (fewest: {min(counts)}, most: {max(counts)})")
    print(f"  last event at the last subscriber: {last:.2f} s after the first change")
    print(
        f"  local server: RSS {idle_rss / 2**20:.0f} MiB idle -> {busy_rss / 2**20:.0f} MiB "
        f"with all subscribed, threads {idle_threads} -> {busy_threads}, "
        f"CPU {cpu_after - cpu_before:.1f} s over {wall:.1f} s (connect, watch, relay)"
    )


if __name__ == "__main__":
    main()
