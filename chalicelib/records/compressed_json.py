"""JSON values (manifests) as stored: zlib-compressed, keys sorted.

Its own module because both the PynamoDB attribute (writes) and the raw item decoder
(reads, which must not import PynamoDB) use it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

from chalicelib.records.values import SortedKeys, sorted_object

# Leads a compressed JSON value whose keys are sorted at every level (everything written
# since list reads stopped sorting manifests); zlib data itself starts with 0x78.
SORTED_KEYS = b"\x01"


def compress_json(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return SORTED_KEYS + zlib.compress(text.encode("utf-8"), 6)


def decompress_json(data: bytes) -> Any:
    """The stored value with its keys sorted at every level, and a top-level object marked
    so (``SortedKeys``): export does not sort it again. A value stored before keys were
    sorted is sorted here."""
    if data[:1] != SORTED_KEYS:
        return json.loads(zlib.decompress(data), object_pairs_hook=sorted_object)
    text = zlib.decompress(data[1:])
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = json.loads(text)  # what orjson refuses and json wrote: NaN, huge integers
    return SortedKeys(value) if isinstance(value, dict) else value
