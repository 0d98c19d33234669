"""PocketBase-style auth tokens: HS256 JWTs with ``id``, ``type``, ``collectionId``, ``exp``.

As in PocketBase, the signing key is the server secret joined with the user's own
``tokenKey``; changing the password rotates the ``tokenKey`` and so revokes every token
issued before, with no deny-list to keep.

Built on ``hmac`` rather than PyJWT: every authenticated request checks a token, and
importing PyJWT (its package loads its JWKS client, and with it ``urllib.request``) cost
each cold start ~10 ms for the one algorithm used here. The checks are PyJWT's for
``algorithms=["HS256"]`` with ``exp`` required, and stricter on encoding (unpadded
base64url only, as RFC 7515 says); the tests hold both directions against PyJWT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any

from chalicelib.records.schema import USERS

TOKEN_TYPE = "authRecord"  # noqa: S105 - a claim value, not a secret
_HEADER = {"alg": "HS256", "typ": "JWT"}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
# Far beyond any token issued here (~200 bytes), and small enough to decode at no cost.
MAX_TOKEN_LENGTH = 4096


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(segment: str) -> bytes:
    """Unpadded base64url; ValueError for anything else (padding, other alphabets)."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as err:
        raise ValueError("not base64url") from err


def _json_object(segment: str) -> dict[str, Any]:
    value = json.loads(_decode(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _signature(signing_input: str, key: str) -> bytes:
    return hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()


def issue(user: dict[str, Any], secret: str, ttl_seconds: int) -> str:
    claims = {
        "id": user["id"],
        "type": TOKEN_TYPE,
        "collectionId": USERS.id,
        "exp": int(time.time()) + ttl_seconds,
    }
    signing_input = ".".join(
        _encode(json.dumps(part, separators=(",", ":")).encode()) for part in (_HEADER, claims)
    )
    return f"{signing_input}.{_encode(_signature(signing_input, secret + user['tokenKey']))}"


def _parts(token: str) -> tuple[dict[str, Any], str, bytes] | None:
    """(claims, signing input, signature) of a well-formed HS256 JWT, else None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    segments = token.split(".")
    if len(segments) != 3:
        return None
    try:
        header, claims = _json_object(segments[0]), _json_object(segments[1])
        signature = _decode(segments[2])
    except (ValueError, RecursionError):  # bad JSON or UTF-8 are ValueErrors; deep nesting
        return None
    if header.get("alg") != _HEADER["alg"]:
        return None
    return claims, f"{segments[0]}.{segments[1]}", signature


def unverified_user_id(token: str) -> str | None:
    """The ``id`` claim, read only to find whose ``tokenKey`` verifies the signature."""
    parts = _parts(token)
    if parts is None:
        return None
    claims = parts[0]
    if claims.get("type") != TOKEN_TYPE or claims.get("collectionId") != USERS.id:
        return None
    user_id = claims.get("id")
    return user_id if isinstance(user_id, str) else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _times_hold(claims: dict[str, Any], now: float) -> bool:
    """``exp`` present and in the future; ``nbf`` and ``iat``, when present, not."""
    exp = claims.get("exp")
    if not _number(exp) or exp <= now:
        return False
    return all(
        _number(claims[name]) and claims[name] <= now for name in ("nbf", "iat") if name in claims
    )


def is_valid(token: str, user: dict[str, Any], secret: str) -> bool:
    parts = _parts(token)
    if parts is None:
        return False
    claims, signing_input, signature = parts
    expected = _signature(signing_input, secret + user["tokenKey"])
    return (
        hmac.compare_digest(signature, expected)
        and _times_hold(claims, time.time())
        and claims.get("id") == user["id"]
    )


def session_of(user: dict[str, Any]) -> str:
    """A fingerprint of the user's token key: it changes exactly when every token of theirs
    is revoked (a password change), without keeping the key itself anywhere else."""
    return hashlib.sha256(str(user.get("tokenKey", "")).encode()).hexdigest()[:32]
