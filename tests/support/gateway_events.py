"""API Gateway's event of one request, as Chalice's local gateway builds it: what a
deployed Lambda receives, for calling ``app(event, context)`` in-process or in a fresh
interpreter (tests and benchmarks)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _converter() -> Any:
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app

    return LocalGateway(app, Config(chalice_stage="local")).event_converter


def lambda_event(
    method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> dict[str, Any]:
    return _converter().create_lambda_event(method, path, headers, body)  # type: ignore[no-any-return]
