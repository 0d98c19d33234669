"""DynamoDB items of the live streams: open connections and their subscriptions.

Every access is a GetItem, a conditional write or a DeleteItem on the connection id. The
subscription's ``lease`` is the token of the one worker allowed to relay it: a worker only
sends while its conditional renewal succeeds, so a retried or late invocation, or a second
hand-over, can never relay the same stream twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.records import store
from chalicelib.records.models import StreamConnectionModel, StreamSubscriptionModel

Item = dict[str, Any]


def _lost_race(err: PutError | UpdateError) -> bool:
    return err.cause_response_code == "ConditionalCheckFailedException"


def _expiry(ttl_seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=ttl_seconds)


def _item(row: StreamConnectionModel | StreamSubscriptionModel) -> Item:
    return {name: getattr(row, name) for name in row.get_attributes()}


def put_connection(
    connection: str,
    user: str,
    session: str,
    stream: str,
    endpoint: str,
    connected: float,
    ttl_seconds: int,
) -> None:
    store.connection()
    StreamConnectionModel(
        connection,
        user=user,
        session=session,
        stream=stream,
        endpoint=endpoint,
        connected=connected,
        expires=_expiry(ttl_seconds),
    ).save()


def get_connection(connection: str) -> Item | None:
    store.connection()
    try:
        return _item(StreamConnectionModel.get(connection, consistent_read=True))
    except StreamConnectionModel.DoesNotExist:
        return None


def forget(connection: str) -> None:
    """Drop a connection and its subscription (a running worker sees its lease gone)."""
    store.connection()
    for model in (StreamSubscriptionModel, StreamConnectionModel):
        model(connection).delete()  # unconditional: an item already gone is no error


def subscribe(
    connection: str,
    stream: str,
    params: str,
    endpoint: str,
    connected: float,
    lease: str,
    lease_until: float,
    ttl_seconds: int,
) -> bool:
    """Create the connection's one subscription, leased to the first worker; False when the
    connection already has one (later messages are ignored, as by the original)."""
    store.connection()
    row = StreamSubscriptionModel(
        connection,
        stream=stream,
        params=params,
        endpoint=endpoint,
        connected=connected,
        lease=lease,
        lease_until=lease_until,
        expires=_expiry(ttl_seconds),
    )
    try:
        row.save(condition=StreamSubscriptionModel.connection.does_not_exist())
    except PutError as err:
        if _lost_race(err):
            return False
        raise
    return True


def get_subscription(connection: str) -> Item | None:
    store.connection()
    try:
        return _item(StreamSubscriptionModel.get(connection, consistent_read=True))
    except StreamSubscriptionModel.DoesNotExist:
        return None


def claim_lease(connection: str, lease: str, holder: str, holder_until: float) -> bool:
    """Become the one invocation relaying under ``lease``: False when another lease holds
    the subscription, or another invocation holds this lease and has renewed it lately."""
    store.connection()
    model = StreamSubscriptionModel
    free = model.holder.does_not_exist() | (model.holder_until < time.time())
    try:
        model(connection).update(
            actions=[model.holder.set(holder), model.holder_until.set(holder_until)],
            condition=(model.lease == lease) & free,
        )
    except UpdateError as err:
        if _lost_race(err):
            return False
        raise
    return True


def renew_lease(
    connection: str,
    lease: str,
    holder: str,
    until: tuple[float, float],
    new_lease: str | None = None,
    resume: str | None = None,
) -> bool:
    """Extend the lease and its holder's claim (``until``: lease, holder), or hand the lease
    to ``new_lease`` (its first invocation claims it), saving ``resume``, only while
    ``lease`` and ``holder`` still hold it; False when the subscription is gone or held by
    another worker."""
    store.connection()
    model = StreamSubscriptionModel
    row = model(connection)
    actions = [model.lease_until.set(until[0])]
    if new_lease is not None:
        actions += [model.lease.set(new_lease), model.holder.remove()]
    else:
        actions.append(model.holder_until.set(until[1]))
    if resume is not None:
        actions.append(model.resume.set(resume))
    try:
        row.update(actions=actions, condition=(model.lease == lease) & (model.holder == holder))
    except UpdateError as err:
        if _lost_race(err):
            return False
        raise
    return True
