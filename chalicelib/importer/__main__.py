"""``python -m chalicelib.importer --pb-data PATH [--dry-run]``: load an existing One-Click
PocketBase (its ``pb_data`` folder) into the tables and file store the settings point at."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chalicelib.importer.plan import run
from chalicelib.importer.pocketbase import NotPocketBaseData, read


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m chalicelib.importer", description=__doc__)
    root.add_argument("--pb-data", type=Path, required=True, help="PocketBase's pb_data folder")
    root.add_argument(
        "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    return root


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every record could be imported, 2 when some are invalid (listed), 1 when
    the folder is not a One-Click PocketBase."""
    args = parser().parse_args(argv)
    try:
        data = read(args.pb_data)
    except NotPocketBaseData as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = run(data, args.dry_run)
    print("\n".join(report.lines()))
    return 2 if report.invalid else 0


if __name__ == "__main__":
    raise SystemExit(main())
