"""Billing data files (TID, Fiche 11 "facturatie files"): an invoice's lines as data, CSV and xlsx.

`write_billing_data(session, invoice_id, folder)` writes `TID-<invoice number>.csv` and `.xlsx` into `folder`:
one row per invoice line (a transaction, or a card's monthly fee), each with the invoice number, in the order
of the PDF (by card, then time), and a last row "TOTAL" with the invoice's totals (the same figures as the PDF:
the lines add up to them to the cent, checked before writing). Each file is written to a temporary name in the
folder and renamed into place only when complete.

CSV: UTF-8 with a BOM (Excel opens it with the accents right), `;` between fields, decimal point, dates as
YYYY-MM-DD and times as ISO 8601 in the customer's time zone — a file for programs as much as for people.
xlsx: the same columns, amounts as numbers with a number format, dates as dates.
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from sqlmodel import Session

from exports.fleet_xlsx import AMOUNT_FORMAT, DATE_FORMAT, DATETIME_FORMAT, VOLUME_FORMAT, Column, write_rows_xlsx
from store.issuer.invoicing import invoice_zone, invoice_lines
from store.models import CustomerNumber, Invoice

__all__ = ["BillingRow", "COLUMNS", "TOTAL_LABEL", "billing_file_names", "billing_rows", "write_billing_data"]

TOTAL_LABEL = "TOTAL"
RATE_FORMAT = "0.00"
SHEET_TITLE = "Billing data"


@dataclass(frozen=True)
class BillingRow:
    invoice_number: str
    issue_date: date
    period_start: date
    period_end: date
    customer_number: str
    line_type: str  # fuel, toll, fee, or TOTAL for the totals row
    card_number: str | None
    card_label: str | None  # licence plate or embossed name
    transaction_id: str | None  # the issuer's transaction id
    occurred_at: datetime | None  # in the customer's time zone (naive-free: aware)
    description: str
    product: str | None
    country: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    amount_excl_vat: Decimal
    vat_rate: Decimal | None  # None on the totals row
    vat_amount: Decimal
    amount_incl_vat: Decimal


COLUMNS = (
    Column("Invoice number", 14), Column("Issue date", 11, DATE_FORMAT), Column("Period from", 11, DATE_FORMAT),
    Column("Period to", 11, DATE_FORMAT), Column("Customer number", 12), Column("Line type", 8),
    Column("Card/OBU number", 21), Column("Licence plate / name", 16), Column("Transaction id", 22),
    Column("Date and time", 17, DATETIME_FORMAT), Column("Description", 48), Column("Product", 12),
    Column("Country", 7), Column("Quantity", 10, VOLUME_FORMAT), Column("Unit", 5),
    Column("Unit price excl. VAT (EUR)", 12, "#,##0.0000"), Column("Amount excl. VAT (EUR)", 13, AMOUNT_FORMAT),
    Column("VAT rate (%)", 8, RATE_FORMAT), Column("VAT (EUR)", 11, AMOUNT_FORMAT),
    Column("Amount incl. VAT (EUR)", 13, AMOUNT_FORMAT),
)


def billing_file_names(number: str) -> tuple[str, str]:
    return f"TID-{number}.csv", f"TID-{number}.xlsx"


def billing_rows(session: Session, invoice_id: int, *, with_total: bool = True) -> Iterator[BillingRow]:
    """The invoice's lines as billing rows (PDF order), then, with `with_total`, the totals row. Raises
    ValueError when there is no such invoice or its lines do not add up to its totals."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise ValueError(f"No invoice with id {invoice_id}.")
    number = session.get(CustomerNumber, invoice.customer_number_id)
    zone: ZoneInfo = invoice_zone(session, invoice_id)
    head = dict(invoice_number=invoice.number, issue_date=invoice.issue_date, period_start=invoice.period_start,
                period_end=invoice.period_end, customer_number=number.number)
    sums = [Decimal(0), Decimal(0), Decimal(0)]
    for line in invoice_lines(session, invoice_id, zone):
        sums[0] += line.amount_excl_vat
        sums[1] += line.vat_amount
        sums[2] += line.amount_incl_vat
        yield BillingRow(**head, line_type=line.kind, card_number=line.card_number, card_label=line.card_label,
                         transaction_id=line.issuer_transaction_id,
                         occurred_at=line.moment.astimezone(zone) if line.moment else None,
                         description=line.description, product=line.product, country=line.country,
                         quantity=line.quantity, unit=line.unit, unit_price=line.unit_price,
                         amount_excl_vat=line.amount_excl_vat, vat_rate=line.vat_rate, vat_amount=line.vat_amount,
                         amount_incl_vat=line.amount_incl_vat)
    totals = (invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat)
    if tuple(sums) != totals:
        raise ValueError(f"Invoice {invoice.number}: the lines add up to {sums[0]} / {sums[1]} / {sums[2]}, not to "
                         f"the invoice's totals {totals[0]} / {totals[1]} / {totals[2]}.")
    if with_total:
        yield BillingRow(**head, line_type=TOTAL_LABEL, card_number=None, card_label=None, transaction_id=None,
                         occurred_at=None, description=f"Total of invoice {invoice.number}", product=None,
                         country=None, quantity=None, unit=None, unit_price=None,
                         amount_excl_vat=invoice.total_excl_vat, vat_rate=None, vat_amount=invoice.total_vat,
                         amount_incl_vat=invoice.total_incl_vat)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _values(row: BillingRow) -> list[Any]:
    return [row.invoice_number, row.issue_date, row.period_start, row.period_end, row.customer_number,
            row.line_type, row.card_number, row.card_label, row.transaction_id, row.occurred_at, row.description,
            row.product, row.country, row.quantity, row.unit, row.unit_price, row.amount_excl_vat, row.vat_rate,
            row.vat_amount, row.amount_incl_vat]


def _xlsx_values(row: BillingRow) -> list[Any]:
    values = _values(row)
    if row.occurred_at is not None:
        values[9] = row.occurred_at.replace(tzinfo=None)  # Excel has no time zones: the customer's local time
    return [float(v) if isinstance(v, Decimal) else v for v in values]


def _write_csv(rows: list[BillingRow], path: Path) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow([c.header for c in COLUMNS])
            for row in rows:
                writer.writerow([_csv_value(v) for v in _values(row)])
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_billing_data(session: Session, invoice_id: int, folder: Path) -> tuple[Path, Path]:
    """Write `TID-<number>.csv` and `TID-<number>.xlsx` into `folder` (each replaced only when complete);
    returns (csv path, xlsx path)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"The folder {folder} does not exist.")
    # Read (and check) everything before writing anything: an invoice has at most tens of thousands of lines.
    rows = list(billing_rows(session, invoice_id))
    csv_name, xlsx_name = billing_file_names(rows[-1].invoice_number)
    csv_path, xlsx_path = folder / csv_name, folder / xlsx_name
    _write_csv(rows, csv_path)
    write_rows_xlsx((_xlsx_values(row) for row in rows), xlsx_path, COLUMNS, SHEET_TITLE, total=len(rows))
    return csv_path, xlsx_path
