"""The dev stage packaged once per session (chalice package, bytecode, merged template take
about half a minute; every deploy test reads the same artifacts)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.package import Artifacts, package

STAGE = "dev"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return package(STAGE, tmp_path_factory.mktemp("package") / STAGE)


@pytest.fixture(scope="session")
def template(artifacts: Artifacts) -> dict[str, Any]:
    return dict(json.loads(artifacts.template.read_text()))


@pytest.fixture(scope="session")
def chalice_template(artifacts: Artifacts) -> dict[str, Any]:
    return dict(json.loads((artifacts.template.parent / "sam.json").read_text()))
