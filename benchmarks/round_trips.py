"""DynamoDB round trips per API request, counted at the botocore layer, on Amazon's
DynamoDB Local (moto's server if Java is missing).

Every request also authenticates: one GetItem for the caller's record (its tokenKey
verifies the token). The table separates that from the record work. Rollouts are applied
to the project's own Kubernetes control plane (tools/kube; built on first use).
Usage: .venv/bin/python benchmarks/round_trips.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench_env import MANIFEST, cluster, count_dynamodb_calls, database

CALLS = count_dynamodb_calls()


def main() -> None:
    with database() as engine, cluster():
        run(engine)


def run(engine: str) -> None:
    from chalice.test import Client

    from app import app
    from chalicelib.records.tables import create_missing_tables
    from chalicelib.records.users import new_user

    create_missing_tables()
    new_user(
        {"email": "bench@example.com", "password": "password123", "passwordConfirm": "password123"}
    )
    with Client(app) as client:

        def call(method: str, path: str, body: Any = None, token: str = "") -> Any:
            headers = {"content-type": "application/json", "authorization": token}
            reply = getattr(client.http, method)(
                path, headers=headers, body=json.dumps(body) if body is not None else None
            )
            assert reply.status_code < 300, (path, reply.status_code, reply.body)
            return json.loads(reply.body) if reply.body else None

        login = call(
            "post",
            "/api/collections/users/auth-with-password",
            {"identity": "bench@example.com", "password": "password123"},
        )
        token, uid = login["token"], login["record"]["id"]
        records = "/api/collections/{}/records"
        project = call("post", records.format("projects"), {"name": "p", "user": uid}, token)
        deployment = call(
            "post",
            records.format("deployments"),
            {"name": "d", "user": uid, "project": project["id"]},
            token,
        )
        for _ in range(3):
            call(
                "post",
                records.format("rollouts"),
                {
                    "manifest": MANIFEST,
                    "user": uid,
                    "project": project["id"],
                    "deployment": deployment["id"],
                },
                token,
            )
        scratch = call("post", records.format("projects"), {"name": "s", "user": uid}, token)

        cases: list[tuple[str, Callable[[], Any]]] = [
            (
                "login (auth-with-password)",
                lambda: call(
                    "post",
                    "/api/collections/users/auth-with-password",
                    {"identity": "bench@example.com", "password": "password123"},
                ),
            ),
            (
                "auth-refresh",
                lambda: call("post", "/api/collections/users/auth-refresh", token=token),
            ),
            (
                "view project",
                lambda: call("get", records.format("projects") + "/" + project["id"], token=token),
            ),
            (
                "list projects",
                lambda: call(
                    "get",
                    records.format("projects") + "?perPage=500&skipTotal=1&sort=-created",
                    token=token,
                ),
            ),
            (
                "list rollouts, expand=project,deployment",
                lambda: call(
                    "get",
                    records.format("rollouts") + "?perPage=500&skipTotal=1&sort=-created"
                    "&expand=project,deployment",
                    token=token,
                ),
            ),
            (
                "list blueprints (public+own+subscribed)",
                lambda: call("get", records.format("blueprints"), token=token),
            ),
            (
                "create project",
                lambda: call("post", records.format("projects"), {"name": "n", "user": uid}, token),
            ),
            (
                "create rollout (ends the running one)",
                lambda: call(
                    "post",
                    records.format("rollouts"),
                    {
                        "manifest": MANIFEST,
                        "user": uid,
                        "project": project["id"],
                        "deployment": deployment["id"],
                    },
                    token,
                ),
            ),
            (
                "update project",
                lambda: call(
                    "patch", records.format("projects") + "/" + project["id"], {"name": "q"}, token
                ),
            ),
            (
                "delete project (no children)",
                lambda: call(
                    "delete", records.format("projects") + "/" + scratch["id"], token=token
                ),
            ),
            (
                "delete deployment (3+1 rollouts)",
                lambda: call(
                    "delete", records.format("deployments") + "/" + deployment["id"], token=token
                ),
            ),
        ]
        print(
            f"DynamoDB round trips per request on {engine} "
            "(auth = the caller's GetItem that every authenticated request makes)"
        )
        print(f"{'request':45} {'total':>5} {'auth':>4} {'work':>4}  operations")
        for name, action in cases:
            CALLS.clear()
            action()
            total = sum(CALLS.values())
            auth = 0 if name.startswith("login") else 1
            ops = ", ".join(f"{op} {n}" for op, n in sorted(CALLS.items()))
            print(f"{name:45} {total:5} {auth:4} {total - auth:4}  {ops}")


if __name__ == "__main__":
    main()
