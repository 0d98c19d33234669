"""Failed-login throttling that stops guessing without letting anyone lock the owner out.

The reference is OWASP's Authentication Cheat Sheet ("Protect against automated attacks",
"Account lockout"): a hard per-account lockout hands every attacker a denial of service, and
a per-address limit punishes everyone behind the same NAT. So the counters and their rules
are (L = ``LOGIN_MAX_FAILURES`` per ``LOGIN_FAILURE_WINDOW_SECONDS``):

- **client** (identity and address together): a hard limit of L. One client cannot go on
  guessing one account; nobody else's attempts count here.
- **identity** (all addresses): past ``IDENTITY_FACTOR`` × L, only clients that have not
  been failing in this window, or that signed in to this account from this address before
  (``TRUSTED_DAYS``), are still checked. A guesser spread over many addresses gets one guess
  per address per window; the owner, at home or anywhere they are not failing, still gets
  in with the correct password.
- **address** (all identities, the password-spraying shape): past ``ADDRESS_FACTOR`` × L,
  only clients that signed in to that account from this address before are checked, so a
  colleague behind the same NAT keeps working while the sprayer is stopped.

Each counter takes its slot atomically before bcrypt runs (``throttle_store.claim``), so
concurrent instances never check more guesses than the limits allow, and a refused attempt
costs no CPU; a success gives the slots back. The same identity counter guards the
password-change form (no address there: the token names the caller).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from chalicelib.errors import TooManyRequests
from chalicelib.records import throttle_store
from chalicelib.settings import Settings

THROTTLED = "Too many failed login attempts. Please try again later."
IDENTITY_FACTOR = 4  # failures on one account from all its clients
ADDRESS_FACTOR = 4  # one address may fail for several identities (shared NAT)
TRUSTED_DAYS = 30  # how long a successful sign-in vouches for its client


@dataclass
class Attempt:
    """An admitted attempt: the counter slots it holds, given back if it succeeds."""

    client: str
    trusted: str | None
    claimed: list[str] = field(default_factory=list)


def _client_digest(identity: str, address: str) -> str:
    """Long-lived keys hold no readable e-mail or address."""
    return hashlib.sha256(f"{identity}\n{address}".encode()).hexdigest()


def admit(identity: str, address: str, settings: Settings) -> Attempt:
    """Take this attempt's slots or refuse it with 429, before any password is checked."""
    limit, window = settings.login_max_failures, settings.login_failure_window_seconds
    name = identity.strip().lower()
    client = _client_digest(name, address)
    attempt = Attempt(
        client=throttle_store.window_key(f"client#{client}", window),
        trusted=f"trusted#{client}" if address else None,
    )
    client_count = throttle_store.claim(attempt.client, limit, window)
    if client_count is None:
        raise TooManyRequests(THROTTLED)
    shared = [(f"identity#{name}", IDENTITY_FACTOR * limit, client_count == 1)]
    if address:
        shared.append((f"address#{address}", ADDRESS_FACTOR * limit, False))
    for key, shared_limit, fresh in shared:
        counted = throttle_store.window_key(key, window)
        if throttle_store.claim(counted, shared_limit, window) is not None:
            attempt.claimed.append(counted)
        elif not (fresh or _trusted(attempt)):
            for taken in attempt.claimed:
                throttle_store.release(taken)
            raise TooManyRequests(THROTTLED)
    return attempt


def _trusted(attempt: Attempt) -> bool:
    """Read only when a shared limit is reached: an ordinary sign-in pays nothing for it."""
    return attempt.trusted is not None and throttle_store.marked(attempt.trusted)


def succeeded(attempt: Attempt) -> None:
    """The password was right: this client's failures end, its shared slots go back, and
    it is trusted from now on."""
    throttle_store.clear(attempt.client)
    for key in attempt.claimed:
        throttle_store.release(key)
    if attempt.trusted:
        throttle_store.mark(attempt.trusted, TRUSTED_DAYS)
