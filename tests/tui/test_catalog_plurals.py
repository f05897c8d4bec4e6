"""The screens' catalogs (domain cardsonline) carry plural forms and contexts the way gettext reads them:
each language's plural rule in the header, both forms of every ngettext message translated with the same
placeholders, and the context entries (`pgettext`) found under "context\\x04message"."""
from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parents[2] / "tui" / "i18n" / "locale"
POT = LOCALE.parent / "cardsonline.pot"


def catalog(language: str):
    with open(LOCALE / language / "LC_MESSAGES" / "cardsonline.po", "rb") as handle:
        return read_po(handle)


def translations(language: str) -> gettext.GNUTranslations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog(language))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w*)[^{}]*}", text))


def test_the_template_has_the_plural_and_context_entries():
    with open(POT, "rb") as handle:
        template = read_po(handle)
    assert template.get("{count} card") is not None and template["{count} card"].pluralizable
    assert template["{count} card"].id == ("{count} card", "{count} cards")
    assert template.get("To", context="date bound") is not None
    assert template.get("To", context="e-mail recipient") is not None


@pytest.mark.parametrize("language, forms", [("nl", "nplurals=2; plural=(n != 1);"),
                                             ("fr", "nplurals=2; plural=(n > 1);")])
def test_plural_rule_of_each_language(language, forms):
    assert catalog(language).plural_forms == forms


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_plural_message_has_both_forms_with_the_same_placeholders(language):
    plural_messages = [message for message in catalog(language) if message.id and message.pluralizable]
    assert len(plural_messages) > 20
    for message in plural_messages:
        assert len(message.string) == 2 and all(message.string), message.id
        for form in message.string:
            assert placeholders(form) == placeholders(message.id[1]), (message.id, form)


def test_ngettext_picks_the_form_by_each_language_rule():
    nl, fr = translations("nl"), translations("fr")
    assert nl.ngettext("{count} card", "{count} cards", 1).format(count=1) == "1 kaart"
    assert nl.ngettext("{count} card", "{count} cards", 0).format(count=0) == "0 kaarten"
    assert nl.ngettext("{count} card", "{count} cards", 3).format(count=3) == "3 kaarten"
    assert fr.ngettext("{count} card", "{count} cards", 0).format(count=0) == "0 carte"  # French: 0 is singular
    assert fr.ngettext("{count} card", "{count} cards", 1).format(count=1) == "1 carte"
    assert fr.ngettext("{count} card", "{count} cards", 2).format(count=2) == "2 cartes"


def test_contexts_give_each_sense_its_own_word():
    nl, fr = translations("nl"), translations("fr")
    assert nl.pgettext("date bound", "To") == "Tot" and nl.pgettext("e-mail recipient", "To") == "Aan"
    assert fr.pgettext("request kind", "Copy") == "Copie" and fr.gettext("Copy") == "Copier"
    assert fr.pgettext("card type", "Card") == "Carte"


def test_the_runtime_reads_plurals_and_contexts_from_the_real_catalogs():
    from store.i18n import ngettext, pgettext, use_language
    import tui.i18n  # noqa: F401  (importing it installs the real catalogs)

    with use_language("fr"):
        assert ngettext("{count} line", "{count} lines", 0).format(count=0) == "0 ligne"
        assert pgettext("e-mail recipient", "To") == "À" and pgettext("date bound", "To") == "Au"
    with use_language("nl"):
        assert ngettext("{count} line", "{count} lines", 0).format(count=0) == "0 lijnen"
        assert pgettext("narrow column", "Driver") == "Chauff."
