"""DynamoDB's JSON protocol over a kept-alive HTTP connection, signed with Signature V4.

Why not botocore for reads: importing it costs a Lambda cold start ~250 ms, and every call
walks its event hooks, endpoint rules, signer and model before a byte is sent (~2 ms of a
~5 ms warm read, profiled). DynamoDB's wire protocol is small: one POST of a JSON body
naming the operation in a header. This client does that and what botocore would also do
for a read: SigV4 with the environment's credentials (Lambda always sets them; anything
else falls back to botocore's credential chain), timeouts, the CRC32 check of the body,
and bounded retries with jittered back-off on throttling, 5xx and broken connections.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from http.client import (
    HTTPConnection,
    HTTPException,
    HTTPResponse,
    HTTPSConnection,
    RemoteDisconnected,
)
from typing import Any
from urllib.parse import urlsplit

import orjson

ATTEMPTS = 3  # as botocore's standard retry mode
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0  # well inside API Gateway's 29 s: a stuck read fails and is retried
_IDLE_CONNECTIONS = 10  # as botocore's pool
# What writing to or reading from an idle connection the server has closed raises.
_STALE = (RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 1.0
_TARGET_PREFIX = "DynamoDB_20120810."
_CONTENT_TYPE = "application/x-amz-json-1.0"
# Error codes worth another attempt (botocore's throttling and transient lists for DynamoDB).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottledException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def _retryable(error: WireError) -> bool:
    return error.code in RETRYABLE_CODES or error.code == "ConnectionError" or error.status >= 500


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


class WireError(Exception):
    """An answer DynamoDB refused (``code`` as in ``__type``, e.g. ValidationException) or
    no answer at all (``code`` "ConnectionError", ``status`` 0). ``response`` has
    botocore's shape (empty without an answer, as botocore's connection errors), so
    PynamoDB-style ``cause_response_code`` lookups read it unchanged."""

    def __init__(self, operation: str, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"DynamoDB {operation}: {code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.response = {"Error": {"Code": code, "Message": message}} if status else {}


def environment_credentials() -> Credentials | None:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


def _botocore_credentials() -> Credentials:
    """Profiles, SSO, instance roles and the rest of the chain, refreshed as botocore
    refreshes them: only where the environment has no keys (never on Lambda)."""
    resolved = _botocore_resolver()
    if resolved is None:
        raise WireError("signing", "NoCredentials", "no AWS credentials found")
    frozen = resolved.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


@lru_cache(maxsize=1)
def _botocore_resolver() -> Any:
    from botocore.session import get_session

    return get_session().get_credentials()


def default_credentials() -> Credentials:
    return environment_credentials() or _botocore_credentials()


def default_endpoint(region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://dynamodb.{region}.{suffix}"


@lru_cache(maxsize=8)
def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "dynamodb", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_headers(
    credentials: Credentials, region: str, host: str, target: str, body: bytes, amz_date: str
) -> dict[str, str]:
    """The headers of one signed POST to ``/`` (``amz_date`` as ``YYYYMMDDTHHMMSSZ``)."""
    headers = {
        "content-type": _CONTENT_TYPE,
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": target,
    }
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        (
            "POST",
            "/",
            "",
            "".join(f"{name}:{headers[name]}\n" for name in names),
            signed,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{amz_date[:8]}/{region}/dynamodb/aws4_request"
    to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = _signing_key(credentials.secret_key, amz_date[:8], region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


class WireClient:
    """One client per endpoint, reused across invocations. Idle connections wait in a small
    pool: a Lambda keeps using its one, a server with a thread per request (the local run,
    the tests) shares a few instead of opening one per thread."""

    def __init__(
        self,
        region: str,
        endpoint: str | None,
        credentials: Callable[[], Credentials] = default_credentials,
    ) -> None:
        url = urlsplit(endpoint or default_endpoint(region))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
        self.region = region
        self._secure = url.scheme == "https"
        self._hostname = url.hostname
        self._port = url.port
        self._host = url.netloc
        self._credentials = credentials
        self._idle: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """The parsed answer of one operation (``GetItem``, ``Query``, ...); WireError."""
        body = orjson.dumps(request)
        for attempt in range(ATTEMPTS):
            if attempt:
                cap = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)
                time.sleep(random.uniform(0, cap))  # noqa: S311 - jitter only
            try:
                return self._send(operation, body)
            except WireError as error:
                if attempt == ATTEMPTS - 1 or not _retryable(error):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _pooled(self) -> HTTPConnection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _new_connection(self) -> HTTPConnection:
        kind = HTTPSConnection if self._secure else HTTPConnection
        connection = kind(self._hostname, self._port, timeout=CONNECT_TIMEOUT_SECONDS)
        connection.connect()
        assert connection.sock is not None  # noqa: S101 - connect() sets it or raises
        connection.sock.settimeout(READ_TIMEOUT_SECONDS)
        # http.client writes the headers and the body separately: without this, Nagle's
        # algorithm holds the body back until the headers are acknowledged.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _checkin(self, connection: HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    @staticmethod
    def _exchange(
        connection: HTTPConnection, body: bytes, headers: dict[str, str]
    ) -> tuple[HTTPResponse, bytes]:
        connection.request("POST", "/", body, headers)
        reply = connection.getresponse()
        return reply, reply.read()

    def _send(self, operation: str, body: bytes) -> dict[str, Any]:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = signed_headers(
            self._credentials(), self.region, self._host, _TARGET_PREFIX + operation, body, amz_date
        )
        connection = self._pooled()
        try:
            if connection is not None:
                try:
                    reply, data = self._exchange(connection, body, headers)
                except _STALE:
                    # The server closed this idle connection meanwhile: once more on a new
                    # one at once, as urllib3 does (it is not an attempt that DynamoDB saw).
                    connection.close()
                    connection = None
            if connection is None:
                connection = self._new_connection()
                reply, data = self._exchange(connection, body, headers)
        except (OSError, HTTPException) as error:  # refused, reset, timed out
            if connection is not None:
                connection.close()
            message = str(error) or type(error).__name__
            raise WireError(operation, "ConnectionError", message) from error
        if reply.will_close:
            connection.close()
        else:
            self._checkin(connection)
        expected = reply.getheader("x-amz-crc32")
        if expected is not None and int(expected) != zlib.crc32(data):
            raise WireError(operation, "ConnectionError", "the answer's CRC32 does not match")
        if reply.status == 200:
            return orjson.loads(data) if data else {}  # type: ignore[no-any-return]
        return self._refused(operation, reply.status, data)

    @staticmethod
    def _refused(operation: str, status: int, data: bytes) -> Any:
        try:
            error = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            error = {}
        code = str(error.get("__type", "")).rpartition("#")[2]
        message = str(error.get("message") or error.get("Message") or "")
        if not code:
            code = "InternalServerError" if status >= 500 else f"HTTP{status}"
        raise WireError(operation, code, message, status)
