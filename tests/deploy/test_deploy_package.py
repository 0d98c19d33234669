"""The packaged dev stage: one valid template, least-privilege roles, routes on one origin,
and a self-contained Lambda bundle that imports from its precompiled bytecode."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from chalice.utils import to_cfn_resource_name
from deployment import resources_of_type, unzip
from packaging.requirements import Requirement
from pynamodb.attributes import TTLAttribute

from chalicelib.records.models import ALL_MODELS
from infra.bundle import AWS_SERVICES
from infra.package import MISSING_DEPENDENCIES, Artifacts
from infra.stages import CHALICE_DIR, ROOT, policy_files, stage_settings

STAGE = "dev"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# The handler module, and what the cluster adapter imports lazily on its first call (the
# bundle drops the Kubernetes client's unused asyncio half: this proves the rest still loads).
IMPORTS = (
    "import app, kubernetes.client, kubernetes.config, kubernetes.watch, yaml, urllib3; "
    "print(app.app.app_name)"
)


def requirement_names(file_name: str) -> set[str]:
    names = set()
    for line in (ROOT / file_name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~ ]", line)[0])
    return names


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def runtime_closure(names: set[str]) -> set[str]:
    """Every distribution the runtime requirements pull in on Python 3.11, as installed."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def bundled_distributions(bundle: Path) -> set[str]:
    with zipfile.ZipFile(bundle) as archive:
        return {
            normalized(name.split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0])
            for name in archive.namelist()
            if name.split("/")[0].endswith(".dist-info")
        }


def test_cfn_lint_passes_on_the_merged_template(artifacts: Artifacts) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(artifacts.template)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_runs_as_its_own_role_with_its_policy_file(
    template: dict[str, Any],
) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert functions, "no functions packaged"
    by_logical_id = {to_cfn_resource_name(name): name for name in policy_files(STAGE)}
    by_logical_id["APIHandler"] = "api_handler"
    roles = set()
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.11"
        role = properties["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        name = by_logical_id[logical_id]
        document = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
        expected = json.loads((CHALICE_DIR / policy_files(STAGE)[name]).read_text())
        assert document == expected, logical_id
    assert len(roles) == len(functions), "functions share a role"


def test_tables_keep_their_data_and_expire_ttl_items(template: dict[str, Any]) -> None:
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    prefix = stage_settings(STAGE).table_prefix
    ttl_by_table = {}
    for model in ALL_MODELS:
        ttl = [name for name, a in model.get_attributes().items() if isinstance(a, TTLAttribute)]
        base = getattr(model.Meta, "base_name", model.Meta.table_name)
        ttl_by_table[prefix + base] = ttl[0] if ttl else None
    assert {t["Properties"]["TableName"] for t in tables.values()} == set(ttl_by_table)
    assert any(ttl_by_table.values()), "no model has a TTL attribute"
    for table in tables.values():
        properties = table["Properties"]
        assert table["DeletionPolicy"] == "Retain"
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        expected_ttl = ttl_by_table[properties["TableName"]]
        ttl_spec = properties.get("TimeToLiveSpecification")
        if expected_ttl is None:
            assert ttl_spec is None
        else:
            assert ttl_spec == {"AttributeName": expected_ttl, "Enabled": True}


def test_functions_read_the_names_the_template_creates(template: dict[str, Any]) -> None:
    settings = stage_settings(STAGE)
    resources = template["Resources"]
    assert resources["JwtSigningSecret"]["Properties"]["Name"] == settings.jwt_secret_id
    assert resources["KubeconfigSecret"]["Properties"]["Name"] == settings.kubeconfig_secret_id
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["FILES_BUCKET"] == {"Ref": "FilesBucket"}
    files = resources["FilesBucket"]["Properties"]
    assert all(files["PublicAccessBlockConfiguration"].values())
    assert files["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_cloudfront_serves_the_frontend_and_routes_the_apis_on_one_origin(
    template: dict[str, Any], chalice_template: dict[str, Any]
) -> None:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    routes = {b["PathPattern"]: b["TargetOriginId"] for b in config["CacheBehaviors"]}
    assert routes["/api/*"] == routes["/pb/*"] == "rest-api"
    rest = origins["rest-api"]
    rest_api = chalice_template["Resources"]["RestAPI"]["Properties"]
    assert rest_api["EndpointConfiguration"] == "REGIONAL", "CloudFront in front of CloudFront"
    stage = rest_api["StageName"]
    assert rest["OriginPath"] == f"/{stage}"
    assert "${RestAPI}" in rest["DomainName"]["Fn::Sub"]
    frontend = origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    assert frontend["OriginAccessControlId"] == {
        "Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]
    }
    assert "WebsocketAPI" in chalice_template["Resources"]
    assert routes["/ws/*"] == "websocket-api"


def test_the_message_handler_starts_the_stream_worker_the_template_creates(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    message = resources["WebsocketMessage"]["Properties"]["Environment"]["Variables"]
    assert message["STREAM_WORKER_FUNCTION"] == {"Ref": "StreamWorker"}
    assert resources["StreamWorker"]["Type"] == "AWS::Serverless::Function"


def test_bundle_holds_the_runtime_requirements_and_no_dev_packages(artifacts: Artifacts) -> None:
    runtime = requirement_names("requirements.txt")
    dev_only = requirement_names("requirements-dev.txt") - runtime
    bundled = bundled_distributions(artifacts.bundle)
    assert {normalized(n) for n in runtime} <= bundled
    leaked = {normalized(n) for n in dev_only} - runtime_closure(runtime)
    assert not leaked & bundled, f"dev packages in the Lambda bundle: {leaked & bundled}"
    assert artifacts.size.unzipped < LAMBDA_UNZIPPED_LIMIT
    with zipfile.ZipFile(artifacts.bundle) as archive:
        assert not [n for n in archive.namelist() if n.startswith("kubernetes/aio/")]


def test_bundle_imports_the_app_alone_and_from_precompiled_bytecode(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    """``-S``: no site-packages, so every module outside the standard library must come from
    the bundle; ``-v`` names the ``.pyc`` each module's code object was loaded from."""
    root = unzip(artifacts.bundle, tmp_path / "task")
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "JWT_SECRET": "j" * 40,
    }
    result = subprocess.run(
        [sys.executable, "-S", "-v", "-c", IMPORTS],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "one-click-serverless"
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", result.stderr, re.MULTILINE)
    ours = [path for path in loaded if path.startswith(str(root))]
    assert any(p.endswith("/__pycache__/app.cpython-311.pyc") for p in ours)
    assert all(p.endswith(".pyc") for p in ours), [p for p in ours if not p.endswith(".pyc")]
    assert sum("/chalicelib/" in p for p in ours) >= 10
    assert sum("/kubernetes/client/" in p for p in ours) >= 100
    stdlib = os.path.dirname(os.__file__)
    strays = [p for p in loaded if not p.startswith((str(root), stdlib))]
    assert not strays, f"imported from outside the bundle: {strays[:5]}"


def test_bundled_bytecode_is_unchecked_and_for_the_lambda_python(artifacts: Artifacts) -> None:
    with zipfile.ZipFile(artifacts.bundle) as archive:
        names = set(archive.namelist())
        ours = [
            n for n in names if n.endswith(".py") and (n == "app.py" or n.startswith("chalicelib/"))
        ]
        assert len(ours) > 20
        for source in ours:
            folder, _, module = source.rpartition("/")
            cached = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.cpython-311.pyc"
            assert cached in names, f"no bytecode for {source}"
            header = archive.read(cached)[:8]
            assert header[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(header[4:8], "little") == 0b01, "not an unchecked hash pyc"


def test_the_missing_wheel_message_infra_package_watches_for_is_chalice_s() -> None:
    """chalice package only warns when it cannot bundle a wheel for Lambda; packaging fails
    on that warning, so its wording must still be the one chalice prints."""
    from chalice.constants import MISSING_DEPENDENCIES_TEMPLATE

    assert MISSING_DEPENDENCIES in MISSING_DEPENDENCIES_TEMPLATE


def test_the_bundle_keeps_botocore_models_of_every_service_the_code_calls(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    """The bundle drops botocore's other models (a cold start lists and parses them all):
    every service named in a client call of ``chalicelib``, and PynamoDB's, must still get
    a client there."""
    called = set()
    for source in (ROOT / "chalicelib").rglob("*.py"):
        text = source.read_text()
        called.update(
            re.findall(r"(?:\.client|\.create_client|_aws_client)\(\s*\"([a-z0-9-]+)\"", text)
        )
    assert {"s3", "ssm", "secretsmanager", "lambda", "kms", "ecr"} <= called
    called.add("dynamodb")  # PynamoDB's connection (the write path) creates that client
    assert called <= set(AWS_SERVICES), called - set(AWS_SERVICES)
    root = unzip(artifacts.bundle, tmp_path / "task")
    kept = {p.name for p in (root / "botocore" / "data").iterdir() if p.is_dir()}
    assert kept == set(AWS_SERVICES)
    probe = (
        "import botocore.session, sys; s = botocore.session.get_session(); "
        "[s.create_client(n, region_name='eu-central-1') for n in sys.argv[1:]]; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, *AWS_SERVICES],
        cwd=root,
        env={"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
