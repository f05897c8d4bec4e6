"""The Cards Online app: session state, app-wide bindings, idle logout, the menu and the command palette.

Screens live in tui/screens (one module each), the main menu registry in tui/menu.py. Nothing from the
store is imported at start-up: the login check and every query run in workers that import what they need.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer

from tui.i18n import LANGUAGES, N_, _, set_language
from tui.menu import MENU, MenuItem, visible_menu
from tui.screens.login import LoginScreen
from tui.session import CustomerNumberInfo, UserSession

if TYPE_CHECKING:
    from store.db import Database
    from store.services.auth import LoginPolicy

# The input events that count as activity for the idle logout.
ACTIVITY_EVENTS = (events.Key, events.MouseEvent, events.Paste)
# Keys that move the focus or submit: before them, the focused field must have taken the keys sent before.
FLUSH_KEYS = frozenset({"tab", "shift+tab", "enter"})
FLUSH_TIMEOUT = 0.5  # seconds; never hang the keyboard on a busy widget


# The themes' names as the user reads them (the keys of tui.config.THEMES).
THEME_LABELS = {"dark": N_("Dark"), "light": N_("Light"), "high-contrast": N_("High contrast")}


class MenuCommands(Provider):
    """Command palette: open any main-menu item the user may use."""

    def _entries(self) -> list[tuple[str, MenuItem]]:
        app = self.app
        if not isinstance(app, CardsOnlineApp) or app.session is None:
            return []
        return [
            (_("{group}: {item}").format(group=_(group.label), item=_(item.label)), item)
            for group, items in visible_menu(app.session.rights, app.menu)
            for item in items
        ]

    async def discover(self) -> Hits:
        for text, item in self._entries():
            yield DiscoveryHit(text, partial(self.app.open_menu_item, item), help=_("Open this screen"))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, item in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.open_menu_item, item),
                          help=_("Open this screen"))


class CardCommands(Provider):
    """Command palette: find a card or OBU of the active customer number by number or plate (3+ characters)
    and open its actions in the quick find."""

    MIN_QUERY = 3
    LIMIT = 10

    def _rows(self, text: str) -> list:
        """Runs in a thread: the store's search on the active customer number."""
        from store.services.errors import DomainError
        from tui.screens.quick_find import find_cards

        app = self.app
        number = app.active_customer_number
        if app.session is None or number is None:
            return []
        try:
            return find_cards(app.db, app.session.actor, number.id, text, self.LIMIT)
        except DomainError:
            return []  # no right to manage cards: nothing to find

    async def search(self, query: str) -> Hits:
        app = self.app
        text = query.strip()
        if not isinstance(app, CardsOnlineApp) or app.session is None or len(text) < self.MIN_QUERY:
            return
        rows = await asyncio.to_thread(self._rows, text)
        matcher = self.matcher(query)
        for row in rows:
            name = row.license_plate or row.embossed_name or ""
            label = _("Card {number} {name}").format(number=row.number or _("(none yet)"), name=name).strip()
            score = max(matcher.match(label), 0.5)
            yield Hit(score, matcher.highlight(label), partial(app.open_quick_find, text, row.id),
                      help=_("Find this card and show its actions"))


class CardsOnlineApp(App[None], inherit_bindings=False):
    TITLE = N_("Cards Online")
    # The login screen is the base screen, whose own CSS_PATH Textual does not load: its styles load here.
    CSS_PATH = ["styles/app.tcss", "styles/dialogs.tcss", "styles/login.tcss", "styles/kiosk.tcss"]
    COMMANDS = App.COMMANDS | {MenuCommands, CardCommands}
    BINDINGS = [
        Binding("f1", "help", N_("Help"), id="help", priority=True),
        Binding("f3", "switch_customer", N_("Customer no."), id="switch_customer"),
        # F4, not Ctrl+K: the search fields' Input uses Ctrl+K (delete to the end of the line).
        Binding("f4", "quick_find", N_("Find card"), id="quick_find", priority=True, show=False),
        Binding("ctrl+l", "logout", N_("Log out"), id="logout", priority=True),
        Binding("ctrl+q", "quit", N_("Quit"), id="quit", priority=True),
        Binding("ctrl+p", "command_palette", N_("Commands"), id="command_palette", priority=True, show=False),
        Binding("ctrl+c", "help_quit", show=False, system=True, id="help_quit"),
        # Priority, so focus moves in the order keys arrive (auto-type "user⇥password⏎", fast typing over
        # SSH); a widget that consumes Tab itself (a TextArea that indents) still gets it.
        Binding("tab", "focus_next", show=False, priority=True, id="focus_next"),
        Binding("shift+tab", "focus_previous", show=False, priority=True, id="focus_previous"),
    ]

    # The customer number the screens act for (Multipass); None when nobody is logged in.
    active_customer_number: reactive[CustomerNumberInfo | None] = reactive(None, init=False)

    def __init__(self, db: Database, idle_timeout: float = 900, login_policy: LoginPolicy | None = None,
                 menu: Sequence[MenuItem] | None = None, *, kiosk: bool = False,
                 kiosk_screens: Sequence[str] = (), keymap: dict[str, str] | None = None,
                 theme_name: str | None = None, language: str = "en", config_file: Path | None = None,
                 **kwargs: Any) -> None:
        """`idle_timeout` in seconds (0 or less: never); `login_policy` None means the store's default;
        `menu` replaces the main menu registry (tests).

        Issue 10 (tui/config.py): `kiosk` leaves no way out of the app (no quit, suspend, theme or quit
        commands; logout returns to the login screen); `kiosk_screens` (menu item ids) limits the main menu to
        those items in kiosk mode; `keymap` remaps keys by binding id; `theme_name` is one of
        tui.config.THEMES ("dark", "light", "high-contrast"); `language` (en, nl, fr) is the language before
        login (the command line resolves --lang, the config file and $LANG into it); once logged in, the
        user's own language applies, until logout.
        `config_file` is where a theme chosen in the command palette is saved (None: for the session only)."""
        super().__init__(**kwargs)
        self.db = db
        self._idle_timeout = idle_timeout
        self.login_policy = login_policy
        self.menu: Sequence[MenuItem] = MENU if menu is None else menu
        self.kiosk = kiosk
        self.kiosk_screens = tuple(kiosk_screens) if kiosk else ()
        self.language = language if language in LANGUAGES else "en"  # before login, and again after logout
        set_language(self.language)
        if kiosk:
            self.add_class("-kiosk")
            if kiosk_screens:
                self.menu = [item for item in self.menu if item.id in set(kiosk_screens)]
        from tui.themes import THEME_OBJECTS

        for theme in THEME_OBJECTS:
            self.register_theme(theme)
        self._theme_name = theme_name
        self.config_file = config_file
        if keymap:
            self.set_keymap(keymap)
        self.session: UserSession | None = None
        self._last_input = monotonic()
        self._idle_timer: Timer | None = None

    # The e-mail sender (issue 5) ---------------------------------------------------------------

    OUTBOX_INTERVAL = 60.0  # seconds between two runs of the background e-mail sender

    def on_mount(self) -> None:
        """With $CARDSONLINE_SMTP_URL set, deliver the outbox every minute in a thread worker."""
        import os

        smtp_url = os.environ.get("CARDSONLINE_SMTP_URL", "").strip()
        if smtp_url:
            self.set_interval(self.OUTBOX_INTERVAL, partial(self._outbox_tick, smtp_url), name="outbox-sender")
        if self._theme_name is not None:
            from tui.config import THEMES

            self.theme = THEMES[self._theme_name]

    def _outbox_tick(self, smtp_url: str) -> None:
        if not any(w.group == "outbox-sender" and not w.is_finished for w in self.workers):
            self.send_outbox(smtp_url)  # a slow server: skip this minute rather than run two senders

    @work(thread=True, group="outbox-sender", exit_on_error=False)
    def send_outbox(self, smtp_url: str) -> None:
        """One run of the sender; never shown to the user: failures are logged and stay on the mails."""
        import logging

        log = logging.getLogger("cardsonline.outbox")
        try:
            from store.services.outbox import send_pending

            self.db.ensure_schema()
            with self.db.session() as session:
                report = send_pending(session, self.db.clock.now(), smtp_url)
            if report.sent or report.retried or report.failed:
                log.info("%s", report)
        except Exception:  # noqa: BLE001 - a mail server problem must never disturb the portal
            log.exception("The background e-mail sender failed")

    def get_default_screen(self) -> Screen:
        # The login screen is the base screen: no blank default screen to build first.
        return LoginScreen()

    # Session -----------------------------------------------------------------------------------

    def start_session(self, session: UserSession) -> None:
        """Called by the login screen once the store accepted the credentials."""
        from tui.screens.home import HomeScreen

        self.session = session
        set_language(session.language)  # the user's choice (My account -> Language) from now on
        self.active_customer_number = session.customer_numbers[0] if session.customer_numbers else None
        self._last_input = monotonic()
        self._arm_idle_timer(self.idle_timeout)
        # A palette or help opened while the password was being checked would stay under the home screen,
        # and the next Ctrl+P would then open a second palette that clashes with it: close them first.
        while len(self.screen_stack) > 1 and not isinstance(self.screen, LoginScreen):
            self.pop_screen()
        self.push_screen(HomeScreen())
        self.refresh_bindings()

    def logout(self, notice: str | Callable[[], str] | None = None, warning: bool = False) -> None:
        """Forget everything about the user and show a fresh login screen. A `notice` given as a function is
        translated after the language went back to the one before login, the login screen's."""
        self.session = None
        set_language(self.language)
        if callable(notice):
            notice = notice()
        self.active_customer_number = None
        if self._idle_timer is not None:
            self._idle_timer.stop()
            self._idle_timer = None
        self.clear_notifications()
        while len(self.screen_stack) > 1:
            self.pop_screen()
        # The base screen is the login screen; it forgets what was typed there before.
        login = self.screen_stack[0]
        if isinstance(login, LoginScreen):
            login.reset(notice=notice, notice_is_warning=warning)
        self.refresh_bindings()

    async def change_language(self, language: str, reopen: Callable[[], Screen] | None = None) -> None:
        """The user chose another language (My account -> Language, already saved): everything shown switches
        at once. Texts are translated when composed, so the home screen is composed again, the screens above
        it are closed (a list or a form builds its rows when mounted: recomposing would leave it empty) and
        `reopen()`, when given, opens the screen to show on top (the language screen, anew). The login screen
        keeps the language before login, for after logout. Call it from the app's queue (`call_later`): the
        screen asking for it is closed here."""
        from dataclasses import replace

        from tui.screens.home import HomeScreen

        set_language(language)
        if self.session is not None:
            self.session = replace(self.session, language=language)
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        home = self.screen
        if isinstance(home, HomeScreen):
            await home.recompose()
            home.set_focus(next(iter(home.query("MainMenu")), None))
        if reopen is not None:
            await self.push_screen(reopen())
        self.refresh_bindings()

    def open_menu_item(self, item: MenuItem) -> None:
        if self.session is None or not item.visible_for(self.session.rights):
            self.bell()
            return
        self.push_screen(item.screen_class()())

    # Idle logout -------------------------------------------------------------------------------

    @property
    def idle_timeout(self) -> float:
        """Seconds without key or mouse input before the session is logged out (0 or less: never)."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        # A new timeout counts from now (e.g. after a settings change).
        self._idle_timeout = seconds
        if self.session is not None:
            self._last_input = monotonic()
            self._arm_idle_timer(seconds)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, ACTIVITY_EVENTS):
            self._last_input = monotonic()
            if isinstance(event, events.Key) and event.key in FLUSH_KEYS and not event.is_forwarded:
                await self.flush_focused()
        await super().on_event(event)

    async def flush_focused(self) -> None:
        """Wait until the focused widget has handled the keys already sent to it.

        Keys go to the focused widget's own queue. In a burst ("user⇥password⏎" from a password manager's
        auto-type, fast typing over SSH) the app would otherwise move the focus or submit the form before
        the field has taken the characters typed before Tab or Enter.
        """
        focused = self.screen.focused
        if focused is None:
            return
        done = asyncio.Event()
        if focused.call_later(done.set):
            try:
                await asyncio.wait_for(done.wait(), FLUSH_TIMEOUT)
            except asyncio.TimeoutError:
                pass

    def _arm_idle_timer(self, delay: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.stop()
            self._idle_timer = None
        if self.idle_timeout and self.idle_timeout > 0:
            self._idle_timer = self.set_timer(delay, self._check_idle, name="idle-logout")

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self.session is None:
            return
        idle = monotonic() - self._last_input
        if idle >= self.idle_timeout:
            self.logout(notice=self.idle_notice, warning=True)
        else:
            self._arm_idle_timer(self.idle_timeout - idle)

    def idle_notice(self) -> str:
        minutes = self.idle_timeout / 60
        if minutes >= 1:
            return _("You were logged out after {minutes} minutes without activity.").format(minutes=f"{minutes:g}")
        return _("You were logged out after {seconds} seconds without activity.").format(
            seconds=f"{self.idle_timeout:g}")

    # Actions -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.kiosk and action in ("quit", "suspend_process", "help_quit", "change_theme"):
            return False  # kiosk: no way out of the app
        if action == "switch_customer":
            return self.session is not None and self.session.is_multipass
        if action == "logout":
            return self.session is not None
        if action == "quick_find":
            if self.kiosk_screens and "cards.manage" not in self.kiosk_screens:
                return False  # a kiosk limited to other screens: no card actions through the quick find
            return self.session is not None and self.active_customer_number is not None
        return True

    def action_quick_find(self) -> None:
        self.open_quick_find()

    def open_quick_find(self, text: str = "", card_id: int | None = None) -> None:
        """The quick find (a card by number or plate, then its actions); `card_id` opens that card's actions."""
        from tui.screens.quick_find import QuickFindScreen

        if self.session is None or self.active_customer_number is None or not self.check_action("quick_find", ()):
            self.bell()
            return
        if isinstance(self.screen, QuickFindScreen):
            if card_id is None:
                return
            self.screen.dismiss(None)
        self.push_screen(QuickFindScreen(text, card_id))

    def action_logout(self) -> None:
        self.logout(notice=lambda: _("You have logged out."))

    def action_switch_customer(self) -> None:
        from tui.screens.switch_customer import SwitchCustomerScreen

        if self.session is None or not self.session.is_multipass:
            return

        def chosen(number: CustomerNumberInfo | None) -> None:
            if number is not None and self.session is not None and number in self.session.customer_numbers:
                self.active_customer_number = number

        self.push_screen(SwitchCustomerScreen(self.session.customer_numbers, self.active_customer_number), chosen)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            screen.dismiss(None)
            return
        text = _(screen.HELP) if screen.HELP else ""  # not _(""): gettext's "" is the catalog's header
        self.push_screen(HelpScreen(self.screen_title(screen), text, self.help_keys(screen)))

    def screen_title(self, screen: Screen) -> str:
        return _(getattr(screen, "TITLE", None) or self.title)

    @staticmethod
    def listed_binding(binding: Binding) -> bool:
        """A binding F1 help lists: one shown in the footer, or one of ours (an id) the footer leaves out
        for room (tui/widgets/footer.py, `show=False`) that says what it does."""
        return binding.show or bool(binding.id and binding.description and binding.action != "command_palette")

    def help_keys(self, screen: Screen) -> list[tuple[str, str]]:
        """The keys to list in F1 help: the screen's own key hints, then every binding it answers to (those
        in the footer and those left out of it for room), each key once: a binding whose key a hint already
        explains ("F7" and "Sort", "Ctrl+S" and "^s") is not listed again."""
        from tui.screens.help import key_names

        keys = [(_(key), _(text)) for key, text in getattr(screen, "HELP_KEYS", ())]
        listed = set().union(*(key_names(key) for key, _text in getattr(screen, "HELP_KEYS", ())))
        seen: set[str] = set()
        for key, (_node, binding, enabled, _tooltip) in screen.active_bindings.items():
            if self.listed_binding(binding) and enabled and binding.action not in seen:
                seen.add(binding.action)
                display = self.get_key_display(binding)
                if key in listed or key_names(display) & listed:
                    continue
                listed |= {key} | key_names(display)
                keys.append((display, _(binding.description)))
        palette = self.key_for("command_palette")
        if ("command_palette" not in seen and self.ENABLE_COMMAND_PALETTE and not screen.is_modal
                and not key_names(palette) & listed):
            keys.append((palette, _("Open the command palette: find a screen or command")))
        return keys

    def key_for(self, binding_id: str) -> str:
        """How the key of the app binding `binding_id` is shown (after any keymap the user set)."""
        for _key, binding in self._bindings:
            if binding.id == binding_id:
                remapped = getattr(self, "_keymap", {}).get(binding_id)
                if remapped:
                    binding = Binding(remapped.split(",")[0].strip(), binding.action, binding.description)
                return self.get_key_display(binding)
        return binding_id

    def get_key_display(self, binding: Binding) -> str:
        display = super().get_key_display(binding)
        if len(display) in (2, 3) and display[0] == "f" and display[1:].isdigit():
            return display.upper()  # F1, F10: as printed on the keyboard
        return display

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # A screen's own commands first: `screen_commands()` gives (title, help, callback) triples.
        titles = set()
        for title, help_text, callback in getattr(screen, "screen_commands", lambda: ())():
            titles.add(title)
            yield SystemCommand(title, help_text, callback)
        if self.session is not None:
            yield SystemCommand(_("Log out"), _("End your session and return to the login screen"),
                                self.action_logout)
            if self.session.is_multipass:
                yield SystemCommand(_("Switch customer number"), _("Choose the customer number to act for"),
                                    self.action_switch_customer)
        yield SystemCommand(_("Help"), _("Show what this screen does and its keys"), self.action_help)
        # The screen's own keys, also those the footer leaves out for room: every action is found by name.
        seen = {"help", "logout", "switch_customer", "quit", "command_palette"}
        for node, binding, enabled, _tooltip in list(screen.active_bindings.values()):
            description = _(binding.description) if binding.description else ""
            if (node is self or not enabled or not binding.id or not description or binding.action in seen
                    or description in titles):  # already offered by the screen's own commands
                continue
            seen.add(binding.action)
            # The action's name, its key under it (as the footer shows it).
            yield SystemCommand(description, self.get_key_display(binding), partial(self.run_action, binding.action, node))
        if self.kiosk:
            return  # kiosk: no theme change, no way out of the app
        yield SystemCommand(_("Theme"), _("Change the colour theme"), self.action_change_theme)
        yield SystemCommand(_("Quit"), _("Leave Cards Online"), self.action_quit)

    # Kiosk mode (issue 10): whatever calls these actions, a kiosk stays in the app --------------------

    async def action_quit(self) -> None:
        if self.kiosk:
            self.bell()
            return
        await super().action_quit()

    def action_suspend_process(self) -> None:
        if self.kiosk:
            self.bell()
            return
        super().action_suspend_process()

    def action_change_theme(self) -> None:
        """Our three themes (the ones the config file knows), not every theme Textual has."""
        from textual.command import SimpleCommand

        from tui.config import THEMES

        if self.kiosk:
            self.bell()
            return
        current = self.theme_choice()
        self.search_commands(
            [SimpleCommand(_(THEME_LABELS[name]), partial(self.choose_theme, name),
                           _("The theme in use") if name == current else _("Use this theme and save it"))
             for name in THEMES],
            placeholder=_("Choose a colour theme…"),
        )

    def theme_choice(self) -> str | None:
        """The theme in use as the config file names it ("dark", "light", "high-contrast"), or None."""
        from tui.config import THEMES

        return next((name for name, textual_name in THEMES.items() if textual_name == self.theme), None)

    def choose_theme(self, name: str) -> None:
        """Use the theme `name` and save it in the config file, saying where (or why it could not be)."""
        from tui.config import THEMES, ConfigSaveError, save_theme

        if self.kiosk:
            return  # a kiosk's theme is the config file's [kiosk] theme
        self.theme = THEMES[name]
        label = _(THEME_LABELS[name])
        if self.config_file is None:
            self.notify(_("Theme {theme} for this session.").format(theme=label), title=_("Theme"))
            return
        try:
            saved = save_theme(name, self.config_file)
        except ConfigSaveError as exc:
            self.notify(_("Theme {theme} for this session only: it could not be saved. {reason}").format(
                theme=label, reason=str(exc)), title=_("Theme"), severity="warning", timeout=15)
            return
        self.notify(_("Theme {theme} saved in {path}.").format(theme=label, path=str(saved)), title=_("Theme"))
