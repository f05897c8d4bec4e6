"""Billing data files (TID, Fiche 11 "facturatie files"): an invoice's lines as data, CSV and xlsx.

`write_billing_data(session, invoice_id, folder)` writes `TID-<invoice number>.csv` and `.xlsx` into `folder`
(`write_document_billing_data(document, folder)` the same from the invoice's document, for the batch):
one row per invoice line (a transaction, or a card's monthly fee), each with the invoice number, in the order
of the PDF (by card, then time), and a last row "TOTAL" with the invoice's totals (the same figures as the PDF:
the lines add up to them to the cent, checked before writing). Each file is written to a temporary name in the
folder and renamed into place only when complete (not fsynced: a TID file can always be made again from the
invoice).

CSV: UTF-8 with a BOM (Excel opens it with the accents right), `;` between fields, decimal point, dates as
YYYY-MM-DD and times as ISO 8601 in the customer's time zone — a file for programs as much as for people.
xlsx: the same columns, amounts as numbers with a number format, dates and times as dates (the customer's
local time), a bold frozen header and an autofilter.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlmodel import Session

from exports.fleet_xlsx import AMOUNT_FORMAT, DATE_FORMAT, DATETIME_FORMAT, VOLUME_FORMAT, Column
from exports.output_files import replaced_when_complete
from store.i18n import N_, _, use_language
from store.issuer.invoicing import InvoiceDocument, InvoiceLineRow, invoice_lines, invoice_zone
from store.models import Customer, CustomerNumber, Invoice

__all__ = ["BillingRow", "COLUMNS", "TOTAL_LABEL", "billing_file_names", "billing_rows", "document_billing_rows",
           "write_billing_data", "write_document_billing_data"]

TOTAL_LABEL = "TOTAL"
RATE_FORMAT = "0.00"
SHEET_TITLE = N_("Billing data")


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


# The CSV is for machines: its header row stays these English names (and its values ISO dates, decimal
# points, fuel/toll/fee). The xlsx is for people: its header row and sheet title are in the customer's language.
COLUMNS = (
    Column(N_("Invoice number"), 14), Column(N_("Issue date"), 11, DATE_FORMAT), Column(N_("Period from"), 11, DATE_FORMAT),
    Column(N_("Period to"), 11, DATE_FORMAT), Column(N_("Customer number"), 12), Column(N_("Line type"), 8),
    Column(N_("Card/OBU number"), 21), Column(N_("Licence plate / name"), 16), Column(N_("Transaction id"), 22),
    Column(N_("Date and time"), 17, DATETIME_FORMAT), Column(N_("Description"), 48), Column(N_("Product"), 12),
    Column(N_("Country"), 7), Column(N_("Quantity"), 10, VOLUME_FORMAT), Column(N_("Unit"), 5),
    Column(N_("Unit price excl. VAT (EUR)"), 12, "#,##0.0000"), Column(N_("Amount excl. VAT (EUR)"), 13, AMOUNT_FORMAT),
    Column(N_("VAT rate (%)"), 8, RATE_FORMAT), Column(N_("VAT (EUR)"), 11, AMOUNT_FORMAT),
    Column(N_("Amount incl. VAT (EUR)"), 13, AMOUNT_FORMAT),
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
    yield from _rows(head, invoice_lines(session, invoice_id, zone), zone,
                     (invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat), with_total)


def document_billing_rows(document: InvoiceDocument, *, with_total: bool = True) -> Iterator[BillingRow]:
    """The same rows from the invoice's document (the batch has it in memory right after making the invoice:
    no reading back). Same check of the totals."""
    head = dict(invoice_number=document.number, issue_date=document.issue_date,
                period_start=document.period_start, period_end=document.period_end,
                customer_number=document.customer_number)
    lines = (line for group in document.groups for line in group.lines)
    yield from _rows(head, lines, ZoneInfo(document.timezone),
                     (document.total_excl_vat, document.total_vat, document.total_incl_vat), with_total)


def _rows(head: dict, lines: Iterable[InvoiceLineRow], zone: ZoneInfo, totals: tuple[Decimal, Decimal, Decimal],
          with_total: bool) -> Iterator[BillingRow]:
    sums = [Decimal(0), Decimal(0), Decimal(0)]
    for line in lines:
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
    number = head["invoice_number"]
    if tuple(sums) != totals:
        raise ValueError(f"Invoice {number}: the lines add up to {sums[0]} / {sums[1]} / {sums[2]}, not to "
                         f"the invoice's totals {totals[0]} / {totals[1]} / {totals[2]}.")
    if with_total:
        yield BillingRow(**head, line_type=TOTAL_LABEL, card_number=None, card_label=None, transaction_id=None,
                         occurred_at=None, description=f"Total of invoice {number}", product=None,
                         country=None, quantity=None, unit=None, unit_price=None,
                         amount_excl_vat=totals[0], vat_rate=None, vat_amount=totals[1], amount_incl_vat=totals[2])


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


def _write_csv(rows: list[BillingRow], path: Path) -> None:
    with replaced_when_complete(path) as temp, open(temp, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow([c.header for c in COLUMNS])
        for row in rows:
            writer.writerow([_csv_value(v) for v in _values(row)])


# --- xlsx --------------------------------------------------------------------------------------------------
# A TID file is small (an invoice's lines), so the fixed cost of a workbook matters more than the per-row one:
# openpyxl takes ~150 ms for 126 lines, this writes the same sheet (bold frozen header, widths, autofilter,
# number formats, dates as dates) as plain SpreadsheetML in a few milliseconds.

_XLSX_FORMATS = {DATE_FORMAT: 1, DATETIME_FORMAT: 2, AMOUNT_FORMAT: 3, VOLUME_FORMAT: 4, "#,##0.0000": 5,
                 RATE_FORMAT: 6}  # number format -> cell style index (0: plain, 7: bold header)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="6"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="dd/mm/yyyy hh:mm"/><numFmt numFmtId="166" formatCode="#,##0.00"/>'
    '<numFmt numFmtId="167" formatCode="#,##0.0##"/><numFmt numFmtId="168" formatCode="#,##0.0000"/>'
    '<numFmt numFmtId="169" formatCode="0.00"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="8"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    + "".join(f'<xf numFmtId="{n}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
              for n in range(164, 170))
    + '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    '</Relationships>')
_EPOCH = datetime(1899, 12, 30)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters XML 1.0 does not allow


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _xlsx_body(value: Any, style: int) -> str:
    """A cell without its reference: `<c r="B7"` + this."""
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f' s="{style}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f' s="{style}"><v>{(value - _EPOCH.date()).days}</v></c>'
    if isinstance(value, Decimal):
        return f' s="{style}"><v>{value:f}</v></c>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f' s="{style}"><v>{value!r}</v></c>'
    return f' t="inlineStr" s="{style}"><is><t xml:space="preserve">{_xml_text(str(value))}</t></is></c>'


def _write_xlsx(rows: list[BillingRow], path: Path) -> None:
    import zipfile

    letters = [_column_letter(i) for i in range(len(COLUMNS))]
    styles = [_XLSX_FORMATS.get(c.number_format, 0) for c in COLUMNS]
    last = f"{letters[-1]}{len(rows) + 1}"
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
             f'<dimension ref="A1:{last}"/><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" '
             'topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><cols>']
    parts += [f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>' for i, c in enumerate(COLUMNS, 1)]
    parts.append('</cols><sheetData><row r="1">')
    parts += [f'<c r="{letter}1"{_xlsx_body(c.text(), 7)}' for letter, c in zip(letters, COLUMNS)]
    parts.append("</row>")
    bodies: dict[tuple[int, Any], str] = {}  # the invoice number, dates, products … repeat on every row
    for number, row in enumerate(rows, 2):
        parts.append(f'<row r="{number}">')
        for column, value in enumerate(_values(row)):
            if value is None:
                continue
            key = (column, value)
            body = bodies.get(key)
            if body is None:
                body = bodies[key] = _xlsx_body(value, styles[column])
            parts.append(f'<c r="{letters[column]}{number}"{body}')
        parts.append("</row>")
    parts.append(f'</sheetData><autoFilter ref="A1:{last}"/></worksheet>')
    title = _xml_text(_(SHEET_TITLE)[:31])  # Excel's limit for a sheet name
    quoted = title.replace("'", "''")
    workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets><definedNames>'
                f'<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
                f"'{quoted}'!$A$1:${letters[-1]}${len(rows) + 1}</definedName></definedNames></workbook>")
    # Level 1: a TID sheet compresses nearly as well, in a third of the time of the default 6.
    with replaced_when_complete(path) as temp, \
            zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(parts))


def write_billing_data(session: Session, invoice_id: int, folder: Path) -> tuple[Path, Path]:
    """Write `TID-<number>.csv` and `TID-<number>.xlsx` into `folder` (each replaced only when complete);
    returns (csv path, xlsx path)."""
    invoice = session.get(Invoice, invoice_id)
    number = session.get(CustomerNumber, invoice.customer_number_id) if invoice is not None else None
    customer = session.get(Customer, number.customer_id) if number is not None else None
    # Read (and check) everything before writing anything: an invoice has at most tens of thousands of lines.
    return _write_files(folder, lambda: list(billing_rows(session, invoice_id)),
                        customer.language if customer is not None else None)


def write_document_billing_data(document: InvoiceDocument, folder: Path) -> tuple[Path, Path]:
    """The same files from the invoice's document (the batch, right after making the invoice)."""
    return _write_files(folder, lambda: list(document_billing_rows(document)), document.language)


def _write_files(folder: Path, read: Callable[[], list[BillingRow]], language: str | None) -> tuple[Path, Path]:
    """The xlsx (for people) in `language`, the customer's, as the invoice PDF; the CSV is for machines."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(_("The folder {folder} does not exist.").format(folder=folder))
    rows = read()
    csv_name, xlsx_name = billing_file_names(rows[-1].invoice_number)
    csv_path, xlsx_path = folder / csv_name, folder / xlsx_name
    _write_csv(rows, csv_path)
    with use_language(language):
        _write_xlsx(rows, xlsx_path)
    return csv_path, xlsx_path
