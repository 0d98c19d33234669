"""auth-with-password, auth-refresh and auth-methods for the users collection."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.auth import passwords, throttle, tokens
from chalicelib.auth.oauth2 import signin
from chalicelib.auth.signing_secret import signing_secret
from chalicelib.errors import BadRequest, Invalid, Unauthorized, field_error
from chalicelib.records import field_picker, store
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
