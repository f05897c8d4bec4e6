"""A DataTable over a keyset-paged store query that never holds more than a few pages.

The screen gives a `fetch(session, after, limit) -> rows` function (rows with an `after` keyset position and an
`id`), and how a row is shown (`cells(row)`); the table reads the first page in a worker, and when the cursor
goes past the last row (↓, PgDn) it reads the next page, dropping the first page once `window_pages` pages are
held. Going back past the first row reads the dropped page again from the keyset position remembered for it, so
only forward keyset queries are needed and no row is lost or repeated. Keys pressed while a page is read are
replayed once it is there.

After each read the table posts `PagedTable.Loaded` (the rows of the read page, or the store's refusal), so the
screen can show a message or a count; totals and counts are the screen's own queries.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from tui.i18n import N_, _

log = logging.getLogger(__name__)

Fetch = Callable[[Any, Any, int], list]  # (session, after, limit) -> rows, in list order


class PagedTable(DataTable):
    BINDINGS = [
        Binding("home", "first_page", N_("First page"), id="paged_first_page", show=False),
    ]

    class Loaded(Message):
        """A read finished. `first`: the list was read anew (a new filter, or `reload`); `rows`: the rows read;
        `problem`: the store's refusal or a failure, to show as it is."""

        def __init__(self, table: PagedTable, first: bool, rows: list, problem: str | None = None) -> None:
            super().__init__()
            self.table, self.first, self.rows, self.problem = table, first, rows, problem

        @property
        def control(self) -> PagedTable:
            return self.table

    class PageRead(Message):
        def __init__(self, generation: int, mode: str, page: int, rows: list, problem: str | None) -> None:
            super().__init__()
            self.generation, self.mode, self.page, self.rows, self.problem = generation, mode, page, rows, problem

    def __init__(self, *, page_size: int = 50, window_pages: int = 3, failure: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.page_size = page_size
        self.window_pages = window_pages
        self.failure = failure or _("The list could not be read right now. Try again in a moment.")
        self.records: list = []
        self.anchors: list = [None]  # anchors[i]: the keyset position that reads page i (None: from the start)
        self.first_page = 0  # the number of the first page held
        self.page_sizes: list[int] = []  # rows of each page held, in order
        self.more_after = False
        self.reading = False
        self.generation = 0
        self._fetch: Fetch | None = None
        self._cells: Callable[[Any], list] = lambda row: []
        self._pending: list[str] = []
        self._keep = 0

    # What the screen calls ------------------------------------------------------------------------

    def show(self, fetch: Fetch, cells: Callable[[Any], list], *, keep_cursor: bool = False) -> None:
        """Read the list again from its first page with `fetch` (a new filter, a new day…). `keep_cursor`: put
        the cursor back on the same line number (after an action changed the list)."""
        self._fetch, self._cells = fetch, cells
        self.generation += 1
        self._pending = []
        self._keep = self.cursor_row if keep_cursor else 0
        self._read("first", 0, None, self.page_size)

    def reload(self, *, keep_cursor: bool = True) -> None:
        """Read the rows held again (from the first page held), e.g. after an action changed them."""
        if self._fetch is None:
            return
        self.generation += 1
        self._pending = []
        self._keep = self.cursor_row if keep_cursor else 0
        size = max(sum(self.page_sizes), self.page_size)
        self._read("refresh", self.first_page, self.anchors[self.first_page], size)

    @property
    def more_before(self) -> bool:
        return self.first_page > 0

    @property
    def current(self):
        """The row under the cursor, or None."""
        if not self.records or not (0 <= self.cursor_row < len(self.records)):
            return None
        return self.records[self.cursor_row]

    def redraw(self, row) -> None:
        """Show `row`'s cells again (a mark, a status changed) without reading anything."""
        key = str(row.id)
        for column, value in zip(self.columns, self._cells(row)):
            try:
                self.update_cell(key, column, value)
            except Exception:  # noqa: BLE001 - the row left the window meanwhile
                return

    # Reading ---------------------------------------------------------------------------------------

    def _read(self, mode: str, page: int, anchor, limit: int) -> None:
        self.reading = True
        self._run(self.generation, mode, page, anchor, limit, self._fetch)

    @work(thread=True, group="paged-table", exit_on_error=False)
    def _run(self, generation: int, mode: str, page: int, anchor, limit: int, fetch: Fetch) -> None:
        from store.services.errors import DomainError

        try:
            with self.app.db.session() as session:
                rows = fetch(session, anchor, limit + 1)
        except DomainError as exc:
            self.post_message(self.PageRead(generation, mode, page, [], exc.message))
        except Exception:
            log.exception("Reading a page failed")
            self.post_message(self.PageRead(generation, mode, page, [], self.failure))
        else:
            self.post_message(self.PageRead(generation, mode, page, rows, None))

    def on_paged_table_page_read(self, message: PageRead) -> None:
        message.stop()
        if message.generation != self.generation:
            return  # overtaken by a newer read
        self.reading = False
        mode, rows = message.mode, message.rows
        if message.problem and mode in ("next", "previous"):
            self._pending = []
            self.post_message(self.Loaded(self, False, [], message.problem))
            return
        old_cursor = self.cursor_row
        if mode in ("first", "refresh"):
            limit = self.page_size if mode == "first" else max(sum(self.page_sizes), self.page_size)
            more, rows = len(rows) > limit, rows[:limit]
            if mode == "first":
                self.first_page, self.anchors = 0, [None]
            self.records, self.more_after = rows, more
            # The pages held, and where each one after the first starts.
            sizes = [min(self.page_size, len(rows) - i) for i in range(0, len(rows), self.page_size)] or [0]
            self.page_sizes = sizes
            del self.anchors[self.first_page + 1:]
            for index in range(1, len(sizes)):
                self.anchors.append(rows[index * self.page_size - 1].after)
            cursor, shift = min(self._keep, max(len(rows) - 1, 0)), None
        elif mode == "next":
            more, rows = len(rows) > self.page_size, rows[:self.page_size]
            self.more_after = more
            self.records = self.records + rows
            self.page_sizes.append(len(rows))
            cursor = old_cursor
            if len(self.page_sizes) > self.window_pages:
                dropped = self.page_sizes.pop(0)
                self.records = self.records[dropped:]
                self.first_page += 1
                cursor -= dropped
            shift = cursor - old_cursor
        else:  # previous: the page before the first one held, read again from its remembered position
            rows = rows[:self.page_size]
            self.records = rows + self.records
            self.page_sizes.insert(0, len(rows))
            self.first_page -= 1
            cursor = old_cursor + len(rows)
            if len(self.page_sizes) > self.window_pages:
                dropped = self.page_sizes.pop()
                self.records = self.records[:len(self.records) - dropped]
                self.more_after = True
            shift = cursor - old_cursor
        self._fill(cursor, shift)
        self.post_message(self.Loaded(self, mode in ("first", "refresh"), rows, message.problem))
        pending, self._pending = self._pending, []
        for index, action in enumerate(pending):
            getattr(self, f"action_{action}")()
            if self.reading:  # crossed the next edge: the rest waits for that page
                self._pending += pending[index + 1:]
                return

    def _fill(self, cursor: int, shift: int | None) -> None:
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        self.clear()
        for row in self.records:
            self.add_row(*self._cells(row), key=str(row.id))
        if not self.records:
            return
        cursor = min(max(cursor, 0), len(self.records) - 1)
        if shift is None:
            self.move_cursor(row=cursor, animate=False)
            return
        # The highlighted row stays where it was on the screen while pages come and go around it.
        self.move_cursor(row=cursor, scroll=False)
        self.call_after_refresh(self.scroll_to, x=scroll_x, y=max(scroll_y + shift, 0), animate=False, force=True)

    # Crossing the window's edges -------------------------------------------------------------------

    def _cross(self, direction: str, action: str) -> bool:
        """The cursor is to move past the first or last row held: when there is more that way, read it and
        repeat `action` once it is there (True); False: the table moves as usual."""
        if not self.records or self._fetch is None:
            return False
        if direction == "down":
            if self.cursor_row < len(self.records) - 1 or not self.more_after:
                return False
        elif self.cursor_row > 0 or not self.more_before:
            return False
        if len(self._pending) < 2 * self.page_size:
            self._pending.append(action)
        if not self.reading:
            if direction == "down":
                page = self.first_page + len(self.page_sizes)
                anchor = self.records[-1].after
                del self.anchors[page:]
                self.anchors.append(anchor)
                self._read("next", page, anchor, self.page_size)
            else:
                page = self.first_page - 1
                self._read("previous", page, self.anchors[page], self.page_size)
        return True

    def action_cursor_down(self) -> None:
        if not self._cross("down", "cursor_down"):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self._cross("up", "cursor_up"):
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not self._cross("down", "page_down"):
            super().action_page_down()

    def action_page_up(self) -> None:
        if not self._cross("up", "page_up"):
            super().action_page_up()

    def action_first_page(self) -> None:
        """Home: the first row of the whole list (read again when the window does not hold it)."""
        if self.more_before and self._fetch is not None:
            self.show(self._fetch, self._cells)
        elif self.records:
            self.move_cursor(row=0, animate=False)
