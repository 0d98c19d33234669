"""Avatar files: multipart uploads with PocketBase's naming and limits, the file route with
the record's visibility, removal on replace and with the record. Every test runs on both
DynamoDB engines and on both file stores (a folder, S3 on moto's server)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from api_client import Api, make_deployment, make_project, records, reset_settings

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da6364f8cf500f00038601805a347d6b"
    "0000000049454e44ae426082"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'
BOUNDARY = "b0undary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


class Store:
    """Looks into the file store the app writes to, whichever it is."""

    def __init__(self, folder: Path | None, bucket: str | None, endpoint: str | None) -> None:
        self.folder, self.bucket, self.endpoint = folder, bucket, endpoint

    def keys(self) -> set[str]:
        if self.folder is not None:
            return {str(p.relative_to(self.folder)) for p in self.folder.rglob("*") if p.is_file()}
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint)
        listing = client.list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture(params=["folder", "s3"])
def files(
    request: pytest.FixtureRequest, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    if request.param == "folder":
        monkeypatch.setenv("FILES_DIR", str(tmp_path / "files"))
        store = Store(tmp_path / "files", None, None)
    else:
        import boto3

        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"files-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        monkeypatch.setenv("FILES_BUCKET", bucket)
        monkeypatch.setenv("S3_ENDPOINT", endpoint)
        store = Store(None, bucket, endpoint)
    reset_settings()
    yield store
    monkeypatch.delenv("FILES_BUCKET", raising=False)
    monkeypatch.delenv("S3_ENDPOINT", raising=False)
    monkeypatch.delenv("FILES_DIR", raising=False)
    reset_settings()


def form(fields: dict[str, str], *uploads: tuple[str, str, bytes]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for name, filename, content in uploads:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def upload(api: Api, user, collection: str, record_id: str, *files, **fields: str):
    return api.call(
        "PATCH",
        records(collection) + f"/{record_id}",
        raw=form(fields, *files),
        token=user.token,
        headers=MULTIPART,
    )


def create(api: Api, user, collection: str, fields: dict[str, str], *files):
    return api.call(
        "POST", records(collection), raw=form(fields, *files), token=user.token, headers=MULTIPART
    )


def fetch(api: Api, path: str, token: str | None = None, **headers: str):
    sent = {"accept": "*/*", **headers}
    if token:
        sent["authorization"] = token
    return api.client.http.get(path, headers=sent)


def file_path(record: dict, name: str | None = None) -> str:
    return f"/api/files/{record['collectionId']}/{record['id']}/{name or record['avatar']}"


def test_upload_names_serves_and_replaces(api: Api, make_user, files: Store) -> None:
    user = make_user()
    project = make_project(api, user)
    reply = upload(api, user, "projects", project["id"], ("avatar", "My Logo.png", PNG), name="x")
    assert reply.status == 200, reply.body
    first = reply.body
    assert re.fullmatch(r"my_logo_[A-Za-z0-9]{10}\.png", first["avatar"]) and first["name"] == "x"
    assert files.keys() == {f"7kff2zw80a7rmbu/{project['id']}/{first['avatar']}"}
    served = fetch(api, file_path(first), user.token)
    assert (served.status_code, served.body) == (200, PNG)
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"] == f"inline; filename={first['avatar']}"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    download = fetch(api, file_path(first) + "?download=1", user.token)
    assert download.headers["Content-Disposition"] == f"attachment; filename={first['avatar']}"
    by_name = fetch(
        api, f"/api/files/projects/{project['id']}/{first['avatar']}?thumb=100x100", user.token
    )
    assert (by_name.status_code, by_name.body) == (200, PNG)

    second = upload(api, user, "projects", project["id"], ("avatar", "noext", PNG)).body
    assert re.fullmatch(r"noext_[A-Za-z0-9]{10}\.png", second["avatar"])
    assert files.keys() == {f"7kff2zw80a7rmbu/{project['id']}/{second['avatar']}"}
    assert fetch(api, file_path(first), user.token).status_code == 404


@pytest.mark.parametrize(
    "removal",
    [{"avatar": None}, {"avatar": ""}, {"avatar": []}, {"avatar-": "CURRENT"}],
    ids=["null", "empty", "list", "minus"],
)
def test_json_removal(api: Api, make_user, files: Store, removal: dict) -> None:
    user = make_user()
    project = make_project(api, user)
    name = upload(api, user, "projects", project["id"], ("avatar", "a.png", PNG)).body["avatar"]
    body = {k: (name if v == "CURRENT" else v) for k, v in removal.items()}
    reply = api.patch(records("projects") + f"/{project['id']}", body, token=user.token)
    assert reply.status == 200 and reply.body["avatar"] == "", reply.body
    assert files.keys() == set()


def test_keeping_unknown_names_and_other_modifiers(api: Api, make_user, files: Store) -> None:
    user = make_user()
    project = make_project(api, user)
    name = upload(api, user, "projects", project["id"], ("avatar", "a.png", PNG)).body["avatar"]
    path = records("projects") + f"/{project['id']}"
    kept = api.patch(path, {"avatar": name, "avatar-": "other.png", "name": "k"}, token=user.token)
    assert kept.status == 200 and kept.body["avatar"] == name
    for bad in ("other.png", 5, [name, "other.png"]):
        refused = api.patch(path, {"avatar": bad, "name": "changed"}, token=user.token)
        assert refused.status == 400
        assert refused.body == {
            "code": 400,
            "message": "Failed to load the submitted data due to invalid formatting.",
            "data": {
                "avatar": {
                    "code": "validation_unknown_filenames",
                    "message": "The field contains unknown filenames.",
                }
            },
        }
    multipart_minus = upload(api, user, "projects", project["id"], **{"avatar-": name})
    assert multipart_minus.body["avatar"] == "" and files.keys() == set()
    assert api.get(path, token=user.token).body["name"] == "k"


def test_size_and_mime_limits(api: Api, make_user, files: Store) -> None:
    user = make_user()
    project = make_project(api, user)
    big = b"\0" * (5 * 1024 * 1024 + 1)
    reply = upload(api, user, "projects", project["id"], ("avatar", "big.bin", big), name="y" * 30)
    assert reply.status == 400
    assert reply.body["message"] == "Something went wrong while processing your request."
    assert reply.body["data"]["avatar"] == {
        "code": "validation_file_size_limit",
        "message": 'Failed to upload "big.bin" - the maximum allowed file size is 5242880 bytes.',
    }
    assert reply.body["data"]["name"]["code"] == "validation_max_text_constraint"
    created = create(api, user, "projects", {"name": "n", "user": user.id}, ("avatar", "b", big))
    assert created.status == 400 and created.body["message"] == "Failed to create record."
    text = upload(api, user, "users", user.id, ("avatar", "t.txt", b"hello"))
    assert text.status == 400
    problem = text.body["data"]["avatar"]
    assert problem["code"] == "validation_invalid_mime_type"
    assert re.fullmatch(
        r'"t[A-Za-z0-9]{10}_[A-Za-z0-9]{10}\.txt" mime type must be one of: image/jpeg, '
        r"image/png, image/svg\+xml, image/gif, image/webp\.",
        problem["message"],
    )
    assert files.keys() == set()
    assert api.get(records("projects"), token=user.token).body["totalItems"] == 1


def test_user_avatar_type_comes_from_the_content(api: Api, make_user, files: Store) -> None:
    user = make_user()
    png_as_jpg = upload(api, user, "users", user.id, ("avatar", "me.jpg", PNG)).body
    assert png_as_jpg["avatar"].endswith(".jpg")
    served = fetch(api, file_path(png_as_jpg), user.token)
    assert served.headers["Content-Type"] == "image/png"
    svg = upload(api, user, "users", user.id, ("avatar", "me.svg", SVG)).body
    served = fetch(api, file_path(svg), user.token)
    assert served.headers["Content-Type"] == "image/svg+xml"
    assert served.headers["Content-Disposition"].startswith("attachment;")


def test_create_with_json_payload_and_file(api: Api, make_user, files: Store) -> None:
    user = make_user()
    project = make_project(api, user)
    payload = json.dumps({"name": "web", "user": user.id})
    fields = {"@jsonPayload": payload, "project": project["id"]}
    reply = create(api, user, "deployments", fields, ("avatar", "d.png", PNG))
    assert reply.status == 200, reply.body
    assert (reply.body["name"], reply.body["project"]) == ("web", project["id"])
    assert files.keys() == {f"h2e1cdq94xgdclh/{reply.body['id']}/{reply.body['avatar']}"}


def test_file_visibility_follows_the_record(api: Api, make_user, files: Store) -> None:
    owner, other = make_user(), make_user()
    project = make_project(api, owner)
    record = upload(api, owner, "projects", project["id"], ("avatar", "a.png", PNG)).body
    path = file_path(record)
    assert fetch(api, path).status_code == 404
    assert fetch(api, path, other.token).status_code == 404
    assert fetch(api, path, f"Bearer {owner.token}").status_code == 200
    token = api.post("/api/files/token", token=owner.token)
    assert token.status == 200
    assert fetch(api, f"{path}?token={token.body['token']}").status_code == 200
    assert fetch(api, f"{path}?token={owner.token}").status_code == 200
    assert fetch(api, f"{path}?token={other.token}").status_code == 404
    # What the SDK's exportToCookie writes: encodeURIComponent(JSON.stringify(...)).
    stored = quote(json.dumps({"token": owner.token, "record": {"id": owner.id}}), safe="")
    assert fetch(api, path, cookie=f"theme=dark; pb_auth={stored}").status_code == 200
    refused = api.post("/api/files/token")
    assert refused.status == 400 and refused.body["message"] == "Failed to generate file token."
    # The file token opens files only: it is no session.
    assert api.get(records("projects"), token=token.body["token"]).body["items"] == []
    for bad in (
        f"/api/files/nope/{project['id']}/{record['avatar']}",
        f"/api/files/projects/aaaaaaaaaaaaaaa/{record['avatar']}",
        f"/api/files/projects/{project['id']}/other.png",
        f"/api/files/projects/{project['id']}/..%2F..%2Fx",
    ):
        missing = fetch(api, bad, owner.token)
        assert missing.status_code == 404, bad
        assert json.loads(missing.body)["message"] == "The requested resource wasn't found."


def test_public_blueprint_avatar_is_visible_to_users(api: Api, make_user, files: Store) -> None:
    owner, other = make_user(), make_user()
    blueprint = api.post(
        records("blueprints"),
        {"name": "bp", "manifest": {"a": 1}, "owner": owner.id, "private": False},
        token=owner.token,
    ).body
    record = upload(api, owner, "blueprints", blueprint["id"], ("avatar", "b.png", PNG)).body
    assert fetch(api, file_path(record), other.token).status_code == 200
    api.patch(records("blueprints") + f"/{blueprint['id']}", {"private": True}, token=owner.token)
    assert fetch(api, file_path(record), other.token).status_code == 404


def test_files_go_with_their_records(api: Api, make_user, files: Store) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    upload(api, user, "projects", project["id"], ("avatar", "p.png", PNG))
    upload(api, user, "deployments", deployment["id"], ("avatar", "d.png", PNG))
    other = make_project(api, user, "keep")
    kept = upload(api, user, "projects", other["id"], ("avatar", "k.png", PNG)).body
    assert len(files.keys()) == 3
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 204
    assert files.keys() == {f"7kff2zw80a7rmbu/{other['id']}/{kept['avatar']}"}


def test_failed_write_leaves_no_file(api: Api, make_user, files: Store) -> None:
    """The upload is stored before the record; a record write that fails takes it back."""
    user = make_user()
    project = make_project(api, user)
    fields = {"id": project["id"], "name": "dup", "user": user.id}
    taken = create(api, user, "projects", fields, ("avatar", "d.png", PNG))
    assert taken.status == 400 and taken.body["data"]["id"]["code"] == "validation_invalid_id"
    assert files.keys() == set()


def test_deleting_a_user_removes_the_avatar(api: Api, make_user, files: Store) -> None:
    user = make_user()
    upload(api, user, "users", user.id, ("avatar", "me.png", PNG))
    assert len(files.keys()) == 1
    assert api.delete(records("users") + f"/{user.id}", token=user.token).status == 204
    assert files.keys() == set()


def test_a_failing_cleanup_does_not_fail_the_change(
    api: Api, make_user, files: Store, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """Once the record is written, a file store that cannot remove the old file leaves it
    behind (logged) instead of reporting an error for a change that was made."""
    from chalicelib.files import storage

    user = make_user()
    project = make_project(api, user)
    upload(api, user, "projects", project["id"], ("avatar", "a.png", PNG))

    def unavailable(keys) -> None:
        raise OSError("store unavailable")

    monkeypatch.setattr(storage, "delete", unavailable)
    replaced = upload(api, user, "projects", project["id"], ("avatar", "b.png", PNG))
    assert replaced.status == 200 and replaced.body["avatar"].startswith("b")
    assert api.delete(records("projects") + f"/{project['id']}", token=user.token).status == 204
    assert "could not remove unreferenced files" in caplog.text
    assert len(files.keys()) == 2


def test_big_files_from_s3_come_as_a_short_lived_link(api: Api, make_user, files: Store) -> None:
    """A Lambda response holds 6 MB base64-encoded: from the bucket, a file over 4 MB is a
    redirect to a presigned URL, given only after the same access check."""
    import urllib.request

    user, other = make_user(), make_user()
    project = make_project(api, user)
    big = PNG + b"\0" * (4 * 1024 * 1024)
    record = upload(api, user, "projects", project["id"], ("avatar", "big.png", big)).body
    assert fetch(api, file_path(record), other.token).status_code == 404
    served = fetch(api, file_path(record), user.token)
    if files.bucket is None:
        assert (served.status_code, served.body) == (200, big)
        return
    assert served.status_code == 302 and served.headers["Cache-Control"] == "no-store"
    with urllib.request.urlopen(served.headers["Location"], timeout=30) as reply:
        assert reply.read() == big
        assert reply.headers["Content-Type"] == "image/png"


def test_without_a_bucket_on_aws_uploads_are_unavailable(
    api: Api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FILES_BUCKET`` is required outside the local run: an upload is a 503, nothing
    changes, and records without files keep working."""
    user = make_user()
    project = make_project(api, user)
    monkeypatch.setenv("LOCAL", "false")
    monkeypatch.delenv("FILES_BUCKET", raising=False)
    reset_settings()
    reply = upload(api, user, "projects", project["id"], ("avatar", "a.png", PNG), name="new")
    assert reply.status == 503 and reply.body["code"] == 503
    kept = api.get(records("projects") + f"/{project['id']}", token=user.token).body
    assert (kept["name"], kept["avatar"]) == ("shop", "")
    renamed = api.patch(
        records("projects") + f"/{project['id']}", {"name": "json"}, token=user.token
    )
    assert renamed.status == 200 and renamed.body["name"] == "json"
