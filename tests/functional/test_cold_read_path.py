"""A cold start that only reads loads only what reading needs: a fresh interpreter imports
the app and answers an authenticated list with PynamoDB (its models, connection and
errors) and botocore never imported (they cost ~120 ms of a cold start; writes load them
on first use), nor sign-in's password hashing, throttling and OAuth2, the auto-update
rules, PyJWT (tokens are checked with hmac), the parsers of uploads and excerpts, or RE2
(only a ``~`` filter needs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from api_client import Api, make_project, records
from gateway_events import lambda_event

ROOT = Path(__file__).resolve().parents[2]
WRITE_PATH_MODULES = (
    "pynamodb",
    "botocore",
    "chalicelib.records.store_writes",
    "jwt",
    "bcrypt",
    "chalicelib.auth.login",
    "chalicelib.auth.throttle",
    "chalicelib.auth.oauth2.signin",
    "chalicelib.records.users",
    "chalicelib.records.auto_updates",
    "chalicelib.autoupdate.policies",
    "email.policy",
    "html.parser",
    "re2",
)

PROBE = """
import json, sys, types
import app
event = json.loads(sys.stdin.read())
reply = app.app(event, types.SimpleNamespace(aws_request_id="cold", function_name="probe"))
loaded = [name for name in json.loads(sys.argv[1]) if name in sys.modules]
print(json.dumps({"status": reply["statusCode"], "body": reply["body"], "loaded": loaded}))
"""


def test_a_cold_authenticated_list_never_imports_the_write_path(api: Api, make_user) -> None:
    user = make_user()
    project = make_project(api, user)
    path = records("projects") + "?perPage=30&sort=-created"
    event = lambda_event("GET", path, {"authorization": user.token, "host": "127.0.0.1"})
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(WRITE_PATH_MODULES)],
        cwd=ROOT,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    answer = json.loads(probe.stdout.splitlines()[-1])
    assert answer["status"] == 200, answer
    assert [item["id"] for item in json.loads(answer["body"])["items"]] == [project["id"]]
    assert answer["loaded"] == []
