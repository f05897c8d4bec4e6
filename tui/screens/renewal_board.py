"""My cards and OBUs -> Renewal board (Fiche 12): the next 12 months at a glance.

Per expiry month: how many cards expire, how many are Candidate for renewal, Cancelled, In renewal, and how
many nobody has reviewed yet, so a fleet manager can plan before the letters arrive. The line under the table
gives the highlighted month's dates. Ctrl+E writes the board to an Excel file and tells its path.
"""
from __future__ import annotations

import logging
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.i18n import N_, _
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

COLUMNS = (
    ("month", N_("Month"), 7),
    ("expiring", N_("Expire"), 6),
    ("candidate", N_("Candid."), 7),
    ("cancelled", N_("Cancel."), 7),
    ("in_renewal", N_("In ren."), 7),
    ("open", N_("To review"), 9),
    ("notice", N_("Notice"), 10),
    ("until", N_("Update to"), 10),
)


def default_board_path(today) -> Path:
    return Path.home() / f"cardsonline-renewals-{today:%Y%m%d}.xlsx"


class RenewalBoardScreen(Screen[None]):
    CSS_PATH = "../styles/renewal.tcss"
    AUTO_FOCUS = "#board-table"
    TITLE = N_("Renewal board")
    HELP = N_("The next 12 months: per month how many cards expire, how many are Candidate for renewal, "
              "Cancelled or In renewal, and how many nobody has reviewed yet (from the notice, 3 months before "
              "the month, until the update window closes). Ctrl+E exports the board to Excel.")
    HELP_KEYS = ((N_("Ctrl+E"), N_("Export the board to an Excel file in your home folder")),)
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+e", "export", N_("Export"), id="board_export", priority=True),
        Binding("f5", "refresh", N_("Refresh"), id="board_refresh"),
    ]

    class Loaded(Message):
        def __init__(self, board: list, problem: str | None = None) -> None:
            super().__init__()
            self.board = board
            self.problem = problem

    class Exported(Message):
        def __init__(self, path: Path | None, problem: str | None = None) -> None:
            super().__init__()
            self.path = path
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.board: list = []

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        table = DataTable(id="board-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(_(label), key=key, width=width)
        yield table
        yield Static("", id="board-explain", markup=False)
        yield MessageLine(id="board-message")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", lambda _n=None: self.reload(), init=False)
        self.reload()

    def reload(self) -> None:
        if self.app.session is None or self.app.active_customer_number is None:
            return
        self.fetch(self.app.active_customer_number.id)

    @work(thread=True, exclusive=True, group="renewal-board", exit_on_error=False)
    def fetch(self, number_id: int) -> None:
        from store.services.errors import DomainError
        from store.services.renewals import renewal_board

        app = self.app
        try:
            with app.db.session() as session:
                board = renewal_board(session, app.session.actor, app.db.clock.now(), number_id)
        except DomainError as error:
            self.post_message(self.Loaded([], error.message))
        except Exception:
            log.exception("Renewal board failed")
            self.post_message(self.Loaded([], _("The renewal board could not be read right now. Try again in a "
                                                "moment.")))
        else:
            self.post_message(self.Loaded(board))

    def on_renewal_board_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.board = message.board
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        for month in self.board:
            line = month.timeline
            table.add_row(f"{line.month:%m/%Y}", str(month.expiring), str(month.candidate), str(month.cancelled),
                          str(month.in_renewal), "—" if month.not_reviewed is None else str(month.not_reviewed),
                          f"{line.notice:%d/%m/%Y}", f"{line.update_until:%d/%m/%Y}", key=f"{line.month:%Y%m}")
        self.explain()

    def explain(self) -> None:
        table = self.query_one(DataTable)
        if not self.board or not 0 <= table.cursor_row < len(self.board):
            return
        month = self.board[table.cursor_row]
        from tui.screens.renewal_status import month_line

        self.query_one("#board-explain", Static).update(month_line(month.timeline))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.explain()

    def action_export(self) -> None:
        if not self.board:
            self.query_one(MessageLine).show_info(_("Nothing to export yet."))
            return
        path = default_board_path(self.app.session.local(self.app.db.clock.now()).date())
        self.query_one(MessageLine).show_busy(_("Exporting to {path} …").format(path=path))
        self.export(list(self.board), path)

    @work(thread=True, exclusive=True, group="renewal-board-export", exit_on_error=False)
    def export(self, board: list, path: Path) -> None:
        from exports.renewal_xlsx import write_renewal_board_xlsx

        try:
            write_renewal_board_xlsx(board, path)
        except OSError as error:
            self.post_message(self.Exported(None, _("The file {path} could not be written: {error}").format(
                path=path, error=error.strerror or error)))
        except Exception:
            log.exception("Renewal board export failed")
            self.post_message(self.Exported(None, _("The export failed. Try again in a moment.")))
        else:
            self.post_message(self.Exported(path))

    def on_renewal_board_screen_exported(self, message: Exported) -> None:
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
        else:
            line.show_success(_("The renewal board was exported to {path}.").format(path=message.path))

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
