"""PocketBase-style auth tokens: HS256 JWTs with ``id``, ``type``, ``collectionId``, ``exp``.

As in PocketBase, the signing key is the server secret joined with the user's own
``tokenKey``; changing the password rotates the ``tokenKey`` and so revokes every token
issued before, with no deny-list to keep.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import jwt

from chalicelib.records.schema import USERS

TOKEN_TYPE = "authRecord"  # noqa: S105 - a claim value, not a secret
_ALGORITHM = "HS256"


def issue(user: dict[str, Any], secret: str, ttl_seconds: int) -> str:
    claims = {
        "id": user["id"],
        "type": TOKEN_TYPE,
        "collectionId": USERS.id,
        "exp": int(time.time()) + ttl_seconds,
    }
    return jwt.encode(claims, secret + user["tokenKey"], algorithm=_ALGORITHM)


def unverified_user_id(token: str) -> str | None:
    """The ``id`` claim, read only to find whose ``tokenKey`` verifies the signature."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if claims.get("type") != TOKEN_TYPE or claims.get("collectionId") != USERS.id:
        return None
    user_id = claims.get("id")
    return user_id if isinstance(user_id, str) else None


def is_valid(token: str, user: dict[str, Any], secret: str) -> bool:
    try:
        claims = jwt.decode(
            token,
            secret + user["tokenKey"],
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "id"]},
        )
    except jwt.PyJWTError:
        return False
    return bool(claims["id"] == user["id"])


def session_of(user: dict[str, Any]) -> str:
    """A fingerprint of the user's token key: it changes exactly when every token of theirs
    is revoked (a password change), without keeping the key itself anywhere else."""
    return hashlib.sha256(str(user.get("tokenKey", "")).encode()).hexdigest()[:32]
