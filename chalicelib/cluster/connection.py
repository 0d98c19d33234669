"""Kubeconfig loading, the cached API client and the one request function every call uses.

A warm Lambda reuses one client (and its connection pool) for its whole life; the kubeconfig
is read once. Every request goes through :func:`request`, which retries what is worth
retrying (connection errors, 429 and 5xx, honouring ``Retry-After``) within a small budget so
a Lambda never hangs on a sick apiserver, and turns what is not the caller's fault into a
503 in PocketBase's error shape instead of a 500. Responses are read raw
(``_preload_content=False``) and parsed as JSON: the generated models would cost time and
memory for data we only copy around.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

from chalicelib.errors import ApiError, BadRequest, Conflict, ServiceUnavailable
from chalicelib.settings import get_settings

if TYPE_CHECKING:  # pragma: no cover - typing only; importing kubernetes is the slow part
    from kubernetes.client import ApiClient

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

NOT_CONFIGURED = (
    "No Kubernetes cluster is configured for this service. "
    "Set LOCAL_KUBECONFIG_FILE, KUBECONFIG_SSM_PARAMETER or KUBECONFIG_SECRET_ID."
)
UNREACHABLE = "The Kubernetes cluster is not reachable. Please try again later."
UNHEALTHY = "The Kubernetes cluster is not answering properly. Please try again later."
FORBIDDEN = (
    "The backend's Kubernetes role lacks a permission this action needs. "
    "Please contact the administrator."
)
UNAUTHORIZED = "The Kubernetes cluster rejected the backend's credentials."
REJECTED = "The Kubernetes cluster rejected the request."

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 3
RETRY_BUDGET_SECONDS = 5.0
BASE_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"

_lock = threading.Lock()
_client: ApiClient | None = None


class KubeError(Exception):
    """A Kubernetes answer the calling function must interpret (404, 409, 422, ...).

    Internal to this package: every public function either handles it or lets
    :func:`guarded` turn it into an ``ApiError``.
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        super().__init__(f"Kubernetes answered {status} {self.reason}")

    @property
    def reason(self) -> str:
        return str(self.body.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.body.get("message") or "")


def path(*segments: str) -> str:
    """Join URL segments, quoting each, so a name can never change which resource is hit."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


# ---------------------------------------------------------------------------- the client


def api_client() -> ApiClient:
    """The process-wide client; built on first use so a cold start that never needs the
    cluster never pays for the import or the kubeconfig fetch."""
    global _client
    if _client is not None:
        return _client
    with _lock:
        if _client is None:
            _client = _build_client()
        return _client


def reset() -> None:
    """Forget the cached client (tests, and a rejected credential that may have rotated)."""
    global _client
    with _lock:
        old, _client = _client, None
    if old is not None:
        try:
            old.close()
        except Exception:  # noqa: BLE001 - closing a pool must never fail the caller
            log.debug("closing the old Kubernetes client failed", exc_info=True)


def _configuration() -> Any:
    from kubernetes.client import Configuration

    cfg = Configuration()
    # Retries are ours (bounded by a time budget); urllib3's own would multiply them.
    cfg.retries = False
    return cfg


def _build_client() -> ApiClient:
    from kubernetes import config as kube_config

    settings = get_settings()
    try:
        if settings.local:
            kubeconfig_file = settings.local_kubeconfig_file
            if not kubeconfig_file.is_file():
                raise ServiceUnavailable(
                    f"{NOT_CONFIGURED} (LOCAL=true but {kubeconfig_file} does not exist)"
                )
            return kube_config.new_client_from_config(
                config_file=str(kubeconfig_file),
                client_configuration=_configuration(),
                persist_config=False,
            )
        text = _remote_kubeconfig_text()
        return kube_config.new_client_from_config_dict(
            _parse_kubeconfig(text),
            client_configuration=_configuration(),
            persist_config=False,
        )
    except ApiError:
        raise
    except Exception as err:  # noqa: BLE001 - any loader failure means "not usable"
        # Only the type: a loader message may quote parts of the kubeconfig.
        log.error("kubeconfig could not be loaded: %s", type(err).__name__)
        raise ServiceUnavailable(
            "The Kubernetes cluster's kubeconfig could not be loaded. "
            "Please contact the administrator."
        ) from None


def _parse_kubeconfig(text: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("kubeconfig is not a mapping")
    return data


def _remote_kubeconfig_text() -> str:
    """The kubeconfig from SSM (SecureString) or Secrets Manager, whichever is configured."""
    import boto3

    settings = get_settings()
    if settings.kubeconfig_ssm_parameter:
        ssm = boto3.client("ssm", region_name=settings.aws_region)
        answer = ssm.get_parameter(Name=settings.kubeconfig_ssm_parameter, WithDecryption=True)
        return str(answer["Parameter"]["Value"])
    if settings.kubeconfig_secret_id:
        secrets = boto3.client("secretsmanager", region_name=settings.aws_region)
        answer = secrets.get_secret_value(SecretId=settings.kubeconfig_secret_id)
        if "SecretString" in answer:
            return str(answer["SecretString"])
        return bytes(answer["SecretBinary"]).decode("utf-8")
    raise ServiceUnavailable(NOT_CONFIGURED)


# ---------------------------------------------------------------------------- requests


def request(
    method: str,
    url: str,
    *,
    query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
    body: Any = None,
    content_type: str = JSON,
    accept: str = JSON,
    text: bool = False,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    stream: bool = False,
) -> Any:
    """One Kubernetes API call with bounded retries; the decoded JSON (or text) on 2xx, or
    with ``stream`` the open response (a watch or a followed log) for the caller to read.

    Raises ``KubeError`` for answers the caller must interpret, ``ServiceUnavailable`` when
    the cluster cannot be used right now (unreachable, overloaded, no permission).
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    params = list(query.items() if isinstance(query, Mapping) else (query or []))
    deadline = time.monotonic() + RETRY_BUDGET_SECONDS
    reauthenticated = False
    attempt = 0
    while True:
        attempt += 1
        client = api_client()
        failure = UNHEALTHY
        retry_after: float | None = None
        try:
            response = client.call_api(
                url,
                method,
                query_params=list(params),
                header_params={"Accept": accept, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout),
            )
            if stream:
                return response
            try:
                raw: bytes = response.data
            finally:
                response.release_conn()
            if text:
                return raw.decode("utf-8", errors="replace")
            return json.loads(raw) if raw else {}
        except ApiException as err:
            status = int(err.status or 0)
            answer = _decode(err.body)
            if status == 401 and not reauthenticated:
                # A rotated credential: reload the kubeconfig once and try again.
                reauthenticated = True
                reset()
                continue
            if status == 401:
                log.error("Kubernetes rejected the backend's credentials (%s %s)", method, url)
                raise ServiceUnavailable(UNAUTHORIZED) from None
            if status == 403:
                message = str(answer.get("message") or "") if isinstance(answer, dict) else ""
                if "being terminated" in message:
                    raise Conflict(
                        "The project's Kubernetes namespace is still being deleted. "
                        "Please try again in a moment."
                    ) from None
                log.error(
                    "Kubernetes denied %s %s to the backend's role: grant it in "
                    "infra/rbac/one-click-backend.yaml",
                    method,
                    url.split("?")[0],
                )
                raise ServiceUnavailable(FORBIDDEN) from None
            if status not in RETRYABLE_STATUSES:
                raise KubeError(status, answer) from None
            retry_after = _retry_after(err.headers)
            log.warning(
                "Kubernetes answered %s to %s %s (attempt %d)", status, method, url, attempt
            )
        except (HTTPError, OSError) as err:
            failure = UNREACHABLE
            log.warning(
                "Kubernetes not reachable for %s %s (attempt %d): %s",
                method,
                url,
                attempt,
                type(err).__name__,
            )
        delay = retry_after if retry_after is not None else _backoff(attempt)
        if attempt >= MAX_ATTEMPTS or time.monotonic() + delay > deadline:
            raise ServiceUnavailable(failure)
        time.sleep(delay)


def _decode(body: Any) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return {"message": body[:500]}


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter, so many Lambdas do not retry in lock-step."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def unexpected(err: KubeError, action: str) -> ApiError:
    """The error for a Kubernetes answer the caller had no specific meaning for."""
    log.error("Kubernetes answered %s %s while %s", err.status, err.reason, action)
    if err.status >= 500:
        return ServiceUnavailable(UNHEALTHY)
    return BadRequest(REJECTED)


def guarded(action: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Make sure no Kubernetes answer a function did not interpret escapes it raw."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except KubeError as err:
                raise unexpected(err, action) from None

        return wrapper

    return decorate
