"""Record files (the ``avatar`` of users, projects, deployments and blueprints), with
PocketBase 0.22's semantics: a multipart upload replaces the file, ``avatar: ""``/``null``
or ``avatar-: <name>`` removes it, any other name is refused, and the old file goes once
the record no longer points to it.

Files are written before the record and removed after it, so a record never points to a
file that is not there; an interrupted request can at worst leave an unreferenced file.
A file is served only to callers who may view its record (PocketBase serves unprotected
files to anyone who knows the name).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Invalid, NotFound, field_error
from chalicelib.files import storage
from chalicelib.files.names import STORED_NAME, sniff
from chalicelib.files.uploads import Upload
from chalicelib.records import access, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.schema import Collection, Field, find_collection
from chalicelib.records.store import Record

logger = logging.getLogger("oneclick.files")

BAD_FORMAT = "Failed to load the submitted data due to invalid formatting."
UNKNOWN_FILENAMES = ("validation_unknown_filenames", "The field contains unknown filenames.")
SIZE_LIMIT = "validation_file_size_limit"
MIME_TYPE = "validation_invalid_mime_type"
LIMIT_CODES = frozenset({SIZE_LIMIT, MIME_TYPE})


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _limit_error(field: Field, upload: Upload) -> dict[str, str] | None:
    if len(upload.content) > field.max_file_bytes:
        return field_error(
            SIZE_LIMIT,
            f'Failed to upload "{upload.original_name}" - the maximum allowed file size '
            f"is {field.max_file_bytes} bytes.",
        )
    if field.mime_types and upload.content_type not in field.mime_types:
        return field_error(
            MIME_TYPE,
            f'"{upload.name}" mime type must be one of: {", ".join(field.mime_types)}.',
        )
    return None


def uploads_of(field: Field, body: dict[str, Any]) -> list[Upload]:
    return [u for u in _as_list(body.get(field.name)) if isinstance(u, Upload)]


def file_value(
    field: Field, current: str, body: dict[str, Any]
) -> tuple[str, dict[str, str] | None]:
    """The field's new value and the problem with its upload, if any. Names other than the
    current one are refused before anything else, as PocketBase does while loading."""
    value = current
    uploads = uploads_of(field, body)
    if field.name in body and not uploads:
        names = _as_list(body[field.name])
        if not all(isinstance(n, str) and n in ("", current) for n in names):
            raise Invalid(BAD_FORMAT, {field.name: field_error(*UNKNOWN_FILENAMES)})
        value = current if current in names and current else ""
    if value and value in _as_list(body.get(f"{field.name}-")):
        value = ""
    if not uploads:
        return value, None
    return uploads[0].name, _limit_error(field, uploads[0])


def _key(collection: Collection, record_id: str, name: str) -> str:
    return storage.key_for(collection.id, record_id, name)


def _remove_unreferenced(keys: Iterable[str]) -> None:
    """Remove files no record points to any more. The record write has happened: failing
    here would report an error for a change that was made, so a failure only leaves an
    unreferenced file behind, logged."""
    try:
        storage.delete(keys)
    except Exception:  # noqa: BLE001 - S3, network or folder errors alike
        logger.exception("could not remove unreferenced files")


@contextmanager
def files_saved(
    collection: Collection, before: Record | None, after: Record, body: dict[str, Any]
) -> Iterator[None]:
    """Around the record write: store the uploads ``after`` points to first, remove them
    again if the write fails, and remove the files ``before`` pointed to once it succeeded."""
    written = []
    for field in collection.files:
        for upload in uploads_of(field, body):
            if upload.name == after[field.name]:
                key = _key(collection, after["id"], upload.name)
                storage.put(key, upload.content, upload.content_type)
                written.append(key)
    try:
        yield
    except BaseException:
        _remove_unreferenced(written)
        raise
    if before is not None:
        _remove_unreferenced(
            _key(collection, before["id"], before[f.name])
            for f in collection.files
            if before[f.name] and before[f.name] != after[f.name]
        )


def remove_files(plan: list[tuple[str, Record]]) -> None:
    """After a cascade: the files of every deleted record."""
    keys = []
    for name, record in plan:
        collection = find_collection(name)
        assert collection is not None  # noqa: S101 - plans name known collections
        keys += [
            _key(collection, record["id"], record[f.name])
            for f in collection.files
            if record[f.name]
        ]
    _remove_unreferenced(keys)


# A Lambda response carries at most 6 MB, base64-encoded; bigger files are handed out as a
# short-lived link to the bucket, after the same access check.
INLINE_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServedFile:
    name: str
    content: bytes
    content_type: str
    link: str = ""


def read_file(collection_ref: str, record_id: str, name: str, viewer: Viewer) -> ServedFile:
    """A record's file for a caller who may view the record; 404 for anything else."""
    collection = find_collection(collection_ref)
    if collection is None or not values.is_record_id(record_id) or not STORED_NAME.fullmatch(name):
        raise NotFound()
    record = store.get(collection.name, record_id)
    if record is None or name not in (record[f.name] for f in collection.files):
        raise NotFound()
    if not access.can_view(collection, record, viewer):
        raise NotFound()
    stored = storage.get(_key(collection, record_id, name), INLINE_LIMIT)
    if stored is None:
        raise NotFound()
    return ServedFile(name, stored.content, sniff(stored.content), stored.link)
