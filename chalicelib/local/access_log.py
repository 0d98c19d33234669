"""One access-log line per request of the local server: method, target, status, time.

So that a failed click leaves a trace on the server side. The line never carries a
credential: headers are not logged at all, and a query parameter that can hold one
(``token``, ``secret``, a password, an OAuth2 code or state, a signature …) keeps its name
but loses its value. aiohttp's own access log is off (it prints the raw request line).
The local stand-ins for API Gateway's and Lambda's APIs (``/@connections``, the invoke
path) are left out: they are the server talking to itself, once per stream frame.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger("oneclick.access")

INTERNAL_PREFIXES = ("/@connections/", "/2015-03-31/functions/")
_SENSITIVE_WORDS = ("token", "secret", "password", "code", "state", "key", "signature", "auth")
REDACTED = "***"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE_WORDS)


def loggable_target(path: str, query_string: str) -> str:
    """The request target with the values of credential-like query parameters replaced."""
    if not query_string:
        return path
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    # A bare ``?<jwt>`` arrives as a name without a value: never shown either.
    shown = [
        (REDACTED, "") if not value else (name, REDACTED if _sensitive(name) else value)
        for name, value in pairs
    ]
    return f"{path}?{urllib.parse.urlencode(shown, safe='*,')}"


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(INTERNAL_PREFIXES):
        return await handler(request)
    started = time.perf_counter()
    status = 500  # an exception that is no HTTP answer ends as aiohttp's 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as answer:
        status = answer.status
        raise
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        target = loggable_target(request.path, request.query_string)
        logger.info("%s %s %d %.1fms", request.method, target, status, elapsed)
