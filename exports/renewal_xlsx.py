"""The renewal board to Excel (My cards and OBUs → Renewal board → Ctrl+E): one row per month, the next 12.

Written with exports.fleet_xlsx's sheet writer into a temporary file that replaces `path` only when complete.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from exports.fleet_xlsx import Column, ExportResult, write_rows_xlsx
from store.i18n import N_
from store.services.renewals import BOARD_HEADERS, BoardMonth, board_rows

__all__ = ["COLUMNS", "write_renewal_board_xlsx"]

SHEET_TITLE = N_("Renewal board")
DATE_FORMAT = "dd/mm/yyyy"
COLUMNS = tuple(Column(header, width, number_format) for header, width, number_format in zip(
    BOARD_HEADERS, (10, 10, 20, 11, 11, 16, 12, 12, 14, 12),
    (None, "0", "0", "0", "0", "0", DATE_FORMAT, DATE_FORMAT, DATE_FORMAT, DATE_FORMAT)))


def write_renewal_board_xlsx(board: Iterable[BoardMonth], path: Path) -> ExportResult:
    """Write the board to `path` (.xlsx); a month whose campaign has not started has no "not yet reviewed"."""
    return write_rows_xlsx(board_rows(list(board)), path, columns=COLUMNS, title=SHEET_TITLE)
