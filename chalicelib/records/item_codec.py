"""Raw DynamoDB items (``{"name": {"S": "…"}}``) to plain records, without PynamoDB models.

Why: building a PynamoDB model per item and reading its attributes back costs more than the
whole DynamoDB round trip of a list page (profile in README "Performance"), and importing
PynamoDB costs a cold start botocore. The models stay the one definition of every
attribute: ``item_layout`` is generated from them, and decoding reproduces exactly what a
model would hold (an absent attribute reads as its default;
an optional text that keys a sparse index, stored absent for PocketBase's ``""``, reads as
``""``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from chalicelib.records.compressed_json import decompress_json
from chalicelib.records.item_layout import DECODING

Record = dict[str, Any]
RawItem = dict[str, dict[str, Any]]


def _text(value: dict[str, Any]) -> Any:
    return value["S"]


def _bool(value: dict[str, Any]) -> Any:
    return value["BOOL"]


def _whole_number(value: dict[str, Any]) -> Any:
    return int(value["N"])


def _number(value: dict[str, Any]) -> Any:
    return json.loads(value["N"])


def _texts(value: dict[str, Any]) -> Any:
    return [element["S"] for element in value["L"]]


def _compressed_json(value: dict[str, Any]) -> Any:
    # The wire form is base64 text; PynamoDB's own serialization hands over bytes.
    data = value["B"]
    raw = base64.b64decode(data) if isinstance(data, str) else data
    return decompress_json(raw)


Decode = Callable[[dict[str, Any]], Any]
# (attribute name, decoder, what an absent attribute reads as, or a factory for it)
Spec = tuple[tuple[str, Decode, Any, bool], ...]

_DECODERS: dict[str, Decode] = {
    "whole": _whole_number,
    "number": _number,
    "bool": _bool,
    "text": _text,
    "compressed_json": _compressed_json,
    "texts": _texts,
}


def _spec(layout: list[tuple[str, str, Any]]) -> Spec:
    # A mutable default (a list) is made anew for every record.
    return tuple(
        (name, _DECODERS[kind], list if absent == [] else absent, absent == [])
        for name, kind, absent in layout
    )


_SPECS: dict[str, Spec] = {name: _spec(layout) for name, layout in DECODING.items()}
STORED_ATTRIBUTES: dict[str, frozenset[str]] = {
    name: frozenset(entry[0] for entry in spec) for name, spec in _SPECS.items()
}


def decode(collection: str, item: RawItem) -> Record:
    """The record an item holds; attributes a projection left out read as absent."""
    record: Record = {}
    for name, decode_value, absent, make_absent in _SPECS[collection]:
        value = item.get(name)
        if value is None or "NULL" in value:
            record[name] = absent() if make_absent else absent
        else:
            record[name] = decode_value(value)
    return record
