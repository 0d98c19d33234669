"""The live streams' DynamoDB items: one subscription per connection, and a lease that only
its holder can renew or hand over, so two workers never relay the same stream."""

from __future__ import annotations

import time

import pytest

from chalicelib.records import stream_store
from chalicelib.streams import worker


@pytest.mark.usefixtures("backend")
def test_the_lease_admits_exactly_one_worker() -> None:
    stream_store.put_connection(
        "c1", "user1", "session1", "logs", "http://127.0.0.1:1", time.time(), 600
    )
    later = time.time() + 60
    assert stream_store.subscribe("c1", "logs", "{}", "e", time.time(), "first", later, 600)
    assert not stream_store.subscribe("c1", "events", "{}", "e", time.time(), "other", later, 600)
    assert stream_store.get_subscription("c1")["stream"] == "logs"

    soon = time.time() + 5
    assert stream_store.claim_lease("c1", "first", "w1", soon)
    assert not stream_store.claim_lease("c1", "first", "w2", soon)  # a duplicate delivery
    assert not stream_store.claim_lease("c1", "stale", "w3", soon)
    assert stream_store.renew_lease("c1", "first", "w1", (later, soon))
    assert not stream_store.renew_lease("c1", "first", "w2", (later, soon))
    assert not stream_store.renew_lease("c1", "stale", "w1", (later, soon))
    hand_over = {"new_lease": "second", "resume": '{"log":{}}'}
    assert stream_store.renew_lease("c1", "first", "w1", (later, 0.0), **hand_over)
    assert not stream_store.renew_lease("c1", "first", "w1", (later, soon))  # the old one is out
    assert stream_store.get_subscription("c1")["resume"] == '{"log":{}}'
    # An invocation with a lease that is not the current one ends before any cluster call,
    assert worker.run({"connection": "c1", "lease": "first"}) == "superseded"
    # and so does a second delivery of the current one while its first holder renews.
    assert stream_store.claim_lease("c1", "second", "w4", soon)
    assert worker.run({"connection": "c1", "lease": "second"}) == "superseded"
    # A holder that stopped renewing (a crashed invocation) is taken over by its retry.
    assert stream_store.renew_lease("c1", "second", "w4", (later, time.time() - 1))
    assert stream_store.claim_lease("c1", "second", "w5", soon)

    stream_store.forget("c1")
    stream_store.forget("c1")  # twice is fine
    assert stream_store.get_connection("c1") is None
    assert not stream_store.renew_lease("c1", "second", "w5", (later, soon))  # the client left
    assert worker.run({"connection": "c1", "lease": "second"}) == "superseded"
