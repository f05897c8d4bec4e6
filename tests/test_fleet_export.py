"""The fleet Excel export (Fiche 06): read back cell by cell, its count, cancel, and the CLI command."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlmodel import select

from exports.fleet_xlsx import COLUMNS, HEADERS, ExportCancelled, write_fleet_xlsx
from store.demo import build_demo
from store.models import (
    Card,
    CardLimit,
    CardStatus,
    CustomerNumber,
    FleetDivision,
    Product,
    ProductType,
    TollCondition,
    User,
)
from store.queries.card_filter import CardFilter
from store.queries.fleet_export import count_fleet, fleet_export_rows
from store.services.card_specs import PRODUCT_LABELS
from store.services.context import actor_for
from store.services.errors import PermissionDenied
from tui.cli import main

ZONE = ZoneInfo("Europe/Brussels")  # the demo customer's


@pytest.fixture
def demo(db):
    build_demo(db, cards=60)
    return db


@pytest.fixture
def out(tmp_path):
    """An empty folder for the export (the test database lives in tmp_path itself)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def actor(session, username):
    return actor_for(session, session.exec(select(User).where(User.username == username)).one())


def export(session, path, card_filter=CardFilter(), username="fleetadmin", batch_size=7):
    who = actor(session, username)
    total = count_fleet(session, who, card_filter)
    calls = []
    result = write_fleet_xlsx(fleet_export_rows(session, who, card_filter, batch_size=batch_size), path,
                              total=total, progress=lambda done, of: calls.append((done, of)))
    return result, total, calls


def sheet_rows(path):
    workbook = load_workbook(path)
    ws = workbook["Fleet"]
    header = [c.value for c in ws[1]]
    by_number = {}
    for row in ws.iter_rows(min_row=2):
        by_number[row[0].value if row[0].value is not None else f"id{row[0].row}"] = {
            h: c for h, c in zip(header, row)}
    return ws, header, by_number


def test_export_reads_back_cell_by_cell(session, demo, out):
    path = out / "fleet.xlsx"
    result, total, progress = export(session, path)
    assert result.path == path and result.rows == total == session.exec(select(Card)).all().__len__()
    assert progress[-1] == (total, total)
    assert [p.name for p in out.iterdir()] == ["fleet.xlsx"]  # no temporary file left

    ws, header, rows = sheet_rows(path)
    assert ws.title == "Fleet" and header == list(HEADERS)
    assert ws.max_row == total + 1
    # Groups in order: general, limits per product, controls, toll operators.
    assert header.index("Card/OBU number") == 0
    assert header.index("Diesel: allowed") < header.index("Diesel: amount (EUR)") < header.index("Diesel: volume (l)") \
        < header.index("Diesel: period") < header.index("Diesel: action") < header.index("Allowed countries") \
        < header.index("Toll operators") == len(header) - 1
    assert all(cell.font.bold for cell in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(row=1, column=len(COLUMNS)).column_letter}{total + 1}"
    assert ws.column_dimensions["A"].width == COLUMNS[0].width

    cards = {c.number: c for c in session.exec(select(Card).where(Card.number.is_not(None))).all()}
    by_id = {c.id: c for c in cards.values()}
    divisions = {d.id: d.name for d in session.exec(select(FleetDivision)).all()}
    numbers = {n.id: n.number for n in session.exec(select(CustomerNumber)).all()}
    limits = session.exec(select(CardLimit)).all()

    # A fleet card with a money limit, a volume limit and forbidden days; an OBU linked to a card with tolls.
    with_amount = next(lim for lim in limits if lim.amount is not None and lim.allowed and by_id.get(lim.card_id)
                       and by_id[lim.card_id].product_type is ProductType.FLEET_CARD)
    with_volume = next(lim for lim in limits if lim.volume is not None and by_id.get(lim.card_id))
    rich = by_id[with_amount.card_id]
    holidays = next(c for c in cards.values() if c.forbidden_days and c.last_used_at)
    obu = next(c for c in cards.values() if c.product_type.is_obu and c.linked_card_id
               and session.exec(select(TollCondition).where(TollCondition.card_id == c.id)).first())

    for card in (rich, by_id[with_volume.card_id], holidays, obu):
        row = rows[card.number]
        assert row["Rank"].value == card.rank
        assert row["Card/OBU type"].value == card.product_type.value
        assert row["Licence plate"].value == card.license_plate
        assert row["Name on the card"].value == card.embossed_name
        assert row["Fleet division"].value == divisions[card.division_id]
        assert row["Customer number"].value == numbers[card.customer_number_id]
        assert row["Driver name"].value == card.driver_name
        assert row["Status"].value == card.status.value
        assert row["Renewal status"].value == card.renewal_status.value
        assert row["Card category"].value == card.category
        assert row["Vehicle type"].value == card.vehicle_type
        # Dates are dates, with a date format.
        if card.expiry_date is not None:
            assert row["Expiry date"].value.date() == card.expiry_date
            assert row["Expiry date"].is_date and row["Expiry date"].number_format == "dd/mm/yyyy"
        if card.last_used_at is not None:
            assert row["Last use"].value == card.last_used_at.astimezone(ZONE).replace(tzinfo=None)
            assert row["Last use"].is_date
        assert row["Created"].value.date() == card.created_at.astimezone(ZONE).date()
        for limit in session.exec(select(CardLimit).where(CardLimit.card_id == card.id)).all():
            label = PRODUCT_LABELS[limit.product]
            assert row[f"{label}: allowed"].value == ("yes" if limit.allowed else "no")
            amount = row[f"{label}: amount (EUR)"]
            if limit.amount is None:
                assert amount.value is None
            else:  # a number, equal to the Decimal, with a money format
                assert isinstance(amount.value, (int, float)) and Decimal(str(amount.value)) == limit.amount
                assert amount.data_type == "n" and amount.number_format == "#,##0.00"
            unit = "kWh" if limit.product is Product.EV_CHARGING else "l"
            volume = row[f"{label}: volume ({unit})"]
            if limit.volume is None:
                assert volume.value is None
            else:
                assert isinstance(volume.value, (int, float)) and Decimal(str(volume.value)) == limit.volume
            if limit.allowed and (limit.amount is not None or limit.volume is not None):
                assert row[f"{label}: period"].value == limit.period.value
                assert row[f"{label}: action"].value == limit.action.value

    row = rows[rich.number]
    configured = {lim.product for lim in limits if lim.card_id == rich.id}
    for product in set(Product) - configured:  # not listed: may not be bought
        assert row[f"{PRODUCT_LABELS[product]}: allowed"].value == "no"
    assert row["Code type"].value == rich.code_type.value
    assert row["Allowed countries"].value == (" ".join(rich.allowed_countries) or "all")
    assert row["Odometer prompt"].value == ("yes" if rich.odometer_prompt else "no")
    if rich.tank_capacity_l is not None:
        assert Decimal(str(row["Tank capacity (l)"].value)) == rich.tank_capacity_l

    row = rows[holidays.number]
    assert row["Forbidden days"].value == " ".join(date.fromisoformat(d).strftime("%d/%m/%Y")
                                                   for d in holidays.forbidden_days)

    row = rows[obu.number]
    linked = session.get(Card, obu.linked_card_id)
    assert row["Linked card/OBU"].value == linked.number
    assert row["Linked plate"].value == linked.license_plate
    tolls = session.exec(select(TollCondition).where(TollCondition.card_id == obu.id)
                         .order_by(TollCondition.id)).all()
    assert row["Toll operators"].value == ", ".join(
        t.operator.value if t.confirmed else f"{t.operator.value} (awaiting issuer)" for t in tolls)
    assert row["Allowed countries"].value is None  # card controls do not apply to an OBU


def test_the_export_holds_exactly_the_filtered_cards(session, demo, out):
    card_filter = CardFilter(statuses=(CardStatus.ACTIVE,), product_types=(ProductType.FLEET_CARD,))
    path = out / "active.xlsx"
    result, total, _ = export(session, path, card_filter, batch_size=4)
    expected = session.exec(select(Card.number).where(Card.status == CardStatus.ACTIVE,
                                                      Card.product_type == ProductType.FLEET_CARD)
                            .order_by(Card.id)).all()
    assert result.rows == total == len(expected) > 0
    ws = load_workbook(path)["Fleet"]
    assert [r[0] for r in ws.iter_rows(min_row=2, max_col=1, values_only=True)] == list(expected)

    # The depot user sees only the first customer number; a number not theirs is refused.
    depot_total = count_fleet(session, actor(session, "depot"), CardFilter())
    result, _, _ = export(session, out / "depot.xlsx", username="depot")
    assert result.rows == depot_total < session.exec(select(Card)).all().__len__()
    liege = session.exec(select(CustomerNumber.id).where(CustomerNumber.number == "4020002")).one()
    with pytest.raises(PermissionDenied):
        fleet_export_rows(session, actor(session, "depot"), CardFilter(customer_number_ids=(liege,)))


def test_a_cancelled_export_leaves_no_file(session, demo, out, monkeypatch):
    import exports.fleet_xlsx as module

    monkeypatch.setattr(module, "PROGRESS_EVERY", 5)
    path = out / "fleet.xlsx"
    asked = []

    def cancelled():
        asked.append(True)
        return len(asked) > 1  # True after the first check

    who = actor(session, "fleetadmin")
    with pytest.raises(ExportCancelled):
        write_fleet_xlsx(fleet_export_rows(session, who, CardFilter()), path, cancelled=cancelled)
    assert len(asked) == 2
    assert list(out.iterdir()) == []

    # An existing file is left as it was when the new export is cancelled or fails.
    path.write_bytes(b"old")
    with pytest.raises(ExportCancelled):
        write_fleet_xlsx(fleet_export_rows(session, who, CardFilter()), path, cancelled=lambda: True)

    def broken():
        yield from fleet_export_rows(session, who, CardFilter(), batch_size=3)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_fleet_xlsx(broken(), path)
    assert [p.name for p in out.iterdir()] == ["fleet.xlsx"] and path.read_bytes() == b"old"


def run_cli(url, *args, password="Fleet#2026", user="fleetadmin"):
    env = {"CARDSONLINE_PASSWORD": password} if password is not None else {}
    return CliRunner().invoke(main, ["export", "fleet", "--database-url", url, "--user", user, *args], env=env)


def test_cli_export_fleet(session, demo, out):
    url = demo.url
    path = out / "out.xlsx"
    result = run_cli(url, "--output", str(path), "--status", "active", "--type", "fleet card",
                     "--customer-number", "4020001")
    assert result.exit_code == 0, result.output
    expected = count_fleet(session, actor(session, "fleetadmin"), CardFilter(
        customer_number_ids=(session.exec(select(CustomerNumber.id).where(CustomerNumber.number == "4020001")).one(),),
        statuses=(CardStatus.ACTIVE,), product_types=(ProductType.FLEET_CARD,)))
    assert f"Exported {expected:,} cards/OBUs to {path}" in result.output
    assert load_workbook(path)["Fleet"].max_row == expected + 1

    # The depot user has cards.manage on one customer number: everything of it, and nothing of the other.
    depot = run_cli(url, "--output", str(out / "depot.xlsx"), "--search", "haul", "--status", "in production",
                    "--status", "active", user="depot", password="Depot#2026")
    assert depot.exit_code == 0, depot.output
    refused = run_cli(url, "--output", str(out / "x.xlsx"), "--customer-number", "4020002",
                      user="depot", password="Depot#2026")
    assert refused.exit_code != 0 and "customer number 4020002" in refused.output

    no_right = run_cli(url, "--output", str(out / "x.xlsx"), user="accounting", password="Books#2026")
    assert no_right.exit_code != 0 and "“Manage cards and OBUs”" in no_right.output

    wrong = run_cli(url, "--output", str(out / "x.xlsx"), password="wrong")
    assert wrong.exit_code != 0 and "Unknown user name or wrong password" in wrong.output

    bad_date = run_cli(url, "--output", str(out / "x.xlsx"), "--expiry-from", "31/12/2026", password=None)
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    bad_status = run_cli(url, "--output", str(out / "x.xlsx"), "--status", "lost", password=None)
    assert bad_status.exit_code == 2 and "'in production'" in bad_status.output
    assert not (out / "x.xlsx").exists()


def test_cli_prompts_for_the_password(demo, out):
    path = out / "p.xlsx"
    result = CliRunner().invoke(main, ["export", "fleet", "--database-url", demo.url, "--user", "depot",
                                       "--output", str(path), "--renewal-status", "candidate for renewal"],
                                input="Depot#2026\n", env={"CARDSONLINE_PASSWORD": None})
    assert result.exit_code == 0, result.output
    assert "Depot#2026" not in result.output  # hidden input
    assert path.exists()
