"""Errors a rule raises; their message is shown to the user as it is."""
from __future__ import annotations


class DomainError(Exception):
    """A business rule said no. `message` tells what is wrong and how to fix it."""

    def __init__(self, message: str, *, field: str | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems = problems or [message]


class PermissionDenied(DomainError):
    pass


class AuthenticationFailed(DomainError):
    pass


class StaleObject(DomainError):
    """Someone else changed the object since it was read (optimistic concurrency)."""


class NotFound(DomainError):
    pass
