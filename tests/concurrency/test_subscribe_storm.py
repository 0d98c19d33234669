"""Subscribing to a shared blueprint ("Add to blueprints") from many instances at once."""

from __future__ import annotations

from typing import Any

import pytest
from local_server import Fleet, LocalServer
from storm import fleet_tables, make_fleet_users, report, statuses, storm

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

SUBSCRIBERS = 20


def test_every_concurrent_subscriber_gets_in(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: 20 users subscribing at once on four instances all get 200; the blueprint
    lists each exactly once, and each sees it among their subscriptions (the index rows
    agree with the list)."""
    owner, *users = make_fleet_users(fleet, SUBSCRIBERS + 1)
    status, blueprint = fleet[0].request(
        "POST",
        "/api/collections/blueprints/records",
        {"name": "shared", "manifest": {"spec": {}}, "owner": owner.id, "private": True},
        token=owner.token,
    )
    assert status == 200, blueprint
    path = f"/pb/blueprints/shared/{blueprint['id']}"

    def subscriber(n: int):  # noqa: ANN202 - a storm call
        return lambda server: server.request("POST", path, token=users[n].token)

    replies = storm(fleet, [subscriber(n) for n in range(SUBSCRIBERS)])
    counts = statuses(replies)
    report("subscribes to one blueprint", fleet, SUBSCRIBERS, dict(counts))
    assert new_server_errors() == []
    assert counts == {200: SUBSCRIBERS}, replies
    status, stored = fleet[1].request(
        "GET", f"/api/collections/blueprints/records/{blueprint['id']}", token=owner.token
    )
    assert status == 200 and sorted(stored["users"]) == sorted(u.id for u in users), stored
    with fleet_tables(fleet):
        from chalicelib.records import store

        for user in users:
            assert store.subscribed_blueprint_ids(user.id) == [blueprint["id"]]


def test_subscribing_twice_at_once_lists_the_user_once(
    fleet: Fleet, new_server_errors: Any
) -> None:
    """Invariant: one user's 8 simultaneous clicks subscribe them once."""
    owner, user = make_fleet_users(fleet, 2)
    _, blueprint = fleet[0].request(
        "POST",
        "/api/collections/blueprints/records",
        {"name": "twice", "manifest": {"spec": {}}, "owner": owner.id},
        token=owner.token,
    )
    path = f"/pb/blueprints/shared/{blueprint['id']}"

    def click(server: LocalServer) -> tuple[int, object]:
        return server.request("POST", path, token=user.token)

    counts = statuses(storm(fleet, [click] * 8))
    report("one user's repeated subscribes", fleet, 8, dict(counts))
    assert new_server_errors() == []
    assert counts == {200: 8}
    _, stored = fleet[0].request(
        "GET", f"/api/collections/blueprints/records/{blueprint['id']}", token=owner.token
    )
    assert stored["users"] == [user.id]
