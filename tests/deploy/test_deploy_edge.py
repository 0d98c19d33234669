"""The CloudFront viewer-request functions, run in Node.js (the same JavaScript CloudFront
runs): deep links load the single-page app, WebSocket paths reach the API's stage."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from prerequisites import require

from infra.build_template import SPA_FUNCTION, WEBSOCKET_FUNCTION


def viewer_request(code: str, uri: str) -> dict[str, Any]:
    node = shutil.which("node")
    require(node is not None, "Node.js runs the CloudFront functions")
    event = {"request": {"uri": uri, "querystring": {}, "headers": {}}}
    script = f"{code}\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    result = subprocess.run(
        [str(node), "-e", script], capture_output=True, text=True, check=True, timeout=30
    )
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/projects/abc123/deployments", "/index.html"),
        ("/_app/immutable/entry/start.4f2a.js", "/_app/immutable/entry/start.4f2a.js"),
        ("/favicon.png", "/favicon.png"),
    ],
)
def test_deep_links_load_the_app_and_files_load_themselves(uri: str, served: str) -> None:
    assert viewer_request(SPA_FUNCTION, uri)["uri"] == served


@pytest.mark.parametrize("stream", ["deployments", "logs", "events"])
def test_websocket_paths_connect_to_the_api_stage_and_name_their_stream(stream: str) -> None:
    request = viewer_request(WEBSOCKET_FUNCTION % "api", f"/ws/k8s/{stream}")
    assert request["uri"] == "/api"
    assert request["querystring"] == {"stream": {"value": stream}}
