"""Who is calling: the viewer behind a request's auth token.

Kept apart from the sign-in routes (``auth.login``) because every authenticated request
runs this and nothing else of authentication: a cold start that only reads loads no
password hashing, throttling or OAuth2 code.
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth import tokens
from chalicelib.auth.signing_secret import signing_secret
from chalicelib.records import store, values
from chalicelib.records.access import Viewer


def _read_together(keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Records by (collection, id), strongly consistent: one GetItem or one BatchGetItem."""
    if len(keys) == 1:
        [(collection, record_id)] = keys
        record = store.get(collection, record_id)
        return {} if record is None else {(collection, record_id): record}
    wanted: dict[str, list[str]] = {}
    for collection, record_id in keys:
        wanted.setdefault(collection, []).append(record_id)
    found = store.batch_get_many(wanted, consistent=True)
    return {(c, i): r for c, records in found.items() for i, r in records.items()}


def viewer_from_authorization(
    header: str | None, read_ahead: tuple[str, str] | None = None
) -> Viewer:
    """The caller from ``Authorization: <jwt>`` or ``Bearer <jwt>``.

    Like PocketBase, a missing, expired or forged token makes the caller a guest rather
    than failing the request: the rules then decide (empty list, 404, 401 on auth routes).
    With ``read_ahead`` (collection, record id), that record is read in the same strongly
    consistent BatchGetItem as the caller's own and handed on through the viewer, so a
    view, update or delete pays one round trip for both; the token is still checked
    against the ``tokenKey`` just read, so a revoked token is refused at once.
    """
    if not header:
        return Viewer(None)
    token = header.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    user_id = tokens.unverified_user_id(token)
    if not values.is_record_id(user_id):
        return Viewer(None)
    assert user_id is not None  # noqa: S101 - a record id is a string
    keys = {("users", user_id)}
    if read_ahead is not None and values.is_record_id(read_ahead[1]):
        keys.add(read_ahead)
    found = _read_together(keys)
    user = found.get(("users", user_id))
    if user is None or not tokens.is_valid(token, user, signing_secret()):
        return Viewer(None)
    viewer = Viewer(user)
    if read_ahead in keys:
        viewer.remember(*read_ahead, found.get(read_ahead))  # type: ignore[misc]
    return viewer
