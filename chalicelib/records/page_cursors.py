"""Where the previous page of a list ended, so the next page starts there.

The SDK's ``getFullList`` (every list the frontend makes) asks for page 1, 2, 3 … one after
another. Offset paging makes page *k* skip the (k−1)·perPage records before it, which costs
O(N²) over the whole list; DynamoDB can continue from the last key a page returned instead.
So each full page leaves its last key here, keyed by the caller, the partition, the order
and the position it ends at, for a minute; a page starting at that position continues from
it, and any other page skips with ``Select=COUNT`` as before.

Kept in the instance's memory: free, and a Lambda instance serves one request at a time, so
sequential pages usually meet the same warm instance; another instance just counts. A record
created or deleted through this instance drops its partition's positions, so the next page
counts again and answers exactly as offset paging does. One created or deleted through
another instance within that minute is not seen here: the next page then continues where
the previous one ended (no record repeated or skipped) where offset paging would shift.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

_TTL_SECONDS = 60.0
_MAX_ENTRIES = 512

Position = tuple[str, str, str, bool, int]  # viewer, collection, partition, newest first, offset

_ends: OrderedDict[Position, tuple[float, dict[str, Any]]] = OrderedDict()


def start_of(position: Position) -> dict[str, Any] | None:
    """The key the page before ``position`` ended at, if it was served within the minute."""
    found = _ends.get(position)
    if found is None or time.monotonic() - found[0] > _TTL_SECONDS:
        return None
    return found[1]


def forget(collection: str, record: dict[str, Any]) -> None:
    """Drop the positions of every partition ``record`` belongs to (it was created or
    deleted, so the positions after it moved)."""
    for position in [p for p in _ends if p[1] == collection and record.get(p[2]) == p[0]]:
        del _ends[position]


def remember(position: Position, last_key: dict[str, Any]) -> None:
    _ends[position] = (time.monotonic(), last_key)
    _ends.move_to_end(position)
    while len(_ends) > _MAX_ENTRIES:
        _ends.popitem(last=False)
