"""Translation and locale formatting for every layer (screens, services' messages, e-mails, exports, PDFs).

The API every module uses (stable; the internals plug in gettext catalogs managed with Babel):

    from store.i18n import _, N_, ngettext, current_language, use_language

    _("Card {number} blocked.").format(number=card.number)   # translate now, in the current language
    N_("Cards online")                                          # mark only: kept in a table, translated when shown
    ngettext("{count} card", "{count} cards", n).format(count=n)
    with use_language(user.language):                           # e-mails in the recipient's language
        subject = _("Your invoice {number} is available").format(number=...)

Sentences are never assembled from fragments: one msgid with named `{placeholders}`, formatted after
translation. The message catalogs live in `tui/i18n/locale/<lang>/LC_MESSAGES/<domain>.po` (en, nl, fr; the
domains `cardsonline` for the screens and `messages` for services, e-mails, exports and commands); `store`
never imports `tui`, so the TUI and the CLI tell this module where the catalogs are at start-up
(`install_catalogs(folder)`; importing `tui.i18n` does it). Without catalogs every function returns the
English source text.

How a catalog is loaded: lazily, the first time a language is used, and once per process. Each .po file is
compiled to a .mo file in the user cache directory, named after a hash of the .po's content, so later
starts only read the .mo (a few milliseconds; compiling with Babel takes ~0.2 s, once per catalog change).
A message whose translation is empty, fuzzy, or uses a `{placeholder}` its msgid does not have is left out
of the compiled catalog: it shows in English rather than wrong or failing (tests/test_i18n_catalogs.py
names such messages).

Formatting follows the language in force: numbers and amounts per locale (en → en_GB "€1,234.50",
nl → nl_BE "€ 1.234,50", fr → fr_BE "1 234,50 €"); short dates are dd/mm/yyyy in all three (the guide's
and Belgium's numeric format, and what the date fields accept when typed), long dates are spelled out
per locale ("26 November 2026", "26 november 2026", "26 novembre 2026").
"""
from __future__ import annotations

import contextlib
import contextvars
import gettext
import hashlib
import io
import os
import string
import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

LANGUAGES = ("en", "nl", "fr")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "fr": "Français"}  # each in its own language
LOCALES = {"en": "en_GB", "nl": "nl_BE", "fr": "fr_BE"}  # Babel locales of the formatting functions
DOMAINS = ("cardsonline", "messages")  # looked up in this order

# One language per process (a portal process serves one person; Textual's thread workers do not inherit
# contextvars), overridden inside `use_language` blocks (an e-mail in its recipient's language).
_process_language = DEFAULT_LANGUAGE
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("cardsonline_language", default=None)

# The catalogs: where they are, and those loaded so far (language -> translations of every domain).
_catalog_folder: Path | None = None
_cache_folder: Path | None = None
_loaded: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()
_MO_VERSION = "1"  # part of the cache key: change it when _compile changes


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


def language_from_locale(value: str | None) -> str | None:
    """The portal language of a POSIX locale or language tag: "nl_BE.UTF-8" → "nl", "fr" → "fr",
    "en_US" → "en"; None for anything else ("C", "POSIX", "de_DE", empty)."""
    if not value:
        return None
    code = value.split(":")[0].split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def language_from_environment(environ: dict[str, str] | None = None) -> str | None:
    """The language of the environment's locale, as gettext reads it: LANGUAGE (its first entry we have),
    LC_ALL, LC_MESSAGES, LANG. This is how an SSH session's language arrives (tui/ssh_server.py passes the
    client's LANG and LC_* to the session's process). None when none names en, nl or fr."""
    environ = os.environ if environ is None else environ
    for entry in (environ.get("LANGUAGE") or "").split(":"):
        if language := language_from_locale(entry):
            return language
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:  # the first one set decides, as for gettext: LC_ALL=C means no language of ours
            return language_from_locale(value)
    return None


def startup_language(option: str | None = None, configured: str | None = None,
                     environ: dict[str, str] | None = None) -> str:
    """The language before anyone logs in: the command line's `--lang`, else the config file's
    `[general] language`, else the environment's locale (`$LANG` of an SSH session included), else English."""
    for language in (option, configured, language_from_environment(environ)):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


# Catalogs ----------------------------------------------------------------------------------------

def install_catalogs(folder: str | Path | None, cache_folder: str | Path | None = None) -> None:
    """Translate with the catalogs under `folder` (`<folder>/<lang>/LC_MESSAGES/<domain>.po`); None: none,
    English only. `cache_folder` holds the compiled catalogs (default: the user cache directory)."""
    global _catalog_folder, _cache_folder
    with _lock:
        _catalog_folder = None if folder is None else Path(folder)
        _cache_folder = None if cache_folder is None else Path(cache_folder)
        _loaded.clear()


def _placeholders(text: str) -> set[str]:
    """The names of the `{placeholders}` of a message (empty when it is not a valid format string)."""
    try:
        return {name.split(".")[0].split("[")[0] for _text, name, _spec, _conv in string.Formatter().parse(text)
                if name is not None}
    except ValueError:
        return {"\x00invalid"}  # unbalanced braces: never equal to a msgid's set


def usable_translation(message) -> bool:
    """Whether a catalog message (babel.messages.catalog.Message) has a translation to show: not fuzzy, no
    empty form, and no form with a `{placeholder}` the msgid (or its plural) does not have."""
    if not message.id or message.fuzzy:
        return False
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    forms = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    if not forms or not all(forms):
        return False
    allowed = set().union(*(_placeholders(i) for i in ids))
    return all(_placeholders(form) <= allowed for form in forms)


def _compile(po: bytes) -> bytes:
    """The .mo of a .po file, without the messages that are not usable translations."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    catalog = read_po(io.BytesIO(po))
    for message in list(catalog):
        if message.id and not usable_translation(message):
            catalog.delete(message.id, message.context)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def _default_cache_folder() -> Path | None:
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("cardsonline", appauthor=False)) / "catalogs"
    except Exception:  # noqa: BLE001 - no cache directory: compile in memory
        return None


def _mo_bytes(po_path: Path, language: str, domain: str) -> bytes | None:
    """The compiled catalog of `po_path`, from the cache when it holds this content's, else compiled (and
    cached when the cache folder is writable). None when the .po does not exist."""
    try:
        po = po_path.read_bytes()
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(_MO_VERSION.encode() + po).hexdigest()[:20]
    cache = _cache_folder or _default_cache_folder()
    cached = cache / f"{language}-{domain}-{digest}.mo" if cache is not None else None
    if cached is not None:
        try:
            return cached.read_bytes()
        except OSError:
            pass
    mo = _compile(po)
    if cached is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            for old in cache.glob(f"{language}-{domain}-*.mo"):  # earlier versions of this catalog
                with contextlib.suppress(OSError):
                    old.unlink()
            temporary = cached.with_name(f"{cached.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_bytes(mo)
            os.replace(temporary, cached)  # whole or not at all, also with several processes starting
        except OSError:
            pass  # a read-only cache: the next start compiles again
    return mo


def _translations(language: str) -> gettext.NullTranslations:
    """The catalogs of `language`, both domains chained; loaded once, on first use (thread-safe)."""
    found = _loaded.get(language)
    if found is not None:
        return found
    with _lock:
        found = _loaded.get(language)
        if found is not None:
            return found
        result: gettext.NullTranslations = gettext.NullTranslations()
        if _catalog_folder is not None:
            for domain in reversed(DOMAINS):  # the first domain ends up in front of the chain
                mo = _mo_bytes(_catalog_folder / language / "LC_MESSAGES" / f"{domain}.po", language, domain)
                if mo is None:
                    continue
                translations = gettext.GNUTranslations(io.BytesIO(mo))
                translations.add_fallback(result)
                result = translations
        _loaded[language] = result
        return result


def _(message: str) -> str:
    """Translate `message` into the current language."""
    if not message:
        return message  # "" would return the catalog's header
    return _translations(current_language()).gettext(message)


def N_(message: str) -> str:
    """Mark `message` for translation without translating it yet (translate it with `_()` when shown)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message for `count`, translated (with the catalog's plural rule)."""
    return _translations(current_language()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """Translate `message` said in `context`: one English word that other languages say differently by sense
    ("To" a date bound, "To" an e-mail's recipient). The catalogs key it "context\x04message", as gettext does;
    without a translation in that context, the English message."""
    if not message:
        return message
    return _translations(current_language()).pgettext(context, message)


# Formatting --------------------------------------------------------------------------------------

def _locale(language: str | None = None) -> str:
    return LOCALES[language or current_language()]


def format_number(value: int | float | Decimal | None, places: int | None = None) -> str:
    """A number with the language's grouping and decimal mark: 1234567.5 → "1,234,567.50" (en),
    "1.234.567,50" (nl), "1 234 567,50" (fr). `places` None: an integer as it is, other values as they are;
    None → ""."""
    if value is None:
        return ""
    language = current_language()
    if language == "en":  # exactly the format the screens always used (their snapshots depend on it)
        return f"{value:,}" if places is None else f"{value:,.{places}f}"
    from babel.numbers import format_decimal

    if places is None:
        return format_decimal(value, format="#,##0.###", locale=_locale(language))
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(Decimal(str(value)) if isinstance(value, float) else value, format=pattern,
                          locale=_locale(language), decimal_quantization=True)


def format_count(count: int) -> str:
    """A count of things: 1204 → "1,204" (en), "1.204" (nl), "1 204" (fr)."""
    return format_number(int(count))


def format_amount(value: Decimal | int | float | None, places: int = 2) -> str:
    """An amount without its currency, for a column of euros: "1,234.50" (en), "1.234,50" (nl),
    "1 234,50" (fr); None → ""."""
    return format_number(value, places)


def format_money(value: Decimal | int | float | None, currency: str = "EUR") -> str:
    """An amount with its currency as the language writes it: "€1,234.50" (en), "€ 1.234,50" (nl),
    "1 234,50 €" (fr); None → ""."""
    if value is None:
        return ""
    from babel.numbers import format_currency

    return format_currency(value, currency, locale=_locale())


def format_date(day: date | datetime | None) -> str:
    """A day as dd/mm/yyyy, the format every language of the portal uses (and the date fields accept);
    None → ""."""
    return "" if day is None else f"{day:%d/%m/%Y}"


def format_datetime(moment: datetime | None, seconds: bool = False) -> str:
    """A moment (already in the user's time zone) as dd/mm/yyyy HH:MM (24 h), or HH:MM:SS; None → ""."""
    if moment is None:
        return ""
    return f"{moment:%d/%m/%Y %H:%M:%S}" if seconds else f"{moment:%d/%m/%Y %H:%M}"


def format_month(day: date | datetime | None) -> str:
    """A month as mm/yyyy; None → ""."""
    return "" if day is None else f"{day:%m/%Y}"


def format_date_long(day: date | datetime | None) -> str:
    """A day spelled out for a letter or an e-mail: "26 November 2026", "26 november 2026",
    "26 novembre 2026"; None → ""."""
    if day is None:
        return ""
    from babel.dates import format_date as babel_format_date

    return babel_format_date(day, format="long", locale=_locale())


__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "LANGUAGE_NAMES", "LOCALES", "DOMAINS", "_", "N_", "ngettext", "pgettext",
           "current_language", "set_language", "use_language", "install_catalogs", "language_from_locale",
           "language_from_environment", "startup_language", "usable_translation", "format_number", "format_count", "format_amount",
           "format_money", "format_date", "format_datetime", "format_month", "format_date_long"]
