"""Every environment variable the service reads, in one place, validated once.

A typo in a deployment's configuration should fail the first request loudly with a message
naming the variable, not surface later as a confusing 500 deep inside a handler. The defaults
are documented in the README ("Configuration").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib import cron
from chalicelib.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


OAUTH2_PROVIDERS = ("github", "google", "microsoft")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,99}$")


@dataclass(frozen=True)
class OAuth2Client:
    """An enabled sign-in provider: its client id, where its secret comes from, and
    endpoint overrides (``None``: the provider's real endpoint, see chalicelib.auth.oauth2)."""

    provider: str
    client_id: str
    client_secret: str | None
    client_secret_id: str | None
    auth_url: str | None
    token_url: str | None
    userinfo_url: str | None
    emails_url: str | None


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
    auto_update_concurrency: int
    auto_update_lease_seconds: int
    auto_update_webhook_cooldown_seconds: int
    registry_timeout_seconds: int
    registry_secret_prefix: str
    ecr_shared_repository_prefix: str
    oauth2_clients: tuple[OAuth2Client, ...] = ()
    oauth2_microsoft_tenant: str = "common"
    oauth2_timeout_seconds: int = 10

    # Live streams (issue 6); defaults keep every stream inside API Gateway's and Lambda's limits.
    stream_window_seconds: int = 840
    stream_keepalive_seconds: int = 300
    stream_check_seconds: int = 20
    stream_connection_ttl_seconds: int = 7500
    stream_max_connection_seconds: int = 7080
    stream_log_tail_lines: int = 200
    stream_management_endpoint: str | None = None
    stream_worker_function: str = "one-click-serverless-dev-stream_worker"
    lambda_endpoint: str | None = None
    stream_allowed_origins: frozenset[str] = frozenset()
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


def cron_tick(env: dict[str, str]) -> cron.Cron:
    """``CRON_TICK`` alone: ``app.py`` needs it when Chalice packages the schedule, where
    the rest of the configuration (secrets) does not exist."""
    tick = cron.parse(env.get("CRON_TICK") or "*/1 * * * *")
    tick.eventbridge()  # refused at start if EventBridge cannot run it
    return tick


def load_settings(env: dict[str, str]) -> Settings:
    """Build and validate settings from an environment mapping (tests pass their own)."""
    settings = Settings(
        local=_bool(env, "LOCAL", False),
        local_kubeconfig_file=Path(
            env.get("LOCAL_KUBECONFIG_FILE") or "~/.kube/config"
        ).expanduser(),
        cron_tick=cron_tick(env).text,
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
        auto_update_concurrency=_int(env, "AUTO_UPDATE_CONCURRENCY", 8, 1, 64),
        auto_update_lease_seconds=_int(env, "AUTO_UPDATE_LEASE_SECONDS", 300, 60, 900),
        auto_update_webhook_cooldown_seconds=_int(
            env, "AUTO_UPDATE_WEBHOOK_COOLDOWN_SECONDS", 10, 0, 86400
        ),
        registry_timeout_seconds=_int(env, "REGISTRY_TIMEOUT_SECONDS", 10, 1, 120),
        registry_secret_prefix=env.get("REGISTRY_SECRET_PREFIX", "oneclick/registry/"),
        ecr_shared_repository_prefix=env.get("ECR_SHARED_REPOSITORY_PREFIX", "").strip(),
        oauth2_clients=tuple(
            client
            for client in (_oauth2_client(env, name) for name in OAUTH2_PROVIDERS)
            if client is not None
        ),
        oauth2_microsoft_tenant=_tenant(env),
        oauth2_timeout_seconds=_int(env, "OAUTH2_TIMEOUT_SECONDS", 10, 1, 25),
        files_bucket=_optional(env, "FILES_BUCKET"),
        files_dir=Path(env.get("FILES_DIR") or ".local/files").expanduser(),
        s3_endpoint=_optional(env, "S3_ENDPOINT"),
    )
    settings = _with_stream_settings(settings, env)
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


def cron_tick_from_environment() -> cron.Cron:
    return cron_tick(dict(os.environ))


def _endpoint(env: dict[str, str], name: str) -> str | None:
    """An https URL; plain http only on loopback, where tests run their provider."""
    url = _optional(env, name)
    if url is None:
        return None
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    )
    if not (secure and parts.hostname) or parts.fragment:
        raise ConfigError(f"{name} must be an https URL (http only on loopback), got {url!r}")
    return url


def _oauth2_client(env: dict[str, str], provider: str) -> OAuth2Client | None:
    """A provider is enabled by its client id; its secret comes from exactly one source."""
    prefix = f"OAUTH2_{provider.upper()}_"
    client_id = _optional(env, prefix + "CLIENT_ID")
    secret = _optional(env, prefix + "CLIENT_SECRET")
    secret_id = _optional(env, prefix + "CLIENT_SECRET_ID")
    if client_id is None:
        if secret or secret_id:
            raise ConfigError(f"{prefix}CLIENT_ID is missing but a client secret is set")
        return None
    if (secret is None) == (secret_id is None):
        raise ConfigError(f"Set exactly one of {prefix}CLIENT_SECRET or {prefix}CLIENT_SECRET_ID")
    return OAuth2Client(
        provider=provider,
        client_id=client_id,
        client_secret=secret,
        client_secret_id=secret_id,
        auth_url=_endpoint(env, prefix + "AUTH_URL"),
        token_url=_endpoint(env, prefix + "TOKEN_URL"),
        userinfo_url=_endpoint(env, prefix + "USERINFO_URL"),
        emails_url=_endpoint(env, prefix + "EMAILS_URL") if provider == "github" else None,
    )


def _tenant(env: dict[str, str]) -> str:
    tenant = env.get("OAUTH2_MICROSOFT_TENANT", "").strip() or "common"
    if not _TENANT.match(tenant):
        raise ConfigError(f"OAUTH2_MICROSOFT_TENANT must be a tenant id or domain, got {tenant!r}")
    return tenant


def _with_stream_settings(settings: Settings, env: dict[str, str]) -> Settings:
    """The live-stream settings: a worker's window must end before Lambda's 15 minutes, the
    keepalive come before API Gateway's 10-minute idle cut, the reconnect notice before its
    2-hour limit."""
    streams = replace(
        settings,
        stream_window_seconds=_int(env, "STREAM_WINDOW_SECONDS", 840, 2, 870),
        stream_keepalive_seconds=_int(env, "STREAM_KEEPALIVE_SECONDS", 300, 1, 570),
        stream_check_seconds=_int(env, "STREAM_CHECK_SECONDS", 20, 1, 300),
        stream_connection_ttl_seconds=_int(env, "STREAM_CONNECTION_TTL_SECONDS", 7500, 60, 86400),
        stream_max_connection_seconds=_int(env, "STREAM_MAX_CONNECTION_SECONDS", 7080, 5, 7190),
        stream_log_tail_lines=_int(env, "STREAM_LOG_TAIL_LINES", 200, 0, 100000),
        stream_management_endpoint=_optional(env, "STREAM_MANAGEMENT_ENDPOINT"),
        stream_worker_function=env.get("STREAM_WORKER_FUNCTION", "").strip()
        or env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip()  # the worker continuing itself
        or "one-click-serverless-dev-stream_worker",
        lambda_endpoint=_optional(env, "LAMBDA_ENDPOINT"),
        stream_allowed_origins=frozenset(
            o.strip().rstrip("/")
            for o in env.get("STREAM_ALLOWED_ORIGINS", "").split(",")
            if o.strip()
        ),
    )
    if streams.stream_check_seconds >= streams.stream_window_seconds:
        raise ConfigError("STREAM_CHECK_SECONDS must be shorter than STREAM_WINDOW_SECONDS")
    return streams


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; cached so a warm Lambda validates them once."""
    return load_settings(dict(os.environ))
