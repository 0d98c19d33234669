"""PKCE verifiers and ``state`` values this server issued, checkable without storage.

PocketBase hands out random ones and only the SDK compares ``state``, client-side, so the
server cannot tell a verifier it issued from one anybody made up. Here the verifier carries
its expiry and an HMAC over (provider, expiry, nonce) keyed by the server secret, and
``state`` is an HMAC of the verifier. A sign-in must present a verifier issued by us for
that provider within ``TTL_SECONDS``; if it also sends ``state``, the state must be the one
issued with that verifier. Stateless, so any Lambda instance can check what another issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

TTL_SECONDS = 900  # time to pass the provider's consent screen
METHOD = "S256"
_SEPARATOR = "~"  # PKCE verifiers may use [A-Za-z0-9-._~] (RFC 7636 §4.1)


@dataclass(frozen=True)
class Issued:
    state: str
    code_verifier: str
    code_challenge: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: str, purpose: str, message: str, size: int) -> str:
    text = f"oauth2-{purpose}|{message}".encode()
    return _b64(hmac.new(secret.encode("utf-8"), text, hashlib.sha256).digest()[:size])


def challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _state(secret: str, verifier: str) -> str:
    return _mac(secret, "state", verifier, 24)


def issue(provider: str, secret: str, now: int) -> Issued:
    body = f"{now + TTL_SECONDS}{_SEPARATOR}{secrets.token_urlsafe(16)}"
    verifier = f"{body}{_SEPARATOR}{_mac(secret, 'verifier', f'{provider}|{body}', 16)}"
    return Issued(_state(secret, verifier), verifier, challenge(verifier))


def check(provider: str, verifier: str, state: str | None, secret: str, now: int) -> bool:
    """Whether ``verifier`` (and ``state`` when the client sent one) was issued by us for
    ``provider`` and has not expired."""
    parts = verifier.split(_SEPARATOR)
    if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) < now:
        return False
    expected = _mac(secret, "verifier", f"{provider}|{parts[0]}{_SEPARATOR}{parts[1]}", 16)
    if not hmac.compare_digest(parts[2].encode(), expected.encode()):
        return False
    return state is None or hmac.compare_digest(state.encode(), _state(secret, verifier).encode())
