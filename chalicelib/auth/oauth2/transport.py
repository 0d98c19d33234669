"""The one place that talks to OAuth2 providers over HTTP.

Narrow on purpose: a form POST to a token endpoint and a bearer GET of a JSON profile.
No redirects are followed and nothing is retried (an authorization code is single-use),
every call has a total time limit, answers are size-capped, and neither request bodies
(they carry the client secret and the code) nor answers are ever logged.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    import urllib3

MAX_ANSWER_BYTES = 1024 * 1024
USER_AGENT = "one-click-serverless"
_JSON = "application/json"

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """The provider refused, failed or did not answer in time."""


@lru_cache(maxsize=1)
def _pool() -> urllib3.PoolManager:
    """One pool per warm Lambda: keep-alive connections to the providers are reused.
    urllib3 is imported here, on the first sign-in with a provider: every request's auth
    check imports this module, and a cold start does not pay for it (~20 ms)."""
    import urllib3

    return urllib3.PoolManager(retries=False)


def _call(
    method: str,
    url: str,
    timeout: float,
    headers: dict[str, str],
    body: str | None = None,
) -> Any:
    pool = _pool()
    import urllib3  # loaded by _pool()

    try:
        response = pool.request(
            method,
            url,
            body=body,
            headers={"Accept": _JSON, "User-Agent": USER_AGENT, **headers},
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,
            preload_content=False,
        )
        try:
            payload = response.read(MAX_ANSWER_BYTES + 1)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        logger.warning("OAuth2 provider call %s %s failed: %s", method, url, type(error).__name__)
        raise ProviderError(type(error).__name__) from None
    if not 200 <= response.status < 300 or len(payload) > MAX_ANSWER_BYTES:
        logger.warning("OAuth2 provider call %s %s answered %s", method, url, response.status)
        raise ProviderError(f"status {response.status}")
    try:
        return json.loads(payload)
    except ValueError:
        logger.warning("OAuth2 provider call %s %s answered non-JSON", method, url)
        raise ProviderError("not JSON") from None


def post_form(url: str, fields: dict[str, str], timeout: float) -> Any:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return _call("POST", url, timeout, form, urlencode(fields))


def get_json(url: str, access_token: str, timeout: float) -> Any:
    return _call("GET", url, timeout, {"Authorization": f"Bearer {access_token}"})
