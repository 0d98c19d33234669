"""``python -m chalicelib.local``: run the whole service on 127.0.0.1:8090 for development.

Starts DynamoDB Local (data kept in ``.local/dynamodb`` across restarts), creates missing
tables, keeps a generated JWT secret in ``.local/jwt-secret``, and serves the API, a built
frontend with ``--frontend``, and a local Kubernetes control plane with ``--cluster``.
``create-user`` adds a user to the database of the server running on the same state
folder (also an ``--in-memory`` one), else to the persistent database there.
Ctrl-C or SIGTERM stops every child process. Each request is logged (``access_log``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from chalicelib.local.dynamodb_local import (
    PROJECT_ROOT,
    DynamoDBLocal,
    DynamoDBLocalError,
    free_port,
    java_available,
    list_tables,
)

DEFAULT_STATE_DIR = PROJECT_ROOT / ".local"
HOST = "127.0.0.1"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _jwt_secret(state: Path) -> str:
    path = state / "jwt-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _start_database(state: Path, in_memory: bool, stack: ExitStack) -> str:
    """An endpoint for DynamoDB: a given one, else DynamoDB Local, else (no Java) moto."""
    if os.environ.get("DYNAMODB_ENDPOINT"):
        return os.environ["DYNAMODB_ENDPOINT"]
    if java_available():
        database = DynamoDBLocal(None if in_memory else state / "dynamodb")
        stack.enter_context(database)
        return database.endpoint
    _say("!" * 78)
    _say("WARNING: Java is missing, so DynamoDB Local cannot run. Falling back to moto's")
    _say("in-memory DynamoDB: NOTHING YOU CREATE SURVIVES A RESTART. Install Java 17.")
    _say("!" * 78)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=free_port(), verbose=False)
    server.start()
    stack.callback(server.stop)
    return f"http://{HOST}:{server._port}"


def _environment(state: Path, endpoint: str) -> None:
    """Settings for the local run; explicit environment variables still win."""
    os.environ.setdefault("LOCAL", "true")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["DYNAMODB_ENDPOINT"] = endpoint
    os.environ.setdefault("FILES_DIR", str(state / "files"))
    if not any(
        os.environ.get(k) for k in ("JWT_SECRET", "JWT_SECRET_SSM_PARAMETER", "JWT_SECRET_ID")
    ):
        os.environ["JWT_SECRET"] = _jwt_secret(state)


MARKER = "dynamodb.endpoint"  # written by a running server: where its database is


def _running_database(state: Path) -> dict[str, object] | None:
    """``{"endpoint", "inMemory"}`` of the database a local server on this state folder
    is using right now, if one is up."""
    try:
        running = json.loads((state / MARKER).read_text())
        list_tables(str(running["endpoint"]))
    except (OSError, DynamoDBLocalError, ValueError, KeyError, TypeError):
        return None
    return dict(running)


def _prepare(state: Path, in_memory: bool, stack: ExitStack) -> str:
    state.mkdir(parents=True, exist_ok=True)
    running = _running_database(state)
    endpoint = str(running["endpoint"]) if running else _start_database(state, in_memory, stack)
    _environment(state, endpoint)
    from chalicelib.records.tables import create_missing_tables

    created = create_missing_tables()
    if created:
        _say(f"created tables: {', '.join(created)}")
    return endpoint


def _start_cluster(stack: ExitStack) -> None:
    """The project's own Kubernetes control plane (tools/kube), for trying the whole flow
    without a cluster; builds its binaries on first use."""
    from chalicelib.local.control_plane import ControlPlane, ensure_built

    _say("building the Kubernetes control plane if needed (first time: ~7 minutes)...")
    ensure_built()
    cluster = ControlPlane().start()
    stack.callback(cluster.stop)
    # The backend gets exactly the shipped least-privilege role (infra/rbac), as on AWS;
    # the admin kubeconfig is for the person at the keyboard.
    os.environ["LOCAL_KUBECONFIG_FILE"] = str(cluster.kubeconfig_for("one-click-backend"))
    _say(f"Kubernetes control plane ready; admin kubeconfig: {cluster.kubeconfig}")


def _serve(args: argparse.Namespace, stack: ExitStack) -> int:
    # The server answers the API Gateway Management API and Lambda's invoke API itself.
    os.environ.setdefault("STREAM_MANAGEMENT_ENDPOINT", f"http://{HOST}:{args.port}")
    os.environ.setdefault("LAMBDA_ENDPOINT", f"http://{HOST}:{args.port}")
    os.environ.setdefault("STREAM_WORKER_FUNCTION", "stream_worker")
    if args.cluster:
        _start_cluster(stack)
    endpoint = _prepare(args.state_dir, args.in_memory, stack)
    marker = args.state_dir / MARKER
    marker.write_text(json.dumps({"endpoint": endpoint, "inMemory": args.in_memory}))
    stack.callback(marker.unlink, missing_ok=True)
    _logging()
    from aiohttp import web

    from app import app
    from chalicelib.local.server import build
    from chalicelib.settings import get_settings

    get_settings()  # fail now, with the variable's name, if a setting is malformed
    from chalicelib.local.scheduler import Scheduler, jobs_of

    scheduler = Scheduler(jobs_of(app)).start()
    stack.callback(scheduler.stop)
    url = f"http://{HOST}:{args.port}"
    _say(f"One-Click Serverless is running at {url}  (API health: {url}/api/health)")
    _say(f"DynamoDB: {endpoint}  state: {args.state_dir}")
    _say(f"scheduled: {', '.join(f'{j.name} ({j.schedule.text})' for j in scheduler.jobs)}")
    if args.frontend:
        _say(f"frontend: {args.frontend} served at {url}/")
    _say("Create the first user in another terminal, while this server runs, with:")
    _say('  make user EMAIL=you@example.com NAME="You"   (ONECLICK_PASSWORD=… or a prompt)')
    _say("Stop with Ctrl-C.")
    # Our access log (chalicelib.local.access_log) instead of aiohttp's raw request lines.
    web.run_app(build(app, args.frontend), host=HOST, port=args.port, print=None, access_log=None)
    return 0


def _logging() -> None:
    """Our loggers (access lines, tick, errors with tracebacks) at INFO on stderr; other
    libraries only from WARNING."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("oneclick").setLevel(logging.INFO)


def _create_user(args: argparse.Namespace, stack: ExitStack) -> int:
    from chalicelib.cli import create_user, password_from

    password = password_from(args.password)
    running = _running_database(args.state_dir)
    _prepare(args.state_dir, False, stack)
    if running is None:
        _say(f"no local server is running on {args.state_dir}: writing to its persistent")
        _say("database, which a server started with --in-memory will not see")
    elif running["inMemory"]:
        _say("writing to the running --in-memory server's database (gone when it stops)")
    return create_user(args.email, password, args.name, args.username)


def _import(args: argparse.Namespace, stack: ExitStack) -> int:
    _prepare(args.state_dir, False, stack)
    from chalicelib.importer.__main__ import main as import_main

    return import_main(["--pb-data", str(args.pb_data), *(["--dry-run"] if args.dry_run else [])])


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    root.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where the database and the generated secret live (.local)",
    )
    root.add_argument("--port", type=int, default=8090)
    root.add_argument("--frontend", type=Path, help="a built frontend to serve at /")
    root.add_argument(
        "--in-memory", action="store_true", help="keep no data (DynamoDB Local in memory)"
    )
    root.add_argument(
        "--cluster",
        action="store_true",
        help="also start the built-in Kubernetes control plane and use it as the cluster",
    )
    commands = root.add_subparsers(dest="command")
    user = commands.add_parser("create-user", help="create a user that can log in")
    user.add_argument("--email", required=True)
    user.add_argument("--password", help="omit to be prompted (or set ONECLICK_PASSWORD)")
    user.add_argument("--name", default="")
    user.add_argument("--username")
    imported = commands.add_parser("import", help="load a One-Click PocketBase's pb_data")
    imported.add_argument("--pb-data", type=Path, required=True)
    imported.add_argument("--dry-run", action="store_true")
    return root


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)  # unwinds the ExitStack, so DynamoDB Local is stopped too


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.frontend and not (args.frontend / "index.html").is_file():
        _say(f"error: {args.frontend} has no index.html (build the frontend first)")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    commands: dict[str | None, Callable[[argparse.Namespace, ExitStack], int]] = {
        "create-user": _create_user,
        "import": _import,
    }
    command = commands.get(args.command, _serve)
    with ExitStack() as stack:
        try:
            return command(args, stack)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
