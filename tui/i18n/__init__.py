"""The translation functions of the TUI.

Every string the user reads goes through `_()`; strings kept in tables before they are shown (menu labels,
help texts) are marked with `N_()` and translated where they are displayed. Sentences are never assembled
from fragments: use placeholders, `_("Logged out after {minutes} minutes.").format(minutes=15)`.
Identity functions for now; a later issue plugs in gettext catalogs (en, nl, fr) here.
"""
from __future__ import annotations


def _(message: str) -> str:
    """Translate `message` into the user's language."""
    return message


def N_(message: str) -> str:
    """Mark `message` for translation without translating it yet (translate it with `_()` when shown)."""
    return message


__all__ = ["_", "N_"]
