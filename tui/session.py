"""The logged-in user's session as the TUI keeps it: plain, immutable values, no database objects.

`open_session()` runs the login through the store's auth service; it is slow on purpose (argon2), so
screens call it from a thread worker. The store is imported inside the functions, not at start-up.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Database
    from store.services.auth import LoginPolicy
    from store.services.context import Actor


_STORE_IMPORT = threading.Lock()


def import_store() -> None:
    """Import the store's modules, one thread at a time. The login screen's warm-up and a quick first login
    import them from two worker threads; two threads importing SQLAlchemy at once can be handed a
    half-initialised module (Python's import locks break such a cycle that way) and fail with ImportError.
    Once imported, this is a cheap lock and a cache hit."""
    with _STORE_IMPORT:
        import store.demo  # noqa: F401
        import store.services.auth  # noqa: F401
        import store.services.errors  # noqa: F401


@dataclass(frozen=True)
class CustomerNumberInfo:
    """One customer number the user may act for (Multipass)."""

    id: int
    number: str
    name: str


@dataclass(frozen=True)
class UserSession:
    actor: Actor  # what every store service needs
    user_id: int
    username: str
    display_name: str
    customer_id: int
    customer_name: str
    customer_timezone: str
    customer_numbers: tuple[CustomerNumberInfo, ...]
    rights: frozenset[str]  # usable rights (granted and allowed by the customer's options), as values
    login_at: datetime
    previous_login_at: datetime | None
    language: str = "en"  # the user's language (User.language): the portal's once logged in

    @property
    def is_multipass(self) -> bool:
        return len(self.customer_numbers) > 1

    @property
    def zone(self) -> tzinfo:
        from zoneinfo import ZoneInfo

        try:
            return ZoneInfo(self.customer_timezone)
        except Exception:  # an unknown zone name must not stop the portal
            from datetime import timezone

            return timezone.utc

    def local(self, moment: datetime) -> datetime:
        """`moment` (aware UTC) in the customer's time zone."""
        return moment.astimezone(self.zone)


@dataclass(frozen=True)
class PendingSecondFactor:
    """The password was right; the login waits for a one-time code (`finish_second_factor`).

    `setup` is True when an administrator requires two-factor sign-in and the user must set it up first.
    """

    result: object  # the store's LoginResult, opaque to the screens
    username: str
    setup: bool


def open_session(db: Database, username: str, password: str,
                 policy: LoginPolicy | None = None) -> UserSession | PendingSecondFactor:
    """Log in; raises the store's AuthenticationFailed with a message fit to show as it is.

    For a user with two-factor sign-in the result is a `PendingSecondFactor` instead of a session.
    """
    import_store()
    from store.services.auth import LoginPolicy, authenticate

    db.ensure_schema()
    with db.session() as session:
        result = authenticate(session, username, password, db.clock.now(), policy or LoginPolicy())
        if not result.complete:
            return PendingSecondFactor(result=result, username=result.user.username,
                                       setup=result.second_factor == "setup")
        return _user_session(result)


def finish_second_factor(db: Database, pending: PendingSecondFactor, code: str, new_secret: str | None = None,
                         policy: LoginPolicy | None = None) -> UserSession:
    """Complete a login with the one-time code (and, when setting it up, the new secret it belongs to)."""
    from store.services.auth import LoginPolicy, verify_second_factor

    with db.session() as session:
        result = verify_second_factor(session, pending.result, code, db.clock.now(), policy or LoginPolicy(),
                                      new_secret=new_secret)
        return _user_session(result)


def _user_session(result) -> UserSession:
    from store.services.auth import usable_rights

    user, customer = result.user, result.customer
    numbers = tuple(
        CustomerNumberInfo(id=n.id, number=n.number, name=n.name) for n in result.customer_numbers if n is not None
    )
    return UserSession(
        actor=result.actor,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name or user.username,
        customer_id=customer.id,
        customer_name=customer.name,
        customer_timezone=customer.timezone,
        customer_numbers=numbers,
        rights=frozenset(str(r.value) for r in usable_rights(result.actor, customer)),
        login_at=user.last_login_at,
        previous_login_at=result.previous_login_at,
        language=user.language,
    )


def demo_logins(db: Database) -> tuple[tuple[str, str], ...]:
    """The demo's (user name, password) pairs when `db` holds the demo, else nothing."""
    import_store()
    from store.demo import is_demo

    db.ensure_schema()
    if not is_demo(db):
        return ()
    from tui.cli import DEMO_LOGINS

    return tuple((username, password) for username, password, _what in DEMO_LOGINS)


def change_password(db: Database, user_session: UserSession, current: str, new: str, confirmation: str) -> None:
    """My account -> Change my password; raises the store's DomainError listing every broken rule."""
    from store.services.auth import change_password as change

    with db.session() as session:
        change(session, user_session.actor, current, new, confirmation, db.clock.now())
