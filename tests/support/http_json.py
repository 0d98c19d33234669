"""One HTTP request to a test server, answered as ``(status, JSON)``: the reference
PocketBase and our local server are observed the same way, including their error answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def request_json(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """Never raises on 4xx/5xx. A body that is not JSON comes back as text."""
    sent = dict(headers or {})
    data = json.dumps(body).encode("utf-8") if body is not None else raw_body
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = token
    request = urllib.request.Request(
        base_url + path, data=data, method=method.upper(), headers=sent
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if not payload.strip():
        return status, None
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode("utf-8", errors="replace")
