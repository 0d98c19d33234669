"""The two blueprint routes: fetch one by id, and subscribe to one through its share link.

The blueprint id *is* the share link, so both work for private blueprints too (reference
§2.2 routes 6-7); unlike the original, credentials inside the manifest are blanked for
everyone but the owner (``serialize.redact_manifest``).
"""

from __future__ import annotations

import random
import time
from typing import Any

from chalicelib.errors import BadRequest, Conflict, Unauthorized
from chalicelib.records import store, values
from chalicelib.records.access import Viewer, is_subscriber, owns
from chalicelib.records.schema import BLUEPRINTS
from chalicelib.records.service import fetch, render
from chalicelib.records.validation import MAX_SUBSCRIBERS

_ATTEMPTS = 8


def get_blueprint(blueprint_id: str, viewer: Viewer) -> dict[str, Any]:
    if not viewer.authenticated:
        raise Unauthorized()
    return render(BLUEPRINTS, fetch(BLUEPRINTS, blueprint_id), {}, viewer)


def subscribe(blueprint_id: str, viewer: Viewer) -> dict[str, Any]:
    """Add the caller to ``users``; idempotent. Concurrent subscribers do not conflict
    (``store.add_subscriber`` is conditioned on the list, not the version); what DynamoDB
    still refuses (a simultaneous transaction on the item) is retried here with jittered
    backoff, as the user has nothing to do with it."""
    if not viewer.authenticated:
        raise Unauthorized()
    for attempt in range(_ATTEMPTS):
        blueprint = fetch(BLUEPRINTS, blueprint_id)
        if owns(BLUEPRINTS, blueprint, viewer) or is_subscriber(blueprint, viewer):
            return render(BLUEPRINTS, blueprint, {}, viewer)
        if len(blueprint["users"]) >= MAX_SUBSCRIBERS:
            raise BadRequest(f"This blueprint already has {MAX_SUBSCRIBERS} subscribers.")
        try:
            store.add_subscriber(blueprint, viewer.id, MAX_SUBSCRIBERS, values.now())
        except store.VersionConflict:
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 - jitter
        # Read back either way: it shows the new subscription, or why the condition failed.
    raise Conflict()
