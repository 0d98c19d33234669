"""Client secrets: from the environment locally, from Secrets Manager on AWS.

A secret's value is either the client secret itself or a JSON object holding it under the
environment variable's name (``OAUTH2_GOOGLE_CLIENT_SECRET`` …), so one JSON secret can
serve all three providers. Fetched once per warm Lambda and never logged.
"""

from __future__ import annotations

import json
from functools import lru_cache

from chalicelib.errors import ConfigError
from chalicelib.settings import OAuth2Client


@lru_cache(maxsize=4)
def _secret_string(secret_id: str, region: str) -> str:
    import boto3  # only on AWS; the local run reads the secret from the environment

    manager = boto3.client("secretsmanager", region_name=region)
    return str(manager.get_secret_value(SecretId=secret_id)["SecretString"])


def client_secret(client: OAuth2Client, region: str) -> str:
    if client.client_secret is not None:
        return client.client_secret
    assert client.client_secret_id is not None  # noqa: S101 - settings require one of them
    text = _secret_string(client.client_secret_id, region)
    name = f"OAUTH2_{client.provider.upper()}_CLIENT_SECRET"
    try:
        stored = json.loads(text)
    except ValueError:
        stored = text
    value = stored.get(name) if isinstance(stored, dict) else text
    if not isinstance(value, str) or not value:
        raise ConfigError(f"the secret {client.client_secret_id} holds no usable {name}")
    return value
