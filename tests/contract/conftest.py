"""A running local server for tests that speak HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server import LocalServer
from oauth2_provider import FakeProvider


@pytest.fixture(scope="session")
def oauth2_provider() -> Iterator[FakeProvider]:
    """A local Google for the SDK's ``authWithOAuth2Code``."""
    with FakeProvider({"google": ("sdk-google-id", "sdk-google-secret")}) as provider:
        yield provider


@pytest.fixture(scope="session")
def local_server(
    dynamodb_local_endpoint: str, backend_kubeconfig: str, oauth2_provider: FakeProvider
) -> Iterator[LocalServer]:
    env = {"LOCAL_KUBECONFIG_FILE": backend_kubeconfig, **oauth2_provider.endpoint_env("google")}
    with LocalServer(dynamodb_local_endpoint, env) as server:
        yield server
