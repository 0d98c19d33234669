"""``POST /pb/auto-update/{id}``: a check on demand, for CI pipelines after a push.

The original ran a check and answered the record for anyone who knew the id (reference §2.2
route 8, §5 weak points); its UI shows the id-only URL for CI and has no way to show a
secret. Three kinds of caller:

- the owner (token): the check runs now, the answer is the record and what it found;
- the autoUpdate's secret: the check runs now, the answer is its id and what it found;
- the id alone (the URL the UI shows): the record is only made due, so the next scheduled
  tick checks it with every other due record. Whether that rolls anything out is the
  record's own policy, as on any tick; the caller learns nothing, not even whether the id
  exists (one fixed answer), and causes no registry request of its own.

Owner and secret calls share a per-autoUpdate cooldown (a call inside it gets 429). An
id-only call takes no part in it — anyone who has seen the URL could otherwise keep the
secret's CI call at 429 — and needs none: it only moves the next check earlier, and a tick
checks a due record once, so repeating it changes nothing.
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
CHECK_REQUESTED = {"message": "A check was requested; it runs on the next scheduled tick."}


def request_check(auto_update_id: str) -> dict[str, str]:
    """The id-only call: make the autoUpdate due now. One conditional write whether the id
    exists or not, no read, one answer whatever the id."""
    if values.is_record_id(auto_update_id):
        store.make_due(auto_update_id, values.now())
    return CHECK_REQUESTED


def _cooldown_start(now: str) -> str:
    cooldown = get_settings().auto_update_webhook_cooldown_seconds
    return values.format_date(values.parse_date(now) - timedelta(seconds=cooldown))


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
    if not store.claim_webhook_call(auto_update_id, now, _cooldown_start(now)):
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
