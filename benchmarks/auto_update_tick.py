"""One auto-update tick over 1,000 autoUpdates that watch 50 repositories: registry requests,
DynamoDB requests and wall time, on a real registry (Debian's docker-registry, anonymous) and
DynamoDB Local (moto's server if Java is missing).

Every autoUpdate runs the newest tag already, so the tick reads and decides but rolls nothing
out (rolling out is the cluster's cost, measured by benchmarks/cluster_calls.py).
Prints figures; asserts nothing. Usage: .venv/bin/python benchmarks/auto_update_tick.py
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from bench_env import MANIFEST, ROOT, count_dynamodb_calls, database  # noqa: I001 - environment first

sys.path.insert(0, str(ROOT / "tests" / "support"))
from auto_update_seed import seed_deployment  # noqa: E402
from docker_registry import push_image, start_registry  # noqa: E402

AUTO_UPDATES, REPOSITORIES, TAGS_PER_REPOSITORY, RUNS = 1000, 50, 12, 5
TAGS = [f"1.{minor}.{patch}" for minor in range(4) for patch in range(3)][:TAGS_PER_REPOSITORY]
NEWEST = "1.3.2"
CALLS = count_dynamodb_calls()


def seed(registry: str) -> list[str]:
    """Users, projects, deployments with a running rollout each, and their autoUpdates,
    written through the store as the API would leave them."""
    from chalicelib.records import store, values
    from chalicelib.records.tables import create_missing_tables
    from chalicelib.records.users import new_user

    create_missing_tables()
    user = new_user(
        {"email": "bench@example.com", "password": "password123", "passwordConfirm": "password123"}
    )
    stamp = values.now()
    project = {"id": values.new_id(), "created": stamp, "updated": stamp, "name": "p"}
    store.create("projects", {**project, "user": user["id"], "tags": "", "avatar": ""})
    ids = []
    for index in range(AUTO_UPDATES):
        manifest: dict[str, Any] = dict(MANIFEST, spec=dict(MANIFEST["spec"]))
        manifest["spec"]["image"] = {
            "registry": registry,
            "repository": f"team/app{index % REPOSITORIES}",
            "tag": NEWEST,
        }
        ids.append(seed_deployment(user["id"], project["id"], manifest, r"^1\.\d+\.\d+$", stamp))
    return ids


def main() -> None:
    host, stop = start_registry()
    try:
        print(f"pushing {REPOSITORIES} repositories x {len(TAGS)} tags to {host} ...", flush=True)
        for repository in range(REPOSITORIES):
            for tag in TAGS:
                push_image(f"http://{host}", f"team/app{repository}", tag)
        with database() as engine:
            run(engine, host)
    finally:
        stop()


def run(engine: str, registry: str) -> None:
    from chalicelib.image_updates import tick
    from chalicelib.records import store
    from chalicelib.registry.client import RegistryClient
    from chalicelib.settings import get_settings

    ids = seed(registry)
    print(f"engine: {engine}; {AUTO_UPDATES} autoUpdates over {REPOSITORIES} repositories")
    print(f"concurrency: {get_settings().auto_update_concurrency} checks at once")
    rows = []
    for _ in range(RUNS):
        for auto_update_id in ids:  # all due again, outside the measurement
            store.record_check(auto_update_id, {"nextCheck": "2000-01-01 00:00:00.000Z"})
        CALLS.clear()
        client = RegistryClient()
        started = time.perf_counter()
        report = tick.run(registry=client)
        elapsed = time.perf_counter() - started
        assert report.checked == AUTO_UPDATES and report.errors == 0, report
        rows.append((elapsed, client.request_count, sum(CALLS.values()), dict(CALLS)))
    walls = [r[0] for r in rows]
    print(f"registry requests per tick: {rows[-1][1]} (tag listings + auth challenges)")
    print(f"DynamoDB requests per tick: {rows[-1][2]}  {rows[-1][3]}")
    print(
        f"wall time of one tick: median {statistics.median(walls):.2f} s "
        f"(min {min(walls):.2f}, max {max(walls):.2f}, {RUNS} runs)"
    )


if __name__ == "__main__":
    main()
