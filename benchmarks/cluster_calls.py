"""Kubernetes API calls per cluster route, and the first-call overhead of the cluster routes
(importing the Kubernetes client and loading the kubeconfig), on DynamoDB Local and the
project's own control plane, as the least-privilege backend role.

Prints figures; asserts nothing. Usage: .venv/bin/python benchmarks/cluster_calls.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from typing import Any

from bench_env import MANIFEST, cluster, database  # noqa: I001 - sets the environment first

from chalicelib.cluster import (  # noqa: E402
    connection,
    namespaces,
    observe,
    rollouts,
    workloads,
)

CALLS: Counter[str] = Counter()
_request = connection.request


def _counting(method: str, *args: Any, **kwargs: Any) -> Any:
    CALLS[method] += 1
    return _request(method, *args, **kwargs)


# Every adapter module calls the Kubernetes API through connection.request, bound by name.
for _module in (connection, namespaces, observe, rollouts, workloads):
    if hasattr(_module, "request"):
        _module.request = _counting  # type: ignore[attr-defined]


def main() -> None:
    with database(), cluster():
        run()


def run() -> None:
    from chalice.test import Client

    from app import app
    from chalicelib.records.tables import create_missing_tables
    from chalicelib.records.users import new_user

    create_missing_tables()
    new_user(
        {"email": "k@example.com", "password": "password123", "passwordConfirm": "password123"}
    )
    with Client(app) as client:

        def call(method: str, path: str, body: Any = None, token: str = "") -> tuple[Any, float]:
            started = time.perf_counter()
            reply = getattr(client.http, method)(
                path,
                headers={"content-type": "application/json", "authorization": token},
                body=json.dumps(body) if body is not None else None,
            )
            elapsed = (time.perf_counter() - started) * 1000
            assert reply.status_code < 300, (path, reply.status_code, reply.body)
            text = reply.body.decode() if reply.body else ""
            return (json.loads(text) if text.startswith(("{", "[", '"')) else text), elapsed

        login, _ = call(
            "post",
            "/api/collections/users/auth-with-password",
            {"identity": "k@example.com", "password": "password123"},
        )
        token, uid = login["token"], login["record"]["id"]
        records = "/api/collections/{}/records"
        project, _ = call("post", records.format("projects"), {"name": "p", "user": uid}, token)
        deployment, _ = call(
            "post",
            records.format("deployments"),
            {"name": "d", "user": uid, "project": project["id"]},
            token,
        )
        import_before = "kubernetes" in sys.modules
        CALLS.clear()
        _, first = call("get", "/pb/cluster-info", token=token)
        print(f"kubernetes imported before the first cluster route: {import_before}")
        print(
            f"first cluster route (import client + load kubeconfig + 2 API calls): {first:.0f} ms"
        )
        warm = [call("get", "/pb/cluster-info", token=token)[1] for _ in range(10)]
        print(f"same route warm: median {statistics.median(warm):.1f} ms over 10")
        rollout_body = {
            "manifest": MANIFEST,
            "user": uid,
            "project": project["id"],
            "deployment": deployment["id"],
        }
        base = f"/pb/{project['id']}/{deployment['id']}"
        cases: list[tuple[str, str, str, Any]] = [
            (
                "create first rollout (namespace new)",
                "post",
                records.format("rollouts"),
                rollout_body,
            ),
            ("create next rollout", "post", records.format("rollouts"), rollout_body),
            ("status", "get", base + "/status", None),
            ("metrics", "get", base + "/metrics", None),
            ("events", "get", base + "/events", None),
            ("cluster-info", "get", "/pb/cluster-info", None),
        ]
        print(f"\n{'route':40} {'k8s calls':>9}  {'ms':>6}  calls")
        for name, method, path, body in cases:
            CALLS.clear()
            _, elapsed = call(method, path, body, token)
            ops = ", ".join(f"{m} {n}" for m, n in sorted(CALLS.items()))
            print(f"{name:40} {sum(CALLS.values()):9}  {elapsed:6.0f}  {ops}")


if __name__ == "__main__":
    main()
