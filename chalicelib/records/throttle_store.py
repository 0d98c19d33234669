"""DynamoDB counters of attempts in fixed time windows, one item per key and window,
expired by TTL.

Every change is one conditional UpdateItem, so N Lambda instances racing on one counter never
let more than its limit through: an attempt takes a slot *before* its password is checked
(``claim``) and a success gives it back (``release``), instead of reading the count, checking
the password and writing the count back afterwards. A key of its own per window makes that a
single write: no read of the old window, no reset race.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pynamodb.exceptions import UpdateError

if TYPE_CHECKING:
    from chalicelib.records.models import LoginThrottleModel


def _model() -> type[LoginThrottleModel]:
    """The counters' model, bound, imported on the first sign-in: every request's auth
    check imports this module, and must not load PynamoDB's models (botocore) for it."""
    from chalicelib.records import store_writes
    from chalicelib.records.models import LoginThrottleModel

    store_writes.bind_models()
    return LoginThrottleModel


def window_key(key: str, window_seconds: int) -> str:
    """``key`` in the current window: the item every instance counts this window in."""
    return f"{key}@{int(time.time()) // window_seconds}"


def _lost(error: UpdateError) -> None:
    if error.cause_response_code != "ConditionalCheckFailedException":
        raise error


def claim(key: str, limit: int, window_seconds: int) -> int | None:
    """Count one attempt on ``key`` (a ``window_key``) if it holds fewer than ``limit``;
    return the count including it, or None when the limit is reached."""
    model = _model()
    item = model(key)
    # Kept a window past its end, so a release late in the window still finds it.
    expires = datetime.now(UTC) + timedelta(seconds=2 * window_seconds)
    try:
        item.update(
            actions=[model.failures.add(1), model.expires.set(expires)],
            condition=model.failures.does_not_exist() | (model.failures < limit),
        )
    except UpdateError as error:
        _lost(error)
        return None
    return int(item.failures)


def release(key: str) -> None:
    """Give back one attempt counted by ``claim`` (the attempt succeeded)."""
    model = _model()
    try:
        model(key).update(actions=[model.failures.add(-1)], condition=model.failures > 0)
    except UpdateError as error:
        _lost(error)


def clear(key: str) -> None:
    _model()(key).delete()


def marked(key: str) -> bool:
    """Whether ``mark`` remembered ``key`` and the mark has not expired."""
    model = _model()
    try:
        item = model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return False
    return bool(item.expires > datetime.now(UTC))  # TTL deletion lags by up to days


def mark(key: str, days: int) -> None:
    """Remember ``key`` for ``days``."""
    expires = datetime.now(UTC) + timedelta(days=days)
    _model()(key, failures=1, expires=expires).save()
