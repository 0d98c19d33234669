"""The two blueprint routes: fetch one by id, and subscribe to one through its share link.

The blueprint id *is* the share link, so both work for private blueprints too (reference
§2.2 routes 6-7); unlike the original, credentials inside the manifest are blanked for
everyone but the owner (``serialize.redact_manifest``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import BadRequest, Conflict, Unauthorized
from chalicelib.records import store
from chalicelib.records.access import Viewer, is_subscriber, owns
from chalicelib.records.schema import BLUEPRINTS
from chalicelib.records.service import fetch, render
from chalicelib.records.validation import MAX_SUBSCRIBERS

_ATTEMPTS = 3


def get_blueprint(blueprint_id: str, viewer: Viewer) -> dict[str, Any]:
    if not viewer.authenticated:
        raise Unauthorized()
    return render(BLUEPRINTS, fetch(BLUEPRINTS, blueprint_id), {}, viewer)


def subscribe(blueprint_id: str, viewer: Viewer) -> dict[str, Any]:
    """Add the caller to ``users``; idempotent, and safe against concurrent subscribers
    (each attempt is conditioned on the version it read)."""
    if not viewer.authenticated:
        raise Unauthorized()
    for _ in range(_ATTEMPTS):
        blueprint = fetch(BLUEPRINTS, blueprint_id)
        if owns(BLUEPRINTS, blueprint, viewer) or is_subscriber(blueprint, viewer):
            return render(BLUEPRINTS, blueprint, {}, viewer)
        if len(blueprint["users"]) >= MAX_SUBSCRIBERS:
            raise BadRequest(f"This blueprint already has {MAX_SUBSCRIBERS} subscribers.")
        joined = dict(blueprint, users=[*blueprint["users"], viewer.id])
        try:
            return render(BLUEPRINTS, store.update("blueprints", blueprint, joined), {}, viewer)
        except store.VersionConflict:
            continue
    raise Conflict()
