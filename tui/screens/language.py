"""My account -> Language: the language of the portal for the logged-in user (English, Nederlands,
Français), saved with `store.services.users.set_own_language` (audited) and applied at once: the app
composes the home screen again and opens this screen anew, so the menu, this screen and the footer's keys
change language straight away.
The same language goes into the user's e-mails (the services write them in `User.language`).
"""
from __future__ import annotations

import logging
from functools import partial

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.i18n import LANGUAGE_NAMES, LANGUAGES, N_, _, current_language
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)


class LanguageScreen(Screen[None]):
    AUTO_FOCUS = "#languages"
    DEFAULT_CSS = """
    LanguageScreen #language-body { padding: 1 2; height: 1fr; }
    LanguageScreen #language-title { text-style: bold; color: $text-primary; margin-bottom: 1; }
    LanguageScreen #languages { width: 30; height: auto; max-height: 5; }
    LanguageScreen #language-explained { color: $text-muted; margin-top: 1; }
    """
    TITLE = N_("Language")
    HELP = N_("Choose the language of the portal: the screens, the messages and the e-mails you receive. The "
              "change applies at once and at your next login.")
    HELP_KEYS = (
        (N_("↑ ↓ Enter"), N_("Choose the highlighted language")),
    )
    BINDINGS = [Binding("escape", "back", N_("Back"), id="back")]

    class Saved(Message):
        def __init__(self, language: str | None, problem: str | None = None) -> None:
            super().__init__()
            self.language = language
            self.problem = problem

    def __init__(self, changed: bool = False) -> None:
        """`changed`: opened anew right after a change of language, to say so (in the new language)."""
        super().__init__()
        self.busy = False
        self.changed = changed

    def compose(self) -> ComposeResult:
        language = current_language()
        yield SessionHeader()
        with Vertical(id="language-body"):
            yield Label(_("Language of the portal"), id="language-title")
            # Each language in its own name: whoever cannot read the current one still finds theirs.
            yield OptionList(*(Option(("● " if code == language else "  ") + LANGUAGE_NAMES[code], id=code)
                               for code in LANGUAGES), id="languages")
            yield Static(_("The screens, messages and e-mails of the portal use this language, from now on and at "
                           "your next login."), id="language-explained", markup=False)
        yield MessageLine(id="language-message")
        yield Footer()

    def on_mount(self) -> None:
        language = current_language()
        self.query_one("#languages", OptionList).highlighted = LANGUAGES.index(language)
        if self.changed:
            self.query_one(MessageLine).show_success(
                _("The portal is now in {language}.").format(language=LANGUAGE_NAMES[language]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.busy or event.option_id is None:
            return
        if event.option_id == current_language():
            self.query_one(MessageLine).show_info(_("This is already the language of the portal."))
            return
        self.busy = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.save(event.option_id)

    @work(thread=True, group="language-save", exit_on_error=False)
    def save(self, language: str) -> None:
        from store.services.errors import DomainError
        from store.services.users import set_own_language

        app = self.app
        try:
            with app.db.session() as session:
                saved = set_own_language(session, app.session.actor, app.db.clock.now(), language)
        except DomainError as exc:
            self.post_message(self.Saved(None, exc.message))
        except Exception:
            log.exception("Saving the language failed")
            self.post_message(self.Saved(None, _("Your language could not be saved right now; nothing was changed. "
                                                 "Try again in a moment.")))
        else:
            self.post_message(self.Saved(saved))

    def on_language_screen_saved(self, message: Saved) -> None:
        self.busy = False
        if message.problem or message.language is None:
            self.query_one(MessageLine).show_error(message.problem or "")
            return
        # From the app's queue: this screen is closed and opened anew in the new language.
        self.app.call_later(self.app.change_language, message.language, partial(LanguageScreen, changed=True))

    def action_back(self) -> None:
        self.app.pop_screen()
