"""The six One-Click collections as PocketBase 0.22 defines them (reference/collections.json).

Plain data, no I/O: validation, serialization, filtering and access rules all read field
types and limits from here, so a limit is changed in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FieldType(Enum):
    TEXT = "text"
    EMAIL = "email"
    BOOL = "bool"
    DATE = "date"
    JSON = "json"
    FILE = "file"
    RELATION = "relation"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False
    max_length: int | None = None
    target: str | None = None  # collection name, for relations
    multiple: bool = False  # multi-relation (maxSelect null)
    max_json_bytes: int = 1024 * 1024
    max_file_bytes: int = 5 * 1024 * 1024
    read_only: bool = False  # shown in records, set only by the service (request bodies ignored)
    extension: bool = False  # ours, not a field of One-Click's PocketBase schema
    mime_types: tuple[str, ...] = ()  # allowed content types of a file; empty: any


@dataclass(frozen=True)
class Collection:
    name: str
    id: str
    fields: tuple[Field, ...]
    owner_field: str | None  # the relation to users that the API rules compare with the caller
    is_auth: bool = False

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def files(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type is FieldType.FILE)

    @property
    def relations(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type is FieldType.RELATION)


def _owner(name: str = "user") -> Field:
    return Field(name, FieldType.RELATION, required=True, target="users")


def _avatar(mime_types: tuple[str, ...] = ()) -> Field:
    return Field("avatar", FieldType.FILE, mime_types=mime_types)


USERS = Collection(
    name="users",
    id="_pb_users_auth_",
    fields=(
        Field("username", FieldType.TEXT, max_length=150),
        Field("email", FieldType.EMAIL, max_length=255),
        Field("emailVisibility", FieldType.BOOL),
        Field("verified", FieldType.BOOL),
        Field("name", FieldType.TEXT),
        _avatar(("image/jpeg", "image/png", "image/svg+xml", "image/gif", "image/webp")),
    ),
    owner_field=None,
    is_auth=True,
)

PROJECTS = Collection(
    name="projects",
    id="7kff2zw80a7rmbu",
    fields=(
        Field("name", FieldType.TEXT, required=True, max_length=20),
        _owner(),
        Field("tags", FieldType.TEXT),
        _avatar(),
        Field("description", FieldType.TEXT),
    ),
    owner_field="user",
)

DEPLOYMENTS = Collection(
    name="deployments",
    id="h2e1cdq94xgdclh",
    fields=(
        Field("name", FieldType.TEXT),
        _owner(),
        _avatar(),
        Field("project", FieldType.RELATION, required=True, target="projects"),
        Field("blueprint", FieldType.RELATION, target="blueprints"),
    ),
    owner_field="user",
)

ROLLOUTS = Collection(
    name="rollouts",
    id="22k6ts6gvnp46mc",
    fields=(
        _owner(),
        Field("startDate", FieldType.DATE),
        Field("endDate", FieldType.DATE),
        Field("manifest", FieldType.JSON, required=True),
        Field("project", FieldType.RELATION, required=True, target="projects"),
        Field("hide", FieldType.BOOL),
        Field("deployment", FieldType.RELATION, required=True, target="deployments"),
    ),
    owner_field="user",
)

BLUEPRINTS = Collection(
    name="blueprints",
    id="vs5gr49hpah1g9q",
    fields=(
        Field("name", FieldType.TEXT, required=True, max_length=20),
        Field("description", FieldType.TEXT, max_length=50),
        _avatar(),
        Field("manifest", FieldType.JSON, required=True),
        _owner("owner"),
        Field("users", FieldType.RELATION, target="users", multiple=True),
        Field("private", FieldType.BOOL),
    ),
    owner_field="owner",
)

AUTO_UPDATES = Collection(
    name="autoUpdates",
    id="zpmsid5xlf5361s",
    fields=(
        _owner(),
        Field("interval", FieldType.TEXT, required=True),
        Field("pattern", FieldType.TEXT),
        Field("project", FieldType.RELATION, required=True, target="projects"),
        Field("policy", FieldType.TEXT),
        Field("deployment", FieldType.RELATION, required=True, target="deployments"),
        # Not PocketBase fields: a registry credential reference, what the checker saw,
        # and the webhook's secret (§5 fixes).
        Field("credentials", FieldType.TEXT, max_length=4096, extension=True),
        Field("lastCheck", FieldType.DATE, read_only=True, extension=True),
        Field("nextCheck", FieldType.DATE, read_only=True, extension=True),
        Field("lastTag", FieldType.TEXT, read_only=True, extension=True),
        Field("lastError", FieldType.TEXT, read_only=True, extension=True),
        Field("webhookSecret", FieldType.TEXT, read_only=True, extension=True),
    ),
    owner_field="user",
)

COLLECTIONS: dict[str, Collection] = {
    c.name: c for c in (USERS, PROJECTS, DEPLOYMENTS, ROLLOUTS, BLUEPRINTS, AUTO_UPDATES)
}
_BY_ID = {c.id: c for c in COLLECTIONS.values()}

# Fields every record carries besides its schema fields.
SYSTEM_FIELDS = ("id", "created", "updated")


def find_collection(name_or_id: str) -> Collection | None:
    """PocketBase accepts a collection's name or its id in URLs."""
    return COLLECTIONS.get(name_or_id) or _BY_ID.get(name_or_id)
