"""Writes to the autoUpdates collection: settings validated when written, not when run.

The original accepted any interval, pattern or policy and failed later inside the cron job
(a panic for ``30s``, silently nothing for ``1h30m`` or a bad regex, reference §5.2-5.3);
here each is a 400 naming the field. Each autoUpdate also carries its next due time (the
tick's index key) and a webhook secret that only its owner sees.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from chalicelib.autoupdate.intervals import parse_interval
from chalicelib.autoupdate.patterns import compile_pattern
from chalicelib.autoupdate.policies import parse_policy
from chalicelib.errors import Conflict, FieldErrors, Invalid
from chalicelib.records import service, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.schema import AUTO_UPDATES
from chalicelib.records.store import Record
from chalicelib.registry.credentials import check_reference


def settings_errors(record: Record) -> FieldErrors:
    """What is wrong with an autoUpdate's interval, pattern, policy and credentials."""
    errors: FieldErrors = {}
    checks: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("interval", parse_interval),
        ("pattern", compile_pattern),
        ("policy", parse_policy),
        ("credentials", lambda ref: ref and check_reference(ref, record["user"])),
    )
    for name, check in checks:  # each raises Invalid naming its own field
        try:
            check(record[name])
        except Invalid as problem:
            errors.update(problem.data)
    return errors


def _check_settings(record: Record, message: str) -> None:
    errors = settings_errors(record)
    if errors:
        raise Invalid(message, errors)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _next_check(record: Record) -> str:
    """When the first check after a settings change is due: at once if the record was never
    checked or its tag choice changed, else one new interval after the last check."""
    if not record["lastCheck"]:
        return values.now()
    seconds = parse_interval(record["interval"])
    due = values.parse_date(record["lastCheck"]) + timedelta(seconds=seconds)
    return values.format_date(due)


def create(body: dict[str, Any], query: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    record = service.prepare_create(AUTO_UPDATES, body, viewer)
    _check_settings(record, service.CREATE_FAILED)
    record.update(nextCheck=record["created"], webhookSecret=new_secret())
    try:
        created = store.create(AUTO_UPDATES.name, record)
    except store.VersionConflict:
        raise Conflict() from None
    except store.ParentGone as gone:
        raise service.parent_gone(gone) from None
    return service.render(AUTO_UPDATES, created, query, viewer)


def update(
    record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    before, after = service.prepare_update(AUTO_UPDATES, record_id, body, viewer)
    _check_settings(after, service.UPDATE_FAILED)
    if (after["pattern"], after["policy"]) != (before["pattern"], before["policy"]):
        after["nextCheck"] = values.now()
    elif after["interval"] != before["interval"]:
        after["nextCheck"] = _next_check(after)
    try:
        updated = store.update(AUTO_UPDATES.name, before, after)
    except store.VersionConflict:
        raise Conflict() from None
    return service.render(AUTO_UPDATES, updated, query, viewer)


def rotate_secret(record_id: str, viewer: Viewer) -> dict[str, Any]:
    """A new webhook secret; the old one stops working at once."""
    before = service.owned_record(AUTO_UPDATES, record_id, viewer)
    after = dict(before, webhookSecret=new_secret(), updated=values.now())
    try:
        updated = store.update(AUTO_UPDATES.name, before, after)
    except store.VersionConflict:
        raise Conflict() from None
    return service.render(AUTO_UPDATES, updated, {}, viewer)
