"""Quick find (Fiche 06): from any screen, find a card or OBU by number or plate and act on it.

Opened by the app's `quick_find` key and by the command palette's card search. Typing searches the active
customer number's cards in a worker (the store's `search_cards`, top 10); Enter opens the actions the card's
status allows (the card list's ActionsMenu and dialogs), so that a lost card is blocked with a duplicate in a
few keystrokes.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.i18n import N_, _
from tui.screens.card_actions import (
    ActionsMenu,
    CardInfo,
    load_card_info,
    start_card_action,
    status_text,
)
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

LIMIT = 10
SEARCH_DELAY = 0.2  # seconds of quiet typing before the search runs


def find_cards(db, actor, number_id: int, text: str, limit: int = LIMIT) -> list:
    """The first `limit` cards of the customer number matching `text` (number, plate…); runs in a worker."""
    from store.queries.card_filter import CardFilter
    from store.queries.cards import search_cards

    with db.session() as session:
        return search_cards(session, actor, number_id, CardFilter(text=text), limit=limit)


class QuickFindScreen(ModalScreen[None]):
    """Find a card by number or plate; Enter opens its actions."""

    CSS_PATH = "../styles/card_actions.tcss"
    DEFAULT_CSS = """
    QuickFindScreen {
        align: center top;
        background: $background 60%;
    }
    #quick-find-dialog {
        width: 76;
        height: auto;
        max-height: 100%;
        margin-top: 2;
    }
    #quick-find-results {
        height: auto;
        max-height: 12;
    }
    """
    BINDINGS = [Binding("escape", "close", N_("Back"), id="close")]
    TITLE = N_("Find a card")
    HELP = N_("Type part of a card number or licence plate: the first matches of the active customer number are "
              "listed. Enter opens the actions the card's status allows; ↓ moves to the list.")

    class Found(Message):
        def __init__(self, generation: int, rows: list, problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.problem = problem

    class CardRead(Message):
        def __init__(self, card: CardInfo | None, problem: str | None = None) -> None:
            super().__init__()
            self.card = card
            self.problem = problem

    def __init__(self, text: str = "", card_id: int | None = None) -> None:
        """`text` fills the search; `card_id` opens that card's actions at once (from the command palette)."""
        super().__init__()
        self.initial_text = text
        self.initial_card_id = card_id
        self.rows: list = []
        self.generation = 0
        self.searching = False
        self._search_timer: Timer | None = None
        self._open_after_search = False
        self._keep_message = False  # the next search result keeps the message of the action just done

    def compose(self) -> ComposeResult:
        with Vertical(id="quick-find-dialog", classes="dialog"):
            yield Label(_("Find a card or OBU"), classes="dialog-title")
            yield Input(value=self.initial_text, placeholder=_("Card number or licence plate"), id="quick-find-input")
            yield OptionList(id="quick-find-results")
            yield MessageLine(id="quick-find-message")
            yield Label(_("Enter: actions · ↓: the list · Esc: back"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.initial_text:
            self.search()
        if self.initial_card_id is not None:
            self.read_card(self.initial_card_id)

    # Searching ---------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self.search)

    def search(self) -> None:
        self._search_timer = None
        number = self.app.active_customer_number
        if number is None or self.app.session is None:
            return
        self.generation += 1
        text = self.query_one(Input).value.strip()
        if not text:
            self.rows = []
            self.query_one(OptionList).clear_options()
            return
        self.searching = True
        self.fetch(self.generation, number.id, text)

    @work(thread=True, group="quick-find", exit_on_error=False)
    def fetch(self, generation: int, number_id: int, text: str) -> None:
        from store.services.errors import DomainError

        app = self.app
        try:
            rows = find_cards(app.db, app.session.actor, number_id, text)
        except DomainError as exc:
            self.post_message(self.Found(generation, [], exc.message))
        except Exception:
            log.exception("Quick find failed")
            self.post_message(self.Found(generation, [], _("The cards could not be read right now.")))
        else:
            self.post_message(self.Found(generation, rows))

    def on_quick_find_screen_found(self, message: Found) -> None:
        if message.generation != self.generation:
            return  # overtaken by newer typing
        self.searching = False
        self.rows = message.rows
        options = self.query_one(OptionList)
        options.clear_options()
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
        elif not self.rows:
            line.show_warning(_("No card or OBU matches."))
        elif not self._keep_message:
            line.clear()
        self._keep_message = False
        for row in self.rows:
            name = row.license_plate or row.embossed_name or ""
            options.add_option(Option(Content(
                f"{row.number or _('(none yet)'):<19} {name:<15} {status_text(row.status.value):<13} "
                f"{row.driver_name or ''}"[:70]), id=str(row.id)))
        if self.rows:
            options.highlighted = 0
        if self._open_after_search:
            self._open_after_search = False
            self.open_highlighted()

    # Choosing ----------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._search_timer is not None or self.searching:
            # Enter typed right after the text: act on the first match once the search answered.
            if self._search_timer is not None:
                self._search_timer.stop()
                self.search()
            self._open_after_search = True
            return
        self.open_highlighted()

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one(Input) and self.rows:
            event.stop()
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.read_card(int(event.option.id))

    def open_highlighted(self) -> None:
        options = self.query_one(OptionList)
        if not self.rows or options.highlighted is None:
            self.app.bell()
            return
        self.read_card(self.rows[options.highlighted].id)

    @work(thread=True, exclusive=True, group="quick-find-card", exit_on_error=False)
    def read_card(self, card_id: int) -> None:
        from store.services.errors import DomainError

        try:
            card = load_card_info(self.app.db, self.app.session.actor, card_id)
        except DomainError as exc:
            self.post_message(self.CardRead(None, exc.message))
        except Exception:
            log.exception("Reading a card failed")
            self.post_message(self.CardRead(None, _("This card could not be read right now.")))
        else:
            self.post_message(self.CardRead(card))

    def on_quick_find_screen_card_read(self, message: CardRead) -> None:
        card = message.card
        if card is None:
            self.query_one(MessageLine).show_error(message.problem or "")
            return
        self.app.push_screen(ActionsMenu(card), lambda chosen: self.start(chosen, card) if chosen else None)

    def start(self, action: str, card: CardInfo) -> None:
        self.query_one(MessageLine).clear()
        start_card_action(self.app, action, card, self.action_done, self.query_one(MessageLine))

    def action_done(self, text: str | None) -> None:
        if text:
            self.query_one(MessageLine).show_success(text)
            self._keep_message = True
            self.search()

    def action_close(self) -> None:
        self.dismiss(None)
