"""The real local server (``python -m chalicelib.local``) as a child process, for tests
that must talk HTTP to it: the JS SDK contract tests and the PocketBase differential tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Self

from http_json import request_json

ROOT = Path(__file__).resolve().parents[2]
# The local server's log format (chalicelib.local.__main__): "%(asctime)s %(levelname)s ...".
_LOG_ENTRY_START = re.compile(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )")
_ANSWERED_5XX = re.compile(r"oneclick\.access: \S+ \S+ 5\d\d ")
_TRACEBACK = "Traceback (most recent call last)"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One local server on a free port, on the given DynamoDB endpoint with its own tables."""

    def __init__(
        self,
        dynamodb_endpoint: str | None,
        extra_env: dict[str, str] | None = None,
        state_dir: Path | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        """``dynamodb_endpoint=None``: the server starts its own DynamoDB Local, keeping its
        data in ``state_dir`` (pass the same folder again to test a restart)."""
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._owned_state = None if state_dir else tempfile.TemporaryDirectory(prefix="oc-")
        self.state_dir = state_dir or Path(self._owned_state.name)  # type: ignore[union-attr]
        self.args = args
        self.env = {**os.environ, "TABLE_PREFIX": f"srv{uuid.uuid4().hex[:8]}-", "BCRYPT_COST": "4"}
        self.env.pop("DYNAMODB_ENDPOINT", None)
        self.env.pop("JWT_SECRET", None)  # the local run generates and keeps its own
        self.env.update(extra_env or {})
        if dynamodb_endpoint:
            self.env["DYNAMODB_ENDPOINT"] = dynamodb_endpoint
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.state_dir / "server.log"

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "chalicelib.local", "--state-dir", str(self.state_dir), *args]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 90.0) -> Self:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                self._command("--port", str(self.port), *self.args),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"local server exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"local server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self._log.read_text(errors="replace")[-4000:] if self._log.exists() else ""

    def server_errors(self, tracebacks: bool = True) -> list[str]:
        """The log entries of 5xx answers and (with ``tracebacks``) of logged tracebacks,
        each whole: its timestamped line up to the next one. An entry never changes once
        the next is written, so two readings can be compared as multisets."""
        log = self._log.read_text(errors="replace") if self._log.exists() else ""
        return [
            entry
            for entry in _LOG_ENTRY_START.split(log)
            if _ANSWERED_5XX.search(entry) or (tracebacks and _TRACEBACK in entry)
        ]

    def create_user(self, email: str, password: str, name: str = "") -> str:
        """Create a user through the CLI (the documented first-user path); returns its id."""
        result = subprocess.run(
            self._command("create-user", "--email", email, "--name", name),
            cwd=ROOT,
            env={**self.env, "ONECLICK_PASSWORD": password},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(f"create-user failed: {result.stdout}{result.stderr}")
        return result.stdout.split()[2]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> tuple[int, Any]:
        """One HTTP request; returns (status, parsed JSON or None) and never raises on 4xx."""
        return request_json(
            self.url, method, path, token=token, body=body, raw_body=raw_body, headers=headers
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Stop the server with ``sig`` (SIGINT is Ctrl-C) and return its exit code."""
        code = None
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                code = self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._owned_state is not None:
            self._owned_state.cleanup()
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class Fleet:
    """N local servers in separate processes sharing one DynamoDB (one table prefix), one
    signing secret and one files folder: what N concurrent Lambda instances share on AWS.
    Nothing else is shared, so an invariant that holds here holds only through DynamoDB."""

    def __init__(self, size: int, dynamodb_endpoint: str, extra_env: dict[str, str]) -> None:
        self._shared = tempfile.TemporaryDirectory(prefix="oc-fleet-")
        env = {
            "TABLE_PREFIX": f"fleet{uuid.uuid4().hex[:8]}-",
            "JWT_SECRET": f"fleet-secret-{uuid.uuid4().hex}",
            "FILES_DIR": str(Path(self._shared.name) / "files"),
            **extra_env,
        }
        self.servers = [LocalServer(dynamodb_endpoint, extra_env=env) for _ in range(size)]

    def start(self) -> Self:
        """The first server creates the tables; the others then start side by side."""
        from concurrent.futures import ThreadPoolExecutor

        try:
            self.servers[0].start()
            with ThreadPoolExecutor(len(self.servers)) as pool:
                list(pool.map(LocalServer.start, self.servers[1:]))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self._shared.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.servers)

    def server_errors(self) -> list[str]:
        """Every 5xx answer and logged traceback so far, from every instance's log."""
        return [entry for server in self.servers for entry in server.server_errors()]

    def __getitem__(self, index: int) -> LocalServer:
        return self.servers[index % len(self.servers)]
