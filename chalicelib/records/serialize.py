"""Records as PocketBase 0.22 JSON.

Keys come out in alphabetical order, as PocketBase's Go map marshalling emits them; JSON
field values keep their stored key order. Credentials never leave: password hashes and
token keys are not fields, e-mails follow ``emailVisibility``, and a blueprint's registry
password and secret values are blanked for everyone but its owner (reference §1.11).
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.records.access import Viewer, owns
from chalicelib.records.schema import BLUEPRINTS, SYSTEM_FIELDS, USERS, Collection
from chalicelib.records.store import Record


def export(
    collection: Collection, record: Record, viewer: Viewer, expand: dict[str, Any] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "collectionId": collection.id,
        "collectionName": collection.name,
    }
    for name in SYSTEM_FIELDS:
        data[name] = record.get(name, "")
    for field in collection.fields:
        data[field.name] = record.get(field.name)
    if collection is USERS and not (record.get("emailVisibility") or owns(USERS, record, viewer)):
        del data["email"]
    if collection is BLUEPRINTS and not owns(BLUEPRINTS, record, viewer):
        data["manifest"] = redact_manifest(data["manifest"])
    if expand:
        data["expand"] = expand
    return dict(sorted(data.items()))


def redact_manifest(manifest: Any) -> Any:
    """A copy of a Rollout manifest with the registry password and secret values blanked."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        return manifest
    redacted = copy.deepcopy(manifest)
    spec = redacted["spec"]
    image = spec.get("image")
    if isinstance(image, dict) and image.get("password"):
        image["password"] = ""
    for secret in spec.get("secrets") or []:
        if isinstance(secret, dict) and "value" in secret:
            secret["value"] = ""
    return redacted
