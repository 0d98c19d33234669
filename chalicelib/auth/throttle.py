"""Failed-login throttling: per identity, and (looser) per source address.

Counting happens in DynamoDB so every Lambda instance sees the same numbers; a throttled
attempt is refused before bcrypt runs, so a password-guessing flood costs us no CPU.
"""

from __future__ import annotations

from chalicelib.errors import TooManyRequests
from chalicelib.records import store
from chalicelib.settings import Settings

THROTTLED = "Too many failed login attempts. Please try again later."
ADDRESS_FACTOR = 4  # one address may fail for several identities (shared NAT)


def _keys(identity: str, address: str, settings: Settings) -> list[tuple[str, int]]:
    """No address (a password change, where the token already names the caller): the
    identity's counter alone, shared with logins so neither path gives extra guesses."""
    limit = settings.login_max_failures
    keys = [(f"identity#{identity.strip().lower()}", limit)]
    if address:
        keys.append((f"address#{address}", limit * ADDRESS_FACTOR))
    return keys


def ensure_allowed(identity: str, address: str, settings: Settings) -> int:
    """Refuse a throttled attempt; return the identity's failures so far."""
    limits = _keys(identity, address, settings)
    counts = store.login_failures([key for key, _ in limits])
    if any(counts[key] >= limit for key, limit in limits):
        raise TooManyRequests(THROTTLED)
    return counts[limits[0][0]]


def record_failure(identity: str, address: str, settings: Settings) -> None:
    for key, _ in _keys(identity, address, settings):
        store.count_login_failure(key, settings.login_failure_window_seconds)


def record_success(identity: str, failures_so_far: int) -> None:
    if failures_so_far:
        store.clear_login_failures(f"identity#{identity.strip().lower()}")
