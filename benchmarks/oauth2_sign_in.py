"""An OAuth2 sign-in's cost: DynamoDB round trips (counted at the botocore layer), calls to
the provider, and the median time of the whole ``auth-with-oauth2`` request against the
local test provider (tests/support/oauth2_provider.py) on DynamoDB Local (moto's server if
Java is missing). The provider is on loopback, so the time is our own work plus two or
three local HTTP calls; a real provider adds its network latency per call.
Usage: .venv/bin/python benchmarks/oauth2_sign_in.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from bench_env import ROOT, count_dynamodb_calls, database

sys.path.insert(0, str(ROOT / "tests" / "support"))
from oauth2_provider import FLAVORS, Account, FakeProvider  # noqa: E402

REDIRECT = "http://127.0.0.1:5173/oauth2-redirect"
ROUNDS = 20
CALLS = count_dynamodb_calls()


def main() -> None:
    clients = {flavor: (f"{flavor}-id", f"{flavor}-secret") for flavor in FLAVORS}
    with database() as engine, FakeProvider(clients) as provider:
        for flavor in FLAVORS:
            os.environ.update(provider.endpoint_env(flavor))
        os.environ.update(ALLOW_SIGNUP="true", OAUTH2_MICROSOFT_TENANT="bench.example")
        run(engine, provider)


def run(engine: str, provider: FakeProvider) -> None:
    import urllib3
    from chalice.test import Client

    from app import app
    from chalicelib.records.tables import create_missing_tables

    create_missing_tables()
    with Client(app) as client:

        def sign_in(flavor: str, hint: str) -> dict[str, Any]:
            methods = json.loads(client.http.get("/api/collections/users/auth-methods").body)
            entry = next(e for e in methods["authProviders"] if e["name"] == flavor)
            url = entry["authUrl"] + quote(REDIRECT, safe="") + "&login_hint=" + hint
            location = urllib3.request("GET", url, redirect=False).headers["Location"]
            code = parse_qs(urlsplit(location).query)["code"][0]
            body = {
                "provider": flavor,
                "code": code,
                "codeVerifier": entry["codeVerifier"],
                "redirectUrl": REDIRECT,
            }
            CALLS.clear()
            before = len(provider.requests)
            started = time.perf_counter()
            reply = client.http.post(
                "/api/collections/users/auth-with-oauth2",
                headers={"content-type": "application/json"},
                body=json.dumps(body),
            )
            elapsed = time.perf_counter() - started
            assert reply.status_code == 200, reply.body
            return {
                "ms": elapsed * 1000,
                "dynamodb": dict(CALLS),
                "provider": len(provider.requests) - before,
            }

        print(f"auth-with-oauth2 on {engine}, local provider, median of {ROUNDS}")
        print(f"{'case':34} {'ms':>6} {'provider':>8}  DynamoDB operations")
        for flavor in FLAVORS:
            new, again = [], []
            for n in range(ROUNDS):
                key = f"{flavor}-{n}"
                account = Account(id=1000 + n if flavor == "github" else key, email=f"{key}@b.io")
                provider.add(flavor, key, account)
                new.append(sign_in(flavor, key))
                again.append(sign_in(flavor, key))
            for label, samples in (("new account", new), ("linked account", again)):
                ms = statistics.median(s["ms"] for s in samples)
                ops = ", ".join(f"{op} {n}" for op, n in sorted(samples[-1]["dynamodb"].items()))
                name = f"{flavor}: {label}"
                print(f"{name:34} {ms:6.1f} {samples[-1]['provider']:8}  {ops}")


if __name__ == "__main__":
    main()
