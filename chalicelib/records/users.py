"""Writes to the users collection: sign-up, profile and password changes, account deletion.

Users differ from the other collections: e-mail and username are unique, the password is
write-only and changing it must revoke old tokens, and ``verified``/``tokenKey`` are never
client-writable (reference §1.2, OWASP API3 mass assignment).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from chalicelib.auth import passwords, throttle
from chalicelib.errors import BadRequest, Conflict, FieldErrors, Forbidden, Invalid, NotFound
from chalicelib.errors import field_error as error
from chalicelib.records import access, cascade, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.attachments import files_saved
from chalicelib.records.schema import USERS
from chalicelib.records.service import CREATE_FAILED, UPDATE_FAILED, fetch, render
from chalicelib.records.store import Record
from chalicelib.records.validation import REQUIRED, apply_body, check_record, empty_record
from chalicelib.settings import get_settings

SIGNUP_DISABLED = "Only admins can perform this action."
_USERNAME = re.compile(r"^[\w][\w.\-]*$")
PROFILE_FIELDS = {"name", "username", "emailVisibility", "avatar"}
SIGNUP_FIELDS = PROFILE_FIELDS | {"email"}

EMAIL_TAKEN = ("validation_invalid_email", "The email is invalid or already in use.")
USERNAME_TAKEN = ("validation_invalid_username", "The username is invalid or already in use.")
USERNAME_FORMAT = (
    "validation_invalid_username",
    "The username must be 3-150 characters: letters, digits, '_', '.', '-'.",
)
PASSWORD_LENGTH = (
    "validation_length_out_of_range",
    f"The length must be between {passwords.MIN_LENGTH} and {passwords.MAX_LENGTH}.",
)
PASSWORD_MISMATCH = ("validation_values_mismatch", "Values don't match.")
OLD_PASSWORD = ("validation_invalid_old_password", "Missing or invalid old password.")
EMAIL_READ_ONLY = (
    "validation_email_read_only",
    "The e-mail address cannot be changed through a record update.",
)
STILL_OWNS = "The account still owns projects or blueprints; delete those first."
LOCKED = ("validation_in_invalid", "Must be a valid value.")


def _check_password(body: dict[str, Any], errors: FieldErrors) -> str | None:
    password = body.get("password")
    if not isinstance(password, str) or password == "":
        errors["password"] = error(*REQUIRED)
        return None
    if not (
        len(password) >= passwords.MIN_LENGTH
        and len(password.encode("utf-8")) <= passwords.MAX_LENGTH
    ):
        errors["password"] = error(*PASSWORD_LENGTH)
    if body.get("passwordConfirm") != password:
        errors["passwordConfirm"] = error(*PASSWORD_MISMATCH)
    return password


def valid_username(name: str) -> bool:
    return 3 <= len(name) <= 150 and _USERNAME.match(name) is not None


def default_username() -> str:
    """PocketBase's ``users`` plus five random digits."""
    return "users" + "".join(secrets.choice("123456789") for _ in range(5))


def _check_username(user: Record, errors: FieldErrors) -> None:
    if not valid_username(user.get("username") or ""):
        errors.setdefault("username", error(*USERNAME_FORMAT))


def _save(before: Record | None, after: Record, message: str, body: dict[str, Any]) -> Record:
    try:
        with files_saved(USERS, before, after, body):
            if before is None:
                return store.create("users", after)
            return store.update("users", before, after)
    except store.UniqueTaken as taken:
        code = EMAIL_TAKEN if taken.field == "email" else USERNAME_TAKEN
        raise Invalid(message, {taken.field: error(*code)}) from None
    except store.VersionConflict:
        if before is None:
            raise BadRequest(message) from None
        raise Conflict() from None


def new_user(body: dict[str, Any]) -> Record:
    """Validate and store a new user (sign-up and the first-user command share this)."""
    stamp = values.now()
    base = {
        **empty_record(USERS),
        "id": values.new_id(),
        "created": stamp,
        "updated": stamp,
        "username": default_username(),
    }
    user, errors = apply_body(USERS, base, body, writable=SIGNUP_FIELDS)
    password = _check_password(body, errors)
    if not user["email"]:
        errors.setdefault("email", error(*REQUIRED))
    _check_username(user, errors)
    check_record(USERS, user, errors)
    assert password is not None  # noqa: S101 - _check_password recorded an error otherwise
    user["passwordHash"] = passwords.hash_password(password, get_settings().bcrypt_cost)
    user["tokenKey"] = secrets.token_urlsafe(32)
    return _save(None, user, CREATE_FAILED, body)


def sign_up(body: dict[str, Any], query: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    if not get_settings().allow_signup:
        raise Forbidden(SIGNUP_DISABLED)
    return render(USERS, new_user(body), query, viewer)


def _locked_changes(before: Record, body: dict[str, Any]) -> FieldErrors:
    """PocketBase lets only admins change ``id`` and ``verified``: an owner sending another
    value is refused, the same value (or a ``verified`` it reads as false) passes."""
    errors: FieldErrors = {}
    if "id" in body and body["id"] != before["id"]:
        errors["id"] = error(*LOCKED)
    if "verified" in body and (str(body["verified"]).lower() in ("true", "1", "t")) != bool(
        before["verified"]
    ):
        errors["verified"] = error(*LOCKED)
    return errors


def update_user(
    record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    before = fetch(USERS, record_id, viewer)
    if not access.owns(USERS, before, viewer):
        raise NotFound()
    locked = _locked_changes(before, body)
    if locked:
        raise Invalid("Something went wrong while processing your request.", locked)
    after, errors = apply_body(USERS, before, body, writable=PROFILE_FIELDS)
    after["updated"] = values.now()
    if "email" in body and str(body["email"]).strip().lower() != before["email"].lower():
        errors["email"] = error(*EMAIL_READ_ONLY)
    if "username" in body:
        _check_username(after, errors)
    if body.get("password") not in (None, ""):
        settings = get_settings()
        attempt = throttle.admit(before["email"], "", settings)
        old = body.get("oldPassword")
        if not isinstance(old, str) or not passwords.verify_password(old, before["passwordHash"]):
            errors["oldPassword"] = error(*OLD_PASSWORD)  # the attempt stays counted
        else:
            throttle.succeeded(attempt)
        password = _check_password(body, errors)
        if password and not errors:
            after["passwordHash"] = passwords.hash_password(password, get_settings().bcrypt_cost)
            after["tokenKey"] = secrets.token_urlsafe(32)  # revokes every older token
    check_record(USERS, after, errors)
    return render(USERS, _save(before, after, UPDATE_FAILED, body), query, viewer)


def delete_user(record_id: str, viewer: Viewer) -> None:
    user = fetch(USERS, record_id, viewer)
    if not access.owns(USERS, user, viewer):
        raise NotFound()
    if store.holds_any("projects", "user", user["id"]) or store.holds_any(
        "blueprints", "owner", user["id"]
    ):
        raise BadRequest(STILL_OWNS)
    for blueprint_id in store.subscribed_blueprint_ids(user["id"]):
        blueprint = store.get("blueprints", blueprint_id)
        if blueprint is not None:
            left = dict(blueprint, users=[u for u in blueprint["users"] if u != user["id"]])
            store.update("blueprints", blueprint, left)
    cascade.delete("users", user)
