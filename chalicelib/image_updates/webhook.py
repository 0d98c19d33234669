"""``POST /pb/auto-update/{id}``: a check on demand, for CI pipelines after a push.

The original ran it for anyone who knew the id (reference §2.2 route 8, §5 weak points).
Here the caller must be the owner (token) or present the autoUpdate's own secret, and calls
are rate-limited per autoUpdate, so the URL cannot be used to hammer a registry.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from chalicelib.errors import NotFound, TooManyRequests, Unauthorized
from chalicelib.image_updates import tick
from chalicelib.image_updates.check import check, running_rollout
from chalicelib.records import service, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.schema import AUTO_UPDATES
from chalicelib.registry.client import RegistryClient
from chalicelib.settings import get_settings

NEEDS_AUTH = "Send the owner's token or this autoUpdate's webhook secret (X-Webhook-Secret)."


def trigger(auto_update_id: str, viewer: Viewer, secret: str | None) -> dict[str, Any]:
    valid = values.is_record_id(auto_update_id)
    auto_update = store.get("autoUpdates", auto_update_id) if valid else None
    owner = auto_update is not None and viewer.id == auto_update["user"]
    by_secret = (
        auto_update is not None
        and bool(secret)
        and hmac.compare_digest(str(secret).encode(), auto_update["webhookSecret"].encode())
    )
    if not (owner or by_secret):
        if auto_update is None and viewer.authenticated:
            raise NotFound()
        raise Unauthorized(NEEDS_AUTH)
    assert auto_update is not None  # noqa: S101 - owner or by_secret implies it
    settings = get_settings()
    now = values.now()
    cooldown = settings.auto_update_webhook_cooldown_seconds
    since = values.format_date(values.parse_date(now) - timedelta(seconds=cooldown))
    if not store.claim_webhook_call(auto_update_id, now, since):
        raise TooManyRequests(
            f"This autoUpdate was triggered less than {cooldown} seconds ago; try again later."
        )
    deployment = store.get("deployments", auto_update["deployment"])
    registry = RegistryClient(timeout=settings.registry_timeout_seconds)
    outcome = check(auto_update, running_rollout(deployment, {}), registry)
    tick.record(auto_update, outcome, now, now if outcome.retry_soon else None)
    # The owner sees the record; a secret proves only the right to trigger a check.
    current = store.get("autoUpdates", auto_update_id) or auto_update
    reply = service.render(AUTO_UPDATES, current, {}, viewer) if owner else {"id": current["id"]}
    reply["check"] = {
        "tag": outcome.found,
        "rollout": outcome.rollout,
        "error": outcome.error,
    }
    return reply
