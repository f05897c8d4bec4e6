"""One transaction per service call: commit once on success, roll back everything on any error."""
from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

from sqlmodel import Session

P = ParamSpec("P")
R = TypeVar("R")


def atomic(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a service `fn(session, ...)`: nothing is half-applied, and no row lock outlives the call."""

    @functools.wraps(fn)
    def call(session: Session, *args, **kwargs):
        try:
            result = fn(session, *args, **kwargs)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return result

    return call
