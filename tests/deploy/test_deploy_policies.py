"""The stages' configuration and IAM policy files: generated, valid, least privilege."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.records.tables import table_definitions
from infra.policies import FUNCTION_GRANTS, TABLE_ACTIONS, rendered_policies
from infra.stages import CHALICE_DIR, chalice_config, policy_files, stage_names, stage_settings

# Actions on these services must name their resources; ECR's token action cannot.
SCOPED_SERVICES = ("dynamodb", "secretsmanager", "ssm", "kms", "s3", "lambda", "execute-api")
UNSCOPED_ACTIONS = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
}


def documents() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stage, function, json.loads((CHALICE_DIR / file_name).read_text()))
        for stage in stage_names()
        for function, file_name in policy_files(stage).items()
    ]


def arn_text(resource: Any) -> str:
    return (
        resource["Fn::Sub"]
        if isinstance(resource, dict) and "Fn::Sub" in resource
        else str(resource)
    )


def test_policy_files_are_exactly_what_the_grants_generate() -> None:
    expected = rendered_policies()
    on_disk = {path.name for path in CHALICE_DIR.glob("policy-*.json")}
    assert on_disk == set(expected), "stray or missing policy files"
    for name, text in expected.items():
        assert (CHALICE_DIR / name).read_text() == text, f"{name}: run python -m infra.policies"


def test_there_are_dev_and_prod_stages_and_each_validates_with_its_own_names() -> None:
    assert {"dev", "prod"} <= set(stage_names())
    settings = [stage_settings(stage) for stage in stage_names()]
    for field in ("table_prefix", "jwt_secret_id", "kubeconfig_secret_id"):
        values = [getattr(s, field) for s in settings]
        assert len(set(values)) == len(values), f"stages share {field}: {values}"
    assert all(not s.local and s.dynamodb_endpoint is None for s in settings)


def test_every_function_of_every_stage_has_a_grant_list_and_a_policy_file() -> None:
    for stage in stage_names():
        assert set(policy_files(stage)) == set(FUNCTION_GRANTS), stage


@pytest.mark.parametrize(("stage", "function", "document"), documents())
def test_scoped_services_never_get_wildcard_actions_or_resources(
    stage: str, function: str, document: dict[str, Any]
) -> None:
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        scoped = [a for a in actions if a.split(":")[0] in SCOPED_SERVICES]
        if not scoped:
            assert set(actions) <= UNSCOPED_ACTIONS, statement
            continue
        assert all("*" not in action for action in actions), statement
        assert "*" not in statement["Resource"], statement


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_dynamodb_access_is_exactly_the_model_tables_and_their_indexes(stage: str) -> None:
    prefix = stage_settings(stage).table_prefix
    tables = {prefix + name for name in table_definitions()}
    for function, file_name in policy_files(stage).items():
        document = json.loads((CHALICE_DIR / file_name).read_text())
        granted: dict[str, set[str]] = {}
        for statement in document["Statement"]:
            for action in statement["Action"]:
                if action.startswith("dynamodb:"):
                    for resource in statement["Resource"]:
                        path = arn_text(resource).split(":table/", 1)[1]
                        granted.setdefault(path, set()).add(action)
        assert {p for p in granted if "/" not in p} == tables, function
        assert {p.split("/")[0] for p in granted if p.endswith("/index/*")} == tables, function
        assert all(actions == {"dynamodb:Query"} for p, actions in granted.items() if "/" in p)
        actions = set().union(*granted.values())
        assert actions <= set(TABLE_ACTIONS), function
        assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"} <= actions
        assert not [a for a in actions if re.search(r"Scan|PartiQL|(Create|Delete|Update)Table", a)]


def test_secrets_are_read_by_name_only_by_the_functions_that_need_them() -> None:
    settings = stage_settings("dev")
    readers = {}
    for function, file_name in policy_files("dev").items():
        document = json.loads((CHALICE_DIR / file_name).read_text())
        readers[function] = {
            arn_text(resource).split(":secret:", 1)[1]
            for statement in document["Statement"]
            if "secretsmanager:GetSecretValue" in statement["Action"]
            for resource in statement["Resource"]
        }
    kubeconfig = f"{settings.kubeconfig_secret_id}-??????"
    jwt = f"{settings.jwt_secret_id}-??????"
    registry = f"{settings.registry_secret_prefix}*-??????"
    assert settings.registry_secret_prefix == "oneclick-dev/registry/"
    assert readers["api_handler"] == {kubeconfig, jwt, registry}  # the webhook checks too
    assert readers["auto_update_tick"] == {kubeconfig, registry}
    assert readers["reconcile_rollouts"] == {kubeconfig}
    assert readers["websocket_disconnect"] == set()
    assert jwt not in readers["stream_worker"] | readers["auto_update_tick"]


def test_parameters_named_instead_of_secrets_are_read_with_ssm_and_only_them() -> None:
    from chalicelib.settings import load_settings
    from infra.policies import policy_document

    settings = load_settings(
        {
            "TABLE_PREFIX": "oc-",
            "JWT_SECRET_SSM_PARAMETER": "/oc/jwt",
            "KUBECONFIG_SSM_PARAMETER": "oc-kubeconfig",
        }
    )
    statements = policy_document("api_handler", settings)["Statement"]
    reads = {
        arn_text(resource).split(":parameter", 1)[1]
        for s in statements
        if s["Action"] == ["ssm:GetParameter"]
        for resource in s["Resource"]
    }
    assert reads == {"/oc/jwt", "/oc-kubeconfig"}
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert [s["Sid"] for s in secret_reads] == ["RegistryCredentials"]  # only tenants' own
    decrypt = [s for s in statements if s["Action"] == ["kms:Decrypt"]]
    via = [s for s in decrypt if "StringEquals" in s.get("Condition", {})]
    assert len(via) == 1 and via[0]["Condition"]["StringEquals"]["kms:ViaService"]
    direct = [s for s in decrypt if s not in via]
    assert [s["Sid"] for s in direct] == ["RegistryCredentialsKms"]
    assert direct[0]["Condition"]["ForAllValues:StringEquals"] == {
        "kms:EncryptionContextKeys": ["oneclick:user"]
    }


def test_a_killed_tick_holds_its_lease_no_longer_than_the_function_may_run() -> None:
    for stage in ("dev", "prod"):
        timeout = chalice_config()["stages"][stage]["lambda_functions"]["auto_update_tick"][
            "lambda_timeout"
        ]
        assert stage_settings(stage).auto_update_lease_seconds == timeout, stage


def test_the_functions_own_ecr_access_only_for_the_shared_prefix() -> None:
    from chalicelib.settings import load_settings
    from infra.policies import policy_document

    base = {"JWT_SECRET": "j" * 40}
    unset = policy_document("auto_update_tick", load_settings(base))["Statement"]
    assert not [s for s in unset if any(a.startswith("ecr:") for a in s["Action"])]
    shared = load_settings({**base, "ECR_SHARED_REPOSITORY_PREFIX": "shared/"})
    statements = policy_document("auto_update_tick", shared)["Statement"]
    reads = next(s for s in statements if s["Sid"] == "EcrSharedRepositories")
    assert reads["Action"] == ["ecr:ListImages", "ecr:BatchGetImage"]
    assert [arn_text(r).rsplit(":", 1)[1] for r in reads["Resource"]] == ["repository/shared/*"]
