"""Which user a provider account signs in as: linked before, linked now by a verified
e-mail, or created.

Rules (PocketBase's, made safer where it matters):
- An account linked before (``externalAuths``) signs in as its user.
- Otherwise a provider e-mail links to the user holding it, but only an address the
  provider verified (chalicelib.auth.oauth2.providers passes no other). If that user had
  not verified the address, whoever registered it may not own it: the user is marked
  verified, its password is replaced by a random one and its ``tokenKey`` rotated, so an
  account pre-registered by someone else cannot be entered with the pre-set password or
  an old token (the owner signs in with the provider from then on).
- Otherwise a new, verified user is created, if sign-up is open (``ALLOW_SIGNUP``, the
  counterpart of PocketBase's create rule). Its e-mail is the verified address or empty,
  its username the provider's (GitHub login) when valid and free, and ``createData`` may
  set ``name``, ``username`` and ``emailVisibility``.
The user write and the link are one transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib.auth import passwords
from chalicelib.errors import BadRequest, Invalid, field_error
from chalicelib.records import store, values
from chalicelib.records.schema import USERS
from chalicelib.records.store import Record
from chalicelib.records.users import (
    PROFILE_FIELDS,
    USERNAME_FORMAT,
    default_username,
    valid_username,
)
from chalicelib.records.validation import apply_body, check_record, empty_record
from chalicelib.settings import get_settings

AUTH_FAILED = "Failed to authenticate."
_USERNAME_ATTEMPTS = 5


@dataclass(frozen=True)
class Account:
    provider: str
    provider_id: str
    verified_email: str
    username: str


def _unusable_password() -> dict[str, str]:
    """A random password nobody knows and a new token key (PocketBase does the same for
    accounts created through OAuth2)."""
    password = secrets.token_urlsafe(30)[:40]
    return {
        "passwordHash": passwords.hash_password(password, get_settings().bcrypt_cost),
        "tokenKey": secrets.token_urlsafe(32),
    }


def _free_username(hint: str) -> str:
    if not valid_username(hint):
        return default_username()
    candidate = hint
    for _ in range(_USERNAME_ATTEMPTS):
        if store.user_id_by("username", candidate) is None:
            return candidate
        candidate = f"{hint[:140]}{secrets.randbelow(10**6):06d}"
    return default_username()


def _new_user(account: Account, create_data: dict[str, Any]) -> Record:
    stamp = values.now()
    base = {
        **empty_record(USERS),
        "id": values.new_id(),
        "created": stamp,
        "updated": stamp,
        "username": _free_username(account.username),
        "email": account.verified_email,
        "verified": True,
    }
    user, errors = apply_body(USERS, base, create_data, writable=PROFILE_FIELDS)
    if "username" in create_data and not valid_username(user["username"] or ""):
        errors.setdefault("username", field_error(*USERNAME_FORMAT))
    try:
        check_record(USERS, user, errors)
    except Invalid as invalid:
        raise Invalid(AUTH_FAILED, invalid.data) from None
    return {**user, **_unusable_password()}


def _claimed(user: Record) -> Record:
    """``user`` once a provider proved that the signing-in person owns its address."""
    after = dict(user, updated=values.now())
    if not user["verified"]:
        after.update(verified=True, **_unusable_password())
    return after


def _save(before: Record | None, after: Record, account: Account) -> Record:
    try:
        return store.save_user_with_link(
            before, after, account.provider, account.provider_id, values.now()
        )
    except (store.UniqueTaken, store.VersionConflict):
        raise BadRequest(AUTH_FAILED) from None


def sign_in(
    account: Account, create_data: dict[str, Any], allow_signup: bool
) -> tuple[Record, bool]:
    """The user to sign in and whether it was created just now."""
    linked_id = store.linked_user_id(account.provider, account.provider_id)
    if linked_id is not None:
        user = store.get("users", linked_id)
        if user is None:
            raise BadRequest(AUTH_FAILED)
        return user, False
    if account.verified_email:
        owner_id = store.user_id_by("email", account.verified_email)
        owner = store.get("users", owner_id) if owner_id else None
        if owner is not None:
            return _save(owner, _claimed(owner), account), False
    if not allow_signup:
        raise BadRequest(AUTH_FAILED)
    return _save(None, _new_user(account, create_data), account), True
