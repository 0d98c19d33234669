"""The unchanged One-Click frontend, built from ../shared/upstream (scripts/build-frontend.sh),
served by the local server on DynamoDB Local and the real control plane with the real operator,
clicked through in Debian's chromium by ``frontend_flow.mjs``.

The browser side judges what the user sees; this side judges what the platform holds after
it (records, the Rollout and its children) and fails on any 5xx or uncaught page error.
Screenshots and the step table are kept under ``.artifacts/browser/`` (ignored)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from docker_registry import DockerRegistry, push_image, registry_binary
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from local_server import ROOT, LocalServer
from prerequisites import require
from waiting import deleted, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.dynamodb_local]

FRONTEND = ROOT / ".cache" / "frontend-build"
FLOW = Path(__file__).with_name("frontend_flow.mjs")
MONACO = ROOT / "node_modules" / "monaco-editor" / "min"
ARTIFACTS = ROOT / ".artifacts" / "browser"
# The upstream sources scripts/build-frontend.sh builds from, and their example blueprint.
UPSTREAM_FRONTEND = Path(
    os.environ.get("ONECLICK_FRONTEND_SRC") or ROOT.parent / "shared/upstream/one-click/frontend"
)
BLUEPRINT = UPSTREAM_FRONTEND.parent / "docs" / "blueprints" / "nginx.yaml"
PASSWORD = "browser-pass-123"
# The image the flow points the deployment at; the registry holds both tags from the start.
REPOSITORY, FIRST_TAG, NEWER_TAG = "browser/web", "1.0.0", "1.1.0"


def _prerequisites() -> None:
    require((FRONTEND / "index.html").is_file(), "frontend not built (make frontend)")
    require(shutil.which("chromium") is not None, "chromium missing (apt-get install chromium)")
    require((ROOT / "node_modules" / "playwright-core").is_dir(), "npm packages missing (npm ci)")
    require(MONACO.is_dir(), "monaco-editor missing (npm ci)")
    require(BLUEPRINT.is_file(), f"the upstream example blueprint is missing: {BLUEPRINT}")
    require(registry_binary() is not None, "docker-registry (Debian package) is not installed")


def _table(result: dict[str, Any]) -> str:
    mark = {True: "ok", False: "FAIL", None: "-"}
    rows = [f"{mark[s['ok']]:4} {s['ms']:>6} ms  {s['name']}" for s in result["steps"]]
    rows += [f"{s['name']}: {s['error']}" for s in result["steps"] if s["ok"] is False]
    return "\n".join(rows)


@pytest.fixture
def registry() -> Any:
    _prerequisites()
    with DockerRegistry() as running:
        for tag in (FIRST_TAG, NEWER_TAG):
            push_image(running.url, REPOSITORY, tag)
        yield running


@pytest.fixture
def server(dynamodb_local_endpoint: str, backend_kubeconfig: str) -> Any:
    _prerequisites()
    env = {"LOCAL_KUBECONFIG_FILE": backend_kubeconfig}
    args = ("--frontend", str(FRONTEND))
    with LocalServer(dynamodb_local_endpoint, extra_env=env, args=args) as running:
        yield running


def test_a_new_user_clicks_through_the_platform(
    server: LocalServer, control_plane: Any, registry: DockerRegistry
) -> None:
    owner = server.create_user("owner@browser.test", PASSWORD, "Browser Owner")
    other = server.create_user("other@browser.test", PASSWORD, "Browser Other")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    state = _click_through(server, "build", {}, registry)

    admin = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    custom, core = k8s.CustomObjectsApi(admin), k8s.CoreV1Api(admin)
    project, deployment = state["project"], state["deployment"]
    rollout = wait_for(
        "the deployment's Rollout",
        lambda: custom.get_namespaced_custom_object(
            "one-click.dev", "v1alpha1", project, "rollouts", deployment
        ),
    )
    assert rollout["metadata"]["labels"]["one-click.dev/deploymentId"] == deployment
    assert core.read_namespace(project).metadata.labels["one-click.dev/userId"] == owner
    # The auto-update's rollout is the current one, the rest of the spec carried over.
    image = rollout["spec"]["image"]
    assert (image["registry"], image["repository"], image["tag"]) == (
        registry.host,
        REPOSITORY,
        state["autoUpdatedTag"],
    )
    assert state["autoUpdatedTag"] == NEWER_TAG
    token = _token(server, "owner@browser.test")
    status, page = server.request(
        "GET",
        f"/api/collections/rollouts/records?perPage=200&filter=(deployment='{deployment}')",
        token=token,
    )
    assert status == 200, page
    running = [r["manifest"]["spec"]["image"]["tag"] for r in page["items"] if not r["endDate"]]
    newer = [r for r in page["items"] if r["manifest"]["spec"]["image"]["tag"] == NEWER_TAG]
    assert running == [NEWER_TAG] and len(newer) == 1, page["items"]
    assert [v["name"] for v in rollout["spec"]["volumes"]] == [state["volume"]]
    assert rollout["spec"]["horizontalScale"]["minReplicas"] == 2
    assert {"name": "GREETING", "value": "hello"} in rollout["spec"]["env"]
    claim = f"{state['volume']}-{deployment}"
    wait_for(
        f"claim {claim} Bound",
        lambda: (
            core.read_namespaced_persistent_volume_claim(claim, project).status.phase == "Bound"
        ),
    )
    [web] = [i for i in rollout["spec"]["interfaces"] if i["name"] == "web"]
    assert web["port"] == 8080 and web["ingress"]["rules"][0]["host"] == state["host"]
    networking = k8s.NetworkingV1Api(admin)
    ingress = wait_for(
        "the interface's Ingress",
        lambda: networking.read_namespaced_ingress(f"web-{deployment}-ingress", project),
    )
    assert ingress.spec.rules[0].host == state["host"]
    pod = state["deletedPod"]
    wait_for(
        "the deleted pod gone", lambda: deleted(lambda: core.read_namespaced_pod(pod, project))
    )
    status, me = server.request("GET", f"/api/collections/users/records/{owner}", token=token)
    assert status == 200 and me["name"] == state["displayName"], me
    status, shared = server.request(
        "GET",
        f"/api/collections/blueprints/records/{state['sharedBlueprint']}",
        token=_token(server, "other@browser.test"),
    )
    assert status == 200 and other in shared["users"], shared

    _click_through(server, "teardown", state, registry)
    wait_for("the namespace gone", lambda: deleted(lambda: core.read_namespace(project)))
    path = f"/api/collections/deployments/records/{deployment}"
    assert server.request("GET", path)[0] == 404


def _click_through(
    server: LocalServer, phase: str, state: dict[str, Any], registry: DockerRegistry
) -> dict[str, Any]:
    """One phase of frontend_flow.mjs; fails on a failed step, a 5xx the page or the server
    saw, or an uncaught page error not known to be the frontend's own (see below)."""
    run = subprocess.run(
        ["node", str(FLOW)],
        cwd=ROOT,
        env={
            **os.environ,
            "PHASE": phase,
            "STATE": json.dumps(state),
            "BASE_URL": server.url,
            "USER_EMAIL": "owner@browser.test",
            "USER_PASSWORD": PASSWORD,
            "OTHER_EMAIL": "other@browser.test",
            "OTHER_PASSWORD": PASSWORD,
            "BLUEPRINT_YAML": BLUEPRINT.read_text(),
            "REGISTRY_HOST": registry.host,
            "REGISTRY_REPOSITORY": REPOSITORY,
            "REGISTRY_NEWER_TAG": NEWER_TAG,
            "MONACO_DIR": str(MONACO),
            "ARTIFACTS": str(ARTIFACTS),
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((ARTIFACTS / f"{phase}.json").read_text())
    print(_table(result))
    assert all(s["ok"] is True for s in result["steps"]), _table(result)
    assert result["serverErrors"] == [], result["serverErrors"]
    assert [e for e in result["pageErrors"] if not _frontend_own(e)] == [], result["pageErrors"]
    # 5xx answers, including requests the page made in the background
    assert server.server_errors(tracebacks=False) == []
    return dict(result["state"])


def _frontend_own(error: dict[str, str]) -> bool:
    """The one uncaught error no answer of ours causes: the envs page wraps its editors in
    ``{#key $rollouts}``, so saving refreshes the store and unmounts the editor while
    svelte-monaco still creates it, and monaco throws on the detached container (with
    PocketBase too). Anything else fails the test."""
    return (
        error["message"] == "Cannot read properties of null (reading 'parentNode')"
        and "registerEditorContainer" in error["stack"]
    )


def _token(server: LocalServer, email: str) -> str:
    """A token for that user, signed in by password as the SDK does."""
    status, auth = server.request(
        "POST",
        "/api/collections/users/auth-with-password",
        {"identity": email, "password": PASSWORD},
    )
    assert status == 200, auth
    return str(auth["token"])
