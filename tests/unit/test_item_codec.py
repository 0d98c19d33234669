"""The raw item decoder reads every record model exactly as PynamoDB's own models do."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from chalicelib.records import item_codec, item_layout
from chalicelib.records.models import RECORD_MODELS, CompressedJSONAttribute

MANIFEST = {"spec": {"image": {"tag": "1.25", "registry": "docker.io"}, "env": []}, "kind": "x"}


def _through_pynamodb(collection: str, raw: dict[str, Any]) -> dict[str, Any]:
    """What a PynamoDB model built from ``raw`` holds, with the store's conventions: hidden
    index keys dropped, a sparse text read as "" (PocketBase's empty value)."""
    model = RECORD_MODELS[collection]
    item = model.from_raw_data(raw)
    record = {}
    for name, attribute in model.get_attributes().items():
        if name in item_layout.INTERNAL_ATTRIBUTES:
            continue
        value = getattr(item, name)
        if getattr(attribute, "null", False) and value is None and attribute.attr_type == "S":
            value = ""
        record[name] = value
    return record


def _full(collection: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, attribute in RECORD_MODELS[collection].get_attributes().items():
        if isinstance(attribute, CompressedJSONAttribute):
            values[name] = MANIFEST
        elif attribute.attr_type == "BOOL":
            values[name] = True
        elif attribute.attr_type == "N":
            values[name] = 7
        elif attribute.attr_type == "L":
            values[name] = ["a" * 15, "b" * 15]
        else:
            values[name] = f"{name}-value"
    return values


@pytest.mark.parametrize("collection", sorted(RECORD_MODELS))
def test_a_whole_item_decodes_as_pynamodb_reads_it(collection: str) -> None:
    raw = RECORD_MODELS[collection](**_full(collection)).serialize()
    decoded = item_codec.decode(collection, raw)
    assert decoded == _through_pynamodb(collection, raw)
    assert all(decoded[name] not in ("", None) for name in decoded)


@pytest.mark.parametrize("collection", sorted(RECORD_MODELS))
def test_absent_attributes_decode_as_pynamodb_defaults(collection: str) -> None:
    raw = {"id": {"S": "x" * 15}, "created": {"S": "2026-01-01 00:00:00.000Z"}}
    decoded = item_codec.decode(collection, raw)
    assert decoded == _through_pynamodb(collection, raw)
    assert set(decoded) == item_codec.STORED_ATTRIBUTES[collection]


def test_binary_values_decode_from_the_wire_form_and_from_bytes() -> None:
    raw = RECORD_MODELS["rollouts"](**_full("rollouts")).serialize()
    wire = dict(raw, manifest={"B": base64.b64encode(raw["manifest"]["B"]).decode()})
    assert item_codec.decode("rollouts", wire)["manifest"] == MANIFEST
    assert item_codec.decode("rollouts", raw)["manifest"] == MANIFEST


def test_internal_index_keys_never_reach_a_record() -> None:
    raw = RECORD_MODELS["blueprints"](**_full("blueprints")).serialize()
    assert "listing" in raw and "listing" not in item_codec.decode("blueprints", raw)


def test_manifests_come_back_with_sorted_keys_whether_stored_sorted_or_not() -> None:
    from chalicelib.records.compressed_json import compress_json, decompress_json
    from chalicelib.records.serialize import _sorted_keys
    from chalicelib.records.values import SortedKeys

    value = {"spec": {"z": 1, "a": [{"y": 2, "b": 3}]}, "kind": "Rollout"}
    stored_sorted = compress_json(value)
    # Written before keys were sorted: plain zlib of the client's order, no marker.
    legacy = zlib.compress(json.dumps(value).encode())
    for data in (stored_sorted, legacy):
        decoded = decompress_json(data)
        assert decoded == value and type(decoded) is SortedKeys
        assert json.dumps(decoded) == json.dumps(value, sort_keys=True)
        assert _sorted_keys(decoded) is decoded  # export does not sort it again
    # What orjson refuses but the json module wrote (a client may send NaN).
    assert str(decompress_json(compress_json({"x": float("nan")}))["x"]) == "nan"
    assert decompress_json(compress_json([{"b": 1, "a": 2}])) == [{"a": 2, "b": 1}]
