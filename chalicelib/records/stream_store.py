"""DynamoDB items of the live streams: open connections and their subscriptions.

Every access is a GetItem, a conditional write or a DeleteItem on the connection id. The
subscription's ``lease`` is the token of the one worker allowed to relay it: a worker only
sends while its conditional renewal succeeds, so a retried or late invocation, or a second
hand-over, can never relay the same stream twice.
"""

from __future__ import annotations

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


def renew_lease(
    connection: str,
    lease: str,
    lease_until: float,
    new_lease: str | None = None,
    resume: str | None = None,
) -> bool:
    """Extend the lease (or hand it to ``new_lease``, saving ``resume``) only while ``lease``
    still holds it; False when the subscription is gone or held by another worker."""
    store.connection()
    row = StreamSubscriptionModel(connection)
    actions = [StreamSubscriptionModel.lease_until.set(lease_until)]
    if new_lease is not None:
        actions.append(StreamSubscriptionModel.lease.set(new_lease))
    if resume is not None:
        actions.append(StreamSubscriptionModel.resume.set(resume))
    try:
        row.update(actions=actions, condition=StreamSubscriptionModel.lease == lease)
    except UpdateError as err:
        if _lost_race(err):
            return False
        raise
    return True
