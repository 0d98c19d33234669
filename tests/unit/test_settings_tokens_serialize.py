"""Settings validation, token verification and credential redaction."""

from __future__ import annotations

import time

import jwt
import pytest

from chalicelib.auth import tokens
from chalicelib.errors import ConfigError
from chalicelib.records.access import Viewer
from chalicelib.records.schema import BLUEPRINTS, USERS
from chalicelib.records.serialize import export, redact_manifest
from chalicelib.settings import load_settings

BASE = {"JWT_SECRET": "s" * 40}


def test_defaults_are_documented_values() -> None:
    settings = load_settings(BASE)
    assert settings.cron_tick == "*/1 * * * *" and settings.allow_signup is False
    assert settings.local is False and settings.table_prefix == "oneclick-"
    assert settings.auth_token_ttl_seconds == 432000 and settings.bcrypt_cost == 12
    assert str(settings.local_kubeconfig_file).endswith(".kube/config")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"LOCAL": "maybe"}, "LOCAL"),
        ({"CRON_TICK": "* * *"}, "CRON_TICK"),
        ({"BCRYPT_COST": "99"}, "BCRYPT_COST"),
        ({"AUTH_TOKEN_TTL_SECONDS": "soon"}, "AUTH_TOKEN_TTL_SECONDS"),
        ({"TABLE_PREFIX": "bad prefix!"}, "TABLE_PREFIX"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"JWT_SECRET_ID": "arn"}, "exactly one"),
        ({"OAUTH2_GOOGLE_CLIENT_SECRET": "x"}, "OAUTH2_GOOGLE_CLIENT_ID is missing"),
        ({"OAUTH2_GOOGLE_CLIENT_ID": "x"}, "exactly one of OAUTH2_GOOGLE_CLIENT_SECRET"),
        (
            {
                "OAUTH2_GOOGLE_CLIENT_ID": "x",
                "OAUTH2_GOOGLE_CLIENT_SECRET": "y",
                "OAUTH2_GOOGLE_CLIENT_SECRET_ID": "z",
            },
            "exactly one",
        ),
        (
            {
                "OAUTH2_GITHUB_CLIENT_ID": "x",
                "OAUTH2_GITHUB_CLIENT_SECRET": "y",
                "OAUTH2_GITHUB_TOKEN_URL": "http://provider.example/token",
            },
            "OAUTH2_GITHUB_TOKEN_URL must be an https URL",
        ),
        (
            {
                "OAUTH2_MICROSOFT_CLIENT_ID": "x",
                "OAUTH2_MICROSOFT_CLIENT_SECRET": "y",
                "OAUTH2_MICROSOFT_AUTH_URL": "ftp://127.0.0.1/authorize",
            },
            "OAUTH2_MICROSOFT_AUTH_URL",
        ),
        ({"OAUTH2_MICROSOFT_TENANT": "../evil"}, "OAUTH2_MICROSOFT_TENANT"),
        ({"OAUTH2_TIMEOUT_SECONDS": "60"}, "OAUTH2_TIMEOUT_SECONDS"),
    ],
)
def test_bad_settings_fail_loudly_naming_the_variable(env: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({**BASE, **env})


def test_no_secret_source_is_an_error() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        load_settings({})


def test_token_is_bound_to_the_users_token_key() -> None:
    user = {"id": "u" * 15, "tokenKey": "key-1"}
    token = tokens.issue(user, "s" * 40, 60)
    assert tokens.unverified_user_id(token) == user["id"]
    assert tokens.is_valid(token, user, "s" * 40)
    assert not tokens.is_valid(token, {**user, "tokenKey": "key-2"}, "s" * 40)
    assert not tokens.is_valid(token, user, "t" * 40)
    expired = tokens.issue(user, "s" * 40, -1)
    assert not tokens.is_valid(expired, user, "s" * 40)
    none_alg = jwt.encode(
        {"id": user["id"], "type": "authRecord", "collectionId": USERS.id, "exp": time.time() + 60},
        None,
        algorithm="none",
    )
    assert not tokens.is_valid(none_alg, user, "s" * 40)
    assert tokens.unverified_user_id("not a token") is None


def test_redaction_blanks_only_credentials_and_copies() -> None:
    manifest = {
        "spec": {
            "image": {"password": "p", "username": "u"},
            "secrets": [{"name": "A", "value": "v"}],
            "env": [{"name": "E", "value": "x"}],
        }
    }
    redacted = redact_manifest(manifest)
    assert redacted["spec"]["image"] == {"password": "", "username": "u"}
    assert redacted["spec"]["secrets"] == [{"name": "A", "value": ""}]
    assert redacted["spec"]["env"] == [{"name": "E", "value": "x"}]
    assert manifest["spec"]["image"]["password"] == "p"
    assert redact_manifest("not a manifest") == "not a manifest"


def test_user_export_hides_email_from_others_and_never_shows_hashes() -> None:
    user = {
        "id": "u" * 15,
        "email": "a@b.io",
        "emailVisibility": False,
        "username": "a",
        "passwordHash": "h",
        "tokenKey": "k",
        "created": "c",
        "updated": "u",
        "verified": False,
        "name": "",
        "avatar": "",
    }
    assert "email" in export(USERS, user, Viewer(user))
    other = export(USERS, user, Viewer({"id": "o" * 15}))
    assert "email" not in other and "passwordHash" not in other and "tokenKey" not in other
    assert "email" in export(USERS, {**user, "emailVisibility": True}, Viewer(None))
    assert list(other) == sorted(other)


def test_blueprint_export_redacts_for_non_owner() -> None:
    record = {
        "id": "b" * 15,
        "owner": "o" * 15,
        "users": [],
        "manifest": {"spec": {"image": {"password": "p"}}},
    }
    assert (
        export(BLUEPRINTS, record, Viewer({"id": "x" * 15}))["manifest"]["spec"]["image"][
            "password"
        ]
        == ""
    )
    assert (
        export(BLUEPRINTS, record, Viewer({"id": "o" * 15}))["manifest"]["spec"]["image"][
            "password"
        ]
        == "p"
    )
