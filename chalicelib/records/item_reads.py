"""DynamoDB reads with items kept in their wire form: GetItem, BatchGetItem and Query.

Reads go through ``dynamodb_wire`` (DynamoDB's JSON protocol, signed, retried; no botocore
on the read path): the answer is handed over as the JSON DynamoDB sent, and
``chalicelib.records.item_codec`` decodes it. Writes stay on PynamoDB.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from chalicelib.records.dynamodb_wire import WireClient, WireError
from chalicelib.records.item_codec import RawItem

_BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
_UNPROCESSED_ROUNDS = 8
_UNPROCESSED_BACKOFF_SECONDS = 0.025
# Items a Query request may evaluate; DynamoDB's Limit is a 32-bit integer, and a request
# returns at most 1 MB anyway, so a huge offset is skipped in several requests.
_MAX_LIMIT = 10_000


class ReadError(Exception):
    """A failed read, with the ``cause_response_code`` and ``cause_response_message`` of
    PynamoDB's own errors, so one mapping turns throttling or an unreachable endpoint into
    a 503 (without importing PynamoDB for its base class)."""

    def __init__(self, message: str, cause: WireError | None = None) -> None:
        super().__init__(message)
        self.cause = cause

    def _answer(self, key: str) -> str | None:
        return (getattr(self.cause, "response", {}).get("Error") or {}).get(key)

    @property
    def cause_response_code(self) -> str | None:
        return self._answer("Code")

    @property
    def cause_response_message(self) -> str | None:
        return self._answer("Message")


@lru_cache(maxsize=4)
def client(region: str, endpoint: str | None) -> WireClient:
    """One client per endpoint, reused across invocations (built on first use)."""
    return WireClient(region, endpoint)


def _call(db: WireClient, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return db.call(operation, request)
    except WireError as error:
        raise ReadError(f"DynamoDB {operation} failed", error) from error


def _projection(attributes: Iterable[str] | None) -> dict[str, Any]:
    if attributes is None:
        return {}
    names = sorted(set(attributes))
    return {
        "ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(names))),
        "ExpressionAttributeNames": {f"#p{i}": name for i, name in enumerate(names)},
    }


def get_item(
    db: WireClient, table: str, key: dict[str, str], attributes: Iterable[str] | None = None
) -> RawItem | None:
    """One item, strongly consistent (a read right after a write must see it)."""
    request = {
        "TableName": table,
        "Key": {name: {"S": value} for name, value in key.items()},
        "ConsistentRead": True,
        **_projection(attributes),
    }
    reply = _call(db, "GetItem", request)
    return reply.get("Item")


def batch_get(
    db: WireClient,
    wanted: dict[str, list[str]],
    attributes: dict[str, Iterable[str] | None] | None = None,
    consistent: bool = False,
) -> dict[str, list[RawItem]]:
    """Items by ``id`` from several tables at once (``{table: ids}``), 100 keys a request,
    unprocessed keys retried."""
    pending = [(table, i) for table, ids in wanted.items() for i in dict.fromkeys(ids)]
    found: dict[str, list[RawItem]] = {table: [] for table in wanted}
    while pending:
        chunk, pending = pending[:_BATCH_GET_LIMIT], pending[_BATCH_GET_LIMIT:]
        request: dict[str, Any] = {}
        for table, record_id in chunk:
            entry = request.setdefault(
                table,
                {
                    "Keys": [],
                    "ConsistentRead": consistent,
                    **_projection((attributes or {}).get(table)),
                },
            )
            entry["Keys"].append({"id": {"S": record_id}})
        for round_ in range(_UNPROCESSED_ROUNDS):
            if round_:  # AWS: retry unprocessed keys with exponential back-off and jitter
                time.sleep(random.uniform(0, _UNPROCESSED_BACKOFF_SECONDS * 2**round_))  # noqa: S311
            reply = _call(db, "BatchGetItem", {"RequestItems": request})
            for table, items in reply.get("Responses", {}).items():
                found[table].extend(items)
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise ReadError("DynamoDB left keys unprocessed after repeated BatchGetItem")
    return found


def query_pages(
    db: WireClient,
    table: str,
    index: str | None,
    key: tuple[str, str],
    *,
    forward: bool,
    limit: int | None = None,
    page_size: int | None = None,
    start: dict[str, Any] | None = None,
    attributes: Iterable[str] | None = None,
    count_only: bool = False,
    condition: tuple[str, dict[str, str], dict[str, Any]] | None = None,
    where: dict[str, str | bool] | None = None,
) -> Iterator[tuple[list[RawItem], int, dict[str, Any] | None]]:
    """Query an index partition in index order; yields ``(items, count, last_key)`` per
    request (of at most ``page_size`` items) until ``limit`` items were evaluated or the
    partition ends. A generator: nothing more is read than the caller consumes.

    ``count_only`` asks for ``Select=COUNT``: positions and totals without item data.
    ``condition`` adds a range-key condition ``(expression, names, values)``; ``where``
    attribute equalities DynamoDB checks before sending an item (``FilterExpression``)."""
    names = {"#k": key[0]}
    values: dict[str, Any] = {":k": {"S": key[1]}}
    expression = "#k = :k"
    if condition is not None:
        expression += f" AND {condition[0]}"
        names.update(condition[1])
        values.update(condition[2])
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": expression,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
    }
    if where:
        tests = []
        for i, (name, value) in enumerate(sorted(where.items())):
            names[f"#w{i}"] = name
            values[f":w{i}"] = {"BOOL": value} if isinstance(value, bool) else {"S": value}
            tests.append(f"#w{i} = :w{i}")
        request["FilterExpression"] = " AND ".join(tests)
    projection = _projection(attributes)
    request["ExpressionAttributeNames"] = {
        **names,
        **projection.pop("ExpressionAttributeNames", {}),
    }
    request.update(projection)
    if index is not None:
        request["IndexName"] = index
    if count_only:
        request["Select"] = "COUNT"
    remaining = limit
    while remaining is None or remaining > 0:
        request["Limit"] = min(n for n in (remaining, page_size, _MAX_LIMIT) if n is not None)
        if start is not None:
            request["ExclusiveStartKey"] = start
        reply = _call(db, "Query", request)
        count = int(reply.get("Count", 0))
        start = reply.get("LastEvaluatedKey")
        yield reply.get("Items", []), count, start
        if remaining is not None:
            remaining -= count
        if start is None:
            return
