"""Operator commands that work against whatever DynamoDB the settings point at (the local
one, or the AWS tables of a stage): ``python -m chalicelib.cli create-user ...``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from chalicelib.errors import ApiError

PROMPT_UNAVAILABLE = (
    "error: no password: set ONECLICK_PASSWORD (or pass --password), "
    "or run this in a terminal to be prompted"
)


def password_from(given: str | None) -> str:
    """The password from the option, ``ONECLICK_PASSWORD``, or a prompt, but a prompt
    only on a terminal: a CI job or a script without the variable gets a clear message
    and exit status 2 (before any database is started), never a traceback."""
    if given is not None:
        return given
    if os.environ.get("ONECLICK_PASSWORD"):
        return os.environ["ONECLICK_PASSWORD"]
    if sys.stdin.isatty():
        try:
            return getpass.getpass("Password: ")
        except (EOFError, KeyboardInterrupt):
            pass
    print(PROMPT_UNAVAILABLE, file=sys.stderr)
    raise SystemExit(2)


def create_user(email: str, password: str, name: str, username: str | None) -> int:
    from chalicelib.records.users import new_user

    body = {"email": email, "password": password, "passwordConfirm": password, "name": name}
    if username:
        body["username"] = username
    try:
        user = new_user(body)
    except ApiError as error:
        details = "; ".join(f"{k}: {v['message']}" for k, v in error.data.items())
        print(f"error: {error.message} {details}".rstrip(), file=sys.stderr)
        return 1
    print(f"created user {user['id']} ({user['email']}, username {user['username']})")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    commands = root.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create a user that can log in")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password", help="omit to be prompted (or set ONECLICK_PASSWORD); keeps it out of ps"
    )
    create.add_argument("--name", default="")
    create.add_argument("--username")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return create_user(args.email, password_from(args.password), args.name, args.username)


if __name__ == "__main__":
    raise SystemExit(main())
