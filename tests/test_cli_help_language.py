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


def test_the_demo_db_issuer_and_outbox_pages_are_translated():
    page = _help("--lang", "nl", "demo", "--help")
    assert "De deterministische demogegevens aanmaken." in page
    assert "Hoeveel tankkaarten." in page and "Build the deterministic" not in page
    assert "Beheer van de databank." in _help("--lang", "nl", "db", "--help")
    assert "Het schema van de databank naar de nieuwste versie brengen" in _help("--lang", "nl", "db", "upgrade", "--help")
    assert "Recalculer à partir des transactions les totaux mensuels par carte" in _help(
        "--lang", "fr", "db", "rebuild-month-totals", "--help")
    page = _help("--lang", "fr", "issuer", "--help")
    assert "Les traitements de l'émetteur" in page
    assert "Importer le fichier quotidien des transactions" in page  # a subcommand's short help in the list
    page = _help("--lang", "nl", "issuer", "import-transactions", "--help")
    assert "Elke rij wordt op afwijkingen gecontroleerd" in page  # the second paragraph too
    assert "Uitvoeren alsof het dit moment is" in page  # --now, shared by the batches
    assert "Hoogstens zoveel geweigerde rijen tonen" in page
    assert "Simuler les jours qui précèdent maintenant." in _help("--lang", "fr", "issuer", "simulate-transactions",
                                                                 "--help")
    assert "avec {number} pour le numéro de facture" in _help("--lang", "fr", "issuer", "invoice", "--help")
    assert "Voor demo's en tests" in _help("--lang", "nl", "issuer", "keys", "init", "--help")
    assert "De sleutels die de facturen ondertekenen" in _help("--lang", "nl", "issuer", "keys", "--help")
    for command in ("process-requests", "renewals", "nightly"):
        assert "Run as if" not in _help("--lang", "fr", "issuer", command, "--help")
    page = _help("--lang", "fr", "outbox", "send", "--help")
    assert "Envoyer les e-mails en attente" in page and "Au plus ce nombre de mails par passage." in page
    page = _help("--lang", "nl", "outbox", "list", "--help")
    assert "De nieuwste, zoveel." in page and "Enkel de mails met deze status." in page


def test_every_help_text_of_every_command_is_in_the_catalog():
    """No command or option is left English: each help text is marked N_() (so it is in messages.pot)."""
    from pathlib import Path

    import click
    from babel.messages.pofile import read_po

    with open(Path(__file__).resolve().parent.parent / "tui" / "i18n" / "messages.pot", "rb") as pot:
        msgids = {message.id for message in read_po(pot) if message.id}
    missing = []

    def visit(command: click.Command, path: str) -> None:
        ctx = click.Context(command, info_name=path)
        for thing in [command, *command.get_params(ctx)]:
            if getattr(thing, "help", None) and thing.help not in msgids:
                missing.append(f"{path}: {thing.help[:60]!r}")
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, f"{path} {name}")

    visit(main, "cardsonline")
    assert missing == []
