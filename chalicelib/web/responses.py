"""The one place where errors become HTTP responses, in PocketBase's error shape."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, ParamSpec

from chalice.app import Response

from chalicelib.errors import ApiError, BadRequest, ConfigError, ServiceUnavailable
from chalicelib.records.store import is_database_error

logger = logging.getLogger("oneclick")
P = ParamSpec("P")

# Throttling, outages and network failures (no response code): worth a retry, not a bug.
_RETRYABLE_DYNAMODB = {
    None,
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}

TOO_LARGE = "The record is too large to store; make its fields shorter."

INTERNAL = {
    "code": 500,
    "message": "Something went wrong while processing your request.",
    "data": {},
}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status)


def _database_error_response(error: Any) -> Response:
    """A failed DynamoDB call: an item over DynamoDB's size limit is the caller's 400,
    throttling and outages a 503 worth a retry, anything else a bug (500)."""
    code = error.cause_response_code
    if code == "ValidationException" and "size" in str(error.cause_response_message):
        return error_response(BadRequest(TOO_LARGE))
    if code not in _RETRYABLE_DYNAMODB:
        logger.exception("DynamoDB request failed")
        return json_response(INTERNAL, 500)
    logger.warning("DynamoDB unavailable: %s", code or error)
    return error_response(ServiceUnavailable())


def api(handler: Callable[P, Any]) -> Callable[P, Response]:
    """Wrap a route: its return value becomes a 200 JSON response (a ``str`` a JSON string,
    as the original's ``"Pod deleted"``; ``None``: 204), an ``ApiError`` its PocketBase
    error body. An unreachable database is a 503 the client
    may retry; anything else is a bug, logged with its traceback and answered with 500."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            result = handler(*args, **kwargs)
        except ApiError as error:
            return error_response(error)
        except ConfigError as error:
            logger.error("configuration error: %s", error)
            return error_response(ServiceUnavailable())
        except Exception as error:  # noqa: BLE001 - the last line of defence catches all
            if is_database_error(error):
                return _database_error_response(error)
            logger.exception("unhandled error")
            return json_response(INTERNAL, 500)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(body="", status_code=204)
        if isinstance(result, str):
            return json_response(json.dumps(result))
        return json_response(result)

    return wrapper
