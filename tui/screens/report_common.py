"""What the Monthly reports screens share: the period, the views, the table/chart switch, paging, the period
dialog and the export key.

A report screen shows one report of the active customer number over a period of whole months (the last 6 by
default). `[` and `]` move the period one month back or forward, `P` asks for another period, `V` switches the
view (months / cards, cards / divisions / vehicle types …), `C` switches between the table and a chart of the
highlighted line (charts stay readable at 80×24 because they get the whole body), Ctrl+E exports the report
to Excel (with the right `reports.export`). Queries run in thread workers; per-card views load 50 cards at a
time and the next page when the cursor reaches the last line.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, DataTable, Input, Label, Static

from tui.i18n import N_, _, format_number, ngettext
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

DEFAULT_MONTHS = 6
PAGE = 50


def money(value) -> str:
    """1234.5 → "1,234.50" (empty for None)."""
    return "" if value is None else format_number(value, 2)


def whole(value) -> str:
    return "" if value is None else format_number(value, 0)


def month_label(month: date) -> str:
    return f"{month:%m/%y}"


def theme_color(app, name: str, fallback: str) -> str:
    """A theme variable's colour (e.g. "error"), for text styles and chart series."""
    try:
        return app.theme_variables.get(name) or fallback
    except Exception:  # noqa: BLE001 - no theme yet: the fallback
        return fallback


def theme_rgb(app, name: str, fallback: str) -> tuple[int, int, int]:
    from textual.color import Color

    try:
        return Color.parse(theme_color(app, name, fallback)).rgb
    except Exception:  # noqa: BLE001
        return Color.parse(fallback).rgb


class PeriodDialog(ModalScreen["tuple[date, date] | None"]):
    """Asks the first and last month (YYYY-MM); dismisses with them, or None."""

    CSS_PATH = "../styles/reports.tcss"
    AUTO_FOCUS = "#period-from"
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="period_cancel")]

    def __init__(self, first: date, last: date) -> None:
        super().__init__()
        self.first, self.last = first, last

    def compose(self) -> ComposeResult:
        with Vertical(id="period-dialog", classes="dialog"):
            yield Label(_("Report period"), classes="dialog-title")
            yield Label(_("First month (YYYY-MM):"))
            yield Input(f"{self.first:%Y-%m}", id="period-from")
            yield Label(_("Last month (YYYY-MM):"))
            yield Input(f"{self.last:%Y-%m}", id="period-to")
            yield MessageLine(id="period-message")
            yield Label(_("Enter: show · Esc: cancel"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        from store.queries.reports import MonthRange
        from store.services.errors import DomainError

        try:
            period = MonthRange.parse(self.query_one("#period-from", Input).value,
                                      self.query_one("#period-to", Input).value)
        except DomainError as error:
            self.query_one(MessageLine).show_error(error.message)
            return
        self.dismiss((period.first, period.last))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(Screen[None]):
    """Base of the report screens: subclasses give REPORT, VIEWS, columns(), fetch_rows(), cells(), chart()."""

    CSS_PATH = "../styles/reports.tcss"
    AUTO_FOCUS = "#report-table"
    REPORT: ClassVar[str] = ""
    VIEWS: ClassVar[tuple[tuple[str, str], ...]] = ()  # (id, label marked with N_)
    PAGED_VIEWS: ClassVar[frozenset[str]] = frozenset()  # views that load cards page by page
    HELP_KEYS = (
        (N_("[ and ]"), N_("Move the period one month back or forward")),
        (N_("P"), N_("Choose the first and last month")),
        (N_("V"), N_("Switch the view")),
        (N_("C"), N_("Switch between the table and the chart of the highlighted line")),
        (N_("Ctrl+E"), N_("Export the report to Excel (needs the right to export data)")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("c", "toggle_chart", N_("Chart"), id="report_chart", show=False),
        Binding("v", "next_view", N_("View"), id="report_view", show=False),
        Binding("left_square_bracket", "shift(-1)", N_("Earlier"), id="report_earlier"),
        Binding("right_square_bracket", "shift(1)", N_("Later"), id="report_later"),
        Binding("p", "period", N_("Period"), id="report_period"),
        Binding("ctrl+e", "export", N_("Export"), id="report_export", priority=True),
        Binding("f5", "refresh", N_("Refresh"), id="report_refresh", show=False),
    ]

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, more: bool, append: bool,
                     problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.more = more
            self.append = append
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.period = None  # a store.queries.reports.MonthRange, set on mount
        self.view = self.VIEWS[0][0]
        self.rows: list = []
        self.more = False
        self.fetching = False
        self.generation = 0
        self.chart_shown = False
        self.notice: str | None = None  # shown (as a success) when the next load is done

    # --- to give in subclasses ---------------------------------------------------------------------

    def columns(self, view: str) -> list[tuple[str, str, int]]:
        raise NotImplementedError

    def fetch_rows(self, session, actor, number_id: int, period, view: str, after) -> tuple[list, bool]:
        """(rows, more pages) — runs in a thread."""
        raise NotImplementedError

    def cells(self, view: str, row) -> tuple[Any, ...]:
        raise NotImplementedError

    def chart(self, plt, view: str, row) -> None:
        """Draw `row` (None: nothing highlighted) on the plotext `plt` (already cleared)."""
        raise NotImplementedError

    def explain(self, view: str, row) -> str:
        return ""

    # --- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot  # plotext loads only when a report opens

        yield SessionHeader()
        yield Static("", id="report-bar", markup=False)
        with ContentSwitcher(initial="report-table", id="report-body"):
            yield DataTable(id="report-table", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="report-chart")
        yield Static("", id="report-explain", markup=False)
        yield MessageLine(id="report-message")
        yield Footer()

    def on_mount(self) -> None:
        from store.queries.reports import MonthRange

        today = self.app.session.local(self.app.db.clock.now()).date()
        self.period = MonthRange.last_months(today, DEFAULT_MONTHS)
        self.watch(self.app, "active_customer_number", lambda _n=None: self.reload(), init=False)
        self.reload()

    def view_label(self) -> str:
        return next(_(label) for key, label in self.VIEWS if key == self.view)

    def show_bar(self) -> None:
        number = self.app.active_customer_number
        views = " · ".join((f"[{_(label)}]" if key == self.view else _(label)) for key, label in self.VIEWS)
        text = _("{period} · {number} · view: {views}").format(
            period=self.period.label(), number=number.number if number else "—", views=views)
        self.query_one("#report-bar", Static).update(text)

    def build_columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key, label, width in self.columns(self.view):
            table.add_column(_(label), key=key, width=width)

    # --- fetching ----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.app.session is None or self.app.active_customer_number is None or self.period is None:
            return
        self.generation += 1
        self.rows, self.more = [], False
        self.build_columns()
        self.show_bar()
        self.query_one(MessageLine).show_busy(_("Reading…"))
        self.fetching = True
        self.fetch(self.generation, self.app.active_customer_number.id, self.period, self.view, None)

    def load_more(self) -> None:
        if self.more and not self.fetching and self.rows:
            self.fetching = True
            self.fetch(self.generation, self.app.active_customer_number.id, self.period, self.view,
                       self.rows[-1].after)

    @work(thread=True, group="report", exit_on_error=False)
    def fetch(self, generation: int, number_id: int, period, view: str, after) -> None:
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows, more = self.fetch_rows(session, app.session.actor, number_id, period, view, after)
        except DomainError as error:
            self.post_message(self.Loaded(generation, [], False, after is not None, error.message))
        except Exception:
            log.exception("Report %s failed", self.REPORT)
            self.post_message(self.Loaded(generation, [], False, after is not None,
                                          _("The report could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, more, after is not None))

    def on_report_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return  # an answer for a period or view no longer shown
        self.fetching = False
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        table = self.query_one(DataTable)
        start = len(self.rows)
        self.rows.extend(message.rows)
        self.more = message.more
        for index, row in enumerate(message.rows, start):
            table.add_row(*self.cells(self.view, row), key=str(index))
        if self.notice and not message.append:
            line.show_success(self.notice)
            self.notice = None
        elif not self.rows:
            line.show_info(_("Nothing in this period: press [ or P for another one."))
        else:
            line.show_info(self.count_text())
        self.highlighted()

    def count_text(self) -> str:
        count = len(self.rows)
        if self.more:  # more lines than were read: "500+ lines"
            return ngettext("{count}+ line", "{count}+ lines", count).format(count=count)
        return ngettext("{count} line", "{count} lines", count).format(count=count)

    def current_row(self):
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def highlighted(self) -> None:
        row = self.current_row()
        self.query_one("#report-explain", Static).update(self.explain(self.view, row) if row is not None else "")
        if self.chart_shown:
            self.draw()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted()
        if event.cursor_row >= len(self.rows) - 1:
            self.load_more()

    def draw(self) -> None:
        from textual_plotext import PlotextPlot

        plot = self.query_one("#report-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        self.chart(plt, self.view, self.current_row())
        plot.refresh()

    # --- actions -----------------------------------------------------------------------------------

    def action_toggle_chart(self) -> None:
        self.chart_shown = not self.chart_shown
        self.query_one(ContentSwitcher).current = "report-chart" if self.chart_shown else "report-table"
        if self.chart_shown:
            self.draw()
        else:
            self.query_one(DataTable).focus()

    def action_next_view(self) -> None:
        keys = [key for key, _label in self.VIEWS]
        self.view = keys[(keys.index(self.view) + 1) % len(keys)]
        self.reload()

    def action_shift(self, months: int) -> None:
        self.period = self.period.shifted(months)
        self.reload()

    def action_period(self) -> None:
        def chosen(result) -> None:
            if result:
                from store.queries.reports import MonthRange

                self.period = MonthRange(*result)
                self.reload()

        self.app.push_screen(PeriodDialog(self.period.first, self.period.last), chosen)

    def action_export(self) -> None:
        if self.app.session is None or "reports.export" not in self.app.session.rights:
            self.query_one(MessageLine).show_error(
                _("Exporting needs the right to export data (Monthly reports → Data export)."))
            return
        from tui.screens.report_export import ReportExportScreen

        self.app.push_screen(ReportExportScreen(report=self.REPORT, period=self.period))

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()


def over_style(app) -> str:
    """The style of an over-budget figure: the theme's error text colour, bold."""
    return f"bold {theme_color(app, 'text-error', 'red')}"


def styled(text: str, style: str | None) -> Text | str:
    return Text(text, style=style, justify="right") if style else Text(text, justify="right")


def right(text: str) -> Text:
    return Text(text, justify="right")
