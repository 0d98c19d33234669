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

    assert stream_store.renew_lease("c1", "first", later)
    assert not stream_store.renew_lease("c1", "stale", later)
    assert stream_store.renew_lease("c1", "first", later, new_lease="second", resume='{"log":{}}')
    assert not stream_store.renew_lease("c1", "first", later)  # the old worker is out
    assert stream_store.get_subscription("c1")["resume"] == '{"log":{}}'
    # An invocation with a lease that is not the current one ends before any cluster call.
    assert worker.run({"connection": "c1", "lease": "first"}) == "superseded"

    stream_store.forget("c1")
    stream_store.forget("c1")  # twice is fine
    assert stream_store.get_connection("c1") is None
    assert not stream_store.renew_lease("c1", "second", later)  # the client left
    assert worker.run({"connection": "c1", "lease": "second"}) == "superseded"
