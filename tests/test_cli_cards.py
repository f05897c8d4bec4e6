"""`cardsonline cards list/show/block`: scripts act as a portal user, through the same services and rights."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest
from click.testing import CliRunner
from sqlmodel import select

from store.db import Database
from store.demo import build_demo
from store.models import Card, CardStatus, Request, RequestKind
from tui.cli import main

LIST_FIELDS = {"number", "rank", "type", "plate", "driver", "division", "status", "renewal_status", "expiry",
               "last_use"}


@pytest.fixture
def url(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'cards.db'}"
    database = Database(url, clock=clock)
    database.ensure_schema()
    build_demo(database, cards=40)
    database.dispose()
    return url


def cli(url, *args, password="Fleet#2026", user="fleetadmin"):
    return CliRunner().invoke(main, [*args, "--database-url", url, "--user", user],
                              env={"CARDSONLINE_PASSWORD": password}, catch_exceptions=False)


def test_list_as_json_has_the_documented_fields_and_lower_case_statuses(url):
    result = cli(url, "cards", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    with Database(url).session() as session:
        assert len(records) == len(session.exec(select(Card)).all())  # every card and OBU, not a page
    assert all(LIST_FIELDS <= set(r) for r in records)
    assert {r["status"] for r in records} == {s.value for s in CardStatus}
    assert "in production" in {r["status"] for r in records}


def test_list_filters_and_formats(url):
    active = json.loads(cli(url, "cards", "list", "--format", "json", "--status", "active",
                            "--type", "fleet card").output)
    assert active and all(r["status"] == "active" and r["type"] == "fleet card" for r in active)
    as_csv = list(csv.DictReader(io.StringIO(cli(url, "cards", "list", "--format", "csv", "--status", "active",
                                                 "--type", "fleet card").output)))
    assert [row["number"] for row in as_csv] == [r["number"] for r in active]
    table = cli(url, "cards", "list", "--status", "active").output.splitlines()
    assert table[0].startswith("NUMBER") and len(table) > 1
    bad = cli(url, "cards", "list", "--status", "lost")
    assert bad.exit_code == 2 and "is not one of" in bad.output


def test_show_gives_limits_and_controls(url):
    number = json.loads(cli(url, "cards", "list", "--format", "json", "--status", "active").output)[0]["number"]
    shown = json.loads(cli(url, "cards", "show", number, "--format", "json").output)
    assert shown["number"] == number
    assert isinstance(shown["limits"], list) and "controls" in shown
    missing = cli(url, "cards", "show", "700610000000000000")
    assert missing.exit_code == 1 and "No card or OBU" in missing.output


def test_block_with_duplicate_then_refused_again(url):
    number = json.loads(cli(url, "cards", "list", "--format", "json", "--status", "active",
                            "--type", "fleet card").output)[0]["number"]
    blocked = cli(url, "cards", "block", number, "--reason", "theft", "--duplicate")
    assert blocked.exit_code == 0, blocked.output
    assert "Duplicate ordered" in blocked.output
    with Database(url).session() as session:
        card = session.exec(select(Card).where(Card.number == number)).one()
        assert card.status is CardStatus.BLOCKED and card.block_reason.value == "theft"
        duplicate = session.exec(select(Card).where(Card.duplicate_of_id == card.id)).one()
        assert session.exec(select(Request).where(Request.card_id == duplicate.id,
                                                  Request.kind == RequestKind.DUPLICATE)).one()
    again = cli(url, "cards", "block", number, "--reason", "loss")
    assert again.exit_code == 1 and "already blocked" in again.output


def test_refusals_exit_non_zero_with_a_message(url):
    no_right = cli(url, "cards", "list", user="accounting", password="Books#2026")
    assert no_right.exit_code == 1 and "“Manage cards and OBUs”" in no_right.output
    wrong = cli(url, "cards", "list", password="Wrong#2026")
    assert wrong.exit_code == 1 and "Unknown user name or wrong password" in wrong.output
    foreign = cli(url, "cards", "list", "--customer-number", "4020002", user="depot", password="Depot#2026")
    assert foreign.exit_code == 1 and "not one you may use" in foreign.output


def test_a_user_with_two_factor_sign_in_gives_the_code(url):
    """The scripting CLI asks a two-factor user for the one-time code ($CARDSONLINE_OTP or a prompt)."""
    import pyotp

    from store.models import User

    secret = pyotp.random_base32()
    database = Database(url)
    with database.session() as session:
        user = session.exec(select(User).where(User.username == "fleetadmin")).one()
        user.totp_secret = secret
        session.add(user)
        session.commit()
    database.dispose()

    def run(env: dict, prompt_input: str | None = None):
        return CliRunner().invoke(main, ["cards", "list", "--database-url", url, "--user", "fleetadmin",
                                         "--format", "json"],
                                  env={"CARDSONLINE_PASSWORD": "Fleet#2026", **env}, input=prompt_input,
                                  catch_exceptions=False)

    wrong = run({"CARDSONLINE_OTP": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.exit_code != 0 and "code is wrong" in wrong.output
    code = pyotp.TOTP(secret).now()
    right = run({"CARDSONLINE_OTP": code})
    assert right.exit_code == 0, right.output
    assert json.loads(right.output)
    again = run({"CARDSONLINE_OTP": code})  # a code works once, for a script too
    assert again.exit_code != 0 and "already been used" in again.output
    # The next 30 seconds' code (one step ahead is accepted for clock drift), typed at the prompt.
    prompted = run({}, prompt_input=pyotp.TOTP(secret).at(time.time() + 30) + "\n")
    assert prompted.exit_code == 0 and "One-time code for fleetadmin" in prompted.output
