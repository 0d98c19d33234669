"""PocketBase file tokens: short-lived JWTs that let an ``<img src>`` or a download link
prove who asks for a file (``?token=``), since such requests carry no Authorization header.

They have the auth token's claims but another signing key, so a leaked file URL is worth
two minutes of access to files, never a session.
"""

from __future__ import annotations

from chalicelib.auth import tokens
from chalicelib.auth.callers import viewer_from_authorization
from chalicelib.auth.signing_secret import signing_secret
from chalicelib.errors import BadRequest
from chalicelib.records import store, values
from chalicelib.records.access import Viewer

TTL_SECONDS = 120  # PocketBase 0.22's default
_KEY_SUFFIX = ":files"
NO_TOKEN = "Failed to generate file token."  # noqa: S105 - a message, not a secret


def issue(viewer: Viewer) -> dict[str, str]:
    if viewer.user is None:
        raise BadRequest(NO_TOKEN)
    return {"token": tokens.issue(viewer.user, signing_secret() + _KEY_SUFFIX, TTL_SECONDS)}


def viewer_for_file(token: str | None, authorization: str | None) -> Viewer:
    """The caller of a file request: a file token (or, like PocketBase, an auth token) in
    ``?token=``, else the Authorization header; a guest when neither verifies."""
    if token:
        user_id = tokens.unverified_user_id(token)
        user = store.get("users", user_id) if values.is_record_id(user_id) else None
        if user is not None and (
            tokens.is_valid(token, user, signing_secret() + _KEY_SUFFIX)
            or tokens.is_valid(token, user, signing_secret())
        ):
            return Viewer(user)
    return viewer_from_authorization(authorization)
