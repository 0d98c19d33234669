"""Records as PocketBase 0.22 JSON.

Keys come out in alphabetical order, as PocketBase's Go map marshalling emits them, inside
JSON field values and ``expand`` too. Credentials never leave: password hashes and
token keys are not fields, e-mails follow ``emailVisibility``, and a blueprint's registry
password and secret values are blanked for everyone but its owner (reference §1.11).
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.records.access import Viewer, owns
from chalicelib.records.schema import BLUEPRINTS, SYSTEM_FIELDS, USERS, Collection, FieldType
from chalicelib.records.store import Record
from chalicelib.records.values import SortedKeys


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
        value = record.get(field.name)
        data[field.name] = _sorted_keys(value) if field.type is FieldType.JSON else value
    if collection is USERS and not (record.get("emailVisibility") or owns(USERS, record, viewer)):
        del data["email"]
    if collection is BLUEPRINTS and not owns(BLUEPRINTS, record, viewer):
        data["manifest"] = redact_manifest(data["manifest"])
    if expand:
        data["expand"] = dict(sorted(expand.items()))
    return dict(sorted(data.items()))


def _sorted_keys(value: Any) -> Any:
    """PocketBase re-marshals JSON field values through Go maps: keys sorted at every level."""
    if type(value) is SortedKeys:
        return value
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def redact_manifest(manifest: Any) -> Any:
    """A copy of a Rollout manifest with every registry password (the deployment's image
    and each cronjob's) and every secret value blanked. Tolerates any shape: a manifest is
    the client's JSON and may not match the CRD."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        return manifest
    redacted = copy.deepcopy(manifest)
    spec = redacted["spec"]
    images = [spec.get("image")]
    cronjobs = spec.get("cronjobs")
    if isinstance(cronjobs, list):
        images += [job.get("image") for job in cronjobs if isinstance(job, dict)]
    for image in images:
        if isinstance(image, dict) and image.get("password"):
            image["password"] = ""
    secrets = spec.get("secrets")
    for secret in secrets if isinstance(secrets, list) else []:
        if isinstance(secret, dict) and "value" in secret:
            secret["value"] = ""
    return redacted
