"""`cardsonline --help` and the subcommands' help pages follow the command's language (--lang, else LANG/LC_*),
as its messages do; English by default. Help texts not yet marked for translation stay English."""
from __future__ import annotations

from click.testing import CliRunner

from tui.cli import main


def _help(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env, prog_name="cardsonline")
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # click wraps the texts at the terminal's width


def test_lang_nl_gives_a_dutch_help_page():
    page = _help("--lang", "nl", "--help")
    assert page.startswith("Gebruik: cardsonline [OPTIONS]")
    assert "Cards Online in de terminal. Zonder subcommando: het portaal openen." in page
    assert "Opties:" in page and "Commando's:" in page
    assert "Deze hulp tonen en stoppen." in page  # the --help option's own help
    assert "Kaarten en OBU's voor scripts" in page  # a subcommand's short help in the list
    assert "Cards Online in the terminal" not in page


def test_the_order_of_lang_and_help_does_not_matter():
    assert _help("--help", "--lang", "nl") == _help("--lang=nl", "--help")


def test_lang_fr_gives_french_option_help_of_a_subcommand():
    page = _help("--lang", "fr", "cards", "list", "--help")
    assert page.startswith("Utilisation : cardsonline cards list [OPTIONS]")
    assert "Lister chaque carte/OBU qui répond aux filtres" in page
    assert "Format de sortie." in page
    assert "Texte dans le numéro de carte, l'immatriculation, le nom du chauffeur ou la division." in page


def test_the_other_marked_commands_are_translated_too():
    assert "Servir le portail à des terminaux distants." in _help("--lang", "fr", "serve", "--help")
    assert "Port TCP d'écoute" in _help("--lang", "fr", "serve", "ssh", "--help")
    assert "Eerste maand van de periode (JJJJ-MM)." in _help("--lang", "nl", "reports", "export", "--help")
    assert "De ingebedde handtekening van de pdf controleren" in _help("--lang", "nl", "invoices", "verify", "--help")
    assert "Tonen waar het configuratiebestand gelezen wordt" in _help("--lang", "nl", "config", "--help")


def test_the_locale_chooses_the_help_language():
    page = _help("--help", env={"LANG": "nl_BE.UTF-8"})
    assert "Cards Online in de terminal." in page


def test_english_by_default_and_the_texts_are_put_back():
    _help("--lang", "nl", "cards", "block", "--help")  # a translated page leaves the texts as they were
    page = _help("cards", "block", "--help")
    assert page.startswith("Usage: cardsonline cards block [OPTIONS] NUMBER")
    assert "Block a card or OBU for good (Fiche 09); optionally order a duplicate." in page
    assert "Order a duplicate: a new card, new number, same settings." in page
    assert "Show this message and exit." in page
