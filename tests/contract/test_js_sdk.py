"""The PocketBase JS SDK (npm ``pocketbase`` 0.25, as the One-Click frontend uses it) against
the real local server: ``node --test tests/contract/sdk_contract.test.mjs``."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from local_server import ROOT, LocalServer
from oauth2_provider import Account, FakeProvider
from prerequisites import require

pytestmark = pytest.mark.contract

SUITE = Path(__file__).with_name("sdk_contract.test.mjs")
SDK = ROOT / "node_modules" / "pocketbase" / "package.json"
NODE_TIMEOUT = 300


def test_pocketbase_js_sdk_contract(request: pytest.FixtureRequest) -> None:
    node = shutil.which("node")
    require(node is not None, "node is needed for the JS SDK contract tests")
    require(SDK.exists(), "node_modules/pocketbase is missing: run `npm ci`")
    assert node is not None
    # Started only once the Node prerequisites are known to be there.
    local_server: LocalServer = request.getfixturevalue("local_server")

    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "BASE_URL": local_server.url, "NO_COLOR": "1"}
    env.pop("NODE_OPTIONS", None)
    for key, name in (("A", "Alice"), ("B", "Bob"), ("C", "Carol")):
        email = f"{key.lower()}-{run}@example.com"
        password = f"pw-{key}-{run}-secret"
        env[f"USER_{key}_EMAIL"] = email
        env[f"USER_{key}_PASSWORD"] = password
        env[f"USER_{key}_NAME"] = name
        env[f"USER_{key}_ID"] = local_server.create_user(email, password, name)
    provider: FakeProvider = request.getfixturevalue("oauth2_provider")
    oauth_email = f"oauth-{run}@example.com"
    env["OAUTH2_USER_ID"] = local_server.create_user(oauth_email, f"pw-oauth-{run}", "OAuth")
    provider.add("google", f"member-{run}", Account(id=f"g-member-{run}", email=oauth_email))
    provider.add("google", f"stranger-{run}", Account(id=f"g-new-{run}", email=f"new-{run}@x.io"))
    env["OAUTH2_MEMBER"], env["OAUTH2_STRANGER"] = f"member-{run}", f"stranger-{run}"
    signup = local_server.env.get("ALLOW_SIGNUP", "false").strip().lower()
    env["EXPECT_SIGNUP"] = "true" if signup in {"1", "true", "yes", "on"} else "false"

    try:
        result = subprocess.run(
            [node, "--test", "--test-reporter=spec", str(SUITE.relative_to(ROOT))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(
            f"node --test ran longer than {NODE_TIMEOUT}s:\n{timeout.stdout}\n"
            f"server log:\n{local_server.output()}"
        )
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, (
        f"node --test failed (exit {result.returncode}):\n{output}\n"
        f"server log (tail):\n{local_server.output()}"
    )
