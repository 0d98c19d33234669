"""Several local servers (separate processes, as concurrent Lambda instances are) on one
DynamoDB Local and one control plane; the tests storm them at once over HTTP and then check
the database and the cluster for each invariant the product promises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_server import Fleet

INSTANCES = 4


@pytest.fixture(scope="module")
def fleet(dynamodb_local_endpoint: str, backend_kubeconfig: str) -> Iterator[Fleet]:
    env = {"LOCAL_KUBECONFIG_FILE": backend_kubeconfig}
    with Fleet(INSTANCES, dynamodb_local_endpoint, env) as running:
        yield running
