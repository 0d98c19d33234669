"""Several local servers (separate processes, as concurrent Lambda instances are) on one
DynamoDB Local and one control plane; the tests storm them at once over HTTP and then check
the database and the cluster for each invariant the product promises.

One fleet for every storm in this folder, started once instead of once per module, on the
session's DynamoDB Local and control plane. Each test works on records of its own
(fresh users, projects, deployments), so the storms do not see each other; what they share
is the settings below, which each module's docstring names where it relies on them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from fleet_state import stop_in_parallel
from local_server import Fleet

INSTANCES = 4
# Stream workers hand over every 4 s (so storms cross hand-overs), renew their lease every
# second; sign-up is on for the unique-identity storms. Nothing else differs from defaults.
STREAM_WINDOW_SECONDS = 4
SETTINGS = {
    "ALLOW_SIGNUP": "true",
    "STREAM_WINDOW_SECONDS": str(STREAM_WINDOW_SECONDS),
    "STREAM_CHECK_SECONDS": "1",
    "STREAM_KEEPALIVE_SECONDS": "2",
}


@pytest.fixture(scope="package")
def fleet(dynamodb_local_endpoint: str, backend_kubeconfig: str) -> Iterator[Fleet]:
    running = Fleet(
        INSTANCES,
        dynamodb_local_endpoint,
        {"LOCAL_KUBECONFIG_FILE": backend_kubeconfig, **SETTINGS},
    )
    running.start()
    try:
        yield running
    finally:
        stop_in_parallel(running)


@pytest.fixture
def new_server_errors(fleet: Fleet) -> Callable[[], list[str]]:
    """The 5xx lines and tracebacks the instances logged since this test began."""
    before = Counter(fleet.server_errors())
    return lambda: list((Counter(fleet.server_errors()) - before).elements())
