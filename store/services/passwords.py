"""Password policy of Fiche 01 and argon2id hashing."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..i18n import _

MIN_LENGTH = 7
HISTORY_DEPTH = 4  # a new password differs from the previous 4


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so both paths cost the same time.
_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("dummy-password-1!")
    verify_password(_DUMMY_HASH, password)


def policy_violations(username: str, password: str, previous_hashes: list[str] = ()) -> list[str]:
    """Every rule of Fiche 01 that `password` breaks, each named; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(_("The password must have at least {minimum} characters (it has {count}).").format(
            minimum=MIN_LENGTH, count=len(password)))
    if not any(c.isalpha() for c in password):
        problems.append(_("The password must contain at least 1 letter."))
    if not any(c.isdigit() for c in password):
        problems.append(_("The password must contain at least 1 digit."))
    if not any(not c.isalnum() and not c.isspace() for c in password):
        problems.append(_("The password must contain at least 1 special character (such as # ! ? @ %)."))
    if username and password.casefold() == username.casefold():
        problems.append(_("The password must differ from the user name."))
    if any(verify_password(h, password) for h in list(previous_hashes)[:HISTORY_DEPTH]):
        problems.append(_("The password must differ from your previous {count} passwords.").format(
            count=HISTORY_DEPTH))
    return problems
