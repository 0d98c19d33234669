"""The template's stateful resources created by moto's CloudFormation: the tables must be
the ones PynamoDB creates from the models (keys, attributes, indexes, projections), so an
edit to either side alone fails here."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from api_client import reset_settings
from deployment import resources_of_type

from chalicelib.records.tables import table_definitions
from infra.stages import stage_settings

# moto's CloudFormation has no Secrets Manager resources; test_deploy_package checks them.
STATEFUL = ("AWS::DynamoDB::Table", "AWS::S3::Bucket")


def shape(description: dict[str, Any]) -> dict[str, Any]:
    """What a table is, independent of how or where it was created."""

    def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
        return sorted((k["KeyType"], k["AttributeName"]) for k in schema)

    return {
        "keys": keys(description["KeySchema"]),
        "attributes": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in description["AttributeDefinitions"]
        ),
        "indexes": {
            index["IndexName"]: (keys(index["KeySchema"]), index["Projection"])
            for index in description.get("GlobalSecondaryIndexes") or []
        },
        "billing": description["BillingModeSummary"]["BillingMode"],
    }


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_infra_stack_tables_equal_the_tables_the_models_create(
    backend: str, moto_endpoint: str, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stateful = {k: v for kind in STATEFUL for k, v in resources_of_type(template, kind).items()}
    stack = f"infra-{uuid.uuid4().hex[:8]}"
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": stateful}),
    )
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"

    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    from chalicelib.settings import get_settings

    model_prefix = get_settings().table_prefix  # the backend fixture's PynamoDB-made tables
    stack_prefix = stage_settings("dev").table_prefix
    names = list(table_definitions())
    assert len(names) >= 9
    for name in names:
        from_stack = dynamodb.describe_table(TableName=stack_prefix + name)["Table"]
        from_models = dynamodb.describe_table(TableName=model_prefix + name)["Table"]
        assert shape(from_stack) == shape(from_models), name
        assert shape(from_stack)["billing"] == "PAY_PER_REQUEST"

    create_the_first_user_as_the_readme_says(stack_prefix, monkeypatch)

    bucket = cloudformation.describe_stack_resource(
        StackName=stack, LogicalResourceId="FilesBucket"
    )
    boto3.client("s3", endpoint_url=moto_endpoint).head_bucket(
        Bucket=bucket["StackResourceDetail"]["PhysicalResourceId"]
    )


def create_the_first_user_as_the_readme_says(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """README "Deploy to AWS" step 6 against the tables CloudFormation created."""
    from chalicelib.cli import main
    from chalicelib.records import store

    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("JWT_SECRET_ID", str(stage_settings("dev").jwt_secret_id))
    monkeypatch.setenv("TABLE_PREFIX", prefix)
    reset_settings()
    assert main(["create-user", "--email", "First@Example.com", "--password", "password123"]) == 0
    user_id = store.user_id_by("email", "first@example.com")
    assert user_id is not None
    user = store.get("users", user_id)
    assert user is not None and user["email"] == "First@Example.com"
