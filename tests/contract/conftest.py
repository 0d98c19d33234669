"""A running local server for tests that speak HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server import LocalServer


@pytest.fixture(scope="session")
def local_server(dynamodb_local_endpoint: str) -> Iterator[LocalServer]:
    with LocalServer(dynamodb_local_endpoint) as server:
        yield server
