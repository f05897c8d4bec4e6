"""Billing data files (exports/billing_data.py): an invoice's lines as CSV and xlsx, read back, on the known
October of tests/store/test_invoicing.py (stand-in renderer; the real PDF is tests/test_invoicing_files.py)."""
from __future__ import annotations

import csv
import os
import stat
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent / "store"))
from test_invoicing import ISSUE_AT, OCTOBER, FakeRenderer, build_world  # noqa: E402

from exports.billing_data import (  # noqa: E402
    COLUMNS,
    billing_rows,
    document_billing_rows,
    write_billing_data,
    write_document_billing_data,
)
from store.i18n import use_language  # noqa: E402
from store.issuer.invoicing import invoice_month  # noqa: E402
from store.models import Invoice, InvoiceLine  # noqa: E402

D = Decimal


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


@pytest.fixture
def invoice(session, renderer) -> Invoice:
    build_world(session)
    invoice_month(session, OCTOBER, ISSUE_AT, renderer)
    return session.exec(select(Invoice).where(Invoice.number == "2026-000008")).one()


def test_billing_rows_one_per_line_then_the_totals(session, invoice):
    rows = list(billing_rows(session, invoice.id))
    assert len(rows) == 9 + 1
    assert {r.invoice_number for r in rows} == {"2026-000008"}
    assert [r.line_type for r in rows] == ["fuel"] * 5 + ["fee", "toll", "toll", "fee", "TOTAL"]
    first = rows[0]
    assert (first.card_number, first.card_label, first.transaction_id, first.product, first.unit) == (
        "700614020001000018", "1-ABC-123", "T-OCT01", "diesel", "l")
    assert first.occurred_at.isoformat() == "2026-10-01T00:30:00+02:00"  # the customer's local time
    total = rows[-1]
    assert (total.amount_excl_vat, total.vat_amount, total.amount_incl_vat) == (D("328.90"), D("65.68"),
                                                                                D("394.58"))
    assert sum(r.amount_incl_vat for r in rows[:-1]) == invoice.total_incl_vat


def test_csv_and_xlsx_match_the_invoice(session, invoice, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    csv_path, xlsx_path = write_billing_data(session, invoice.id, tmp_path)
    assert (csv_path.name, xlsx_path.name) == ("TID-2026-000008.csv", "TID-2026-000008.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TID-2026-000008.csv", "TID-2026-000008.xlsx"]

    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle, delimiter=";"))
    header, lines, total = table[0], table[1:-1], table[-1]
    assert header == [c.header for c in COLUMNS]
    col = {name: header.index(name) for name in header}
    assert len(lines) == 9 and {line[col["Invoice number"]] for line in table[1:]} == {"2026-000008"}
    assert sum(D(line[col["Amount incl. VAT (EUR)"]]) for line in lines) == D("394.58")
    assert (total[col["Line type"]], total[col["Amount excl. VAT (EUR)"]], total[col["VAT (EUR)"]],
            total[col["Amount incl. VAT (EUR)"]]) == ("TOTAL", "328.90", "65.68", "394.58")
    assert lines[0][col["Date and time"]] == "2026-10-01T00:30:00+02:00"
    assert lines[2][col["VAT rate (%)"]] == "20.00" and lines[2][col["Country"]] == "FR"

    sheet = load_workbook(xlsx_path, read_only=True).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    with use_language("fr"):  # the xlsx is for people: its header row is in the (French-speaking) customer's language
        assert cells[0] == [c.text() for c in COLUMNS]
    assert len(cells) == 1 + 9 + 1
    assert cells[1][col["Date and time"]] == datetime(2026, 10, 1, 0, 30)
    assert cells[1][col["Issue date"]] == datetime(2026, 11, 3) or cells[1][col["Issue date"]] == date(2026, 11, 3)
    assert round(sum(row[col["Amount incl. VAT (EUR)"]] for row in cells[1:-1]), 2) == 394.58
    assert cells[-1][col["Line type"]] == "TOTAL" and cells[-1][col["Amount incl. VAT (EUR)"]] == 394.58


def test_the_batch_writes_the_same_files_from_the_document_it_just_rendered(session, invoice, renderer, tmp_path):
    # The batch writes the TID files from the document it rendered (nothing read back): the same rows and the
    # same bytes as written later from the database.
    document = renderer.documents[0]
    assert document.number == invoice.number
    assert list(document_billing_rows(document)) == list(billing_rows(session, invoice.id))
    (tmp_path / "batch").mkdir()
    (tmp_path / "later").mkdir()
    batch = write_document_billing_data(document, tmp_path / "batch")
    later = write_billing_data(session, invoice.id, tmp_path / "later")
    assert [p.name for p in batch] == [p.name for p in later] == ["TID-2026-000008.csv", "TID-2026-000008.xlsx"]
    assert batch[0].read_bytes() == later[0].read_bytes()
    read = lambda path: [list(r) for r in load_workbook(path, read_only=True).active.iter_rows(values_only=True)]  # noqa: E731
    assert read(batch[1]) == read(later[1])


def test_lines_that_do_not_add_up_are_refused_and_nothing_is_written(session, invoice, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    line = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).first()
    line.amount_incl_vat += D("0.01")
    session.add(line)
    session.commit()
    with pytest.raises(ValueError, match="add up"):
        write_billing_data(session, invoice.id, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        write_billing_data(session, invoice.id, tmp_path / "missing")


def test_the_files_are_readable_by_their_owner_only(session, invoice, tmp_path):
    """Billing data is customer data (see tests/test_export_permissions.py for the umask cases)."""
    previous = os.umask(0o022)
    try:
        paths = write_billing_data(session, invoice.id, tmp_path)
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(path.stat().st_mode) for path in paths] == [0o600, 0o600]
