"""One-Click Serverless: the Chalice routes. Each handler reads the request, calls one
domain function and returns its result; errors are mapped in ``chalicelib.web.responses``.

Every function of the stack imports this module, so what only some routes need (sign-in
with its password hashing, throttling and OAuth2, the auto-update check and its registry
client, the live streams, the cluster observation, file serving) is imported inside those
handlers: a REST cold start pays only for the records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Chalice, CORSConfig, Rate, Response
from chalice.app import WebsocketEvent

from chalicelib.errors import BadRequest, NotFound
from chalicelib.files.names import SERVED_TYPES
from chalicelib.records import api as records
from chalicelib.records import attachments, blueprints, cascade
from chalicelib.records.schema import USERS, find_collection
from chalicelib.rollouts import cluster_cleanup, state_machine
from chalicelib.settings import cron_tick_from_environment
from chalicelib.web.request import (
    BAD_AUTH_FORMAT,
    body_of,
    query_of,
    source_address,
    viewer_of,
    viewer_reading,
)
from chalicelib.web.responses import api, json_response

app = Chalice(app_name="one-click-serverless")
app.api.binary_types.append("multipart/form-data")
app.api.binary_types.extend(t for t in SERVED_TYPES if t not in app.api.binary_types)

# PocketBase allows any origin; the frontend's dev server (localhost:5173) depends on it.
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type", "Accept-Language", "X-Requested-With"],
    max_age=86400,
)
cascade.register_before_delete(cluster_cleanup.remove_from_cluster)
cascade.register_after_delete(attachments.remove_files)
ANY_BODY = ["*/*"]  # request.body_of answers unsupported types with a PocketBase-shaped 400

RECORDS = "/api/collections/{collection}/records"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_served: dict[str, set[str]] = {}


def route(path: str, methods: list[str], pb: bool = False) -> Callable[[Any], Any]:
    """Register a handler; One-Click's custom ``/pb/...`` routes also answer under ``/api``."""

    def register(handler: Callable[..., Response]) -> Callable[..., Response]:
        paths = [path, f"/api{path}"] if pb else [path]
        for each in paths:
            app.route(each, methods=methods, cors=CORS, content_types=ANY_BODY)(handler)
            _served.setdefault(each, set()).update(methods)
        return handler

    return register


def _users_collection(collection: str) -> None:
    found = find_collection(collection)
    if found is None:
        raise NotFound()
    if found is not USERS:
        raise BadRequest("Unsupported collection type.")


@route("/api/health", ["GET", "HEAD"])
@api
def health() -> dict[str, Any] | Response:
    if app.current_request.method == "HEAD":  # uptime checks: the status, no body
        return Response(body="", status_code=200)
    return {"code": 200, "message": "API is healthy.", "data": {}}


@route(RECORDS, ["GET"])
@api
def list_records(collection: str) -> dict[str, Any]:
    request = app.current_request
    return records.list_records(collection, query_of(request), viewer_of(request))


@route(RECORDS, ["POST"])
@api
def create_record(collection: str) -> dict[str, Any]:
    request = app.current_request
    return records.create_record(
        collection, body_of(request), query_of(request), viewer_of(request)
    )


@route(RECORDS + "/{record_id}", ["GET"])
@api
def view_record(collection: str, record_id: str) -> dict[str, Any]:
    request = app.current_request
    viewer = viewer_reading(request, collection, record_id)
    return records.view_record(collection, record_id, query_of(request), viewer)


@route(RECORDS + "/{record_id}", ["PATCH"])
@api
def update_record(collection: str, record_id: str) -> dict[str, Any]:
    request = app.current_request
    viewer = viewer_reading(request, collection, record_id)
    return records.update_record(collection, record_id, body_of(request), query_of(request), viewer)


@route(RECORDS + "/{record_id}", ["DELETE"])
@api
def delete_record(collection: str, record_id: str) -> None:
    request = app.current_request
    records.delete_record(collection, record_id, viewer_reading(request, collection, record_id))


@route("/api/collections/{collection}/auth-with-password", ["POST"])
@api
def auth_with_password(collection: str) -> dict[str, Any]:
    _users_collection(collection)
    request = app.current_request
    body = body_of(request, bad_format=BAD_AUTH_FORMAT, urlencoded=True)
    from chalicelib.auth import login

    return login.with_password(body, query_of(request), source_address(request))


@route("/api/collections/{collection}/auth-refresh", ["POST"])
@api
def auth_refresh(collection: str) -> dict[str, Any]:
    _users_collection(collection)
    request = app.current_request
    from chalicelib.auth import login

    return login.refresh(viewer_of(request), query_of(request))


@route("/api/collections/{collection}/auth-with-oauth2", ["POST"])
@api
def auth_with_oauth2(collection: str) -> dict[str, Any]:
    _users_collection(collection)
    request = app.current_request
    body = body_of(request, bad_format=BAD_AUTH_FORMAT, urlencoded=True)
    from chalicelib.auth import login

    return login.with_oauth2(body, query_of(request))


@route("/api/collections/{collection}/auth-methods", ["GET"])
@api
def auth_methods(collection: str) -> dict[str, Any]:
    _users_collection(collection)
    from chalicelib.auth import login

    return login.methods()


@route("/api/files/token", ["POST"])
@api
def file_token() -> dict[str, str]:
    from chalicelib.auth import file_tokens

    return file_tokens.issue(viewer_of(app.current_request))


@route("/api/files/{collection}/{record_id}/{filename}", ["GET"])
@api
def serve_file(collection: str, record_id: str, filename: str) -> Response:
    """``thumb`` is ignored: the original file is served (no thumbnails are generated)."""
    from chalicelib.web.files import file_response, file_viewer

    request = app.current_request
    served = attachments.read_file(collection, record_id, filename, file_viewer(request))
    return file_response(served, query_of(request))


@route("/pb/blueprints/{blueprint_id}", ["GET"], pb=True)
@api
def get_blueprint(blueprint_id: str) -> dict[str, Any]:
    return blueprints.get_blueprint(blueprint_id, viewer_of(app.current_request))


@route("/pb/blueprints/shared/{blueprint_id}", ["POST"], pb=True)
@api
def subscribe_blueprint(blueprint_id: str) -> dict[str, Any]:
    return blueprints.subscribe(blueprint_id, viewer_of(app.current_request))


@route("/pb/{project_id}/{name}/status", ["GET"], pb=True)
@api
def deployment_status(project_id: str, name: str) -> dict[str, Any]:
    from chalicelib.rollouts import observe

    return observe.status(project_id, name, viewer_of(app.current_request))


@route("/pb/{project_id}/{name}/metrics", ["GET"], pb=True)
@api
def deployment_metrics(project_id: str, name: str) -> dict[str, Any]:
    from chalicelib.rollouts import observe

    return observe.metrics(project_id, name, viewer_of(app.current_request))


@route("/pb/{project_id}/{name}/events", ["GET"], pb=True)
@api
def deployment_events(project_id: str, name: str) -> dict[str, Any]:
    from chalicelib.rollouts import observe

    return observe.events(project_id, name, viewer_of(app.current_request))


@route("/pb/{project_id}/{name}/logs", ["GET"], pb=True)
@api
def pod_logs(project_id: str, name: str) -> Response:
    from chalicelib.rollouts import observe

    request = app.current_request
    text = observe.logs(project_id, name, query_of(request), viewer_of(request))
    return Response(
        body=text, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"}
    )


@route("/pb/cluster-info", ["GET"], pb=True)
@api
def cluster_info() -> dict[str, Any]:
    from chalicelib.rollouts import observe

    return observe.cluster_info(viewer_of(app.current_request))


@route("/pb/{project_id}/pod/{pod_name}", ["DELETE"], pb=True)
@api
def delete_pod(project_id: str, pod_name: str) -> str:
    from chalicelib.rollouts import observe

    return observe.delete_pod(project_id, pod_name, viewer_of(app.current_request))


@route("/pb/{project_id}/job/{job_name}", ["DELETE"], pb=True)
@api
def delete_job(project_id: str, job_name: str) -> str:
    from chalicelib.rollouts import observe

    return observe.delete_job(project_id, job_name, viewer_of(app.current_request))


@route("/pb/auto-update/{auto_update_id}", ["POST"], pb=True)
@api
def auto_update_webhook(auto_update_id: str) -> Response | dict[str, Any]:
    from chalicelib.image_updates import webhook

    request = app.current_request
    secret = request.headers.get("x-webhook-secret") or query_of(request).get("secret")
    if not secret and not request.headers.get("authorization"):
        return json_response(webhook.request_check(auto_update_id), 202)
    return webhook.trigger(auto_update_id, viewer_of(request), secret)


@route("/pb/auto-update/{auto_update_id}/secret", ["POST"], pb=True)
@api
def rotate_auto_update_secret(auto_update_id: str) -> dict[str, Any]:
    from chalicelib.records import auto_updates

    return auto_updates.rotate_secret(auto_update_id, viewer_of(app.current_request))


@app.schedule(cron_tick_from_environment().eventbridge())
def auto_update_tick(_event: object) -> dict[str, Any]:
    """Check the due autoUpdates (CRON_TICK, default every minute)."""
    from chalicelib.image_updates import tick

    report = tick.run()
    return {"checked": report.checked, "rolledOut": report.rolled_out, "errors": report.errors}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def reconcile_rollouts(_event: object) -> int:
    """Finish cluster changes that a failed or interrupted request left pending."""
    return state_machine.reconcile_pending()


# ---- Live streams (issue 6): one WebSocket API for the logs, events and resource-map streams.
app.experimental_feature_flags.update({"WEBSOCKETS"})


def _websocket_session() -> None:
    """Chalice's websocket client wants a boto3 session; made on the first websocket event
    so that REST cold starts never import boto3."""
    if app.websocket_api.session is None:
        import boto3

        app.websocket_api.session = boto3.session.Session()


@app.on_ws_connect()
def stream_connect(event: WebsocketEvent) -> dict[str, Any]:
    from chalicelib.streams import connections as streams

    _websocket_session()
    return streams.connect(event.to_dict())


@app.on_ws_message()
def stream_message(event: WebsocketEvent) -> None:
    from chalicelib.streams import connections as streams

    _websocket_session()
    streams.message(event.connection_id, event.body)


@app.on_ws_disconnect()
def stream_disconnect(event: WebsocketEvent) -> None:
    from chalicelib.streams import connections as streams

    _websocket_session()
    streams.disconnect(event.connection_id)


@app.lambda_function(name="stream_worker")
def stream_worker_function(event: dict[str, Any], _context: object) -> str:
    """Relays one subscription for a window, then starts its own successor."""
    from chalicelib.streams import worker as stream_worker

    return stream_worker.run(event)


@api
def unknown_route(**_params: str) -> None:
    """Where API Gateway would answer 403 "Missing Authentication Token" (unknown path) or
    Chalice 405 (unknown method), PocketBase answers 404 "Not Found."."""
    raise NotFound("Not Found.")


for _path, _methods in [*_served.items(), ("/{proxy+}", set())]:
    _unserved = [m for m in METHODS if m not in _methods]
    app.route(_path, methods=_unserved, cors=CORS, content_types=ANY_BODY)(unknown_route)
