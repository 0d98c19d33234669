"""The JWT signing secret: from the environment locally, from SSM Parameter Store or
Secrets Manager on AWS, fetched once per warm Lambda."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.errors import ConfigError
from chalicelib.settings import get_settings


@lru_cache(maxsize=1)
def signing_secret() -> str:
    settings = get_settings()
    if settings.jwt_secret is not None:
        return settings.jwt_secret
    import boto3  # only on AWS; the local run and tests pass JWT_SECRET

    if settings.jwt_secret_ssm_parameter is not None:
        ssm = boto3.client("ssm", region_name=settings.aws_region)
        response = ssm.get_parameter(Name=settings.jwt_secret_ssm_parameter, WithDecryption=True)
        secret = str(response["Parameter"]["Value"])
    else:
        manager = boto3.client("secretsmanager", region_name=settings.aws_region)
        secret = str(manager.get_secret_value(SecretId=settings.jwt_secret_id)["SecretString"])
    if len(secret) < 32:
        raise ConfigError("the JWT signing secret must be at least 32 characters long")
    return secret
