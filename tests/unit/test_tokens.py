"""Our HS256 tokens against PyJWT, the reference: what one issues the other accepts, and
every altered token is refused by ours whenever PyJWT refuses it (and where ours is
stricter, on encodings RFC 7515 does not allow, it refuses alone)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from chalicelib.auth import tokens
from chalicelib.records.schema import USERS

SECRET = "s" * 64  # with the key suffix, long enough for HS512 without warnings
USER = {"id": "u" * 15, "tokenKey": "key-1"}
KEY = SECRET + USER["tokenKey"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "id": USER["id"],
        "type": tokens.TOKEN_TYPE,
        "collectionId": USERS.id,
        "exp": int(time.time()) + 60,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _pyjwt(claims: dict[str, Any], algorithm: str = "HS256", **headers: Any) -> str:
    key = None if algorithm == "none" else KEY
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or None)


def _raw(header: Any, claims: Any, sign: bool = True) -> str:
    """A token with any header and claims JSON, signed with the right key."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode() if not isinstance(claims, bytes) else claims)
    signature = hmac.new(KEY.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature) if sign else ''}"


def _pyjwt_accepts(token: str) -> bool:
    try:
        claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"require": ["exp", "id"]})
    except jwt.PyJWTError:
        return False
    return bool(claims["id"] == USER["id"])


def _resigned(token: str, change: Callable[[dict[str, Any]], None]) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    change(claims)
    return _pyjwt(claims)


def _issued() -> str:
    return tokens.issue(USER, SECRET, 60)


def _alike() -> dict[str, str]:
    """Tokens both sides must judge alike, made when a test runs (they carry times)."""
    issued = _issued()
    head, body, sig = issued.split(".")
    return {
        "issued by PyJWT": _pyjwt(_claims()),
        "issued by PyJWT with a kid": _pyjwt(_claims(), kid="k1"),
        "expired": _pyjwt(_claims(exp=int(time.time()) - 1)),
        "expiring now": _pyjwt(_claims(exp=int(time.time()))),
        "fractional exp": _pyjwt(_claims(exp=time.time() + 60.5)),
        "no exp": _pyjwt(_claims(exp=None)),
        "no id": _pyjwt(_claims(id=None)),
        "another user's id": _pyjwt(_claims(id="v" * 15)),
        "nbf in the future": _pyjwt(_claims(nbf=int(time.time()) + 600)),
        "nbf in the past": _pyjwt(_claims(nbf=int(time.time()) - 600)),
        "iat in the future": _pyjwt(_claims(iat=int(time.time()) + 600)),
        "iat in the past": _pyjwt(_claims(iat=int(time.time()) - 600)),
        "alg none": _pyjwt(_claims(), algorithm="none"),
        "alg HS512": _pyjwt(_claims(), algorithm="HS512"),
        "alg HS384": _pyjwt(_claims(), algorithm="HS384"),
        "no alg": _raw({"typ": "JWT"}, _claims()),
        "alg in lower case": _raw({"alg": "hs256", "typ": "JWT"}, _claims()),
        "header a list": _raw(["HS256"], _claims()),
        "claims a list": _raw({"alg": "HS256"}, [_claims()]),
        "claims not JSON": _raw({"alg": "HS256"}, b"{id:"),
        "claims bad UTF-8": _raw({"alg": "HS256"}, b'{"id":"\xff"}'),
        "unsigned": _raw({"alg": "HS256"}, _claims(), sign=False),
        "another key": jwt.encode(_claims(), "t" * 40 + "key-1", algorithm="HS256"),
        "the user's old token key": jwt.encode(_claims(), SECRET + "key-0", algorithm="HS256"),
        "changed claims, old signature": f"{head}.{_b64(json.dumps(_claims()).encode())}.{sig}",
        "signature cut short": f"{head}.{body}.{sig[:-4]}",
        "signature flipped": f"{head}.{body}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
        "two segments": f"{head}.{body}",
        "four segments": f"{issued}.{sig}",
        "empty": "",
        "dots only": "..",
        "not a token": "not a token",
    }


def _stricter() -> dict[str, str]:
    """Encodings PyJWT tolerates and RFC 7515 (unpadded base64url) does not: ours refuses."""
    head, body, sig = _issued().split(".")
    return {
        "padded signature": f"{head}.{body}.{sig}=",
        "standard alphabet": _raw({"alg": "HS256"}, _claims(note="~~~")).replace("-", "+"),
        "a space inside": f"{head}.{body[:5]} {body[5:]}.{sig}",
        "a trailing newline": f"{head}.{body}.{sig}\n",
    }


ALIKE_CASES, STRICTER_CASES = sorted(_alike()), sorted(_stricter())


def test_what_ours_issues_pyjwt_verifies() -> None:
    issued = _issued()
    claims = jwt.decode(issued, KEY, algorithms=["HS256"], options={"require": ["exp"]})
    assert claims == {
        "id": USER["id"],
        "type": "authRecord",
        "collectionId": USERS.id,
        "exp": claims["exp"],
    }
    assert 55 <= claims["exp"] - time.time() <= 61
    assert jwt.get_unverified_header(issued) == {"alg": "HS256", "typ": "JWT"}
    assert tokens.is_valid(issued, USER, SECRET)
    assert tokens.unverified_user_id(issued) == USER["id"]


@pytest.mark.parametrize("case", ALIKE_CASES)
def test_ours_judges_a_token_as_pyjwt_does(case: str) -> None:
    token = _alike()[case]
    assert tokens.is_valid(token, USER, SECRET) is _pyjwt_accepts(token), case


@pytest.mark.parametrize("case", STRICTER_CASES)
def test_ours_refuses_encodings_outside_the_standard(case: str) -> None:
    token = _stricter()[case]
    assert tokens.is_valid(token, USER, SECRET) is False
    assert tokens.unverified_user_id(token) is None


def test_the_differential_covers_both_answers() -> None:
    """The table above must hold tokens PyJWT accepts and ones it refuses, or the
    comparison proves nothing."""
    verdicts = {_pyjwt_accepts(token) for token in _alike().values()}
    assert verdicts == {True, False}
    assert "+" in _stricter()["standard alphabet"]


@pytest.mark.parametrize(
    "token",
    [
        _raw({"alg": "HS256"}, b"[" * 3000),
        "a" * (tokens.MAX_TOKEN_LENGTH + 1),
        "ü.ü.ü",
    ],
    ids=["deeply nested", "oversized", "non-ASCII"],
)
def test_hostile_tokens_are_refused_without_raising(token: str) -> None:
    assert tokens.is_valid(token, USER, SECRET) is False
    assert tokens.unverified_user_id(token) is None


def test_the_user_id_is_read_only_from_our_own_claims() -> None:
    """Without verifying: whose token key to check it against; other token kinds are none."""
    assert tokens.unverified_user_id(_pyjwt(_claims(exp=1))) == USER["id"]  # expired: still read
    assert tokens.unverified_user_id(_pyjwt(_claims(type="admin"))) is None
    assert tokens.unverified_user_id(_pyjwt(_claims(collectionId="other"))) is None
    assert tokens.unverified_user_id(_pyjwt(_claims(id=7))) is None
    assert tokens.unverified_user_id(_resigned(_issued(), lambda c: c.pop("id"))) is None
