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
    """Create every table that does not exist yet, and every index a model has gained since
    its table was made (a local database kept across upgrades); return what was made."""
    connection = store.connection()  # binds models to the configured endpoint and prefix
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
        else:
            created += _add_missing_indexes(connection.client, model)
    return created


def _add_missing_indexes(client: Any, model: type[Model]) -> list[str]:
    """Ask for every missing index (one UpdateTable each) without waiting for it to be
    built: the reads that prefer it fall back to the full index meanwhile (``store``)."""
    table = model.Meta.table_name
    schema = model._get_schema()
    described = client.describe_table(TableName=table)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    added = []
    for index in schema["global_secondary_indexes"]:
        name = index["index_name"]
        if name in present:
            continue
        used = {key["AttributeName"] for key in index["key_schema"]}
        client.update_table(
            TableName=table,
            AttributeDefinitions=[
                a for a in schema["attribute_definitions"] if a["AttributeName"] in used
            ],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": name,
                        "KeySchema": _hash_key_first(index["key_schema"]),
                        "Projection": index["projection"],
                    }
                }
            ],
        )
        added.append(f"{table}.{name}")
    return added


def _hash_key_first(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    """DynamoDB Local refuses a key schema that does not name the hash key first."""
    return sorted(keys, key=lambda key: key["KeyType"] != "HASH")


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
