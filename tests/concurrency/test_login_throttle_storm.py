"""Login throttling across instances: counters live in DynamoDB and take an attempt's slot
before its password is checked, so no number of instances checks more guesses than the
limit (L = 5 per client per window). All fleet requests come from 127.0.0.1: one client."""

from __future__ import annotations

from typing import Any

import pytest
from local_server import Fleet, LocalServer
from storm import make_fleet_users, report, statuses, storm

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

LOGIN = "/api/collections/users/auth-with-password"
GUESSES = 32


def test_concurrent_wrong_guesses_check_at_most_the_limit(
    fleet: Fleet, new_server_errors: Any
) -> None:
    """Invariant: of 32 simultaneous wrong guesses on four instances, exactly L are checked
    (400) and the rest refused (429) before bcrypt; the owner's client is then throttled
    like any other failing client, and a different account from it is not."""
    victim, bystander = make_fleet_users(fleet, 2)

    def guess(server: LocalServer) -> tuple[int, object]:
        return server.request("POST", LOGIN, {"identity": victim.email, "password": "wrong!"})

    counts = statuses(storm(fleet, [guess] * GUESSES))
    report("wrong guesses, one identity", fleet, GUESSES, dict(counts))
    assert new_server_errors() == []
    assert counts == {400: 5, 429: GUESSES - 5}
    assert fleet[1].request("POST", LOGIN, {"identity": victim.email, "password": "x"})[0] == 429
    reply = fleet[2].request(
        "POST", LOGIN, {"identity": bystander.email, "password": bystander.password}
    )
    assert reply[0] == 200, reply


def test_concurrent_correct_logins_are_never_throttled(
    fleet: Fleet, new_server_errors: Any
) -> None:
    """Invariant: a success gives its slots back, so a burst of correct sign-ins (more than
    every limit together) all succeed."""
    [user] = make_fleet_users(fleet, 1)

    def sign_in(server: LocalServer) -> tuple[int, object]:
        return server.request("POST", LOGIN, {"identity": user.email, "password": user.password})

    counts = statuses(storm(fleet, [sign_in] * GUESSES))
    report("correct sign-ins, one identity", fleet, GUESSES, dict(counts))
    assert new_server_errors() == []
    assert counts == {200: GUESSES}
