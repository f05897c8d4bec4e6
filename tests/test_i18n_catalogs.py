"""The catalogs are complete: every string of the sources is translated in Dutch and French.

The messages are extracted from the sources the way `make catalogs` does (Babel, the same keywords and the
same paths per domain, see the Makefile), then each nl and fr catalog must hold every msgid with a
translation that is not empty, not fuzzy, and has the same `{placeholders}` as its msgid (for a plural, the
first form those of the singular or of the plural, the other forms those of the plural). The failure names
the msgids. A second test checks that the templates (.pot) in git are those of the sources.
"""
from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.frontend import parse_keywords
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "tui" / "i18n"


def makefile_variable(name: str) -> list[str]:
    """A variable of the Makefile (`NAME := a b c`), so the test extracts exactly what `make catalogs` does."""
    match = re.search(rf"^{name}\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, f"{name} is not in the Makefile"
    return match.group(1).split()


def keywords() -> dict:
    """Babel's default keywords plus the Makefile's `-k` options (N_, ngettext:1,2, pgettext:1c,2 …)."""
    return {**DEFAULT_KEYWORDS,
            **parse_keywords(re.findall(r"-k\s+(\S+)", " ".join(makefile_variable("BABEL_KEYWORDS"))))}


DOMAINS = {"cardsonline": "SCREEN_SOURCES", "messages": "MESSAGE_SOURCES"}
LANGUAGES = ("nl", "fr")


Key = tuple[str, str | None]  # (msgid, context)


def extracted(domain: str) -> dict[Key, str | tuple[str, ...]]:
    """(msgid, context) -> the message as extracted (a str, or the (singular, plural) of an ngettext)."""
    found: dict[Key, str | tuple[str, ...]] = {}
    kw = keywords()
    for source in makefile_variable(DOMAINS[domain]):
        path = ROOT / source
        if path.is_dir():
            messages = ((m[2], m[4]) for m in extract_from_dir(path, [("**.py", "python")], keywords=kw))
        else:
            messages = ((m[1], m[3]) for m in extract_from_file("python", path, keywords=kw))
        for message, context in messages:
            if isinstance(message, (list, tuple)):
                message = tuple(message)
                if not message[0]:
                    continue
                found[(message[0], context)] = message
            elif message:
                found[(message, context)] = message
    return found


def shown(key: Key) -> str:
    msgid, context = key
    return msgid if context is None else f"[{context}] {msgid}"


def placeholders(text: str) -> set[str]:
    try:
        return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def problems_of(catalog: Catalog, messages: dict[Key, str | tuple[str, ...]]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {"missing": [], "untranslated": [], "fuzzy": [], "placeholders": []}
    for key, message in sorted(messages.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        msgid = key[0]
        entry = catalog.get(*key)
        if entry is None:
            problems["missing"].append(shown(key))
            continue
        forms = entry.string if isinstance(entry.string, (list, tuple)) else (entry.string,)
        if not forms or not all(forms):
            problems["untranslated"].append(shown(key))
            continue
        if entry.fuzzy:
            problems["fuzzy"].append(shown(key))
            continue
        if isinstance(message, tuple):
            singular, plural = placeholders(message[0]), placeholders(message[1])
            ok = placeholders(forms[0]) in (singular, plural) and all(placeholders(f) == plural for f in forms[1:])
        else:
            ok = placeholders(forms[0]) == placeholders(msgid)
        if not ok:
            problems["placeholders"].append(f"{shown(key)!r} -> {forms!r}")
    return {kind: items for kind, items in problems.items() if items}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_string_of_the_sources_is_translated(domain, language):
    path = I18N / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as file:
        catalog = read_po(file, locale=language)
    problems = problems_of(catalog, extracted(domain))
    report = []
    for kind, items in problems.items():
        shown = "\n    ".join(items[:40]) + (f"\n    … and {len(items) - 40} more" if len(items) > 40 else "")
        report.append(f"{len(items)} {kind}:\n    {shown}")
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(report)


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_the_templates_in_git_are_those_of_the_sources(domain):
    with (I18N / f"{domain}.pot").open("rb") as file:
        template = {(message.id if isinstance(message.id, str) else message.id[0], message.context)
                    for message in read_po(file) if message.id}
    sources = set(extracted(domain))
    assert not sources - template and not template - sources, (
        f"tui/i18n/{domain}.pot is out of date: run `make catalogs`.\n"
        f"  in the sources, not in the template: {sorted(map(shown, sources - template))[:20]}\n"
        f"  in the template, no longer in the sources: {sorted(map(shown, template - sources))[:20]}")


def test_the_check_finds_each_kind_of_problem():
    """The checker itself, on a catalog made for it."""
    catalog = Catalog(locale="fr")
    catalog.add("Help", "Aide")
    catalog.add("Save", "")
    catalog.add("Quit", "Quitter", flags=["fuzzy"])
    catalog.add("Card {number}", "Carte {numero}")
    catalog.add(("{count} card", "{count} cards"), ("{count} carte", "{count} cartes"))
    catalog.add(("One code", "{count} codes"), ("Un code", "{n} codes"))
    catalog.add("To", "Au", context="date bound")
    messages = {"Help": "Help", "Save": "Save", "Quit": "Quit", "Card {number}": "Card {number}", "Back": "Back",
                "{count} card": ("{count} card", "{count} cards"), "One code": ("One code", "{count} codes"),
                "To": "To"}
    messages = {(msgid, None): message for msgid, message in messages.items()}
    messages[("To", "date bound")] = "To"  # the same word in a context: its own entry
    assert problems_of(catalog, messages) == {
        "missing": ["Back", "To"], "untranslated": ["Save"], "fuzzy": ["Quit"],
        "placeholders": ["'Card {number}' -> ('Carte {numero}',)", "'One code' -> ('Un code', '{n} codes')"]}
