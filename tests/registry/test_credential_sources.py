"""Credentials kept out of manifests: Secrets Manager and KMS references, and ECR logins from
the function's role, against moto's AWS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
from api_client import reset_settings
from moto import mock_aws

from chalicelib.errors import Invalid
from chalicelib.registry.credentials import (
    Credentials,
    ecr_credentials,
    reset_clients,
    resolve_credential_reference,
)
from chalicelib.registry.errors import RegistryError

PAIR = {"username": "robot", "password": "s3cret-registry-pw"}
OWNER, OTHER = "owner0000000001", "other0000000002"
MINE = f"oneclick/registry/{OWNER}"


@pytest.fixture(autouse=True)
def aws() -> Iterator[None]:
    reset_settings()
    reset_clients()
    with mock_aws():
        yield
    reset_clients()


def test_secrets_manager_by_name_and_by_arn():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name=f"{MINE}/ci", SecretString=json.dumps(PAIR))["ARN"]
    assert resolve_credential_reference(f"secretsmanager:{MINE}/ci", OWNER) == Credentials(**PAIR)
    assert resolve_credential_reference(f"secretsmanager:{arn}", OWNER) == Credentials(**PAIR)


def test_another_tenants_secret_is_refused_before_it_is_read():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name=f"{MINE}/ci", SecretString=json.dumps(PAIR))["ARN"]
    for reference in (f"secretsmanager:{MINE}/ci", f"secretsmanager:{arn}", "secretsmanager:x"):
        with pytest.raises(Invalid) as caught:
            resolve_credential_reference(reference, OTHER)
        assert set(caught.value.data) == {"credentials"}
        assert f"oneclick/registry/{OTHER}/" in caught.value.message


def test_secrets_manager_arn_in_another_region():
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(Name=f"{MINE}/far", SecretString=json.dumps(PAIR))["ARN"]
    assert resolve_credential_reference(f"secretsmanager:{arn}", OWNER) == Credentials(**PAIR)


def test_kms_ciphertext():
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(
        KeyId=key,
        Plaintext=json.dumps(PAIR).encode(),
        EncryptionContext={"oneclick:user": OWNER},
    )["CiphertextBlob"]
    reference = "kms:" + base64.b64encode(blob).decode()
    assert resolve_credential_reference(reference, OWNER) == Credentials(**PAIR)
    with pytest.raises(RegistryError) as caught:  # bound to its owner by the context
        resolve_credential_reference(reference, OTHER)
    assert caught.value.kind == "credentials"


def test_missing_secret_is_a_credentials_error():
    with pytest.raises(RegistryError) as caught:
        resolve_credential_reference(f"secretsmanager:{MINE}/gone", OWNER)
    assert caught.value.kind == "credentials"
    assert str(caught.value) == (
        f"secret {MINE}/gone could not be read (ResourceNotFoundException)"
    )


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"username": "robot"}), json.dumps({"username": 1, "password": "x"})],
)
def test_secret_with_the_wrong_shape(content: str):
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name=f"{MINE}/odd", SecretString=content)
    with pytest.raises(RegistryError, match="must hold JSON") as caught:
        resolve_credential_reference(f"secretsmanager:{MINE}/odd", OWNER)
    assert "robot" not in str(caught.value)


def test_kms_ciphertext_that_does_not_decrypt():
    garbage = "kms:" + base64.b64encode(b"\x01" * 64).decode()
    with pytest.raises(RegistryError) as caught:
        resolve_credential_reference(garbage, OWNER)
    assert caught.value.kind == "credentials"


@pytest.mark.parametrize(
    "reference", ["", "vault:x", "secretsmanager:", "kms:", "kms:not base64!", None]
)
def test_malformed_references_are_invalid(reference: str):
    with pytest.raises(Invalid) as caught:
        resolve_credential_reference(reference, OWNER)
    assert set(caught.value.data) == {"credentials"}


def test_ecr_login_comes_from_get_authorization_token():
    login = ecr_credentials("123456789012", "eu-central-1")
    assert login == Credentials("AWS", "123456789012-auth-token")  # moto's token for that id
    other = ecr_credentials("210987654321", "eu-central-1")
    assert other == Credentials("AWS", "210987654321-auth-token")


def test_an_expired_ecr_login_is_not_reused():
    """moto's tokens carry an expiry in 2015, so each call must fetch a new one."""
    first = ecr_credentials("123456789012", "us-east-1")
    assert ecr_credentials("123456789012", "us-east-1") is not first
