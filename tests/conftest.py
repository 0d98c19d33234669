"""Shared fixtures: settings for tests, a fresh set of tables per test on moto or on
DynamoDB Local, and an ``api`` client that drives the Chalice app like API Gateway does."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_client import Api, User, reset_settings
from moto_process import moto_server
from prerequisites import require

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "JWT_SECRET": "test-secret-" + "x" * 40,
    "BCRYPT_COST": "4",
    "ALLOW_SIGNUP": "false",
}
os.environ.update(TEST_ENV)
os.environ.pop("DYNAMODB_ENDPOINT", None)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Any]:
    """The real Kubernetes control plane (chalicelib/local/control_plane.py), one per
    session: ``.kubeconfig`` (admin), ``.kubeconfig_for(user)``, ``.pod_log_file``."""
    from chalicelib.local.control_plane import (
        ControlPlane,
        ControlPlaneError,
        ensure_built,
        missing_binaries,
    )

    def unavailable(why: str) -> None:
        require(False, f"Kubernetes control plane unavailable: {why}")

    if os.environ.get("KUBE_SKIP_BUILD") != "1":
        try:
            ensure_built()
        except (ControlPlaneError, OSError) as err:
            unavailable(str(err))
    elif missing_binaries():
        unavailable(f"missing binaries {missing_binaries()} and KUBE_SKIP_BUILD=1")
    plane = ControlPlane(keep_work_dir=os.environ.get("KUBE_KEEP_WORKDIR") == "1")
    try:
        plane.start()
    except ControlPlaneError as err:
        unavailable(str(err))
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def backend_kubeconfig(control_plane: Any) -> str:
    """A kubeconfig for the least-privilege role the backend ships with (infra/rbac)."""
    return str(control_plane.kubeconfig_for("one-click-backend"))


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    from chalicelib.local.dynamodb_local import DynamoDBLocal, java_available

    require(java_available(), "Java is needed for DynamoDB Local")
    with DynamoDBLocal(None) as database:
        yield database.endpoint


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server, in its own process (tests/support/moto_process.py says why)."""
    with moto_server() as endpoint:
        yield endpoint


def _create_tables(endpoint: str) -> str:
    from chalicelib.records.tables import create_missing_tables

    prefix = f"t{uuid.uuid4().hex[:10]}-"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TABLE_PREFIX", prefix)
        patch.setenv("DYNAMODB_ENDPOINT", endpoint)
        reset_settings()
        create_missing_tables()
    reset_settings()
    return prefix


@pytest.fixture(scope="session")
def table_sets() -> dict[str, str]:
    """Tables are created once per engine and session (nine tables with indexes take
    seconds); each test then starts from emptied tables."""
    return {}


@contextmanager
def no_scans() -> Iterator[None]:
    """Fail the test if the service issued a DynamoDB Scan: every request path must be a
    key or index lookup (docs/access-patterns.md)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    scans: list[str] = []

    def watch(client: BaseClient, operation: str, params: dict) -> object:
        if operation == "Scan":
            scans.append(str(params.get("TableName")))
        return original(client, operation, params)

    BaseClient._make_api_call = watch  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
    assert not scans, f"the service scanned {scans}; use a key or an index"


def empty_all_tables(endpoint: str, prefix: str) -> None:
    """Delete every item between tests (a Scan is fine here: test data only)."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    for name in client.list_tables()["TableNames"]:
        if not name.startswith(prefix):
            continue
        schema = client.describe_table(TableName=name)["Table"]["KeySchema"]
        names = {f"#k{i}": key["AttributeName"] for i, key in enumerate(schema)}
        pages = client.get_paginator("scan").paginate(
            TableName=name,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
        for page in pages:
            for item in page["Items"]:
                client.delete_item(TableName=name, Key=item)


@pytest.fixture(params=["moto", pytest.param("dynamodb_local", marks=pytest.mark.dynamodb_local)])
def backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, table_sets: dict[str, str]
) -> Iterator[str]:
    """Empty tables for one test, on moto's server or on Amazon's DynamoDB Local."""
    endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    if request.param not in table_sets:
        table_sets[request.param] = _create_tables(endpoint)
    prefix = table_sets[request.param]
    monkeypatch.setenv("TABLE_PREFIX", prefix)
    monkeypatch.setenv("DYNAMODB_ENDPOINT", endpoint)
    reset_settings()
    with no_scans():
        yield request.param
    empty_all_tables(endpoint, prefix)
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def api(backend: str, backend_kubeconfig: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The app as API Gateway drives it, on the test's tables and the real control plane."""
    from chalice.test import Client

    from app import app
    from chalicelib.cluster import connection

    monkeypatch.setenv("LOCAL", "true")
    monkeypatch.setenv("LOCAL_KUBECONFIG_FILE", backend_kubeconfig)
    reset_settings()
    connection.reset()
    with Client(app) as client:
        yield Api(client)
    connection.reset()


@pytest.fixture
def make_user(api: Api) -> Any:
    """Create a user directly in the store and log in through the API."""
    from chalicelib.records.users import new_user

    def make(name: str = "User", password: str = "password123") -> User:
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        new_user({"email": email, "password": password, "passwordConfirm": password, "name": name})
        reply = api.post(
            "/api/collections/users/auth-with-password", {"identity": email, "password": password}
        )
        assert reply.status == 200, reply.body
        return User(
            reply.body["record"]["id"], email, password, reply.body["token"], reply.body["record"]
        )

    return make
