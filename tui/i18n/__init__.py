"""The translation functions of the TUI: the same as the store's (see `store.i18n`).

Every string the user reads goes through `_()`; strings kept in tables before they are shown (menu labels,
help texts, key descriptions of BINDINGS) are marked with `N_()` and translated where they are displayed.
Sentences are never assembled from fragments: use placeholders,
`_("Logged out after {minutes} minutes.").format(minutes=15)`.
The catalogs (en, nl, fr) live beside this file in `locale/`: importing this module tells the store where.
"""
from __future__ import annotations

from pathlib import Path

from store.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    _,
    current_language,
    format_amount,
    format_count,
    format_date,
    format_datetime,
    format_money,
    format_month,
    format_number,
    install_catalogs,
    ngettext,
    pgettext,
    set_language,
    use_language,
)

LOCALE_FOLDER = Path(__file__).parent / "locale"
install_catalogs(LOCALE_FOLDER)

__all__ = ["_", "N_", "ngettext", "pgettext", "current_language", "set_language", "use_language", "LANGUAGES",
           "LANGUAGE_NAMES", "LOCALE_FOLDER", "format_number", "format_count", "format_amount", "format_money",
           "format_date", "format_datetime", "format_month"]
