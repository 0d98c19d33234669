"""Every environment variable the service reads, in one place, validated once.

A typo in a deployment's configuration should fail the first request loudly with a message
naming the variable, not surface later as a confusing 500 deep inside a handler. The defaults
are documented in the README ("Configuration").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chalicelib.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


@dataclass(frozen=True)
class Settings:
    local: bool
    local_kubeconfig_file: Path
    cron_tick: str
    aws_region: str
    table_prefix: str
    dynamodb_endpoint: str | None
    allow_signup: bool
    jwt_secret: str | None
    jwt_secret_ssm_parameter: str | None
    jwt_secret_id: str | None
    auth_token_ttl_seconds: int
    bcrypt_cost: int
    login_max_failures: int
    login_failure_window_seconds: int
    kubeconfig_ssm_parameter: str | None
    kubeconfig_secret_id: str | None
    allow_privileged: bool
    allow_host_aliases: bool
    allow_node_selectors: bool
    allow_tolerations: bool
    allowed_service_accounts: frozenset[str]
    files_bucket: str | None = None
    files_dir: Path = Path(".local/files")
    s3_endpoint: str | None = None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _optional(env: dict[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _cron(raw: str) -> str:
    fields = raw.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(f"CRON_TICK must be a 5-field cron expression, got {raw!r}")
    return " ".join(fields)


def load_settings(env: dict[str, str]) -> Settings:
    """Build and validate settings from an environment mapping (tests pass their own)."""
    settings = Settings(
        local=_bool(env, "LOCAL", False),
        local_kubeconfig_file=Path(
            env.get("LOCAL_KUBECONFIG_FILE") or "~/.kube/config"
        ).expanduser(),
        cron_tick=_cron(env.get("CRON_TICK") or "*/1 * * * *"),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        table_prefix=env.get("TABLE_PREFIX", "oneclick-"),
        dynamodb_endpoint=_optional(env, "DYNAMODB_ENDPOINT"),
        allow_signup=_bool(env, "ALLOW_SIGNUP", False),
        jwt_secret=_optional(env, "JWT_SECRET"),
        jwt_secret_ssm_parameter=_optional(env, "JWT_SECRET_SSM_PARAMETER"),
        jwt_secret_id=_optional(env, "JWT_SECRET_ID"),
        auth_token_ttl_seconds=_int(env, "AUTH_TOKEN_TTL_SECONDS", 432000, 60, 1209600),
        bcrypt_cost=_int(env, "BCRYPT_COST", 12, 4, 16),
        login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, 1, 1000),
        login_failure_window_seconds=_int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 300, 1, 86400),
        kubeconfig_ssm_parameter=_optional(env, "KUBECONFIG_SSM_PARAMETER"),
        kubeconfig_secret_id=_optional(env, "KUBECONFIG_SECRET_ID"),
        allow_privileged=_bool(env, "ALLOW_PRIVILEGED", False),
        allow_host_aliases=_bool(env, "ALLOW_HOST_ALIASES", True),
        allow_node_selectors=_bool(env, "ALLOW_NODE_SELECTORS", False),
        allow_tolerations=_bool(env, "ALLOW_TOLERATIONS", False),
        allowed_service_accounts=frozenset(
            name.strip()
            for name in env.get("ALLOWED_SERVICE_ACCOUNTS", "one-click,default").split(",")
            if name.strip()
        ),
        files_bucket=_optional(env, "FILES_BUCKET"),
        files_dir=Path(env.get("FILES_DIR") or ".local/files").expanduser(),
        s3_endpoint=_optional(env, "S3_ENDPOINT"),
    )
    if settings.kubeconfig_ssm_parameter and settings.kubeconfig_secret_id:
        raise ConfigError("Set at most one of KUBECONFIG_SSM_PARAMETER and KUBECONFIG_SECRET_ID")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{0,64}", settings.table_prefix):
        raise ConfigError(f"TABLE_PREFIX has characters DynamoDB refuses: {settings.table_prefix}")
    sources = [settings.jwt_secret, settings.jwt_secret_ssm_parameter, settings.jwt_secret_id]
    if sum(s is not None for s in sources) != 1:
        raise ConfigError(
            "Set exactly one of JWT_SECRET, JWT_SECRET_SSM_PARAMETER or JWT_SECRET_ID "
            "(the local run command generates JWT_SECRET for you)"
        )
    if settings.jwt_secret is not None and len(settings.jwt_secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 characters long")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; cached so a warm Lambda validates them once."""
    return load_settings(dict(os.environ))
