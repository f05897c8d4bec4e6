"""The "messages" catalog is complete (issue 10): every message extracted from store/, exports/ and the command
has a Dutch and a French translation, not fuzzy, with the same placeholders and every plural form."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

I18N = Path(__file__).resolve().parent.parent / "tui" / "i18n"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _ids(catalog) -> dict:
    return {m.id: m for m in catalog if m.id}


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_message_is_translated_with_its_placeholders(language):
    template = _ids(read_po((I18N / "messages.pot").open("rb")))
    catalog = read_po((I18N / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb"), locale=language)
    messages = _ids(catalog)
    assert len(template) > 600
    assert set(template) <= set(messages), sorted(set(template) - set(messages))[:5]
    for msgid in template:
        message = messages[msgid]
        assert not message.fuzzy, msgid
        sources = msgid if isinstance(msgid, tuple) else (msgid,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (catalog.num_plurals if isinstance(msgid, tuple) else 1), msgid
        wanted = {frozenset(PLACEHOLDER.findall(source)) for source in sources}
        for string in strings:
            assert string.strip(), msgid
            assert frozenset(PLACEHOLDER.findall(string)) in wanted, (msgid, string)


def test_english_is_the_source_and_stays_untranslated():
    catalog = read_po((I18N / "locale" / "en" / "LC_MESSAGES" / "messages.po").open("rb"), locale="en")
    translated = [m.id for m in catalog if m.id and any(
        (m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert translated == []
