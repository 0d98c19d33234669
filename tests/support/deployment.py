"""Reading the packaged deployment artifacts in the deploy tests."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def unzip(bundle: Path, into: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(into)
    return into
