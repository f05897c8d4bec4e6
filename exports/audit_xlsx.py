"""The audit trail to Excel (My account → Audit trail → export): one row per event, newest first.

Written with exports.fleet_xlsx's sheet writer (bold frozen header, autofilter, number formats) into a
temporary file that replaces `path` only when complete. "Before" and "After" hold the changed fields as
`field: value` lines, so a reader sees the change without decoding JSON.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from exports.fleet_xlsx import DATETIME_FORMAT, Column, ExportCancelled, ExportResult, write_rows_xlsx
from store.i18n import N_
from store.queries.audit import AuditRow, change_lines

__all__ = ["COLUMNS", "ExportCancelled", "ExportResult", "row_values", "write_audit_xlsx"]

SHEET_TITLE = N_("Audit trail")  # title and headers: translated by the sheet writer
COLUMNS = (
    Column(N_("Date and time"), 17, DATETIME_FORMAT),
    Column(N_("User"), 16),
    Column(N_("Object"), 14),
    Column(N_("Object id"), 10),
    Column(N_("Action"), 20),
    Column(N_("Before"), 50),
    Column(N_("After"), 50),
)


def _side(row: AuditRow, index: int) -> str | None:
    lines = [f"{field}: {sides[index]}" for field, *sides in change_lines(row) if sides[index] != ""]
    return "\n".join(lines) or None


def row_values(row: AuditRow, zone) -> list[Any]:
    """The cells of one event; the time in `zone` (the customer's), without tzinfo as Excel wants."""
    return [row.occurred_at.astimezone(zone).replace(tzinfo=None), row.user, row.object_type, row.object_id,
            row.action, _side(row, 0), _side(row, 1)]


def write_audit_xlsx(rows: Iterable[AuditRow], path: Path, zone, total: int | None = None,
                     progress: Callable[[int, int | None], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Write the events to `path` (.xlsx); nothing appears there unless the whole file is written."""
    return write_rows_xlsx((row_values(row, zone) for row in rows), path, columns=COLUMNS, title=SHEET_TITLE,
                           total=total, progress=progress, cancelled=cancelled)
