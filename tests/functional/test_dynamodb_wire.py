"""The read path's DynamoDB client (chalicelib.records.dynamodb_wire) without botocore:
its signature is the one botocore computes for the same request, and it retries what is
worth retrying (throttling, 5xx, a broken connection, a corrupted body) and nothing else,
against a scripted peer on 127.0.0.1. DynamoDB Local and moto do not check signatures, so
the comparison with botocore's signer is what proves the signing."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from loopback_http import LoopbackServer

from chalicelib.records.dynamodb_wire import ATTEMPTS, Credentials, WireClient, WireError


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
def test_the_signature_is_botocores(token: str | None) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotocoreCredentials

    from chalicelib.records.dynamodb_wire import signed_headers

    key, secret, region = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "eu-west-1"
    body = json.dumps({"TableName": "t-users", "Key": {"id": {"S": "abc"}}}).encode()
    target = "DynamoDB_20120810.GetItem"
    request = AWSRequest(
        method="POST",
        url=f"https://dynamodb.{region}.amazonaws.com/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    SigV4Auth(BotocoreCredentials(key, secret, token), "dynamodb", region).add_auth(request)
    ours = signed_headers(
        Credentials(key, secret, token),
        region,
        f"dynamodb.{region}.amazonaws.com",
        target,
        body,
        request.headers["X-Amz-Date"],  # the moment botocore signed at
    )
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


class ScriptedDynamoDB(LoopbackServer):
    """Answers each POST with the next entry of ``script``: (status, body, crc-ok) or
    "drop" (close the connection without answering). Records each request's headers."""

    def __init__(self, script: list[object]) -> None:
        self.script = list(script)
        self.seen: list[dict[str, str]] = []
        self.ports: set[int] = set()
        self._lock = threading.Lock()
        self._start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with peer._lock:
                    peer.seen.append({k.lower(): v for k, v in self.headers.items()})
                    peer.ports.add(self.client_address[1])
                    step = peer.script.pop(0)
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if step == "ok-then-close":  # answer, then close without saying so
                    step, self.close_connection = OK, True
                status, body, crc_ok = step  # type: ignore[misc]
                data = json.dumps(body).encode()
                crc = zlib.crc32(data) if crc_ok else zlib.crc32(data) ^ 1
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amz-crc32", str(crc))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[ScriptedDynamoDB]:
    server = ScriptedDynamoDB(request.param)
    yield server
    server.close()


def _client(peer: ScriptedDynamoDB) -> WireClient:
    return WireClient("us-east-1", f"http://{peer.host}", lambda: Credentials("k", "s", "t"))


OK = (200, {"Item": {"id": {"S": "abc"}}}, True)
THROTTLED = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException"}, True)


@pytest.mark.parametrize(
    "peer",
    [
        [(500, {"__type": "InternalServerError", "message": "boom"}, True), OK],
        [THROTTLED, OK],
        ["drop", OK],
        [(200, {"Item": {}}, False), OK],  # a body whose CRC32 does not match
    ],
    indirect=True,
    ids=["5xx", "throttled", "dropped", "crc"],
)
def test_transient_failures_are_retried(peer: ScriptedDynamoDB) -> None:
    assert _client(peer).call("GetItem", {"TableName": "t"}) == OK[1]
    assert len(peer.seen) == 2
    assert peer.seen[0]["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert peer.seen[0]["x-amz-security-token"] == "t"
    assert peer.seen[0]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=k/")


@pytest.mark.parametrize(
    "peer",
    [[(400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}, True)]],
    indirect=True,
)
def test_a_refusal_is_not_retried_and_keeps_its_code(peer: ScriptedDynamoDB) -> None:
    with pytest.raises(WireError) as raised:
        _client(peer).call("Query", {"TableName": "t"})
    assert (raised.value.code, raised.value.message, raised.value.status) == (
        "ValidationException",
        "bad",
        400,
    )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert len(peer.seen) == 1


@pytest.mark.parametrize("peer", [[THROTTLED] * ATTEMPTS], indirect=True)
def test_retries_are_bounded(peer: ScriptedDynamoDB) -> None:
    with pytest.raises(WireError) as raised:
        _client(peer).call("Query", {"TableName": "t"})
    assert raised.value.code == "ThrottlingException"
    assert len(peer.seen) == ATTEMPTS


@pytest.mark.parametrize("peer", [[OK, OK, OK]], indirect=True)
def test_a_connection_is_kept_alive_and_reused(peer: ScriptedDynamoDB) -> None:
    client = _client(peer)
    for _ in range(3):
        assert client.call("GetItem", {"TableName": "t"}) == OK[1]
    [idle] = client._idle
    assert idle.sock is not None
    assert len(peer.seen) == 3
    assert len(peer.ports) == 1  # one TCP connection served all three


@pytest.mark.parametrize("peer", [["ok-then-close", OK]], indirect=True)
def test_an_idle_connection_the_server_closed_is_replaced_at_once(
    peer: ScriptedDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.records import dynamodb_wire

    client = _client(peer)
    assert client.call("GetItem", {"TableName": "t"}) == OK[1]
    time.sleep(0.2)  # the server has closed its end by now
    monkeypatch.setattr(dynamodb_wire.time, "sleep", _no_back_off)
    assert client.call("GetItem", {"TableName": "t"}) == OK[1]
    assert len(peer.seen) == 2 and len(peer.ports) == 2


def _no_back_off(seconds: float) -> None:
    raise AssertionError(f"backed off {seconds}s for a stale idle connection")


def test_no_answer_at_all_is_a_connection_error_without_a_code() -> None:
    from chalicelib.local.dynamodb_local import free_port

    client = WireClient(
        "us-east-1", f"http://127.0.0.1:{free_port()}", lambda: Credentials("k", "s")
    )
    with pytest.raises(WireError) as raised:
        client.call("GetItem", {"TableName": "t"})
    assert raised.value.code == "ConnectionError" and raised.value.response == {}


def test_the_endpoint_follows_the_region() -> None:
    from chalicelib.records.dynamodb_wire import default_endpoint

    assert default_endpoint("eu-central-1") == "https://dynamodb.eu-central-1.amazonaws.com"
    assert default_endpoint("cn-north-1") == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    with pytest.raises(ValueError, match="not an http"):
        WireClient("us-east-1", "ftp://example.invalid")
