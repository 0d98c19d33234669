"""The read path's table layout is generated from the PynamoDB models and must stay so."""

from __future__ import annotations

from infra import item_layout


def test_the_generated_layout_is_what_the_models_say() -> None:
    stale = "chalicelib/records/item_layout.py is stale: run python -m infra.item_layout"
    assert item_layout.TARGET.read_text() == item_layout.render(), stale
