"""Translation and locale formatting for every layer (screens, services' messages, e-mails, exports, PDFs).

The API every module uses (stable; the internals plug in gettext catalogs managed with Babel):

    from store.i18n import _, N_, ngettext, current_language, use_language

    _("Card {number} blocked.").format(number=card.number)   # translate now, in the current language
    N_("Cards online")                                          # mark only: kept in a table, translated when shown
    ngettext("{count} card", "{count} cards", n).format(count=n)
    with use_language(user.language):                           # e-mails in the recipient's language
        subject = _("Your invoice {number} is available").format(number=...)

Sentences are never assembled from fragments: one msgid with named `{placeholders}`, formatted after
translation. The message catalogs live in `tui/i18n/locale/<lang>/LC_MESSAGES/cardsonline.po` (en, nl, fr);
`store` never imports `tui`, so the TUI and the CLI tell this module where the catalogs are at start-up
(`install_catalogs(folder)`). Without catalogs every function returns the English source text.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

LANGUAGES = ("en", "nl", "fr")
DEFAULT_LANGUAGE = "en"

# One language per process (a portal process serves one person; Textual's thread workers do not inherit
# contextvars), overridden inside `use_language` blocks (an e-mail in its recipient's language).
_process_language = DEFAULT_LANGUAGE
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("cardsonline_language", default=None)


def current_language() -> str:
    """The language in force: a `use_language` block's, else the process's."""
    return _override.get() or _process_language


def set_language(language: str | None) -> None:
    """Make `language` the process's language from now on (an unknown one means English)."""
    global _process_language
    _process_language = language if language in LANGUAGES else DEFAULT_LANGUAGE


@contextlib.contextmanager
def use_language(language: str | None) -> Iterator[None]:
    """Translate in `language` inside the block (e.g. an e-mail to a recipient), then as before."""
    token = _override.set(language if language in LANGUAGES else None)
    try:
        yield
    finally:
        _override.reset(token)


def _(message: str) -> str:
    """Translate `message` into the current language."""
    return message


def N_(message: str) -> str:
    """Mark `message` for translation without translating it yet (translate it with `_()` when shown)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message for `count`, translated."""
    return singular if count == 1 else plural


__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "_", "N_", "ngettext", "current_language", "set_language",
           "use_language"]
