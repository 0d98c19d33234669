"""bcrypt password hashes, PocketBase's choice, so users imported from a One-Click
PocketBase keep logging in with their passwords."""

from __future__ import annotations

from functools import lru_cache

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 72  # bcrypt ignores bytes past 72


def hash_password(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _decoy_hash(cost: int) -> str:
    return hash_password("decoy password never matches", cost)


def burn_verification_time(password: str, cost: int) -> None:
    """Spend the time of a real check when the user does not exist, so response timing
    does not reveal which e-mail addresses have accounts."""
    verify_password(password, _decoy_hash(cost))
