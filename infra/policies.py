"""The IAM policy of every Lambda function, per stage: the one place permissions are granted.

``FUNCTION_GRANTS`` names what each function may do; the grants below turn a stage's settings
into statements on exact resources (the tables of the models, the named secrets, the stage's
APIs). ``python -m infra.policies`` writes them to the ``iam_policy_file`` each function has in
``.chalice/config.json`` (``autogen_policy`` is off); ``--check`` and the tests fail when a
written file differs, so a new table or grant cannot be forgotten in one stage.

ARNs are ``Fn::Sub`` strings: CloudFormation fills in partition, region and account, and the
function's own APIs are referenced by their logical ids in the packaged template.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from chalicelib.records.tables import table_definitions
from chalicelib.settings import Settings
from infra.stages import CHALICE_DIR, policy_files, stage_names, stage_settings

Statement = dict[str, Any]
Grant = Callable[[Settings], list[Statement]]


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition, region and account."""
    account = "${AWS::Region}:${AWS::AccountId}"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:{account}:{resource}"}


def _allow(sid: str, actions: list[str], resources: list[Any], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def logs(_settings: Settings) -> list[Statement]:
    group = "log-group:/aws/lambda/${AWS::StackName}-*"
    return [
        _allow(
            "Logs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [arn("logs", group), arn("logs", group + ":log-stream:*")],
        )
    ]


# Item reads and writes (transactions need the per-item actions); no Scan, no table admin.
TABLE_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)


def tables(settings: Settings) -> list[Statement]:
    """Item reads and writes on every model's table and its indexes; no Scan, no admin."""
    names = [settings.table_prefix + name for name in table_definitions()]
    return [
        _allow(
            "Tables",
            list(TABLE_ACTIONS),
            [arn("dynamodb", f"table/{name}") for name in names],
        ),
        _allow(
            "TableIndexes",
            ["dynamodb:Query"],
            [arn("dynamodb", f"table/{name}/index/*") for name in names],
        ),
    ]


def _parameter(name: str) -> dict[str, str]:
    return arn("ssm", "parameter" + (name if name.startswith("/") else "/" + name))


def _secret(name: str) -> dict[str, str]:
    """Secrets Manager appends six random characters to every secret's ARN."""
    return arn("secretsmanager", f"secret:{name}-??????")


def _decrypt_via_services() -> Statement:
    """Customer-managed KMS keys, only through the services that hold our secrets."""
    return _allow(
        "DecryptSecrets",
        ["kms:Decrypt"],
        [arn("kms", "key/*")],
        Condition={
            "StringEquals": {
                "kms:ViaService": [
                    {"Fn::Sub": "secretsmanager.${AWS::Region}.${AWS::URLSuffix}"},
                    {"Fn::Sub": "ssm.${AWS::Region}.${AWS::URLSuffix}"},
                ]
            }
        },
    )


def _read_named(sid: str, parameter: str | None, secret: str | None) -> list[Statement]:
    if parameter is not None:
        read = _allow(sid, ["ssm:GetParameter"], [_parameter(parameter)])
    elif secret is not None:
        read = _allow(sid, ["secretsmanager:GetSecretValue"], [_secret(secret)])
    else:
        return []
    return [read, _decrypt_via_services()]


def kubeconfig(settings: Settings) -> list[Statement]:
    return _read_named(
        "Kubeconfig", settings.kubeconfig_ssm_parameter, settings.kubeconfig_secret_id
    )


def jwt_secret(settings: Settings) -> list[Statement]:
    return _read_named(
        "JwtSigningSecret", settings.jwt_secret_ssm_parameter, settings.jwt_secret_id
    )


def registry_credentials(settings: Settings) -> list[Statement]:
    """Registry credentials by reference: secrets under ``REGISTRY_SECRET_PREFIX`` (the code
    also requires the owner's id after it), and KMS ciphertexts that carry the
    ``oneclick:user`` encryption context (the code passes the owner's id as its value)."""
    return [
        _allow(
            "RegistryCredentials",
            ["secretsmanager:GetSecretValue"],
            [_secret(settings.registry_secret_prefix + "*")],
        ),
        _decrypt_via_services(),
        _allow(
            "RegistryCredentialsKms",
            ["kms:Decrypt"],
            [arn("kms", "key/*")],
            Condition={
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["oneclick:user"]},
                "Null": {"kms:EncryptionContextKeys": "false"},
            },
        ),
    ]


def oauth2_secrets(settings: Settings) -> list[Statement]:
    """The client secrets of the enabled OAuth2 providers kept in Secrets Manager."""
    names = sorted({c.client_secret_id for c in settings.oauth2_clients if c.client_secret_id})
    if not names:
        return []
    return [
        _allow(
            "OAuth2ClientSecrets", ["secretsmanager:GetSecretValue"], [_secret(n) for n in names]
        ),
        _decrypt_via_services(),
    ]


def ecr_pull(settings: Settings) -> list[Statement]:
    """The functions' own ECR access, only for repositories under
    ``ECR_SHARED_REPOSITORY_PREFIX`` (unset: none; tenants bring credentials). The registry
    API's tag list needs ``ecr:ListImages``; the token action takes no resource."""
    prefix = settings.ecr_shared_repository_prefix
    if not prefix:
        return []
    return [
        _allow("EcrToken", ["ecr:GetAuthorizationToken"], ["*"]),
        _allow(
            "EcrSharedRepositories",
            ["ecr:ListImages", "ecr:BatchGetImage"],
            [arn("ecr", f"repository/{prefix}*")],
        ),
    ]


def files_bucket(_settings: Settings) -> list[Statement]:
    """ListBucket makes S3 answer a missing key with 404 instead of 403."""
    return [
        _allow(
            "FilesBucket",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [{"Fn::Sub": "${FilesBucket.Arn}/*"}],
        ),
        _allow("FilesBucketList", ["s3:ListBucket"], [{"Fn::GetAtt": ["FilesBucket", "Arn"]}]),
    ]


def websocket_connections(_settings: Settings) -> list[Statement]:
    """Post to, look up and close the clients of this stack's WebSocket API only."""
    return [
        _allow(
            "WebsocketConnections",
            ["execute-api:ManageConnections"],
            [arn("execute-api", "${WebsocketAPI}/*/*/@connections/*")],
        )
    ]


def invoke_stream_worker(_settings: Settings) -> list[Statement]:
    """By name pattern, not ``GetAtt``: the worker continues itself, and its role cannot
    reference the function that depends on it (a circular dependency)."""
    return [
        _allow(
            "InvokeStreamWorker",
            ["lambda:InvokeFunction"],
            [arn("lambda", "function:${AWS::StackName}-StreamWorker-*")],
        )
    ]


FUNCTION_GRANTS: dict[str, tuple[Grant, ...]] = {
    # the REST handler also runs the auto-update webhook's check and OAuth2 sign-ins
    "api_handler": (
        logs,
        tables,
        jwt_secret,
        kubeconfig,
        files_bucket,
        registry_credentials,
        ecr_pull,
        oauth2_secrets,
    ),
    "reconcile_rollouts": (logs, tables, kubeconfig),
    "websocket_connect": (logs, tables, jwt_secret),
    "websocket_message": (logs, tables, jwt_secret, websocket_connections, invoke_stream_worker),
    "websocket_disconnect": (logs, tables),
    "stream_worker": (logs, tables, kubeconfig, websocket_connections, invoke_stream_worker),
    "auto_update_tick": (logs, tables, kubeconfig, registry_credentials, ecr_pull),
}


def policy_document(function: str, settings: Settings) -> dict[str, Any]:
    statements: list[Statement] = []
    for grant in FUNCTION_GRANTS[function]:
        statements.extend(s for s in grant(settings) if s not in statements)
    return {"Version": "2012-10-17", "Statement": statements}


def rendered_policies() -> dict[str, str]:
    """File name in ``.chalice/`` -> its expected content, for every stage and function."""
    files = {}
    for stage in stage_names():
        settings = stage_settings(stage)
        for function, file_name in policy_files(stage).items():
            files[file_name] = json.dumps(policy_document(function, settings), indent=2) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.policies", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for file_name, text in rendered_policies().items():
        path = CHALICE_DIR / file_name
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(file_name)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print(f"out of date (run python -m infra.policies): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
