"""The two AWS calls the live streams make, behind narrow functions: sending to (or closing)
a WebSocket through the API Gateway Management API, and starting a stream worker with an
asynchronous Lambda invoke. Clients are built lazily and reused; the local server answers
both APIs itself (``STREAM_MANAGEMENT_ENDPOINT``, ``LAMBDA_ENDPOINT``), so this code is the
same locally and on AWS.
"""

from __future__ import annotations

import json
import threading
from contextlib import suppress
from functools import lru_cache
from typing import Any

from chalicelib.settings import get_settings

_lock = threading.Lock()


class Gone(Exception):
    """The client has left: API Gateway answered ``GoneException``."""


def management_endpoint(api_id: str, stage: str) -> str:
    """Where this API's connections are reached, for the workers that outlive the event."""
    settings = get_settings()
    if settings.stream_management_endpoint:
        return settings.stream_management_endpoint
    return f"https://{api_id}.execute-api.{settings.aws_region}.amazonaws.com/{stage}"


@lru_cache(maxsize=8)
def _management(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    with _lock:
        return boto3.session.Session().client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name=get_settings().aws_region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=50),
        )


def send(endpoint: str, connection: str, data: str) -> None:
    client = _management(endpoint)
    try:
        client.post_to_connection(ConnectionId=connection, Data=data.encode("utf-8"))
    except client.exceptions.GoneException:
        raise Gone(connection) from None


def close(endpoint: str, connection: str) -> None:
    client = _management(endpoint)
    with suppress(client.exceptions.GoneException):  # already closed
        client.delete_connection(ConnectionId=connection)


@lru_cache(maxsize=1)
def _lambda() -> Any:
    import boto3

    settings = get_settings()
    with _lock:
        return boto3.session.Session().client(
            "lambda", endpoint_url=settings.lambda_endpoint, region_name=settings.aws_region
        )


def start_worker(payload: dict[str, Any]) -> None:
    """Run the stream worker once more, asynchronously (returns when Lambda queued it)."""
    _lambda().invoke(
        FunctionName=get_settings().stream_worker_function,
        InvocationType="Event",
        Payload=json.dumps(payload).encode("utf-8"),
    )


def reset() -> None:
    """Forget cached clients (tests change endpoints between servers)."""
    _management.cache_clear()
    _lambda.cache_clear()
