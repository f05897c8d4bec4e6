"""Monthly reports to Excel (Monthly reports → Data export, and `cardsonline reports export`).

One sheet, one row per card (or division / budgeted card) and month, so the file pivots well: amounts and
volumes are numbers with a number format, months are dates shown as mm/yyyy. Rows stream from
store.queries.reports.export_report_rows (keyset batches) through exports.fleet_xlsx's sheet writer into a
temporary file that replaces `path` only when complete; several customer numbers follow each other.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from exports.fleet_xlsx import AMOUNT_FORMAT, INTEGER_FORMAT, VOLUME_FORMAT, Column, ExportResult, write_rows_xlsx
from store.i18n import N_, _
from store.queries.reports import (
    BudgetRow,
    ConsumptionCardRow,
    FollowupCardRow,
    MonthRange,
    ReportKind,
    export_report_rows,
)

__all__ = ["COLUMNS", "TITLES", "report_values", "write_report_xlsx"]

MONTH_FORMAT = "mm/yyyy"
RATIO_FORMAT = "0.00"
COST_PER_KM_FORMAT = "0.000"

# Sheet titles and headers are marked (English) and translated by the sheet writer when the file is written.
TITLES = {"followup": N_("Follow-up per card"), "consumption": N_("Consumption"), "budget": N_("Budget follow-up")}

_CARD = (Column(N_("Customer number"), 12), Column(N_("Card/OBU number"), 21), Column(N_("Licence plate"), 14),
         Column(N_("Fleet division"), 18))
COLUMNS: dict[str, tuple[Column, ...]] = {
    "followup": _CARD + (
        Column(N_("Card/OBU type"), 14), Column(N_("Month"), 9, MONTH_FORMAT),
        Column(N_("Fuel transactions"), 11, INTEGER_FORMAT), Column(N_("Volume (l)"), 12, VOLUME_FORMAT),
        Column(N_("Fuel excl. VAT (EUR)"), 13, AMOUNT_FORMAT), Column(N_("Fuel incl. VAT (EUR)"), 13, AMOUNT_FORMAT),
        Column(N_("Toll transactions"), 11, INTEGER_FORMAT), Column(N_("Toll excl. VAT (EUR)"), 13, AMOUNT_FORMAT),
        Column(N_("Toll incl. VAT (EUR)"), 13, AMOUNT_FORMAT), Column(N_("Total excl. VAT (EUR)"), 13, AMOUNT_FORMAT),
        Column(N_("Total incl. VAT (EUR)"), 13, AMOUNT_FORMAT)),
    "consumption": _CARD + (
        Column(N_("Vehicle type"), 16), Column(N_("Month"), 9, MONTH_FORMAT), Column(N_("Fuel (l)"), 12, VOLUME_FORMAT),
        Column(N_("Fuel cost excl. VAT (EUR)"), 13, AMOUNT_FORMAT), Column(N_("Distance (km)"), 11, INTEGER_FORMAT),
        Column(N_("l/100 km"), 9, RATIO_FORMAT), Column(N_("Cost per km (EUR)"), 10, COST_PER_KM_FORMAT)),
    "budget": (Column(N_("Customer number"), 12), Column(N_("Fleet division"), 18), Column(N_("Card/OBU number"), 21),
               Column(N_("Licence plate"), 14), Column(N_("Month"), 9, MONTH_FORMAT),
               Column(N_("Budget excl. VAT (EUR)"), 13, AMOUNT_FORMAT), Column(N_("Actual excl. VAT (EUR)"), 13, AMOUNT_FORMAT),
               Column(N_("Difference (EUR)"), 13, AMOUNT_FORMAT), Column(N_("Over budget"), 8)),
}


def report_values(report: ReportKind, customer_number: str, row) -> Iterator[list[Any]]:
    """The sheet rows (cell values in COLUMNS[report] order) of one report row: one per month."""
    if report == "followup":
        assert isinstance(row, FollowupCardRow)
        for m in row.months:
            total = m.total
            yield [customer_number, row.number, row.license_plate or row.embossed_name, row.division,
                   row.product_type.value, m.month, m.fuel.transactions, m.fuel.litres, m.fuel.amount_excl_vat,
                   m.fuel.amount_incl_vat, m.toll.transactions, m.toll.amount_excl_vat, m.toll.amount_incl_vat,
                   total.amount_excl_vat, total.amount_incl_vat]
    elif report == "consumption":
        assert isinstance(row, ConsumptionCardRow)
        for m in row.months:
            f = m.figures
            yield [customer_number, row.number, row.license_plate or row.embossed_name, row.division,
                   row.vehicle_type, m.month, f.litres, f.cost, f.distance_km or None, f.litres_per_100km,
                   f.cost_per_km]
    else:
        assert isinstance(row, BudgetRow)
        for m in row.months:
            yield [customer_number, row.division, row.card_number, row.license_plate, m.month, m.budget, m.actual,
                   m.difference, (_("yes") if m.over else _("no")) if m.budget is not None else None]


def write_report_xlsx(session, actor, report: ReportKind, customer_numbers: Iterable[tuple[int, str]],
                      period: MonthRange, path: Path,
                      progress: Callable[[int, int | None], None] | None = None,
                      cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Write `report` over `period` for each (id, number) of `customer_numbers` to `path` (.xlsx).

    Needs the right `reports.export` and the report's own right (checked by the store before the first row);
    `progress(done, None)` and `cancelled()` as exports.fleet_xlsx.write_rows_xlsx. `rows` in the result counts
    sheet rows (one per month of each card / division)."""
    numbers = list(customer_numbers)
    # Ask every customer number first: a refusal raises before a file is started.
    sources = [(number, export_report_rows(session, actor, report, number_id, period))
               for number_id, number in numbers]

    def values() -> Iterator[list[Any]]:
        for number, rows in sources:
            for row in rows:
                yield from report_values(report, number, row)

    return write_rows_xlsx(values(), path, columns=COLUMNS[report], title=TITLES[report], progress=progress,
                           cancelled=cancelled)
