"""auth-with-password, auth-refresh and auth-methods for the users collection."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.auth import passwords, throttle, tokens
from chalicelib.auth.oauth2 import signin
from chalicelib.auth.signing_secret import signing_secret
from chalicelib.errors import BadRequest, Invalid, Unauthorized, field_error
from chalicelib.records import field_picker, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.schema import USERS
from chalicelib.records.service import exported
from chalicelib.settings import get_settings

AUTH_FAILED = "Failed to authenticate."
MAX_IDENTITY_LENGTH = 255
BLANK = ("validation_required", "Cannot be blank.")


def _auth_response(user: dict[str, Any], query: dict[str, str], **extra: Any) -> dict[str, Any]:
    """``{token, record}`` (and ``extra``: an OAuth2 sign-in's ``meta``), with ``?fields=``
    picking from the whole answer as PocketBase does (``fields=token``)."""
    settings = get_settings()
    viewer = Viewer(user)
    token = tokens.issue(user, signing_secret(), settings.auth_token_ttl_seconds)
    picks = field_picker.parse(query.get("fields", ""))
    body = {**extra, "record": exported(USERS, user, query, viewer, picks), "token": token}
    return field_picker.pick_body(body, picks)


def with_password(body: dict[str, Any], query: dict[str, str], address: str) -> dict[str, Any]:
    identity, password = body.get("identity"), body.get("password")
    errors = {
        name: field_error(*BLANK)
        for name, value in (("identity", identity), ("password", password))
        if not isinstance(value, str) or value == ""
    }
    if errors:
        raise Invalid("Something went wrong while processing your request.", errors)
    assert isinstance(identity, str) and isinstance(password, str)  # noqa: S101 - checked above
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise BadRequest(AUTH_FAILED)  # no account has it; never a key DynamoDB refuses
    settings = get_settings()
    attempt = throttle.admit(identity, address, settings)
    field = "email" if "@" in identity else "username"
    user_id = store.user_id_by(field, identity)
    user = store.get("users", user_id) if user_id else None
    if user is None:
        passwords.burn_verification_time(password, settings.bcrypt_cost)
    if user is None or not passwords.verify_password(password, user["passwordHash"]):
        raise BadRequest(AUTH_FAILED)  # the attempt stays counted as a failure
    throttle.succeeded(attempt)
    return _auth_response(user, query)


def refresh(viewer: Viewer, query: dict[str, str]) -> dict[str, Any]:
    if viewer.user is None:
        raise Unauthorized()
    return _auth_response(viewer.user, query)


def with_oauth2(body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    settings = get_settings()
    user, meta = signin.authenticate(body, settings, signing_secret(), int(time.time()))
    return _auth_response(user, query, meta=meta)


def methods() -> dict[str, Any]:
    """Both answer shapes: 0.22 (``authProviders``), which the frontend reads, and 0.23+
    (``password``/``oauth2``, whose providers also carry ``authURL``), which the 0.25 SDK
    reads. Both lists hold the same state and verifier for each provider."""
    settings = get_settings()
    providers = (
        signin.provider_entries(settings, signing_secret(), int(time.time()))
        if settings.oauth2_clients
        else []
    )
    return {
        "authProviders": providers,
        "usernamePassword": True,
        "emailPassword": True,
        "onlyVerified": False,
        "password": {"enabled": True, "identityFields": ["email", "username"]},
        "oauth2": {
            "enabled": bool(providers),
            "providers": [_with_auth_url_023(entry) for entry in providers],
        },
        "mfa": {"enabled": False, "duration": 0},
        "otp": {"enabled": False, "duration": 0},
    }


def _with_auth_url_023(entry: dict[str, str]) -> dict[str, str]:
    """0.23 renamed ``authUrl`` to ``authURL`` and kept both, in this order."""
    ordered = {key: entry[key] for key in ("name", "displayName", "state")}
    return {**ordered, "authURL": entry["authUrl"], **entry}


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
