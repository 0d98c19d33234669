"""OAuth2 pieces without a server: settings validation, the signed PKCE state, client
secrets from Secrets Manager (moto) and the profile rules of each provider."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.auth.oauth2 import credentials, state
from chalicelib.errors import ConfigError
from chalicelib.settings import load_settings

BASE = {"JWT_SECRET": "s" * 40}
SECRET = "k" * 40


def test_providers_are_off_until_a_client_id_is_set() -> None:
    settings = load_settings(BASE)
    assert settings.oauth2_clients == () and settings.oauth2_microsoft_tenant == "common"
    assert settings.oauth2_timeout_seconds == 10
    on = load_settings(
        {**BASE, "OAUTH2_GITHUB_CLIENT_ID": "id", "OAUTH2_GITHUB_CLIENT_SECRET_ID": "arn:x"}
    )
    (client,) = on.oauth2_clients
    assert client.provider == "github" and client.client_secret_id == "arn:x"
    assert client.client_secret is None and client.token_url is None


def test_loopback_http_is_allowed_for_local_providers() -> None:
    settings = load_settings(
        {
            **BASE,
            "OAUTH2_GOOGLE_CLIENT_ID": "x",
            "OAUTH2_GOOGLE_CLIENT_SECRET": "y",
            "OAUTH2_GOOGLE_TOKEN_URL": "http://127.0.0.1:9999/token",
        }
    )
    assert settings.oauth2_clients[0].token_url == "http://127.0.0.1:9999/token"


def test_state_is_bound_to_verifier_provider_secret_and_time() -> None:
    issued = state.issue("google", SECRET, now=1000)
    assert issued.code_challenge == state.challenge(issued.code_verifier)
    assert 43 <= len(issued.code_verifier) <= 128
    ok = state.check("google", issued.code_verifier, issued.state, SECRET, now=1000)
    assert ok and state.check("google", issued.code_verifier, None, SECRET, now=1000)
    later = 1001 + state.TTL_SECONDS
    other = state.issue("google", SECRET, now=1000)
    flipped = "B" if issued.code_verifier[-1] == "A" else "A"
    for provider, verifier, echoed, secret, now in [
        ("github", issued.code_verifier, issued.state, SECRET, 1000),
        ("google", issued.code_verifier, other.state, SECRET, 1000),
        ("google", issued.code_verifier, "", SECRET, 1000),
        ("google", issued.code_verifier, issued.state, "another-secret" * 3, 1000),
        ("google", issued.code_verifier, issued.state, SECRET, later),
        ("google", issued.code_verifier[:-1] + flipped, None, SECRET, 1000),
        ("google", "9999999999~nonce~mac", None, SECRET, 1000),
    ]:
        assert not state.check(provider, verifier, echoed, secret, now)


@pytest.mark.parametrize("json_secret", [False, True])
def test_client_secret_from_secrets_manager(
    monkeypatch: pytest.MonkeyPatch, json_secret: bool
) -> None:
    """One plain secret per provider, or one JSON secret for all of them."""
    from moto import mock_aws

    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)
    secret_id = f"oauth2-{uuid.uuid4().hex}"
    with mock_aws():
        import boto3

        value = (
            json.dumps({"OAUTH2_GOOGLE_CLIENT_SECRET": "from-json", "OTHER": "x"})
            if json_secret
            else "plain-secret"
        )
        manager = boto3.client("secretsmanager", region_name="us-east-1")
        manager.create_secret(Name=secret_id, SecretString=value)
        settings = load_settings(
            {
                **BASE,
                "OAUTH2_GOOGLE_CLIENT_ID": "id",
                "OAUTH2_GOOGLE_CLIENT_SECRET_ID": secret_id,
                "OAUTH2_GITHUB_CLIENT_ID": "id",
                "OAUTH2_GITHUB_CLIENT_SECRET_ID": secret_id,
            }
        )
        github, google = settings.oauth2_clients
        expected = "from-json" if json_secret else "plain-secret"
        assert credentials.client_secret(google, "us-east-1") == expected
        if json_secret:
            with pytest.raises(ConfigError, match="OAUTH2_GITHUB_CLIENT_SECRET"):
                credentials.client_secret(github, "us-east-1")
