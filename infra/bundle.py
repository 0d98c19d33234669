"""The Lambda deployment zip made lean and fast to import, and its sizes.

Lambda's code directory is read-only, so a function that ships only ``.py`` files compiles
every module it imports on every cold start. The ``.pyc`` files added here are hash-based and
unchecked: the interpreter uses them without comparing source timestamps, which a zip does not
carry faithfully. Code nothing can import is dropped first (see ``UNUSED``).
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

LAMBDA_PYTHON = (3, 11)  # the runtime of every function (python3.11 in the template)
_FILE_MODE = 0o100644 << 16  # regular file, readable by Lambda's runtime user
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same code gives the same zip


# The asyncio flavour of the Kubernetes client (40 MB, a third of the bundle): nothing outside
# it imports it, and the backend uses the synchronous client. Test suites shipped in wheels.
UNUSED = ("kubernetes/aio", "*/tests", "*/test")


@dataclass(frozen=True)
class BundleSize:
    zipped: int
    unzipped: int
    files: int
    bytecode_files: int


def size_of(zip_path: Path) -> BundleSize:
    with zipfile.ZipFile(zip_path) as bundle:
        infos = [info for info in bundle.infolist() if not info.is_dir()]
    return BundleSize(
        zipped=zip_path.stat().st_size,
        unzipped=sum(info.file_size for info in infos),
        files=len(infos),
        bytecode_files=sum(info.filename.endswith(".pyc") for info in infos),
    )


def compile_tree(root: Path) -> None:
    """Write ``__pycache__`` next to every module; a module that does not compile (a
    vendored file for another Python) just stays source-only, as it would be anyway."""
    if sys.version_info[:2] != LAMBDA_PYTHON:
        raise RuntimeError(
            f"bytecode must be compiled by Python {'.'.join(map(str, LAMBDA_PYTHON))} "
            f"(the Lambda runtime), not {sys.version.split()[0]}"
        )
    compileall.compile_dir(
        root,
        quiet=2,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def write_zip(root: Path, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes(), compresslevel=9)


def drop_unused(root: Path) -> None:
    for pattern in UNUSED:
        for folder in root.glob(pattern):
            if folder.is_dir():
                shutil.rmtree(folder)


def finish(zip_path: Path) -> BundleSize:
    """Rewrite the deployment zip without unused code and with a ``.pyc`` beside every
    module."""
    with tempfile.TemporaryDirectory(prefix="bundle-") as work:
        root = Path(work)
        with zipfile.ZipFile(zip_path) as bundle:
            bundle.extractall(root)
        drop_unused(root)
        compile_tree(root)
        write_zip(root, zip_path)
    return size_of(zip_path)
