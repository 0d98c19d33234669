"""The Lambda deployment zip made lean and fast to import, and its sizes.

Lambda's code directory is read-only, so a function that ships only ``.py`` files compiles
every module it imports on every cold start. The ``.pyc`` files added here are hash-based and
unchecked: the interpreter uses them without comparing source timestamps, which a zip does not
carry faithfully. Code nothing can import is dropped first (see ``UNUSED``), and so are
botocore's models of the AWS services no function calls (see ``AWS_SERVICES``).
"""

from __future__ import annotations

import compileall
import gzip
import json
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

# botocore ships the models of 400+ services (27 MB). Creating a client lists every model
# folder and parses the endpoints of every service, ~70 ms of a cold start; the functions
# create clients for these only (a deploy test keeps the list in step with the code).
AWS_SERVICES = (
    "apigatewaymanagementapi",
    "dynamodb",
    "ecr",
    "kms",
    "lambda",
    "s3",
    "secretsmanager",
    "ssm",
    "sts",
)


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


def _endpoint_prefix(service: Path) -> str:
    """A service's name in ``endpoints.json`` (``api.ecr`` for ecr, …), from its newest model."""
    model = sorted(service.glob("*/service-2.json*"))[-1]
    opener = gzip.open if model.suffix == ".gz" else open
    with opener(model, "rt", encoding="utf-8") as handle:
        return str(json.load(handle)["metadata"]["endpointPrefix"])


def keep_aws_services(root: Path, services: tuple[str, ...] = AWS_SERVICES) -> None:
    """Drop botocore's models and endpoints of every service the functions never call."""
    data = root / "botocore" / "data"
    if not data.is_dir():
        return
    prefixes = set()
    for folder in [f for f in data.iterdir() if f.is_dir()]:
        if folder.name in services:
            prefixes.add(_endpoint_prefix(folder))
        else:
            shutil.rmtree(folder)
    endpoints = data / "endpoints.json"
    document = json.loads(endpoints.read_text(encoding="utf-8"))
    for partition in document["partitions"]:
        partition["services"] = {
            name: entry for name, entry in partition["services"].items() if name in prefixes
        }
    endpoints.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")


def finish(zip_path: Path) -> BundleSize:
    """Rewrite the deployment zip without unused code and with a ``.pyc`` beside every
    module."""
    with tempfile.TemporaryDirectory(prefix="bundle-") as work:
        root = Path(work)
        with zipfile.ZipFile(zip_path) as bundle:
            bundle.extractall(root)
        drop_unused(root)
        keep_aws_services(root)
        compile_tree(root)
        write_zip(root, zip_path)
    return size_of(zip_path)
