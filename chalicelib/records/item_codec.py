"""Raw DynamoDB items (``{"name": {"S": "…"}}``) to plain records, without PynamoDB models.

Why: building a PynamoDB model per item and reading its attributes back costs more than the
whole DynamoDB round trip of a list page (profile in README "Performance"). The models stay
the one definition of every attribute: each model's decoding spec is derived from them once,
and reproduces exactly what a model would hold (an absent attribute reads as its default;
an optional text that keys a sparse index, stored absent for PocketBase's ``""``, reads as
``""``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model

from chalicelib.records.models import RECORD_MODELS, CompressedJSONAttribute, decompress_json

Record = dict[str, Any]
RawItem = dict[str, dict[str, Any]]

# Not PocketBase fields and never shown: the sparse index keys the store maintains.
INTERNAL_ATTRIBUTES = ("listing", "checkQueue")


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


def _decoder(attribute: Any) -> Decode:
    # Order matters: VersionAttribute is a NumberAttribute.
    kinds: tuple[tuple[type, Decode], ...] = (
        (VersionAttribute, _whole_number),
        (NumberAttribute, _number),
        (BooleanAttribute, _bool),
        (UnicodeAttribute, _text),
        (CompressedJSONAttribute, _compressed_json),
        (ListAttribute, _texts),
    )
    for kind, decode in kinds:
        if isinstance(attribute, kind):
            return decode
    raise TypeError(f"no raw decoder for {type(attribute).__name__}")


def _spec(model: type[Model]) -> Spec:
    spec = []
    for name, attribute in model.get_attributes().items():
        if name in INTERNAL_ATTRIBUTES:
            continue
        sparse_text = isinstance(attribute, UnicodeAttribute) and attribute.null
        absent = "" if sparse_text else attribute.default
        spec.append((name, _decoder(attribute), absent, callable(absent)))
    return tuple(spec)


_SPECS: dict[str, Spec] = {name: _spec(model) for name, model in RECORD_MODELS.items()}
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
