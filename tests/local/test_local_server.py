"""The local run command: persistence across restarts, the frontend with SPA fallback,
CORS for the frontend's dev server, PocketBase 404s, and a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from local_server import LocalServer
from prerequisites import require

from chalicelib.local.dynamodb_local import java_available

pytestmark = pytest.mark.dynamodb_local


def _processes_of(pid: int) -> list[str]:
    """The server itself and its children (DynamoDB Local's java), while they run."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # the process ended while we looked
        state, parent = fields[0], int(fields[1])
        if state != "Z" and pid in (int(stat.parent.name), parent):
            found.append(cmdline)
    return found


def test_data_survives_a_restart_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    require(java_available(), "Java is needed for DynamoDB Local")
    first = LocalServer(None, state_dir=tmp_path).start()
    user_id = first.create_user("keep@example.com", "password123", "Keep")
    pid = first.pid
    children = _processes_of(pid)
    assert pid is not None and any("java" in p for p in children), children
    assert first.stop(signal.SIGINT) == 0
    assert _processes_of(pid) == []
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0
    second = LocalServer(
        None, state_dir=tmp_path, extra_env={"TABLE_PREFIX": first.env["TABLE_PREFIX"]}
    ).start()
    try:
        status, body = second.request(
            "POST",
            "/api/collections/users/auth-with-password",
            {"identity": "keep@example.com", "password": "password123"},
        )
        assert status == 200 and body["record"]["id"] == user_id
    finally:
        assert second.stop() == 0


def test_frontend_spa_fallback_cors_and_unknown_routes(
    tmp_path: Path, dynamodb_local_endpoint: str
) -> None:
    site = tmp_path / "site"
    (site / "_app").mkdir(parents=True)
    (site / "index.html").write_text("<html>index</html>")
    (site / "_app" / "app.js").write_text("console.log(1)")
    with LocalServer(dynamodb_local_endpoint, args=("--frontend", str(site))) as server:

        def fetch(path: str, method: str = "GET", headers: dict | None = None):
            request = urllib.request.Request(
                server.url + path, method=method, headers=headers or {}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    return reply.status, reply.headers, reply.read()
            except urllib.error.HTTPError as error:
                return error.code, error.headers, error.read()

        assert fetch("/")[2] == b"<html>index</html>"
        assert fetch("/app/projects/abc")[2] == b"<html>index</html>"
        assert fetch("/_app/app.js")[2] == b"console.log(1)"
        assert fetch("/../../etc/passwd")[2] == b"<html>index</html>"
        status, _, body = fetch("/api/nope/deeper")
        assert status == 404 and body == b'{"code":404,"message":"Not Found.","data":{}}'
        status, headers, _ = fetch(
            "/api/collections/projects/records",
            "OPTIONS",
            {
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in headers["Access-Control-Allow-Headers"]
        status, headers, _ = fetch(
            "/api/collections/projects/records", headers={"Origin": "http://localhost:5173"}
        )
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"


def test_frontend_without_index_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [".venv/bin/python", "-m", "chalicelib.local", "--frontend", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2 and "index.html" in result.stderr


def test_in_memory_server_takes_users_while_it_runs_and_logs_each_request(
    tmp_path: Path,
) -> None:
    require(java_available(), "Java is needed for DynamoDB Local")
    with LocalServer(None, state_dir=tmp_path, args=("--in-memory",)) as server:
        # The documented first-user path, while an --in-memory server runs: it reaches
        # that server's database (none is started on the state folder).
        user_id = server.create_user("mem@example.com", "password123", "Mem")
        status, body = server.request(
            "POST",
            "/api/collections/users/auth-with-password",
            {"identity": "mem@example.com", "password": "password123"},
        )
        assert status == 200 and body["record"]["id"] == user_id
        token = body["token"]
        listed, _ = server.request(
            "GET", "/api/collections/projects/records?page=1&token=QUERYTOKEN", token=token
        )
        assert listed == 200
        hook, _ = server.request("POST", "/pb/auto-update/aaaaaaaaaaaaaaa?secret=QUERYSECRET")
        assert hook == 401  # a wrong secret
        log = server.output()
    assert not (tmp_path / "dynamodb").exists()
    assert re.search(r"POST /api/collections/users/auth-with-password 200 \d+\.\dms", log), log
    assert "GET /api/collections/projects/records?page=1&token=*** 200 " in log, log
    assert "POST /pb/auto-update/aaaaaaaaaaaaaaa?secret=*** 401 " in log, log
    for credential in (token, "password123", "QUERYTOKEN", "QUERYSECRET"):
        assert credential not in log


def test_create_user_without_a_terminal_or_password_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ONECLICK_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.local", "--state-dir", str(tmp_path), "create-user"]
        + ["--email", "nobody@example.com"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2, result.stderr
    assert "ONECLICK_PASSWORD" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before any database was started
