"""The merged blueprint plan orders ties in ``created`` as the in-memory plan does."""

from __future__ import annotations

import random

import pytest

from chalicelib.records import paging
from chalicelib.records.listing import order


@pytest.mark.parametrize("newest_first", [True, False])
def test_merge_positions_order_ties_like_the_in_memory_sort(newest_first: bool) -> None:
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    records = [
        {"created": f"2026-01-01 00:00:0{rng.randint(0, 3)}.000Z", "id": f"{i:015d}"}
        for i in range(40)
    ]
    rng.shuffle(records)
    in_memory = list(records)
    order(in_memory, (("created", newest_first),))
    key = paging._newest_first if newest_first else paging._oldest_first
    assert sorted(records, key=key) == in_memory
