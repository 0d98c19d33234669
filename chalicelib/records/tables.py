"""Table creation and description, derived from the PynamoDB models.

The local run and the tests create tables from here; ``infra/`` templates are generated
from (and checked against) ``table_definitions()``, so the models stay the single source.
"""

from __future__ import annotations

from typing import Any

from pynamodb.models import Model

from chalicelib.records import store
from chalicelib.records.models import ALL_MODELS


def create_missing_tables() -> list[str]:
    """Create every table that does not exist yet; return the names created."""
    store.connection()  # binds models to the configured endpoint and prefix
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created


def delete_all_tables() -> None:
    """Drop every table (tests only: each test run starts from empty tables)."""
    store.connection()
    for model in ALL_MODELS:
        if model.exists():
            model.delete_table()


def table_definitions() -> dict[str, dict[str, Any]]:
    """Key schema, attributes and indexes per table base name, for infra templates."""
    definitions: dict[str, dict[str, Any]] = {}
    for model in ALL_MODELS:
        schema = model._get_schema()
        name = getattr(model.Meta, "base_name", model.Meta.table_name)
        definitions[name] = {
            "key_schema": schema["key_schema"],
            "attribute_definitions": schema["attribute_definitions"],
            "global_secondary_indexes": schema["global_secondary_indexes"],
            "ttl_attribute": _ttl_attribute(model),
        }
    return definitions


def _ttl_attribute(model: type[Model]) -> str | None:
    attribute = model._ttl_attribute()
    return attribute.attr_name if attribute is not None else None
