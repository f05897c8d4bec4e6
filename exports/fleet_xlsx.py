"""Fleet status to Excel (Fiche 06 *Download as Excel*): one row per card/OBU, streamed with openpyxl's
write-only mode into a temporary file that replaces `path` only when complete.

Columns, in groups: general information; per product its limit (allowed, amount, volume, period,
action); the controls (geographic, time, technical, transactions); the OBU's toll operators.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from store.models import Product, ProductType
from store.queries.fleet_export import FleetExportRow
from store.services.card_specs import PRODUCT_LABELS

SHEET_TITLE = "Fleet"
PROGRESS_EVERY = 500  # rows between two progress calls and two cancel checks

DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
AMOUNT_FORMAT = "#,##0.00"
VOLUME_FORMAT = "#,##0.0##"
INTEGER_FORMAT = "0"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ExportCancelled(Exception):
    """The user cancelled the export; no file was written."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    number_format: str | None = None  # None: the value's own (text, or openpyxl's default)


GENERAL_COLUMNS = (
    Column("Card/OBU number", 21),
    Column("Rank", 6, INTEGER_FORMAT),
    Column("Card/OBU type", 14),
    Column("Licence plate", 14),
    Column("Name on the card", 24),
    Column("Code type", 12),
    Column("Fleet division", 18),
    Column("Customer number", 12),
    Column("Driver name", 24),
    Column("Status", 14),
    Column("Renewal status", 20),
    Column("Expiry date", 12, DATE_FORMAT),
    Column("Last use", 17, DATETIME_FORMAT),
    Column("Created", 12, DATE_FORMAT),
    Column("Card category", 16),
    Column("Vehicle type", 16),
    Column("Linked card/OBU", 21),
    Column("Linked plate", 14),
)


def _volume_unit(product: Product) -> str:
    return "kWh" if product is Product.EV_CHARGING else "l"


LIMIT_COLUMNS = tuple(
    column
    for product in Product
    for column in (
        Column(f"{PRODUCT_LABELS[product]}: allowed", 9),
        Column(f"{PRODUCT_LABELS[product]}: amount (EUR)", 11, AMOUNT_FORMAT),
        Column(f"{PRODUCT_LABELS[product]}: volume ({_volume_unit(product)})", 11, VOLUME_FORMAT),
        Column(f"{PRODUCT_LABELS[product]}: period", 12),
        Column(f"{PRODUCT_LABELS[product]}: action", 9),
    )
)

CONTROL_COLUMNS = (
    Column("Allowed countries", 24),  # geographic
    Column("Allowed weekdays", 28),  # time
    Column("Allowed from (hour)", 10),
    Column("Allowed until (hour)", 10),
    Column("Forbidden days", 24),
    Column("Odometer prompt", 10),  # technical
    Column("Tank capacity (l)", 10, VOLUME_FORMAT),
    Column("Maximum transactions per day", 12, INTEGER_FORMAT),  # transactions
)

TOLL_COLUMNS = (Column("Toll operators", 40),)

COLUMNS = GENERAL_COLUMNS + LIMIT_COLUMNS + CONTROL_COLUMNS + TOLL_COLUMNS
HEADERS = tuple(c.header for c in COLUMNS)
_NO_LIMIT = (None, None, None, None, None)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _weekdays(days: tuple[int, ...]) -> str:
    if len(set(days)) == 7:
        return "all"
    return " ".join(WEEKDAYS[d - 1] for d in sorted(set(days)) if 1 <= d <= 7) or "none"


def row_values(row: FleetExportRow) -> list[Any]:
    """The cell values of one card/OBU, in `COLUMNS` order (None: an empty cell)."""
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
            values.extend(("no", None, None, None, None) if not is_obu or product is Product.TOLLS else _NO_LIMIT)
        elif not limit.allowed:
            values.extend(("no", None, None, None, None))
        else:
            has_ceiling = limit.amount is not None or limit.volume is not None
            values.extend(("yes", limit.amount, limit.volume, limit.period.value if has_ceiling else None,
                           limit.action.value if has_ceiling else None))
    if is_obu:
        values.extend((None,) * len(CONTROL_COLUMNS))
    else:
        values.extend((
            " ".join(row.allowed_countries) if row.allowed_countries else "all",
            _weekdays(row.allowed_weekdays), row.hours_from, row.hours_to,
            " ".join(d.strftime("%d/%m/%Y") for d in row.forbidden_days) or None,
            _yes_no(row.odometer_prompt), row.tank_capacity_l, row.max_transactions_per_day,
        ))
    values.append(", ".join(t.operator.value if t.confirmed else f"{t.operator.value} (awaiting issuer)"
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
        self.ws = workbook.create_sheet(title)
        for index, column in enumerate(columns, 1):
            self.ws.column_dimensions[get_column_letter(index)].width = column.width
        self.ws.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for title in (c.header for c in columns):
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
    return write_rows_xlsx((row_values(row) for row in rows), path, total=total, progress=progress,
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
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".xlsx.part")
    os.close(handle)
    temp = Path(temp_name)
    saved = False
    try:
        sheet = SheetWriter(workbook, columns, title)
        done = 0
        if cancelled is not None and cancelled():
            raise ExportCancelled("The export was cancelled.")
        for row in values:
            sheet.append(row)
            done += 1
            if done % PROGRESS_EVERY == 0:
                if cancelled is not None and cancelled():
                    raise ExportCancelled("The export was cancelled.")
                if progress is not None:
                    progress(done, total)
        if cancelled is not None and cancelled():
            raise ExportCancelled("The export was cancelled.")
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
