"""Monthly reports to Excel (exports/report_xlsx.py): read back cell by cell on the known fleet of
tests/store/test_reports.py, cancel, and `cardsonline reports export`."""
from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

sys.path.insert(0, str(Path(__file__).parent / "store"))
from test_reports import NOV, OCT, PERIOD, build_fleet  # noqa: E402

from exports.fleet_xlsx import ExportCancelled  # noqa: E402
from exports.report_xlsx import COLUMNS, write_report_xlsx  # noqa: E402
from store.models import Budget, Right, User, UserCustomerNumber, UserRight, UserStatus  # noqa: E402
from store.services.errors import PermissionDenied  # noqa: E402
from tui.cli import main  # noqa: E402

D = Decimal


@pytest.fixture
def fleet(session):
    fleet = build_fleet(session)
    session.add_all([
        Budget(customer_number_id=fleet.number.id, division_id=fleet.distribution.id, month=OCT, amount=D("200.00")),
        Budget(customer_number_id=fleet.number.id, card_id=fleet.a.id, month=NOV, amount=D("100.00")),
    ])
    session.commit()
    return fleet


def read(path: Path, title: str):
    ws = load_workbook(path)[title]
    rows = [[cell.value for cell in row] for row in ws.iter_rows()]
    return ws, rows


def test_followup_cell_by_cell(session, fleet, tmp_path):
    path = tmp_path / "followup.xlsx"
    result = write_report_xlsx(session, fleet.actor, "followup", [(fleet.number.id, "4020001")], PERIOD, path)
    assert result.rows == 6  # 3 cards × 2 months
    ws, rows = read(path, "Follow-up per card")
    assert rows[0] == [c.header for c in COLUMNS["followup"]]
    assert all(cell.font.bold for cell in ws[1]) and ws.freeze_panes == "A2"
    assert rows[1] == ["4020001", "7006000000000001", "1-AAA-001", "Distribution", "fleet card",
                       datetime(2026, 10, 1), 4, 125, 200, 242, 0, 0, 0, 200, 242]
    assert rows[2] == ["4020001", "7006000000000001", "1-AAA-001", "Distribution", "fleet card",
                       datetime(2026, 11, 1), 3, 80, 138, 166.98, 0, 0, 0, 138, 166.98]
    assert rows[3][1:3] == ["7006000000000002", "1-BBB-002"] and rows[3][6:10] == [0, 0, 0, 0]
    assert rows[6] == ["4020001", "7006000000000003", "1-AAA-001", "Distribution", "passango obu",
                       datetime(2026, 11, 1), 0, 0, 0, 0, 1, 15.5, 18.76, 15.5, 18.76]
    assert ws["F2"].number_format == "mm/yyyy" and ws["I2"].number_format == "#,##0.00"
    assert ws["G2"].data_type == "n" and ws["J3"].data_type == "n"  # numbers, not text


def test_consumption_and_budget_cell_by_cell(session, fleet, tmp_path):
    path = tmp_path / "consumption.xlsx"
    write_report_xlsx(session, fleet.actor, "consumption", [(fleet.number.id, "4020001")], PERIOD, path)
    ws, rows = read(path, "Consumption")
    assert rows[1] == ["4020001", "7006000000000001", "1-AAA-001", "Distribution", "Truck", datetime(2026, 10, 1),
                       125, 200, 900, 7.78, 0.124]
    assert rows[2][6:] == [80, 128, 800, 7.5, 0.12]
    assert rows[4] == ["4020001", "7006000000000002", "1-BBB-002", "Long haul", "Car", datetime(2026, 11, 1),
                       40, 60, None, None, None]  # no odometer readings: no distance, no ratios
    assert len(rows) == 5  # A and B, two months each; the OBU buys no fuel

    path = tmp_path / "budget.xlsx"
    write_report_xlsx(session, fleet.actor, "budget", [(fleet.number.id, "4020001")], PERIOD, path)
    ws, rows = read(path, "Budget follow-up")
    assert rows[1:] == [
        ["4020001", "Distribution", None, None, datetime(2026, 10, 1), 200, 220, -20, "yes"],
        ["4020001", "Distribution", None, None, datetime(2026, 11, 1), None, 153.5, None, None],
        ["4020001", "Distribution", "7006000000000001", "1-AAA-001", datetime(2026, 10, 1), None, 200, None, None],
        ["4020001", "Distribution", "7006000000000001", "1-AAA-001", datetime(2026, 11, 1), 100, 138, -38, "yes"],
        ["4020001", "Long haul", None, None, datetime(2026, 10, 1), None, 0, None, None],
        ["4020001", "Long haul", None, None, datetime(2026, 11, 1), None, 65, None, None],
    ]


def test_refused_before_a_file_is_started_and_cancel_leaves_none(session, fleet, tmp_path):
    out = tmp_path / "out"  # the test database lives in tmp_path itself
    out.mkdir()
    path = out / "x.xlsx"
    with pytest.raises(PermissionDenied, match=r"“Data export \(xls\)”"):
        write_report_xlsx(session, fleet.with_rights(Right.REPORT_CARD_FOLLOWUP), "followup",
                          [(fleet.number.id, "4020001")], PERIOD, path)
    with pytest.raises(PermissionDenied, match="customer number"):
        write_report_xlsx(session, fleet.with_rights(Right.REPORT_CARD_FOLLOWUP, Right.REPORT_EXPORT,
                                                     numbers=(fleet.number.id,)),
                          "followup", [(fleet.number.id, "4020001"), (fleet.other.id, "4020002")], PERIOD, path)
    with pytest.raises(ExportCancelled):
        write_report_xlsx(session, fleet.actor, "followup", [(fleet.number.id, "4020001")], PERIOD, path,
                          cancelled=lambda: True)
    assert list(out.iterdir()) == []


@pytest.fixture
def reporter(session, fleet, clock, cheap_password_hashing):
    from store.services.auth import set_password

    user = User(customer_id=fleet.customer.id, username="reporter", last_name="R", first_name="R",
                email="r@test.example", phone="0470000000", status=UserStatus.ACTIVE)
    session.add(user)
    session.flush()
    set_password(session, user, "Report#2026", clock.now())
    session.add_all([UserRight(user_id=user.id, right=r) for r in (Right.REPORT_CONSUMPTION, Right.REPORT_EXPORT)])
    session.add(UserCustomerNumber(user_id=user.id, customer_number_id=fleet.number.id))
    session.commit()
    return user


def run_cli(url, *args, password="Report#2026"):
    return CliRunner().invoke(main, ["reports", "export", "--database-url", url, "--user", "reporter", *args],
                              env={"CARDSONLINE_PASSWORD": password})


def test_cli_reports_export(db, fleet, reporter, tmp_path):
    path = tmp_path / "out" / "consumption.xlsx"
    path.parent.mkdir()
    result = run_cli(db.url, "--report", "consumption", "--from", "2026-10", "--to", "2026-11", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert f"Exported 4 rows (consumption, 10/2026–11/2026) to {path}" in result.output
    assert read(path, "Consumption")[1][1][9] == 7.78

    no_right = run_cli(db.url, "--report", "followup", "--from", "2026-10", "--to", "2026-11", "-o", str(path))
    assert no_right.exit_code != 0 and "“Follow-up per card/OBU”" in no_right.output
    other = run_cli(db.url, "--report", "consumption", "--from", "2026-10", "--to", "2026-11", "-o", str(path),
                    "--customer-number", "4020002")
    assert other.exit_code != 0 and "4020002" in other.output
    backwards = run_cli(db.url, "--report", "consumption", "--from", "2026-11", "--to", "2026-10", "-o", str(path))
    assert backwards.exit_code != 0 and "before it starts" in backwards.output
    bad_month = run_cli(db.url, "--report", "consumption", "--from", "11/2026", "--to", "2026-11", "-o", str(path))
    assert bad_month.exit_code == 2 and "YYYY-MM" in bad_month.output
    not_xlsx = run_cli(db.url, "--report", "consumption", "--from", "2026-10", "--to", "2026-11", "-o",
                       str(tmp_path / "x.csv"))
    assert not_xlsx.exit_code != 0 and ".xlsx" in not_xlsx.output
