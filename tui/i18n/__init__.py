"""The translation functions of the TUI: the same as the store's (see `store.i18n`).

Every string the user reads goes through `_()`; strings kept in tables before they are shown (menu labels,
help texts) are marked with `N_()` and translated where they are displayed. Sentences are never assembled
from fragments: use placeholders, `_("Logged out after {minutes} minutes.").format(minutes=15)`.
The catalogs (en, nl, fr) live beside this file in `locale/`.
"""
from __future__ import annotations

from store.i18n import N_, _, current_language, ngettext, set_language, use_language

__all__ = ["_", "N_", "ngettext", "current_language", "set_language", "use_language"]
