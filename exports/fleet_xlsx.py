"""Fleet status to Excel (Fiche 06 *Download as Excel*): one row per card/OBU, streamed with openpyxl's
write-only mode into a temporary file that replaces `path` only when complete.

Columns, in groups: general information; per product its limit (allowed, amount, volume, period,
action); the controls (geographic, time, technical, transactions); the OBU's toll operators.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from exports.output_files import temp_beside
from store.i18n import N_, _
from store.models import Product, ProductType
from store.queries.fleet_export import FleetExportRow
from store.services.card_specs import PRODUCT_LABELS

SHEET_TITLE = N_("Fleet")
PROGRESS_EVERY = 500  # rows between two progress calls and two cancel checks

DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
AMOUNT_FORMAT = "#,##0.00"
VOLUME_FORMAT = "#,##0.0##"
INTEGER_FORMAT = "0"
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


class ExportCancelled(Exception):
    """The user cancelled the export; no file was written."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int


@dataclass(frozen=True)
class Column:
    """A sheet column. `header` is marked with N_ (English); the sheet shows `text()`, in the current language,
    with `values` filled into its placeholders (e.g. the product of a limit column)."""
    header: str
    width: float
    number_format: str | None = None  # None: the value's own (text, or openpyxl's default)
    values: tuple[tuple[str, str], ...] = ()  # placeholder -> N_-marked value, translated too

    def text(self) -> str:
        header = _(self.header)
        return header.format(**{key: _(value) for key, value in self.values}) if self.values else header


GENERAL_COLUMNS = (
    Column(N_("Card/OBU number"), 21),
    Column(N_("Rank"), 6, INTEGER_FORMAT),
    Column(N_("Card/OBU type"), 14),
    Column(N_("Licence plate"), 14),
    Column(N_("Name on the card"), 24),
    Column(N_("Code type"), 12),
    Column(N_("Fleet division"), 18),
    Column(N_("Customer number"), 12),
    Column(N_("Driver name"), 24),
    Column(N_("Status"), 14),
    Column(N_("Renewal status"), 20),
    Column(N_("Expiry date"), 12, DATE_FORMAT),
    Column(N_("Last use"), 17, DATETIME_FORMAT),
    Column(N_("Created"), 12, DATE_FORMAT),
    Column(N_("Card category"), 16),
    Column(N_("Vehicle type"), 16),
    Column(N_("Linked card/OBU"), 21),
    Column(N_("Linked plate"), 14),
)


def _volume_unit(product: Product) -> str:
    return "kWh" if product is Product.EV_CHARGING else "l"


LIMIT_COLUMNS = tuple(
    column
    for product in Product
    for column in (
        Column(N_("{product}: allowed"), 9, None, (("product", PRODUCT_LABELS[product]),)),
        Column(N_("{product}: amount (EUR)"), 11, AMOUNT_FORMAT, (("product", PRODUCT_LABELS[product]),)),
        Column(N_("{product}: volume ({unit})"), 11, VOLUME_FORMAT,
               (("product", PRODUCT_LABELS[product]), ("unit", _volume_unit(product)))),
        Column(N_("{product}: period"), 12, None, (("product", PRODUCT_LABELS[product]),)),
        Column(N_("{product}: action"), 9, None, (("product", PRODUCT_LABELS[product]),)),
    )
)

CONTROL_COLUMNS = (
    Column(N_("Allowed countries"), 24),  # geographic
    Column(N_("Allowed weekdays"), 28),  # time
    Column(N_("Allowed from (hour)"), 10),
    Column(N_("Allowed until (hour)"), 10),
    Column(N_("Forbidden days"), 24),
    Column(N_("Odometer prompt"), 10),  # technical
    Column(N_("Tank capacity (l)"), 10, VOLUME_FORMAT),
    Column(N_("Maximum transactions per day"), 12, INTEGER_FORMAT),  # transactions
)

TOLL_COLUMNS = (Column(N_("Toll operators"), 40),)

COLUMNS = GENERAL_COLUMNS + LIMIT_COLUMNS + CONTROL_COLUMNS + TOLL_COLUMNS
HEADERS = tuple(c.text() for c in COLUMNS)  # in English (at import): the default language
_NO_LIMIT = (None, None, None, None, None)


class _Words:
    """The words the cells repeat, translated once per export (not once per cell)."""

    def __init__(self) -> None:
        self.yes, self.no, self.all, self.none = _("yes"), _("no"), _("all"), _("none")
        self.weekdays = tuple(_(day) for day in WEEKDAYS)
        self.awaiting = _("{operator} (awaiting issuer)")


def _weekdays(days: tuple[int, ...], words: _Words) -> str:
    if len(set(days)) == 7:
        return words.all
    return " ".join(words.weekdays[d - 1] for d in sorted(set(days)) if 1 <= d <= 7) or words.none


def row_values(row: FleetExportRow, words: _Words | None = None) -> list[Any]:
    """The cell values of one card/OBU, in `COLUMNS` order (None: an empty cell). Codes (type, status,
    period, action) stay as stored; the words (yes, no, weekdays) are in the current language."""
    words = words or _Words()
    yes, no = words.yes, words.no
    is_obu = row.product_type is not ProductType.FLEET_CARD
    values: list[Any] = [
        row.number, row.rank, row.product_type.value, row.license_plate, row.embossed_name,
        None if is_obu else row.code_type.value, row.division, row.customer_number, row.driver_name,
        row.status.value, row.renewal_status.value, row.expiry_date,
        row.last_used_at.replace(tzinfo=None) if row.last_used_at is not None else None,
        row.created_at.date() if row.created_at is not None else None,
        row.category, row.vehicle_type, row.linked_number, row.linked_plate,
    ]
    limits = row.limits
    for product in Product:
        limit = limits.get(product)
        if limit is None:
            # A product the card does not list may not be bought at all.
            values.extend((no, None, None, None, None) if not is_obu or product is Product.TOLLS else _NO_LIMIT)
        elif not limit.allowed:
            values.extend((no, None, None, None, None))
        else:
            has_ceiling = limit.amount is not None or limit.volume is not None
            values.extend((yes, limit.amount, limit.volume, limit.period.value if has_ceiling else None,
                           limit.action.value if has_ceiling else None))
    if is_obu:
        values.extend((None,) * len(CONTROL_COLUMNS))
    else:
        values.extend((
            " ".join(row.allowed_countries) if row.allowed_countries else words.all,
            _weekdays(row.allowed_weekdays, words), row.hours_from, row.hours_to,
            " ".join(d.strftime("%d/%m/%Y") for d in row.forbidden_days) or None,
            yes if row.odometer_prompt else no, row.tank_capacity_l, row.max_transactions_per_day,
        ))
    values.append(", ".join(t.operator.value if t.confirmed else words.awaiting.format(operator=t.operator.value)
                            for t in row.tolls) or None)
    return values


class SheetWriter:
    """A write-only sheet ("Fleet" by default) with the bold header, widths, freeze pane, autofilter and
    per-column number formats of `columns` (default the fleet's `COLUMNS`).

    The benchmark's baseline uses it too, so both write exactly the same cells; other exports
    (exports/audit_xlsx.py) pass their own columns and title.
    """

    def __init__(self, workbook, columns: tuple[Column, ...] = COLUMNS, title: str = SHEET_TITLE):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._cell = WriteOnlyCell
        self.columns = columns
        self.ws = workbook.create_sheet(_(title))
        for index, column in enumerate(columns, 1):
            self.ws.column_dimensions[get_column_letter(index)].width = column.width
        self.ws.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for title in (c.text() for c in columns):
            cell = WriteOnlyCell(self.ws, value=title)
            cell.font = bold
            header.append(cell)
        self.ws.append(header)
        # One styled template per formatted column: each value cell copies its style array (cheap)
        # instead of looking the number format up again.
        self._formatted = []
        for index, column in enumerate(columns):
            if column.number_format is not None:
                template = WriteOnlyCell(self.ws)
                template.number_format = column.number_format
                self._formatted.append((index, template._style))
        self.rows = 0

    def append(self, values: list[Any]) -> None:
        cell_class, ws = self._cell, self.ws
        for index, style in self._formatted:
            value = values[index]
            if value is not None:
                cell = cell_class(ws, value=value)
                cell._style = style
                values[index] = cell
        ws.append(values)
        self.rows += 1

    def finish(self) -> None:
        from openpyxl.utils import get_column_letter

        last_row = self.rows + 1
        self.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{last_row}"


def _discard(workbook) -> None:
    """Remove openpyxl's own temporary file of a sheet that will never be saved."""
    for ws in workbook.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        try:
            if ws._rows is not None:
                ws._rows.close()
            writer.close()
        except Exception:  # noqa: BLE001 - best effort: the file is removed below anyway
            pass
        try:
            writer.cleanup()
        except OSError:
            pass


def write_fleet_xlsx(rows: Iterable[FleetExportRow], path: Path, total: int | None = None,
                     progress: Callable[[int, int | None], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Write `rows` to `path` (.xlsx). Nothing appears at `path` unless the whole file is written.

    `progress(done, total)` is called every few hundred rows and at the end; `cancelled()` is asked as
    often, and when it answers True the export stops with ExportCancelled, leaving no file.
    """
    words = _Words()
    return write_rows_xlsx((row_values(row, words) for row in rows), path, total=total, progress=progress,
                           cancelled=cancelled)


def write_rows_xlsx(values: Iterable[list[Any]], path: Path, columns: tuple[Column, ...] = COLUMNS,
                    title: str = SHEET_TITLE, total: int | None = None,
                    progress: Callable[[int, int | None], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Write rows of cell values (in `columns` order) as one sheet to `path` (.xlsx), through a temporary
    file renamed into place only when complete; progress and cancel as `write_fleet_xlsx`."""
    from openpyxl import Workbook

    path = Path(path)
    workbook = Workbook(write_only=True)
    temp = temp_beside(path, ".xlsx.part")  # owner-only: the file holds customer data
    saved = False
    try:
        sheet = SheetWriter(workbook, columns, title)
        done = 0
        if cancelled is not None and cancelled():
            raise ExportCancelled(_("The export was cancelled."))
        for row in values:
            sheet.append(row)
            done += 1
            if done % PROGRESS_EVERY == 0:
                if cancelled is not None and cancelled():
                    raise ExportCancelled(_("The export was cancelled."))
                if progress is not None:
                    progress(done, total)
        if cancelled is not None and cancelled():
            raise ExportCancelled(_("The export was cancelled."))
        sheet.finish()
        workbook.save(temp)
        saved = True
        os.replace(temp, path)
        if progress is not None:
            progress(done, total)
        return ExportResult(path=path, rows=done)
    except BaseException:
        if not saved:
            _discard(workbook)
        temp.unlink(missing_ok=True)
        raise
