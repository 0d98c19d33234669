"""Every DynamoDB request this process makes, seen at the two places they leave it: the
wire client of the read path (chalicelib.records.dynamodb_wire) and botocore (PynamoDB's
writes, boto3). For read-cost tests and benchmarks that count requests and items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Send = Callable[[dict[str, Any]], dict[str, Any]]
# Called with the operation ("GetItem", "Query", ...), its parameters and the function that
# sends them; returns the answer (it may send changed parameters, e.g. to ask for capacity).
Around = Callable[[str, dict[str, Any], Send], dict[str, Any]]


def install(around: Around) -> Callable[[], None]:
    """Route every DynamoDB request through ``around``; returns the function that stops it."""
    from botocore.client import BaseClient

    from chalicelib.records.dynamodb_wire import WireClient

    botocore_call, wire_call = BaseClient._make_api_call, WireClient.call

    def via_botocore(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return botocore_call(client, operation, params)
        return around(operation, params, lambda sent: botocore_call(client, operation, sent))

    def via_wire(client: WireClient, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        return around(operation, request, lambda sent: wire_call(client, operation, sent))

    BaseClient._make_api_call = via_botocore  # type: ignore[method-assign]
    WireClient.call = via_wire  # type: ignore[method-assign]

    def uninstall() -> None:
        BaseClient._make_api_call = botocore_call  # type: ignore[method-assign]
        WireClient.call = wire_call  # type: ignore[method-assign]

    return uninstall


@contextmanager
def observed(around: Around) -> Iterator[None]:
    uninstall = install(around)
    try:
        yield
    finally:
        uninstall()
