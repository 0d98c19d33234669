"""Where record files live: an S3 bucket on AWS, a folder for the local run.

One narrow interface (put, get, exists, delete by key) so that nothing else knows which one is in
use. Keys are PocketBase's ``{collectionId}/{recordId}/{filename}``, so a One-Click
``pb_storage`` folder maps onto the bucket one to one. The S3 client is built on first use
and reused: a REST cold start that serves no file never imports its service model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.settings import Settings, get_settings

_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
LINK_SECONDS = 60


@dataclass(frozen=True)
class Stored:
    """A stored file: its bytes, or for one too big to pass through a Lambda response, a
    short-lived link to fetch it from the bucket directly."""

    content: bytes = b""
    link: str = ""


def key_for(collection_id: str, record_id: str, filename: str) -> str:
    return f"{collection_id}/{record_id}/{filename}"


@lru_cache(maxsize=4)
def _s3(region: str, endpoint: str | None) -> Any:
    import boto3

    return boto3.client("s3", region_name=region, endpoint_url=endpoint)


def _folder(settings: Settings) -> Path | None:
    """The local folder, or None when files go to S3; no bucket on AWS is a config error."""
    if settings.files_bucket:
        return None
    if not settings.local:
        raise ConfigError("FILES_BUCKET must name the S3 bucket for record files on AWS")
    return settings.files_dir


def _path(root: Path, key: str) -> Path:
    path = (root / key).resolve()
    if root.resolve() not in path.parents:
        raise ValueError(f"file key escapes the files folder: {key!r}")
    return path


def put(key: str, content: bytes, content_type: str) -> None:
    settings = get_settings()
    root = _folder(settings)
    if root is None:
        _s3(settings.aws_region, settings.s3_endpoint).put_object(
            Bucket=settings.files_bucket, Key=key, Body=content, ContentType=content_type
        )
        return
    path = _path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(content)
    temporary.replace(path)


def get(key: str, inline_limit: int | None = None) -> Stored | None:
    """The file, or None; from S3, a file over ``inline_limit`` bytes comes as a link."""
    settings = get_settings()
    root = _folder(settings)
    if root is None:
        client = _s3(settings.aws_region, settings.s3_endpoint)
        try:
            stored = client.get_object(Bucket=settings.files_bucket, Key=key)
        except client.exceptions.NoSuchKey:
            return None
        if inline_limit is not None and stored["ContentLength"] > inline_limit:
            stored["Body"].close()
            params = {"Bucket": settings.files_bucket, "Key": key}
            link = client.generate_presigned_url("get_object", params, ExpiresIn=LINK_SECONDS)
            return Stored(link=link)
        return Stored(content=bytes(stored["Body"].read()))
    path = _path(root, key)
    return Stored(content=path.read_bytes()) if path.is_file() else None


def exists(key: str) -> bool:
    settings = get_settings()
    root = _folder(settings)
    if root is None:
        client = _s3(settings.aws_region, settings.s3_endpoint)
        try:
            client.head_object(Bucket=settings.files_bucket, Key=key)
        except client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True
    return _path(root, key).is_file()


def delete(keys: Iterable[str]) -> None:
    """Remove the files; keys that do not exist are no error."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return
    settings = get_settings()
    root = _folder(settings)
    if root is None:
        client = _s3(settings.aws_region, settings.s3_endpoint)
        for start in range(0, len(wanted), _DELETE_BATCH):
            batch = [{"Key": k} for k in wanted[start : start + _DELETE_BATCH]]
            client.delete_objects(
                Bucket=settings.files_bucket, Delete={"Objects": batch, "Quiet": True}
            )
        return
    for key in wanted:
        _path(root, key).unlink(missing_ok=True)
