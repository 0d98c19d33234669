"""Registry credentials: from the manifest (still accepted, as the original did), from a
reference to AWS Secrets Manager or a KMS ciphertext (so no password is stored in plain text),
or, for Amazon ECR, from the function's own IAM role.

Secrets never appear in ``repr``, logs or error messages. boto3 is imported and its clients are
built on first use only, so importing this module costs nothing on the REST path.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chalicelib.errors import Invalid, field_error
from chalicelib.registry.errors import RegistryError
from chalicelib.registry.reference import Repository

_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)
_SECRET_ARN_REGION = re.compile(r"arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):")
_ECR_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached ECR token is renewed


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def _invalid(field_name: str, message: str) -> Invalid:
    return Invalid(message, {field_name: field_error("validation_invalid_credentials", message)})


def credentials_from_image(spec_image: dict[str, Any]) -> Credentials | None:
    """``spec.image.username``/``password`` when both are set; None when both are empty (the
    blueprints' default); a clear error when only one is given or they are not strings."""
    values = {}
    for name in ("username", "password"):
        value = spec_image.get(name)
        if value is not None and not isinstance(value, str):
            raise _invalid(name, f"spec.image.{name} must be a string")
        values[name] = value or ""
    if not values["username"] and not values["password"]:
        return None
    if not values["username"] or not values["password"]:
        raise _invalid(
            "username" if not values["username"] else "password",
            "spec.image.username and spec.image.password must be given together",
        )
    return Credentials(values["username"], values["password"])


@lru_cache(maxsize=16)
def _aws_client(service: str, region: str | None) -> Any:
    """One boto3 client per service and region for the life of a warm Lambda."""
    import boto3

    from chalicelib.settings import get_settings

    return boto3.client(service, region_name=region or get_settings().aws_region)


def reset_clients() -> None:
    """Forget cached AWS clients and ECR tokens (tests switch AWS endpoints between cases)."""
    _aws_client.cache_clear()
    with _ecr_lock:
        _ecr_tokens.clear()
    with _resolved_lock:
        _resolved.clear()


def _parse_secret(text: str | bytes, source: str) -> Credentials:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("username"), str)
        or not isinstance(data.get("password"), str)
        or not data["username"]
        or not data["password"]
    ):
        raise RegistryError(
            "credentials", f'{source} must hold JSON {{"username": ..., "password": ...}}'
        )
    return Credentials(data["username"], data["password"])


def _aws_failure(source: str, error: Exception) -> RegistryError:
    code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
    return RegistryError("credentials", f"{source} could not be read ({code})")


_REFERENCE_FORMAT = (
    "a credential reference is secretsmanager:<secret arn or name> or kms:<base64 ciphertext>"
)
_RESOLVED_FOR_SECONDS = 300.0  # a rotated secret is picked up within five minutes
_resolved_lock = threading.Lock()
_resolved: dict[tuple[str, str], tuple[Credentials, float]] = {}


def _secret_name(value: str) -> str:
    return value.split(":secret:", 1)[1] if value.startswith("arn:") else value


def check_reference(ref: Any, owner: str) -> tuple[str, str]:
    """``(kind, value)`` of a well-formed reference that ``owner`` may use; ``Invalid``
    otherwise. A secret must be named under ``REGISTRY_SECRET_PREFIX`` + the owner's id
    (the functions' role may read only that prefix), so nobody can point an autoUpdate at
    another tenant's secret and have its password sent to a registry of their choosing."""
    from chalicelib.settings import get_settings

    kind, _, value = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    value = value.strip()
    if kind == "secretsmanager" and value:
        prefix = f"{get_settings().registry_secret_prefix}{owner}/"
        if not _secret_name(value).startswith(prefix):
            raise _invalid("credentials", f"the secret's name must start with {prefix}")
        return kind, value
    if kind == "kms" and value:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("credentials", "a kms: credential reference must be base64") from None
        return kind, value
    raise _invalid("credentials", _REFERENCE_FORMAT)


def resolve_credential_reference(ref: str, owner: str) -> Credentials:
    """``secretsmanager:<arn-or-name>`` (a SecretString ``{"username","password"}``) or
    ``kms:<base64 ciphertext>`` (the same JSON, encrypted with the encryption context
    ``oneclick:user=<owner id>``, which binds a ciphertext to its owner). Resolved values are
    kept for a few minutes so a tick reads each secret once, not once per autoUpdate."""
    from botocore.exceptions import BotoCoreError, ClientError

    kind, value = check_reference(ref, owner)
    with _resolved_lock:
        cached = _resolved.get((ref, owner))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
    if kind == "secretsmanager":
        arn = _SECRET_ARN_REGION.match(value)
        source = f"secret {value}"
        try:
            client = _aws_client("secretsmanager", arn["region"] if arn else None)
            secret = client.get_secret_value(SecretId=value)
        except (ClientError, BotoCoreError) as error:
            raise _aws_failure(source, error) from None
        if "SecretString" not in secret:
            raise RegistryError("credentials", f"{source} has no SecretString")
        found = _parse_secret(secret["SecretString"], source)
    else:
        source = "the KMS-encrypted credentials"
        try:
            plain = _aws_client("kms", None).decrypt(
                CiphertextBlob=base64.b64decode(value),
                EncryptionContext={"oneclick:user": owner},
            )["Plaintext"]
        except (ClientError, BotoCoreError) as error:
            raise _aws_failure(source, error) from None
        found = _parse_secret(plain, source)
    with _resolved_lock:
        _resolved[(ref, owner)] = (found, time.monotonic() + _RESOLVED_FOR_SECONDS)
    return found


_ecr_lock = threading.Lock()
_ecr_tokens: dict[tuple[str, str], tuple[Credentials, float]] = {}


def ecr_location(repo: Repository) -> tuple[str, str] | None:
    """``(account, region)`` when the repository is on Amazon ECR, else None."""
    match = _ECR_HOST.fullmatch(repo.host)
    return (match["account"], match["region"]) if match else None


def shared_ecr(repo: Repository) -> bool:
    """Whether the functions' own ECR access may be used for ``repo``: only repositories
    named under ``ECR_SHARED_REPOSITORY_PREFIX`` (unset: never). Otherwise any tenant could
    read the tags of every private repository the platform's role can see."""
    from chalicelib.settings import get_settings

    prefix = get_settings().ecr_shared_repository_prefix
    return bool(prefix) and repo.name.startswith(prefix)


def ecr_credentials(account: str, region: str) -> Credentials:
    """Basic credentials from ``ecr:GetAuthorizationToken`` (valid 12 hours), cached per
    registry until shortly before they expire."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = (account, region)
    with _ecr_lock:
        cached = _ecr_tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
    source = f"the ECR login of {account} in {region}"
    try:
        answer = _aws_client("ecr", region).get_authorization_token(registryIds=[account])
        data = answer["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    except (ClientError, BotoCoreError) as error:
        raise _aws_failure(source, error) from None
    except (KeyError, IndexError, ValueError):
        raise RegistryError("credentials", f"{source} answered without a token") from None
    credentials = Credentials(username, password)
    expires = data.get("expiresAt")
    until = expires.timestamp() if expires is not None else time.time() + 3600
    with _ecr_lock:
        _ecr_tokens[key] = (credentials, until - _ECR_REFRESH_MARGIN)
    return credentials
