"""Build one stage's deployable artifacts: ``dist/STAGE/template.json`` and the
``deployment.zip`` it points to (``make package STAGE=dev``).

Steps: the IAM policy files must match ``infra.policies``; ``chalice package`` builds the
functions, roles and APIs (it needs PyPI for Lambda's wheels and a region, no credentials);
the zip loses unused code and gets precompiled bytecode; ``infra.build_template`` merges the
rest in. Chalice's own ``--merge-template`` is not used because the CloudFront routes depend
on which APIs Chalice generated (the WebSocket API exists only once the app has websocket
handlers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.build_template import merged_template
from infra.bundle import BundleSize, finish
from infra.policies import rendered_policies
from infra.stages import CHALICE_DIR, ROOT, stage_environment, stage_settings

# chalice package reports wheels it could not get for Lambda and carries on without them.
MISSING_DEPENDENCIES = "Could not install dependencies"


class PackageError(Exception):
    """The artifacts would not deploy or not run; the message says why."""


@dataclass(frozen=True)
class Artifacts:
    template: Path
    bundle: Path
    size: BundleSize


def check_policy_files() -> None:
    stale = [
        name
        for name, text in rendered_policies().items()
        if not (CHALICE_DIR / name).is_file() or (CHALICE_DIR / name).read_text() != text
    ]
    if stale:
        raise PackageError(f"policy files out of date, run python -m infra.policies: {stale}")


def chalice_package(stage: str, out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    # The tick's EventBridge schedule is read when Chalice imports app.py: from the stage's
    # configuration, not from whatever shell runs the packaging.
    env.pop("CRON_TICK", None)
    env.update({k: v for k, v in stage_environment(stage).items() if k == "CRON_TICK"})
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(  # noqa: S603 - our virtualenv's chalice, fixed arguments
        [str(chalice), "package", "--stage", stage, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or MISSING_DEPENDENCIES in output:
        raise PackageError(f"chalice package --stage {stage} failed:\n{output}")


def package(stage: str, out: Path) -> Artifacts:
    check_policy_files()
    settings = stage_settings(stage)
    out.mkdir(parents=True, exist_ok=True)
    chalice_package(stage, out)
    bundle = out / "deployment.zip"
    size = finish(bundle)
    template = out / "template.json"
    chalice_template = json.loads((out / "sam.json").read_text())
    template.write_text(json.dumps(merged_template(chalice_template, settings), indent=2) + "\n")
    return Artifacts(template=template, bundle=bundle, size=size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("--out", type=Path, help="default: dist/STAGE")
    args = parser.parse_args(argv)
    try:
        artifacts = package(args.stage, args.out or ROOT / "dist" / args.stage)
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = artifacts.size
    print(f"template: {artifacts.template}")
    print(
        f"bundle:   {artifacts.bundle}  {size.zipped / 1e6:.1f} MB zipped, "
        f"{size.unzipped / 1e6:.1f} MB unzipped (Lambda limit 250 MB), "
        f"{size.files} files of which {size.bytecode_files} bytecode"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
