"""A running local server for tests that speak HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server import LocalServer


@pytest.fixture(scope="session")
def local_server(dynamodb_local_endpoint: str, backend_kubeconfig: str) -> Iterator[LocalServer]:
    env = {"LOCAL_KUBECONFIG_FILE": backend_kubeconfig}
    with LocalServer(dynamodb_local_endpoint, env) as server:
        yield server
