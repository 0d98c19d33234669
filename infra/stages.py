"""The Chalice stages and the environment each one deploys with, read from
``.chalice/config.json`` — the one place stage names and resource names are written down."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from chalicelib.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
CHALICE_DIR = ROOT / ".chalice"


@cache
def chalice_config() -> dict[str, Any]:
    return dict(json.loads((CHALICE_DIR / "config.json").read_text()))


def stage_names() -> list[str]:
    return list(chalice_config()["stages"])


def stage_environment(stage: str) -> dict[str, str]:
    """Stage variables over the top-level ones, as Chalice merges them into every function."""
    config = chalice_config()
    return {
        **config.get("environment_variables", {}),
        **config["stages"][stage].get("environment_variables", {}),
    }


def stage_settings(stage: str) -> Settings:
    """The settings a Lambda of this stage will run with (validated like at run time)."""
    return load_settings(stage_environment(stage))


def policy_files(stage: str) -> dict[str, str]:
    """Function name -> its IAM policy file name in ``.chalice/``."""
    functions = chalice_config()["stages"][stage].get("lambda_functions", {})
    return {name: spec["iam_policy_file"] for name, spec in functions.items()}
