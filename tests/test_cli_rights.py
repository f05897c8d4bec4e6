"""Rights everywhere (issue 5), through the CLI: every command that acts as a portal user (--user) is refused
by the services for a user without the right, or for a customer number that is not theirs, with a clear
message and a non-zero exit — never a traceback, never data."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlmodel import select

from store.db import Database
from store.demo import build_demo
from store.models import Card, CardStatus, CustomerNumber
from tui.cli import main

# demo users: accounting holds no card right; depot manages cards of 4020001 only.
PASSWORDS = {"accounting": "Books#2026", "depot": "Depot#2026", "fleetadmin": "Fleet#2026"}
NO_CARD_RIGHT = "You do not have the right “Manage cards and OBUs”"  # the right's name in the menu, not its code


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    """One small demo database for the module: every command here is refused, so nothing changes in it."""
    from datetime import datetime, timezone

    from store.db import FixedClock

    url = f"sqlite:///{tmp_path_factory.mktemp('cli_rights') / 'demo.db'}"
    database = Database(url, clock=FixedClock(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)))
    database.ensure_schema()
    build_demo(database, cards=12)
    database.dispose()
    return url


def _card(url: str, number: str, status: CardStatus | None = CardStatus.ACTIVE) -> str:
    """The number of the first card of customer number `number` (with `status`, if given)."""
    database = Database(url)
    try:
        with database.session() as session:
            query = (select(Card).join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
                     .where(CustomerNumber.number == number, Card.number.is_not(None)))
            if status is not None:
                query = query.where(Card.status == status)
            card = session.exec(query.order_by(Card.id)).first()
            assert card is not None
            return card.number
    finally:
        database.dispose()


def _active_card(url: str, number: str) -> str:
    return _card(url, number)


def _status(url: str, card_number: str) -> CardStatus:
    database = Database(url)
    try:
        with database.session() as session:
            return session.exec(select(Card.status).where(Card.number == card_number)).first()
    finally:
        database.dispose()


def cli(url, user, *args):
    return CliRunner().invoke(main, [*args, "--database-url", url, "--user", user],
                              env={"CARDSONLINE_PASSWORD": PASSWORDS[user]})


def _refused(result, message: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def _commands(url, tmp_path) -> dict[str, list[str]]:
    number = _active_card(url, "4020001")
    return {
        "cards list": ["cards", "list", "--format", "json"],
        "cards show": ["cards", "show", number],
        "cards block": ["cards", "block", number, "--reason", "loss"],
        "export fleet": ["export", "fleet", "--output", str(tmp_path / "fleet.xlsx")],
    }


PORTAL_COMMANDS = ["cards list", "cards show", "cards block", "export fleet"]
REPORT_COMMANDS = ["reports export"]


def test_the_portal_commands_are_the_ones_with_a_user_option():
    """A new command with --user must join this file."""
    import click

    found = []

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        elif any(isinstance(p, click.Option) and "--user" in p.opts for p in command.params):
            found.append(" ".join(path))

    walk(main, [])
    assert sorted(found) == sorted(PORTAL_COMMANDS + REPORT_COMMANDS)


@pytest.mark.parametrize("command", PORTAL_COMMANDS)
def test_a_user_without_the_right_is_refused(demo_url, tmp_path, command):
    args = _commands(demo_url, tmp_path)[command]
    result = cli(demo_url, "accounting", *args)
    _refused(result, NO_CARD_RIGHT)
    assert not (tmp_path / "fleet.xlsx").exists()


@pytest.mark.parametrize("report", ["followup", "consumption", "budget"])
def test_reports_export_without_the_report_right_is_refused(demo_url, tmp_path, report):
    """depot holds card rights but no report right."""
    target = tmp_path / "report.xlsx"
    result = cli(demo_url, "depot", "reports", "export", "--report", report, "--from", "2026-10", "--to", "2026-11",
                 "--output", str(target))
    _refused(result, "You do not have the right")
    assert not target.exists()


def test_reports_export_of_a_customer_number_not_theirs_is_refused(demo_url, tmp_path):
    target = tmp_path / "report.xlsx"
    result = cli(demo_url, "depot", "reports", "export", "--report", "followup", "--from", "2026-10", "--to",
                 "2026-11", "--customer-number", "4020002", "--output", str(target))
    _refused(result, "not one you may use")
    assert not target.exists()


def test_reports_export_works_with_the_right(demo_url, tmp_path):
    target = tmp_path / "report.xlsx"
    result = cli(demo_url, "accounting", "reports", "export", "--report", "followup", "--from", "2026-10", "--to",
                 "2026-11", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.exists() and "Exported" in result.output


def test_block_refused_leaves_the_card_active(demo_url, tmp_path):
    number = _active_card(demo_url, "4020001")
    _refused(cli(demo_url, "accounting", "cards", "block", number, "--reason", "theft"), NO_CARD_RIGHT)
    assert _status(demo_url, number) is CardStatus.ACTIVE


@pytest.mark.parametrize("command", ["cards list", "export fleet"])
def test_a_customer_number_not_theirs_is_refused(demo_url, tmp_path, command):
    args = _commands(demo_url, tmp_path)[command]
    result = cli(demo_url, "depot", *args, "--customer-number", "4020002")
    _refused(result, "not one you may use")
    assert not (tmp_path / "fleet.xlsx").exists()


@pytest.mark.parametrize("command", ["cards show", "cards block"])
def test_a_card_of_a_customer_number_not_theirs_is_refused(demo_url, command):
    number = _card(demo_url, "4020002", status=None)
    before = _status(demo_url, number)
    args = ["cards", "show", number] if command == "cards show" else ["cards", "block", number, "--reason", "loss"]
    _refused(cli(demo_url, "depot", *args), "among your customer numbers")
    assert _status(demo_url, number) == before


def test_the_same_commands_work_with_the_right(demo_url, tmp_path):
    """The control: depot (who manages cards of 4020001) lists and shows them."""
    number = _active_card(demo_url, "4020001")
    listed = cli(demo_url, "depot", "cards", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert number in listed.output and _card(demo_url, "4020002", status=None) not in listed.output
    shown = cli(demo_url, "depot", "cards", "show", number)
    assert shown.exit_code == 0, shown.output
