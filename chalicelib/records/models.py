"""PynamoDB models: the one definition of every table and index.

The local start, the tests and ``infra/`` all derive their tables from these classes
(``chalicelib.records.tables``), so a new index cannot exist in one place and be missing in
another. Attribute names equal PocketBase field names, which keeps the conversion between
items and records generic. One table per collection: the collections are unrelated CRUD
entities with a handful of known access patterns each (see docs/access-patterns.md).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.constants import BINARY
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.records.compressed_json import compress_json, decompress_json


class CompressedJSONAttribute(Attribute[Any]):
    """A JSON value stored zlib-compressed.

    PocketBase allows 1 MiB manifests but a DynamoDB item holds at most 400 KB; manifests
    are repetitive YAML-ish JSON and compress 5-20x. Keys are stored sorted, the order
    PocketBase answers them in (it re-marshals JSON through Go maps), so a read need not
    sort them.
    """

    attr_type = BINARY

    def serialize(self, value: Any) -> bytes:
        return compress_json(value)

    def deserialize(self, value: bytes) -> Any:
        return decompress_json(value)


class ByUser(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-user"
        projection = AllProjection()

    user = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class UserPositions(GlobalSecondaryIndex[Any]):
    """Keys only, on the keys of ``by-user``: where a user's records stand in ``created``
    order. Counting (``totalItems``) and skipping earlier pages use it: ``Select=COUNT`` is
    billed by the size of every item it evaluates, here ~60 bytes instead of a record."""

    class Meta:
        index_name = "by-user-keys"
        projection = KeysOnlyProjection()

    user = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class ByProject(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-project"
        projection = AllProjection()

    project = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class ByDeployment(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-deployment"
        projection = AllProjection()

    deployment = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class ByBlueprint(GlobalSecondaryIndex[Any]):
    """Sparse: deployments made without a blueprint store no ``blueprint`` attribute."""

    class Meta:
        index_name = "by-blueprint"
        projection = AllProjection()

    blueprint = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class PendingApply(GlobalSecondaryIndex[Any]):
    """Sparse: only rollouts whose cluster apply has not been confirmed carry
    ``pendingSince``, so the reconciler finds them with one Query."""

    class Meta:
        index_name = "pending-apply"
        projection = AllProjection()

    pendingKind = UnicodeAttribute(hash_key=True)
    pendingSince = UnicodeAttribute(range_key=True)


class ByOwner(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class PublicListing(GlobalSecondaryIndex[Any]):
    """Sparse: only public blueprints carry ``listing``, so the index holds just those."""

    class Meta:
        index_name = "public"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute(range_key=True)


class SubscribersOfOwner(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-owner"
        projection = KeysOnlyProjection()

    owner = UnicodeAttribute(hash_key=True)
    user = UnicodeAttribute(range_key=True)


class _Record(Model):
    """System fields shared by every collection's table."""

    id = UnicodeAttribute(hash_key=True)
    created = UnicodeAttribute()
    updated = UnicodeAttribute()
    version = VersionAttribute()


class UserModel(_Record):
    class Meta:
        table_name = "users"

    username = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    emailVisibility = BooleanAttribute(default=False)
    verified = BooleanAttribute(default=False)
    name = UnicodeAttribute(default="")
    avatar = UnicodeAttribute(default="")
    tokenKey = UnicodeAttribute()
    passwordHash = UnicodeAttribute()
    lastResetSentAt = UnicodeAttribute(default="")
    lastVerificationSentAt = UnicodeAttribute(default="")


class ProjectModel(_Record):
    class Meta:
        table_name = "projects"

    name = UnicodeAttribute(default="")
    user = UnicodeAttribute()
    tags = UnicodeAttribute(default="")
    avatar = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    # Not a PocketBase field: set when a cascade delete starts (see records.cascade); a
    # child create checks it is absent in the same transaction.
    deleting = UnicodeAttribute(null=True)
    by_user = ByUser()
    by_user_keys = UserPositions()


class DeploymentModel(_Record):
    class Meta:
        table_name = "deployments"

    name = UnicodeAttribute(default="")
    user = UnicodeAttribute()
    avatar = UnicodeAttribute(default="")
    project = UnicodeAttribute()
    blueprint = UnicodeAttribute(null=True)  # "" is stored absent: index keys cannot be empty
    # Not a PocketBase field: the running rollout's id. Every change of the running rollout
    # rewrites this item under its version, which serializes concurrent rollouts.
    runningRollout = UnicodeAttribute(null=True)
    deleting = UnicodeAttribute(null=True)  # as ProjectModel.deleting
    by_user = ByUser()
    by_user_keys = UserPositions()
    by_project = ByProject()
    by_blueprint = ByBlueprint()


class RolloutModel(_Record):
    class Meta:
        table_name = "rollouts"

    user = UnicodeAttribute()
    startDate = UnicodeAttribute(default="")
    endDate = UnicodeAttribute(default="")
    manifest = CompressedJSONAttribute(null=True)
    project = UnicodeAttribute()
    hide = BooleanAttribute(default=False)
    deployment = UnicodeAttribute()
    # Not PocketBase fields: set while the cluster has not confirmed this rollout's change
    # (kind "apply" or "delete"), cleared once it has; the reconciler retries what is left.
    pendingKind = UnicodeAttribute(null=True)
    pendingSince = UnicodeAttribute(null=True)
    by_user = ByUser()
    by_user_keys = UserPositions()
    by_project = ByProject()
    by_deployment = ByDeployment()
    pending = PendingApply()


class BlueprintModel(_Record):
    class Meta:
        table_name = "blueprints"

    name = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    avatar = UnicodeAttribute(default="")
    manifest = CompressedJSONAttribute(null=True)
    owner = UnicodeAttribute()
    users = ListAttribute(of=UnicodeAttribute, default=list)
    private = BooleanAttribute(default=False)
    listing = UnicodeAttribute(null=True)
    by_owner = ByOwner()
    public = PublicListing()


class DueChecks(GlobalSecondaryIndex[Any]):
    """Every autoUpdate by its next check time: a tick reads the due ones with one Query.

    One partition (``checkQueue`` is the same for all): a tick needs them in time order,
    and even 100,000 autoUpdates stay far below a partition's throughput."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    checkQueue = UnicodeAttribute(hash_key=True)
    nextCheck = UnicodeAttribute(range_key=True)


class AutoUpdateModel(_Record):
    class Meta:
        table_name = "autoUpdates"

    user = UnicodeAttribute()
    interval = UnicodeAttribute(default="")
    pattern = UnicodeAttribute(default="")
    project = UnicodeAttribute()
    policy = UnicodeAttribute(default="")
    deployment = UnicodeAttribute()
    # Not PocketBase fields: a registry credential reference (Secrets Manager or KMS);
    # shown to the owner and written by the checker.
    credentials = UnicodeAttribute(default="")
    lastCheck = UnicodeAttribute(default="")
    nextCheck = UnicodeAttribute(default="")
    lastTag = UnicodeAttribute(default="")
    lastError = UnicodeAttribute(default="")
    webhookSecret = UnicodeAttribute(default="")
    # Hidden: the index partition, the digest last seen for the chosen tag, the last
    # webhook call (rate limit).
    checkQueue = UnicodeAttribute(null=True)
    lastDigest = UnicodeAttribute(null=True)
    lastWebhook = UnicodeAttribute(null=True)
    by_user = ByUser()
    by_user_keys = UserPositions()
    by_project = ByProject()
    by_deployment = ByDeployment()
    due = DueChecks()


class UniqueKeyModel(Model):
    """Claims a unique value (a user's e-mail or username) inside the same transaction as
    the record write: DynamoDB indexes do not enforce uniqueness, conditional puts do."""

    class Meta:
        table_name = "uniqueKeys"

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()


class SubscriptionModel(Model):
    """One item per (subscriber, blueprint): answers "which blueprints did I subscribe to"
    and "who subscribed to my blueprints" with a Query instead of a Scan."""

    class Meta:
        table_name = "blueprintSubscriptions"

    user = UnicodeAttribute(hash_key=True)
    blueprint = UnicodeAttribute(range_key=True)
    owner = UnicodeAttribute()
    by_owner = SubscribersOfOwner()


class LoginThrottleModel(Model):
    """Failed-login counters per identity and per source address, expired by TTL."""

    class Meta:
        table_name = "loginThrottle"

    key = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    expires = TTLAttribute()


class LeaseModel(Model):
    """A named lock with an expiry (one auto-update tick at a time); a holder that dies
    loses it when ``expires`` passes, TTL only tidies up."""

    class Meta:
        table_name = "leases"

    key = UnicodeAttribute(hash_key=True)
    holder = UnicodeAttribute()
    expires = TTLAttribute()


class LinksOfUser(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by-user"
        projection = KeysOnlyProjection()

    user = UnicodeAttribute(hash_key=True)


class ExternalAuthModel(Model):
    """Links a provider account (``provider#providerId``) to a user, like PocketBase's
    ``_externalAuths``. The key makes a provider account link to at most one user; the
    index finds a user's links when the user is deleted."""

    class Meta:
        table_name = "externalAuths"

    key = UnicodeAttribute(hash_key=True)
    user = UnicodeAttribute()
    provider = UnicodeAttribute()
    providerId = UnicodeAttribute()
    created = UnicodeAttribute()
    by_user = LinksOfUser()


RECORD_MODELS: dict[str, type[_Record]] = {
    "users": UserModel,
    "projects": ProjectModel,
    "deployments": DeploymentModel,
    "rollouts": RolloutModel,
    "blueprints": BlueprintModel,
    "autoUpdates": AutoUpdateModel,
}

ALL_MODELS: tuple[type[Model], ...] = (
    *RECORD_MODELS.values(),
    UniqueKeyModel,
    SubscriptionModel,
    LoginThrottleModel,
    LeaseModel,
    ExternalAuthModel,
)


class StreamConnectionModel(Model):
    """One open WebSocket (live streams): who it is, so a message or a worker never has to
    authenticate again. Expired by TTL if API Gateway's ``$disconnect`` never arrives."""

    class Meta:
        table_name = "streamConnections"

    connection = UnicodeAttribute(hash_key=True)
    user = UnicodeAttribute()
    session = UnicodeAttribute(default="")  # the user's token-key fingerprint at connect
    stream = UnicodeAttribute(default="")
    endpoint = UnicodeAttribute(default="")
    connected = NumberAttribute()
    expires = TTLAttribute()


class StreamSubscriptionModel(Model):
    """The stream a connection asked for (one per connection, like the original's single
    first message), the lease of the one worker relaying it, and where it resumes."""

    class Meta:
        table_name = "streamSubscriptions"

    connection = UnicodeAttribute(hash_key=True)
    stream = UnicodeAttribute()
    params = UnicodeAttribute()
    endpoint = UnicodeAttribute(default="")
    connected = NumberAttribute()
    lease = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)
    # The one invocation relaying under ``lease`` (Lambda may deliver an event twice): a
    # duplicate finds a live holder; a crashed holder's retry finds it expired.
    holder = UnicodeAttribute(null=True)
    holder_until = NumberAttribute(default=0)
    resume = UnicodeAttribute(default="{}")
    expires = TTLAttribute()


ALL_MODELS = (*ALL_MODELS, StreamConnectionModel, StreamSubscriptionModel)
