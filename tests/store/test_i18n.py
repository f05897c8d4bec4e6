"""store.i18n: catalogs (lookups, plural forms, fallback to English, the compiled cache, threads), the
language before login, and formatting per locale."""
from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from store import i18n
from store.i18n import (
    _,
    format_amount,
    format_count,
    format_date,
    format_date_long,
    format_datetime,
    format_money,
    format_month,
    format_number,
    language_from_environment,
    language_from_locale,
    ngettext,
    pgettext,
    startup_language,
    use_language,
)

REAL_CATALOGS = Path(__file__).resolve().parents[2] / "tui" / "i18n" / "locale"

HEADER = """msgid ""
msgstr ""
"Language: {lang}\\n"
"Plural-Forms: {plural}\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"Content-Transfer-Encoding: 8bit\\n"

"""

NL_SCREENS = """
msgid "Help"
msgstr "Hulp"

#, python-brace-format
msgid "Card {number} blocked."
msgstr "Kaart {number} geblokkeerd."

msgid "Not yet translated"
msgstr ""

#, fuzzy
msgid "Log out"
msgstr "Afmelden (te controleren)"

#, python-brace-format
msgid "Hello {name}"
msgstr "Hallo {naam}"

#, python-brace-format
msgid "{count} card"
msgid_plural "{count} cards"
msgstr[0] "{count} kaart"
msgstr[1] "{count} kaarten"

#, python-brace-format
msgid "{count} code"
msgid_plural "{count} codes"
msgstr[0] "{count} code"
msgstr[1] ""

msgid "To"
msgstr "Tot"

msgctxt "e-mail recipient"
msgid "To"
msgstr "Aan"

msgctxt "request kind"
msgid "Copy"
msgstr ""
"""

NL_MESSAGES = """
msgid "Help"
msgstr "Helpmessage (the screens' catalog comes first)"

msgid "The card is blocked."
msgstr "De kaart is geblokkeerd."
"""

FR_SCREENS = """
msgid "Help"
msgstr "Aide"

#, python-brace-format
msgid "{count} card"
msgid_plural "{count} cards"
msgstr[0] "{count} carte"
msgstr[1] "{count} cartes"
"""


def write_po(folder: Path, lang: str, domain: str, body: str, plural: str = "nplurals=2; plural=(n != 1);") -> Path:
    path = folder / lang / "LC_MESSAGES" / f"{domain}.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(lang=lang, plural=plural) + body, encoding="utf-8")
    return path


@pytest.fixture
def catalogs(tmp_path):
    """Small catalogs in a temporary folder, compiled into a temporary cache; the real ones again after."""
    folder, cache = tmp_path / "locale", tmp_path / "cache"
    write_po(folder, "nl", "cardsonline", NL_SCREENS)
    write_po(folder, "nl", "messages", NL_MESSAGES)
    write_po(folder, "fr", "cardsonline", FR_SCREENS, plural="nplurals=2; plural=(n > 1);")
    i18n.install_catalogs(folder, cache)
    yield folder, cache
    i18n.install_catalogs(REAL_CATALOGS)
    i18n.set_language("en")


def test_lookups_in_the_current_language(catalogs):
    with use_language("nl"):
        assert _("Help") == "Hulp"
        assert _("Card {number} blocked.").format(number="7001") == "Kaart 7001 geblokkeerd."
        assert _("The card is blocked.") == "De kaart is geblokkeerd."  # the second domain (messages)
    with use_language("fr"):
        assert _("Help") == "Aide"
        assert _("The card is blocked.") == "The card is blocked."  # fr has no messages catalog here
    assert _("Help") == "Help"  # English: the msgid
    i18n.set_language("nl")
    assert _("Help") == "Hulp"
    with use_language("en"):
        assert _("Help") == "Help"
    with use_language(None):  # no recipient language: the process's
        assert _("Help") == "Hulp"


def test_empty_fuzzy_and_wrong_placeholders_fall_back_to_english(catalogs):
    with use_language("nl"):
        assert _("Not yet translated") == "Not yet translated"
        assert _("Log out") == "Log out"  # fuzzy: not shown
        assert _("Hello {name}").format(name="An") == "Hello An"  # {naam} would raise KeyError: English instead
        assert _("Unknown message") == "Unknown message"
        assert _("") == ""


def test_plural_forms_follow_the_catalogs_rule(catalogs):
    with use_language("nl"):
        assert [ngettext("{count} card", "{count} cards", n).format(count=n) for n in (0, 1, 2)] == [
            "0 kaarten", "1 kaart", "2 kaarten"]
        # A plural with an empty form is not used at all: English, by the English rule.
        assert [ngettext("{count} code", "{count} codes", n).format(count=n) for n in (1, 2)] == ["1 code", "2 codes"]
    with use_language("fr"):  # French: 0 is singular
        assert [ngettext("{count} card", "{count} cards", n).format(count=n) for n in (0, 1, 2)] == [
            "0 carte", "1 carte", "2 cartes"]
    assert [ngettext("{count} card", "{count} cards", n).format(count=n) for n in (0, 1)] == ["0 cards", "1 card"]


def test_contexts_are_looked_up_apart_from_the_plain_message(catalogs):
    with use_language("nl"):
        assert pgettext("e-mail recipient", "To") == "Aan"
        assert _("To") == "Tot"  # the message without context keeps its own translation
        assert pgettext("date bound", "To") == "To"  # no entry in that context: English, not the plain one
        assert pgettext("request kind", "Copy") == "Copy"  # empty translation: English
        assert pgettext("e-mail recipient", "") == ""
    assert pgettext("e-mail recipient", "To") == "To"  # English


def test_catalogs_are_compiled_once_into_the_cache_and_recompiled_when_changed(catalogs):
    folder, cache = catalogs
    with use_language("nl"):
        assert _("Help") == "Hulp"
    compiled = sorted(p.name for p in cache.glob("nl-*.mo"))
    assert [name.split("-")[1] for name in compiled] == ["cardsonline", "messages"]
    # A new process (a fresh install_catalogs) reads the cached .mo, not the .po: prove it with a .mo that
    # differs from what the .po would give.
    mo = next(cache.glob("nl-cardsonline-*.mo"))
    mo.write_bytes(mo.read_bytes().replace(b"Hulp", b"HULP"))
    i18n.install_catalogs(folder, cache)
    with use_language("nl"):
        assert _("Help") == "HULP"
    # A changed .po has another hash: compiled again, the old .mo removed.
    write_po(folder, "nl", "cardsonline", NL_SCREENS.replace('"Hulp"', '"Help!"'))
    i18n.install_catalogs(folder, cache)
    with use_language("nl"):
        assert _("Help") == "Help!"
    assert len(list(cache.glob("nl-cardsonline-*.mo"))) == 1


def test_an_unwritable_cache_still_translates(catalogs, tmp_path):
    folder, _cache = catalogs
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    i18n.install_catalogs(folder, blocker / "cache")
    with use_language("nl"):
        assert _("Help") == "Hulp"


def test_without_catalogs_everything_is_english():
    i18n.install_catalogs(None)
    try:
        with use_language("nl"):
            assert _("Help") == "Help"
            assert ngettext("{count} card", "{count} cards", 1) == "{count} card"
    finally:
        i18n.install_catalogs(REAL_CATALOGS)


def test_threads_load_a_language_once_and_see_the_same_catalog(catalogs):
    results: list[str] = []
    barrier = threading.Barrier(8)

    def lookup() -> None:
        barrier.wait()
        with use_language("nl"):  # contextvars: each thread its own override
            results.append(_("Help"))

    threads = [threading.Thread(target=lookup) for _i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["Hulp"] * 8
    assert len(i18n._loaded) == 1  # one load for all eight


def test_the_real_catalogs_load_for_every_language():
    i18n.install_catalogs(REAL_CATALOGS)
    for language in i18n.LANGUAGES:
        with use_language(language):
            assert _("Log in to Cards Online")  # whatever the translation state: a text, never an error


# The language before login ---------------------------------------------------------------------

@pytest.mark.parametrize("value, language", [
    ("nl_BE.UTF-8", "nl"), ("fr_BE.UTF-8", "fr"), ("fr_FR", "fr"), ("en_US.UTF-8", "en"), ("nl", "nl"),
    ("nl-BE", "nl"), ("de_DE.UTF-8", None), ("C", None), ("C.UTF-8", None), ("POSIX", None), ("", None), (None, None),
])
def test_language_from_locale(value, language):
    assert language_from_locale(value) == language


def test_language_from_environment_reads_the_variables_in_gettext_order():
    assert language_from_environment({"LANG": "fr_BE.UTF-8"}) == "fr"
    assert language_from_environment({"LANG": "fr_BE.UTF-8", "LC_MESSAGES": "nl_BE.UTF-8"}) == "nl"
    assert language_from_environment({"LANG": "fr_BE.UTF-8", "LC_ALL": "en_GB.UTF-8", "LC_MESSAGES": "nl_BE"}) == "en"
    assert language_from_environment({"LANGUAGE": "de:nl", "LC_ALL": "fr_BE.UTF-8"}) == "nl"
    assert language_from_environment({"LC_ALL": "C", "LANG": "nl_BE.UTF-8"}) is None  # LC_ALL decides
    assert language_from_environment({}) is None


def test_startup_language_precedence():
    env = {"LANG": "fr_BE.UTF-8"}
    assert startup_language("nl", "en", env) == "nl"  # --lang first
    assert startup_language(None, "en", env) == "en"  # then the config file
    assert startup_language(None, None, env) == "fr"  # then $LANG
    assert startup_language(None, None, {"LANG": "de_DE.UTF-8"}) == "en"  # else English
    assert startup_language(None, None, {}) == "en"


# Formatting ------------------------------------------------------------------------------------

def test_english_formats_are_the_ones_the_screens_always_showed():
    with use_language("en"):
        assert format_number(1234567) == "1,234,567" == f"{1234567:,}"
        assert format_amount(Decimal("1234.5")) == "1,234.50"
        assert format_amount(Decimal("-0.5")) == "-0.50"
        assert format_number(Decimal("1234.5678"), 4) == "1,234.5678"
        assert format_number(Decimal("1234.5"), 0) == "1,234"
        assert format_count(1204) == "1,204"
        assert format_money(Decimal("1234.5")) == "€1,234.50"
        assert format_amount(None) == "" and format_money(None) == ""


def test_dutch_and_french_numbers_and_amounts():
    amount = Decimal("1234567.5")
    with use_language("nl"):
        assert format_amount(amount) == "1.234.567,50"
        assert format_count(1204) == "1.204"
        assert format_number(Decimal("1.2345"), 4) == "1,2345"
        assert format_money(Decimal("1234.5")) == "€\xa01.234,50"
    with use_language("fr"):
        assert format_amount(amount) == "1\u202f234\u202f567,50"
        assert format_count(1204) == "1\u202f204"
        assert format_money(Decimal("1234.5")) == "1\u202f234,50\xa0€"


def test_dates_are_day_month_year_and_long_dates_spelled_per_language():
    day, moment = date(2026, 3, 5), datetime(2026, 3, 5, 9, 7, 30)
    for language in ("en", "nl", "fr"):
        with use_language(language):
            assert format_date(day) == "05/03/2026"
            assert format_datetime(moment) == "05/03/2026 09:07"
            assert format_datetime(moment, seconds=True) == "05/03/2026 09:07:30"
            assert format_month(day) == "03/2026"
            assert format_date(None) == "" and format_datetime(None) == ""
    spelled = {}
    for language in ("en", "nl", "fr"):
        with use_language(language):
            spelled[language] = format_date_long(day)
    assert spelled == {"en": "5 March 2026", "nl": "5 maart 2026", "fr": "5 mars 2026"}
