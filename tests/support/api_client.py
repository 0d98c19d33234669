"""Helpers shared by the test tiers: a JSON client over Chalice's test client, the users
it logs in, and record builders. Kept out of conftest.py so tests can import them by a
name no other folder's conftest shadows."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def reset_settings(**overrides: str) -> None:
    from chalicelib.auth.signing_secret import signing_secret
    from chalicelib.records import store
    from chalicelib.settings import get_settings

    for key, value in overrides.items():
        os.environ[key] = value
    get_settings.cache_clear()
    signing_secret.cache_clear()
    store.bind(get_settings())


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """Chalice's test client with JSON in and out, as the frontend and SDK send them."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"content-type": "application/json"}
        if token:
            sent["authorization"] = token
        sent.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=sent, body=payload)
        text = response.body.decode() if response.body else ""
        return Reply(
            response.status_code, json.loads(text) if text else None, dict(response.headers)
        )

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.call("DELETE", path, **kwargs)


@dataclass
class User:
    id: str
    email: str
    password: str
    token: str
    record: dict[str, Any]


NGINX_BLUEPRINT = Path(__file__).resolve().parents[2] / "infra" / "blueprints" / "nginx.json"


def nginx_manifest(tag: str = "1.27") -> dict[str, Any]:
    """The nginx blueprint (reference §8) as a rollout manifest: valid for the CRD."""
    manifest = json.loads(NGINX_BLUEPRINT.read_text())
    manifest["spec"]["image"]["tag"] = tag
    return manifest


# With credentials, so tests can see them blanked for everyone but the owner.
MANIFEST = nginx_manifest()
MANIFEST["spec"]["image"].update(username="bot", password="hunter2")
MANIFEST["spec"]["secrets"] = [{"name": "API_KEY", "value": "s3cr3t"}]


def records(collection: str) -> str:
    return f"/api/collections/{collection}/records"


def make_project(api: Api, user, name: str = "shop") -> dict:
    reply = api.post(
        records("projects"), {"name": name, "user": user.id, "tags": "a,b"}, token=user.token
    )
    assert reply.status == 200, reply.body
    return reply.body


def make_blueprint(
    api: Api, user, name: str = "bp", manifest: dict | None = None, private: bool = False
) -> dict:
    reply = api.post(
        records("blueprints"),
        {"name": name, "manifest": manifest or {"spec": {}}, "owner": user.id, "private": private},
        token=user.token,
    )
    assert reply.status == 200, reply.body
    return reply.body


def make_deployment(api: Api, user, project: dict) -> dict:
    reply = api.post(
        records("deployments"),
        {"name": "web", "user": user.id, "project": project["id"]},
        token=user.token,
    )
    assert reply.status == 200, reply.body
    return reply.body


def make_rollout(api: Api, user, project: dict, deployment: dict) -> dict:
    reply = api.post(
        records("rollouts"),
        {
            "manifest": MANIFEST,
            "startDate": "",
            "endDate": "",
            "project": project["id"],
            "user": user.id,
            "deployment": deployment["id"],
        },
        token=user.token,
    )
    assert reply.status == 200, reply.body
    return reply.body
