"""The record API side by side with the real PocketBase 0.22.26, on the frontend's requests.

One user per size (100, 1,000 and 5,000 rollouts, plus the frontend's other collections at
the sizes below) is seeded into our tables on DynamoDB Local and into PocketBase with the
One-Click schema imported. Every case then runs interleaved, ``rounds`` times: ours
in-process (the Chalice app called directly: what a Lambda invocation bills), ours over
HTTP (the local server), PocketBase over HTTP. Printed per case: the medians, the ratios to
PocketBase, and for ours in-process the DynamoDB requests, the items they returned and the
read/write capacity DynamoDB reports (``ReturnConsumedCapacity``). Last, the cold start:
a fresh interpreter on the unzipped Lambda bundle answering an authenticated list, against
PocketBase's process start to its first authenticated 200.

Each case runs once untimed first (connections, caches, the JIT of DynamoDB Local's JVM).
Prints figures; asserts nothing. Usage:
  .venv/bin/python benchmarks/vs_pocketbase.py [--rounds 5] [--sizes 100,1000,5000]
      [--no-cold | --cold-only]
``--cold-only`` seeds the sizes but times only the cold start (a quick check of it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_env import MANIFEST, ROOT, database

sys.path.insert(0, str(ROOT / "tests" / "support"))

import dynamodb_calls  # noqa: E402
import urllib3  # noqa: E402
from gateway_events import lambda_event  # noqa: E402
from local_server import LocalServer  # noqa: E402
from pocketbase_reference import PocketBaseReference, find_binary  # noqa: E402

PROJECTS, DEPLOYMENTS_PER_PROJECT, BLUEPRINTS, AUTO_UPDATES = 10, 2, 5, 10
PASSWORD = "password123"  # noqa: S105 - a throw-away benchmark user
RECORDS = "/api/collections/{}/records"
# The frontend's updateDataStores(): collection -> expand, each a getFullList.
PAGE_LOAD = (
    ("projects", "blueprint"),
    ("deployments", "project,blueprint"),
    ("blueprints", "owner,users"),
    ("autoUpdates", "project"),
    ("rollouts", "project,deployment"),
)
READS = ("GetItem", "BatchGetItem", "Query")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")

Call = Callable[[str, str, Any], tuple[int, Any]]


class Meter:
    """Every DynamoDB request of this process: count, items returned, capacity consumed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.read_units = 0.0
        self.write_units = 0.0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def install(self) -> None:
        def metered(operation: str, params: dict[str, Any], send: Any) -> dict[str, Any]:
            if operation in READS + WRITES:
                params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            reply = send(params)
            self.calls[operation] += 1
            self.items += len(reply.get("Items", [])) + ("Item" in reply)
            self.items += sum(len(v) for v in reply.get("Responses", {}).values())
            used = reply.get("ConsumedCapacity") or []
            for entry in used if isinstance(used, list) else [used]:
                units = float(entry.get("CapacityUnits", 0))
                if operation in READS:
                    self.read_units += units
                else:
                    self.write_units += units
            return reply

        dynamodb_calls.install(metered)


METER = Meter()


def http_side(base: str) -> Call:
    pool = urllib3.PoolManager(maxsize=4)

    def call(method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        data = json.dumps(body).encode() if body is not None else None
        reply = pool.request(method, base + path, body=data, headers=headers, retries=False)
        return reply.status, json.loads(reply.data) if reply.data else None

    return lambda method, path, body=None, token="": call(method, path, body, token)


# Milliseconds spent building API Gateway's events for in-process calls: API Gateway's work,
# not the Lambda's, so ``timed`` leaves it out.
_GATEWAY_MS = [0.0]


def in_process_side() -> Call:
    """The app called as Lambda calls it, ``app(event, context)``, with the event built
    beforehand (as API Gateway does) and left out of the time."""
    import types

    from app import app

    context = types.SimpleNamespace(aws_request_id="bench", function_name="bench")

    def call(method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
        start = time.perf_counter()
        headers = {"content-type": "application/json", "host": "127.0.0.1"}
        if token:
            headers["authorization"] = token
        payload = json.dumps(body).encode() if body is not None else b""
        event = lambda_event(method, path, headers, payload)
        _GATEWAY_MS[0] += (time.perf_counter() - start) * 1000
        reply = app(event, context)
        text = reply.get("body") or ""
        return reply["statusCode"], json.loads(text) if text else None

    return lambda method, path, body=None, token="": call(method, path, body, token)


def must(reply: tuple[int, Any]) -> Any:
    status, body = reply
    if status >= 300:
        raise RuntimeError(f"{status}: {body}")
    return body


def get_full_list(call: Call, token: str, collection: str, expand: str) -> int:
    """The SDK's getFullList as the frontend calls it: 500 a page until a short page."""
    count, page = 0, 1
    while True:
        path = RECORDS.format(collection) + (
            f"?page={page}&perPage=500&skipTotal=1&sort=-created&expand={expand}"
        )
        items = must(call("GET", path, None, token))["items"]
        count += len(items)
        if len(items) < 500:
            return count
        page += 1


# ---- seeding -------------------------------------------------------------------------------


def seed_ours(email: str, rollouts: int) -> dict[str, Any]:
    from chalicelib.records import store, store_writes, values
    from chalicelib.records.models import RolloutModel
    from chalicelib.records.schema import COLLECTIONS
    from chalicelib.records.users import new_user
    from chalicelib.records.validation import empty_record

    user = new_user({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD})

    def record(collection: str, **fields: Any) -> dict[str, Any]:
        stamp = values.now()
        base = {**empty_record(COLLECTIONS[collection]), "id": values.new_id()}
        return {**base, "created": stamp, "updated": stamp, **fields}

    projects = [record("projects", name=f"p{i}", user=user["id"]) for i in range(PROJECTS)]
    deployments = [
        record("deployments", name=f"d{i}", user=user["id"], project=p["id"])
        for p in projects
        for i in range(DEPLOYMENTS_PER_PROJECT)
    ]
    blueprints = [
        record("blueprints", name=f"b{i}", owner=user["id"], manifest=MANIFEST)
        for i in range(BLUEPRINTS)
    ]
    auto_updates = [
        record(
            "autoUpdates",
            user=user["id"],
            project=d["project"],
            deployment=d["id"],
            interval="5m",
            policy="semver",
        )
        for d in deployments[:AUTO_UPDATES]
    ]
    for collection, group in (
        ("projects", projects),
        ("deployments", deployments),
        ("blueprints", blueprints),
        ("autoUpdates", auto_updates),
    ):
        for each in group:
            store.create(collection, each)
    with RolloutModel.batch_write() as batch:
        for i in range(rollouts):
            deployment = deployments[i % len(deployments)]
            item = record(
                "rollouts",
                user=user["id"],
                project=deployment["project"],
                deployment=deployment["id"],
                manifest=MANIFEST,
                startDate=values.now(),
                version=1,
            )
            batch.save(store_writes._to_item("rollouts", item))
    return {"user": user, "project": projects[0]}


def seed_pocketbase(reference: PocketBaseReference, email: str, rollouts: int) -> dict[str, Any]:
    user_id = reference.create_user(email, PASSWORD)["id"]
    token = reference.auth_user(email, PASSWORD)["token"]
    call = http_side(reference.url)

    def create(collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return must(call("POST", RECORDS.format(collection), body, token))  # type: ignore[no-any-return]

    projects = [create("projects", {"name": f"p{i}", "user": user_id}) for i in range(PROJECTS)]
    deployments = [
        create("deployments", {"name": f"d{i}", "user": user_id, "project": p["id"]})
        for p in projects
        for i in range(DEPLOYMENTS_PER_PROJECT)
    ]
    for i in range(BLUEPRINTS):
        create("blueprints", {"name": f"b{i}", "owner": user_id, "manifest": MANIFEST})
    for d in deployments[:AUTO_UPDATES]:
        create(
            "autoUpdates",
            {
                "user": user_id,
                "project": d["project"],
                "deployment": d["id"],
                "interval": "5m",
                "policy": "semver",
            },
        )

    def rollout(i: int) -> None:
        d = deployments[i % len(deployments)]
        body = {"user": user_id, "project": d["project"], "deployment": d["id"]}
        create("rollouts", {**body, "manifest": MANIFEST, "startDate": "2026-01-01 00:00:00Z"})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(rollout, range(rollouts)))
    return {"user": {"id": user_id}, "project": projects[0], "token": token}


# ---- the cases -------------------------------------------------------------------------------


def cases(size: int) -> list[tuple[str, Callable[[Call, str, dict[str, Any]], Any]]]:
    rollouts = RECORDS.format("rollouts")
    last30, last500 = -(-size // 30), -(-size // 500)
    expand = "&expand=project,deployment"

    def page(query: str) -> Callable[[Call, str, dict[str, Any]], Any]:
        return lambda call, token, _seeded: must(call("GET", rollouts + query, None, token))

    def write_cycle(call: Call, token: str, seeded: dict[str, Any]) -> None:
        # Blueprints: their writes touch no cluster, so the figures are the database's.
        path = RECORDS.format("blueprints")
        body = {"name": "bench", "owner": seeded["user"]["id"], "manifest": MANIFEST}
        created = must(call("POST", path, body, token))
        must(call("PATCH", f"{path}/{created['id']}", {"name": "bench2"}, token))
        status, _ = call("DELETE", f"{path}/{created['id']}", None, token)
        assert status == 204, status  # noqa: S101 - a failed write would skew the figures

    return [
        (
            "page load (5 getFullList)",
            lambda call, token, _s: [get_full_list(call, token, c, e) for c, e in PAGE_LOAD],
        ),
        ("rollouts page 1/30", page(f"?page=1&perPage=30&sort=-created&skipTotal=1{expand}")),
        ("rollouts page 1/30 +totalItems", page(f"?page=1&perPage=30&sort=-created{expand}")),
        (
            f"rollouts last page ({last30})/30",
            page(f"?page={last30}&perPage=30&sort=-created&skipTotal=1{expand}"),
        ),
        ("rollouts page 1/500", page(f"?page=1&perPage=500&sort=-created&skipTotal=1{expand}")),
        (
            f"rollouts last page ({last500})/500",
            page(f"?page={last500}&perPage=500&sort=-created&skipTotal=1{expand}"),
        ),
        (
            "getFullList rollouts",
            lambda call, token, _s: get_full_list(call, token, "rollouts", "project,deployment"),
        ),
        (
            "view project",
            lambda call, token, s: must(
                call("GET", f"{RECORDS.format('projects')}/{s['project']['id']}", None, token)
            ),
        ),
        ("create+update+delete blueprint", write_cycle),
    ]


def timed(action: Callable[[], Any]) -> float:
    _GATEWAY_MS[0] = 0.0
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000 - _GATEWAY_MS[0]


def run_size(size: int, rounds: int, sides: dict[str, tuple[Call, str, dict[str, Any]]]) -> None:
    for name, case in cases(size):
        times: dict[str, list[float]] = {side: [] for side in sides}
        for call, token, seeded in sides.values():
            case(call, token, seeded)  # untimed: connections, caches and DynamoDB Local's JIT
        for _ in range(rounds):
            for side, (call, token, seeded) in sides.items():
                if side == "ours in-process":
                    METER.reset()
                times[side].append(timed(lambda f=case, c=call, t=token, s=seeded: f(c, t, s)))
                if side == "ours in-process":
                    cost = (sum(METER.calls.values()), METER.items, METER.read_units)
        medians = {side: statistics.median(values) for side, values in times.items()}
        print_row({"size": size, "case": name, **medians, "cost": cost})


def print_row(row: dict[str, Any]) -> None:
    pb = row["PocketBase"]
    mine, http = row["ours in-process"], row["ours HTTP"]
    calls, items, units = row["cost"]
    print(
        f"{row['size']:>5} | {row['case']:<30} | {mine:8.1f} | {http:8.1f} | {pb:8.1f} | "
        f"{mine / pb:5.2f}x | {http / pb:5.2f}x | {calls:5d} | {items:6d} | {units:8.1f}",
        flush=True,
    )


# ---- cold start ------------------------------------------------------------------------------

# Prints the status, then how long the import and the first request took, so the report can
# split a cold start into interpreter start, import and first request.
PROBE = """
import time
began = time.perf_counter()
import json, sys, types
import app
imported = time.perf_counter()
event = json.loads(sys.stdin.read())
reply = app.app(event, types.SimpleNamespace(aws_request_id="cold", function_name="bench"))
done = time.perf_counter()
print(reply["statusCode"], (imported - began) * 1000, (done - imported) * 1000, flush=True)
"""


@dataclass(frozen=True)
class ColdRun:
    total_ms: float
    import_ms: float
    request_ms: float


def _list_event(token: str) -> dict[str, Any]:
    """The API Gateway event of an authenticated list."""
    path = RECORDS.format("projects") + "?perPage=30&sort=-created"
    return lambda_event("GET", path, {"authorization": token, "host": "127.0.0.1"})


@contextmanager
def unzipped_bundle() -> Iterator[Path]:
    from infra.package import package

    with tempfile.TemporaryDirectory(prefix="vs-pb-bundle-") as work:
        artifacts = package("dev", Path(work) / "dev")
        shutil.unpack_archive(artifacts.bundle, Path(work) / "bundle", "zip")
        yield Path(work) / "bundle"


def ours_cold_run(bundle: Path, event: dict[str, Any], env: dict[str, str]) -> ColdRun:
    """Process start to the reply, like PocketBase's figure: the interpreter's exit is not
    part of a Lambda cold start (the runtime keeps the process), so it is not timed."""
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", PROBE],
            cwd=bundle,
            env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert process.stdin and process.stdout
        process.stdin.write(json.dumps(event))
        process.stdin.close()
        reply = process.stdout.readline()
        elapsed = (time.perf_counter() - start) * 1000
        process.wait(60)
        errors.seek(0)
        status, *phases = reply.split() or ["none"]
        if status != "200":
            raise RuntimeError(f"cold list failed: {reply}{errors.read()[-2000:]}")
    return ColdRun(elapsed, float(phases[0]), float(phases[1]))


def pocketbase_cold_ms(binary: Path, data: Path, token: str) -> float:
    from chalicelib.local.dynamodb_local import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vs-pb-cold-") as work:
        copy = Path(work) / "pb_data"
        shutil.copytree(data, copy)
        url = f"http://127.0.0.1:{port}{RECORDS.format('projects')}?perPage=30&sort=-created"
        pool = urllib3.PoolManager()
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(binary), "serve", f"--dir={copy}", f"--http=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = start + 30
            while time.perf_counter() < deadline:
                try:
                    reply = pool.request(
                        "GET", url, headers={"Authorization": token}, retries=False, timeout=2
                    )
                    if reply.status == 200:
                        return (time.perf_counter() - start) * 1000
                except urllib3.exceptions.HTTPError:
                    time.sleep(0.001)
            raise RuntimeError("PocketBase did not answer within 30 s")
        finally:
            process.terminate()
            process.wait(10)


def cold_start(rounds: int, reference_data: Path, binary: Path, pb_token: str, token: str) -> None:
    import os

    event = _list_event(token)
    with unzipped_bundle() as bundle:
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(ours_cold_run(bundle, event, dict(os.environ)))
            theirs.append(pocketbase_cold_ms(binary, reference_data, pb_token))
    mine, pb = statistics.median(run.total_ms for run in ours), statistics.median(theirs)
    imports = statistics.median(run.import_ms for run in ours)
    requests = statistics.median(run.request_ms for run in ours)
    print(
        f"\ncold start to the first authenticated list (median of {rounds}, interleaved):\n"
        f"  ours (fresh python -S on the unzipped bundle): {mine:6.0f} ms  "
        f"(runs: {', '.join(f'{run.total_ms:.0f}' for run in ours)})\n"
        f"    of which import app {imports:.0f} ms, first request {requests:.0f} ms, "
        f"the rest interpreter start\n"
        f"  PocketBase (process start to first 200):        {pb:6.0f} ms  "
        f"(runs: {', '.join(f'{t:.0f}' for t in theirs)})\n"
        f"  ratio: {mine / pb:.1f}x"
    )


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--cold-only", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    import os

    with database() as engine, PocketBaseReference() as reference:
        from chalicelib.records.tables import create_missing_tables

        create_missing_tables()
        METER.install()
        print(f"ours on {engine}; PocketBase {reference.url}; {args.rounds} interleaved rounds")
        server = LocalServer(
            os.environ["DYNAMODB_ENDPOINT"], {"TABLE_PREFIX": os.environ["TABLE_PREFIX"]}
        ).start()
        try:
            ours_http = http_side(server.url)
            in_process = in_process_side()
            print(
                f"{'size':>5} | {'case':<30} | {'in-proc':>8} | {'HTTP':>8} | {'PB':>8} | "
                f"{'in/PB':>6} | {'HTTP/PB':>6} | {'calls':>5} | {'items':>6} | {'RCU':>8}"
            )
            last_token = ""
            for size in sizes:
                email = f"bench{size}@example.com"
                seeded = seed_ours(email, size)
                theirs = seed_pocketbase(reference, email, size)
                login = {"identity": email, "password": PASSWORD}
                auth = "/api/collections/users/auth-with-password"
                token = must(in_process("POST", auth, login))["token"]
                http_token = must(ours_http("POST", auth, login))["token"]
                sides = {
                    "ours in-process": (in_process, token, seeded),
                    "ours HTTP": (ours_http, http_token, seeded),
                    "PocketBase": (http_side(reference.url), theirs["token"], theirs),
                }
                if not args.cold_only:
                    run_size(size, args.rounds, sides)
                last_token, pb_token = token, theirs["token"]
        finally:
            server.stop()
        if not args.no_cold:
            with tempfile.TemporaryDirectory(prefix="vs-pb-data-") as kept:
                binary = find_binary()
                reference.stop(keep_data_in=Path(kept) / "pb_data")
                cold_start(args.rounds, Path(kept) / "pb_data", binary, pb_token, last_token)


if __name__ == "__main__":
    main()
