"""Reading a One-Click PocketBase 0.22 data folder (``pb_data``): rows of the six
collections from ``data.db`` and the files under ``storage/``, without changing either."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.records.schema import COLLECTIONS

Row = dict[str, Any]


class NotPocketBaseData(Exception):
    """The folder is not a PocketBase data folder with One-Click's collections."""


@dataclass(frozen=True)
class PocketBaseData:
    folder: Path
    collection_ids: dict[str, str]  # collection name -> PocketBase's id (its storage folder)
    rows: dict[str, list[Row]]

    def file(self, collection: str, record_id: str, name: str) -> bytes | None:
        path = self.folder / "storage" / self.collection_ids[collection] / record_id / name
        return path.read_bytes() if path.is_file() else None


def _rows(db: sqlite3.Connection, table: str) -> Iterator[Row]:
    cursor = db.execute(f'SELECT * FROM "{table}" ORDER BY created, id')  # noqa: S608 - known names
    columns = [c[0] for c in cursor.description]
    for values in cursor:
        yield dict(zip(columns, values, strict=True))


def read(folder: Path) -> PocketBaseData:
    """Every row of the six collections (read-only: a running PocketBase is not disturbed)."""
    database = folder / "data.db"
    if not database.is_file():
        raise NotPocketBaseData(f"{database} does not exist")
    uri = f"{database.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            found = dict(db.execute("SELECT name, id FROM _collections").fetchall())
            missing = sorted(set(COLLECTIONS) - set(found))
            if missing:
                raise NotPocketBaseData(f"{database} has no collection(s) {', '.join(missing)}")
            rows = {name: list(_rows(db, name)) for name in COLLECTIONS}
    except sqlite3.DatabaseError as error:
        raise NotPocketBaseData(f"{database} cannot be read: {error}") from None
    return PocketBaseData(folder, {n: found[n] for n in COLLECTIONS}, rows)
