"""Checks on the records a write points at (reference §1.11, weak point 1).

PocketBase's rules only compared a row's own ``user`` with the caller, so anyone who knew
another tenant's project and deployment ids could attach rollouts to them. Here every
referenced project and deployment must belong to the caller, a deployment must belong to
the referenced project, and a referenced blueprint must be visible to the caller. A
foreign id is reported exactly like a missing one, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import FieldErrors, field_error
from chalicelib.records import store
from chalicelib.records.access import Viewer, can_view, owns
from chalicelib.records.schema import COLLECTIONS, USERS, Collection
from chalicelib.records.store import Record
from chalicelib.records.validation import MISSING_RELATION
from chalicelib.records.values import is_record_id

DEPLOYMENT_NOT_IN_PROJECT = (
    "validation_invalid_relation",
    "The deployment does not belong to the given project.",
)


def check_references(
    collection: Collection, record: Record, before: Record | None, viewer: Viewer
) -> FieldErrors:
    errors: FieldErrors = {}
    fetched: dict[str, Record] = {}
    for field in collection.relations:
        if field.target == USERS.name or field.name in errors:
            continue  # owner fields are the access rules' business
        value: Any = record.get(field.name)
        if not value or (before is not None and before.get(field.name) == value):
            continue
        target = COLLECTIONS[field.target or ""]
        row = store.batch_get(target.name, [value]).get(value) if is_record_id(value) else None
        allowed = (
            row is not None
            and not row.get("deleting")
            and (
                can_view(target, row, viewer)
                if target.owner_field == "owner"
                else owns(target, row, viewer)
            )
        )
        if not allowed:
            errors[field.name] = field_error(*MISSING_RELATION)
        else:
            fetched[field.name] = row  # type: ignore[assignment]
    project, deployment = record.get("project"), fetched.get("deployment")
    # An unchanged deployment (only the project is new) is read here; a refused one is not.
    unchanged = "deployment" not in errors and record.get("deployment")
    if deployment is None and unchanged and "project" in fetched:
        deployment = store.get("deployments", record["deployment"])
    if deployment is not None and project and deployment["project"] != project:
        errors.setdefault("deployment", field_error(*DEPLOYMENT_NOT_IN_PROJECT))
    return errors
