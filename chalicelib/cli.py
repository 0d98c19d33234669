"""Operator commands that work against whatever DynamoDB the settings point at (the local
one, or the AWS tables of a stage): ``python -m chalicelib.cli create-user ...``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from chalicelib.errors import ApiError


def create_user(email: str, password: str | None, name: str, username: str | None) -> int:
    from chalicelib.records.users import new_user

    if password is None:
        password = os.environ.get("ONECLICK_PASSWORD") or getpass.getpass("Password: ")
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
    return create_user(args.email, args.password, args.name, args.username)


if __name__ == "__main__":
    raise SystemExit(main())
