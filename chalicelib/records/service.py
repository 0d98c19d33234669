"""The PocketBase record API for the five plain collections (users: ``records.users``).

Rule outcomes follow PocketBase 0.22: a list filters silently, a view/update/delete the
caller may not see is a 404, a create the rules refuse is a 400 "Failed to create
record.". The one 403 is a blueprint subscriber changing more than their own subscription:
PocketBase's rule let subscribers edit everything (§1.11.2), ours lets them only leave.
"""

from __future__ import annotations

import math
from typing import Any

from chalicelib.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound, field_error
from chalicelib.records import access, cascade, field_picker, paging, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.attachments import files_saved
from chalicelib.records.expand import expand_records, parse_expand
from chalicelib.records.listing import parse_list_params
from chalicelib.records.references import check_references
from chalicelib.records.schema import BLUEPRINTS, Collection, find_collection
from chalicelib.records.serialize import export
from chalicelib.records.store import Record
from chalicelib.records.validation import (
    MISSING_RELATION,
    apply_body,
    check_record,
    empty_record,
)

CREATE_FAILED = "Failed to create record."
UPDATE_FAILED = "Failed to update record."
ID_LENGTH = ("validation_length_invalid", "The length must be exactly 15.")
ID_FORMAT = ("validation_invalid_format", "Only the characters a-z and 0-9 are allowed.")
ID_TAKEN = ("validation_invalid_id", "The model id is invalid or already exists.")
OWNER_CHANGE = ("validation_owner_change", "The owner of a record cannot be changed.")
# Moving these would strand a running workload in the old deployment's or project's cluster
# namespace: create a new record instead.
IMMUTABLE = {
    "rollouts": ("project", "deployment"),
    "deployments": ("project",),
    "autoUpdates": ("project", "deployment"),
}
MOVED = ("validation_immutable", "This relation cannot be changed; create a new record instead.")
SUBSCRIBERS_JOIN_BY_LINK = (
    "validation_invalid_subscribers",
    "Users subscribe through the share link; the owner can only remove subscribers.",
)


def collection_or_404(name_or_id: str) -> Collection:
    collection = find_collection(name_or_id)
    if collection is None:
        raise NotFound()
    return collection


def fetch(collection: Collection, record_id: str, viewer: Viewer | None = None) -> Record:
    """The stored record or 404; malformed ids never reach DynamoDB. A record the request
    read together with the caller's own (``Viewer.read_ahead``) is not read again."""
    if not values.is_record_id(record_id):
        raise NotFound()
    known, record = viewer.read_ahead(collection.name, record_id) if viewer else (False, None)
    if not known:
        record = store.get(collection.name, record_id)
    if record is None:
        raise NotFound()
    return record


def render(
    collection: Collection, record: Record, query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    """One record as JSON with the request's ``expand`` and ``fields`` applied."""
    picks = field_picker.parse(query.get("fields", ""))
    return field_picker.pick_body(exported(collection, record, query, viewer, picks), picks)


def exported(
    collection: Collection,
    record: Record,
    query: dict[str, str],
    viewer: Viewer,
    picks: field_picker.Picks,
) -> dict[str, Any]:
    """One record as JSON with the request's ``expand``, reading of the related records
    what ``picks`` shows; the caller picks the fields of the answer it is part of."""
    tree = parse_expand(query.get("expand", ""), collection)
    fields = field_picker.names(picks) or None
    expansion = expand_records(collection, [record], tree, viewer, fields) if tree else {}
    return export(collection, record, viewer, expansion.get(record["id"]))


def list_records(name: str, query: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    collection = collection_or_404(name)
    params = parse_list_params(query, collection)
    page, total = paging.read_page(collection, params, viewer)
    fields = field_picker.names(params.fields) or None
    expansion = (
        expand_records(collection, page, params.expand, viewer, fields) if params.expand else {}
    )
    items = [export(collection, r, viewer, expansion.get(r["id"])) for r in page]
    envelope = {
        "page": params.page,
        "perPage": params.per_page,
        "totalItems": -1 if params.skip_total else total,
        "totalPages": -1 if params.skip_total else math.ceil(total / params.per_page),
        "items": items,
    }
    return field_picker.pick_items(envelope, params.fields)


def view_record(name: str, record_id: str, query: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    collection = collection_or_404(name)
    record = fetch(collection, record_id, viewer)
    if not access.can_view(collection, record, viewer):
        raise NotFound()
    return render(collection, record, query, viewer)


def _new_id(body: dict[str, Any]) -> str:
    requested = body.get("id")
    if requested in (None, ""):
        return values.new_id()
    if not values.is_record_id(requested):
        problem = ID_LENGTH if len(str(requested)) != values.ID_LENGTH else ID_FORMAT
        raise Invalid(CREATE_FAILED, {"id": field_error(*problem)})
    return str(requested)


def prepare_create(collection: Collection, body: dict[str, Any], viewer: Viewer) -> Record:
    """A new record from the body, validated and rule-checked, not stored yet."""
    if not viewer.authenticated:
        raise BadRequest(CREATE_FAILED)
    stamp = values.now()
    base = {**empty_record(collection), "id": _new_id(body), "created": stamp, "updated": stamp}
    record, errors = apply_body(collection, base, body)
    check_record(collection, record, errors)
    if not access.owns(collection, record, viewer):
        owner_field = collection.owner_field or "id"
        owner = record[owner_field]
        if not (values.is_record_id(owner) and store.batch_get("users", [owner])):
            raise Invalid(CREATE_FAILED, {owner_field: field_error(*MISSING_RELATION)})
        raise BadRequest(CREATE_FAILED)
    if collection is BLUEPRINTS and record["users"]:
        errors["users"] = field_error(*SUBSCRIBERS_JOIN_BY_LINK)
    errors.update(check_references(collection, record, None, viewer))
    if errors:
        raise Invalid(CREATE_FAILED, errors)
    return record


def create_record(
    name: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = collection_or_404(name)
    record = prepare_create(collection, body, viewer)
    try:
        with files_saved(collection, None, record, body):
            created = store.create(collection.name, record)
    except store.VersionConflict:
        raise Invalid(CREATE_FAILED, {"id": field_error(*ID_TAKEN)}) from None
    except store.ParentGone as gone:
        raise parent_gone(gone) from None
    return render(collection, created, query, viewer)


def parent_gone(gone: store.ParentGone) -> Invalid:
    """A create whose parent was deleted (or started being deleted) after the reference
    check: the same answer as a reference to a record that does not exist."""
    return Invalid(CREATE_FAILED, {gone.field: field_error(*MISSING_RELATION)})


def _subscriber_update(before: Record, after: Record, viewer: Viewer) -> None:
    """A subscriber may leave a blueprint and change nothing else (weak point §1.11.2)."""
    changed = {k for k in after if after[k] != before.get(k)} - {"updated"}
    leaving = [u for u in before["users"] if u != viewer.id]
    if changed - {"users"} or (changed and after["users"] != leaving):
        raise Forbidden(
            "Only the owner can change this blueprint; subscribers may only remove themselves."
        )


def prepare_update(
    collection: Collection, record_id: str, body: dict[str, Any], viewer: Viewer
) -> tuple[Record, Record]:
    """The stored record and what the body makes of it, validated and rule-checked."""
    before = fetch(collection, record_id, viewer)
    if not access.can_view(collection, before, viewer):
        raise NotFound()
    after, errors = apply_body(collection, before, body)
    after["updated"] = values.now()
    check_record(collection, after, errors)
    owner_field = collection.owner_field or "id"
    if not access.owns(collection, before, viewer):
        if not (collection is BLUEPRINTS and access.is_subscriber(before, viewer)):
            raise NotFound()
        _subscriber_update(before, after, viewer)
    elif after[owner_field] != before[owner_field]:
        errors[owner_field] = field_error(*OWNER_CHANGE)
    for name in IMMUTABLE.get(collection.name, ()):
        if after[name] != before[name]:
            errors.setdefault(name, field_error(*MOVED))
    if (
        collection is BLUEPRINTS
        and access.owns(collection, before, viewer)
        and not set(after["users"]) <= set(before["users"])
    ):
        errors["users"] = field_error(*SUBSCRIBERS_JOIN_BY_LINK)
    errors.update(check_references(collection, after, before, viewer))
    if errors:
        raise Invalid(UPDATE_FAILED, errors)
    return before, after


def update_record(
    name: str, record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = collection_or_404(name)
    before, after = prepare_update(collection, record_id, body, viewer)
    try:
        with files_saved(collection, before, after, body):
            updated = store.update(collection.name, before, after)
    except store.VersionConflict:
        raise Conflict() from None
    return render(collection, updated, query, viewer)


def owned_record(collection: Collection, record_id: str, viewer: Viewer) -> Record:
    """The record if the caller owns it; 404 otherwise (a failed rule, as in PocketBase)."""
    record = fetch(collection, record_id, viewer)
    if not access.owns(collection, record, viewer):
        raise NotFound()
    return record


def delete_record(name: str, record_id: str, viewer: Viewer) -> None:
    collection = collection_or_404(name)
    record = owned_record(collection, record_id, viewer)
    try:
        cascade.delete(collection.name, record)
    except store.VersionConflict:
        raise Conflict() from None
