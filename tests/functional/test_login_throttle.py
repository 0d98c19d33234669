"""Login throttling on the real storage: guessing stops, the owner and their neighbours do
not get locked out, and concurrent attempts never pass a limit (chalicelib/auth/throttle.py).
L = 5 failures per window (the default)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from chalicelib.auth import throttle
from chalicelib.errors import TooManyRequests
from chalicelib.settings import get_settings

LIMIT = 5


def _fail(identity: str, address: str) -> None:
    """One admitted attempt with a wrong password (it stays counted)."""
    throttle.admit(identity, address, get_settings())


def _refused(identity: str, address: str) -> bool:
    try:
        throttle.admit(identity, address, get_settings())
    except TooManyRequests:
        return True
    return False


def _sign_in(identity: str, address: str) -> None:
    throttle.succeeded(throttle.admit(identity, address, get_settings()))


def test_one_client_is_stopped_after_the_limit(backend: str) -> None:
    for _ in range(LIMIT):
        _fail("victim@example.com", "203.0.113.7")
    assert _refused("victim@example.com", "203.0.113.7")
    assert _refused("VICTIM@example.com ", "203.0.113.7")  # the same identity, spelled loosely


def test_the_owner_elsewhere_is_not_locked_out_by_a_guesser(backend: str) -> None:
    for _ in range(LIMIT + 3):
        _refused("victim@example.com", "203.0.113.7")
    _sign_in("victim@example.com", "198.51.100.1")


def test_guesses_spread_over_addresses_get_one_each_once_the_account_is_hot(
    backend: str,
) -> None:
    _sign_in("victim@example.com", "198.51.100.1")  # the owner's usual client
    _fail("victim@example.com", "198.51.100.1")  # who then mistypes once
    for n in range(throttle.IDENTITY_FACTOR * LIMIT):
        _fail("victim@example.com", f"203.0.113.{n}")
    # A client that has already failed is refused once the account has had enough failures,
    _fail("victim@example.com", "192.0.2.1")
    assert _refused("victim@example.com", "192.0.2.1")
    # one that has not been failing is still checked (the owner on a new network),
    _sign_in("victim@example.com", "192.0.2.99")
    # and so is one the owner signed in from before, even after a typo.
    _sign_in("victim@example.com", "198.51.100.1")


def test_spraying_from_one_address_stops_but_its_known_users_get_in(backend: str) -> None:
    office = "203.0.113.50"
    _sign_in("colleague@example.com", office)
    for n in range(throttle.ADDRESS_FACTOR * LIMIT):
        _fail(f"user{n}@example.com", office)
    assert _refused("another@example.com", office)
    _sign_in("colleague@example.com", office)
    _sign_in("another@example.com", "198.51.100.2")  # the limit is the address's alone


def test_a_success_gives_its_slots_back(backend: str) -> None:
    for _ in range(throttle.ADDRESS_FACTOR * LIMIT + 5):
        _sign_in("busy@example.com", "203.0.113.60")  # a busy, correct client never trips
    for _ in range(LIMIT):
        _fail("busy@example.com", "203.0.113.60")
    assert _refused("busy@example.com", "203.0.113.60")


# Atomicity is the engine's promise: moto's server does not serialize conditional updates
# of one item (CI once saw 6 of 32 admitted there), so this runs on DynamoDB Local only.
@pytest.mark.dynamodb_local
@pytest.mark.parametrize("backend", ["dynamodb_local"], indirect=True)
@pytest.mark.parametrize("threads", [32])
def test_concurrent_guesses_never_pass_the_limit(backend: str, threads: int) -> None:
    """The counter is claimed before the password check, in one conditional write: of 32
    simultaneous guesses from one client, exactly L are checked."""
    barrier = Barrier(threads)

    def guess(_: int) -> bool:
        barrier.wait()
        return not _refused("victim@example.com", "203.0.113.9")

    with ThreadPoolExecutor(threads) as pool:
        admitted = sum(pool.map(guess, range(threads)))
    assert admitted == LIMIT
