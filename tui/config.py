"""The user's config file (issue 10): theme, language, download folder, idle timeouts, kiosk mode, key remapping.

The file is TOML, read from `$CARDSONLINE_CONFIG` when set, else `config.toml` in the user config directory
(`~/.config/cardsonline/config.toml` on Linux, following `$XDG_CONFIG_HOME`). A missing file at the default
place means "all defaults"; a file named by `$CARDSONLINE_CONFIG` (or `--config`) must exist.

Every mistake is an error, never ignored: an unknown section or key, a wrong type, an unknown theme, language,
binding id or menu item id. `ConfigError` names the file, the line and the key, and what is allowed; the
`cardsonline` command prints it and exits with status 2 without opening the portal.

Command-line options override the file (`--kiosk`, `--idle-minutes`, `--theme`, `--lang`). The language is the
one before login (else `$LANG`); once logged in, the user's own language applies.

This module imports nothing of Textual at import time, so the command starts fast; the binding ids of `[keys]`
are checked against the `Binding(…, id=…)` calls in the source of the `tui` package.
"""
from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.i18n import N_, _

CONFIG_ENV = "CARDSONLINE_CONFIG"
DOWNLOAD_DIR_ENV = "CARDSONLINE_DOWNLOAD_DIR"  # the same name exports.invoice_files reads

# The themes a user chooses from, and the Textual theme each one is (tui/themes.py registers the last one).
THEMES: dict[str, str] = {
    "dark": "textual-dark",
    "light": "textual-light",
    "high-contrast": "cardsonline-high-contrast",
}
LANGUAGES = ("en", "nl", "fr")
DEFAULT_IDLE_MINUTES = 15.0
DEFAULT_KIOSK_IDLE_MINUTES = 2.0
DEFAULT_KIOSK_THEME = "high-contrast"

KEY_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})


class ConfigError(Exception):
    """A config file that cannot be used: the message names the file, the line and the key."""


@dataclass(frozen=True)
class KioskConfig:
    enabled: bool = False
    idle_minutes: float = DEFAULT_KIOSK_IDLE_MINUTES
    theme: str = DEFAULT_KIOSK_THEME
    # Menu item ids (tui/menu.py); empty: every screen the user's rights allow.
    screens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path | None = None  # the file read; None when there was none
    language: str | None = None  # None: not in the file ($LANG decides, see store.i18n.startup_language)
    theme: str = "dark"
    download_folder: Path | None = None
    idle_minutes: float = DEFAULT_IDLE_MINUTES
    kiosk: KioskConfig = field(default_factory=KioskConfig)
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s), "f5" or "f5,ctrl+r"

    def effective_theme(self, kiosk: bool) -> str:
        """The theme name (one of THEMES) in use: in kiosk mode the kiosk's theme."""
        return self.kiosk.theme if kiosk else self.theme

    def effective_idle_minutes(self, kiosk: bool) -> float:
        return self.kiosk.idle_minutes if kiosk else self.idle_minutes


# Where the file is ------------------------------------------------------------------------------------


def default_config_path() -> Path:
    """The file in the user config directory (platformdirs: `$XDG_CONFIG_HOME/cardsonline/config.toml`)."""
    from platformdirs import user_config_path

    return user_config_path("cardsonline", appauthor=False) / "config.toml"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: `explicit` (the --config option), else $CARDSONLINE_CONFIG, else the default."""
    if explicit:
        return Path(explicit).expanduser()
    configured = os.environ.get(CONFIG_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return default_config_path()


# Reading and checking ---------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check the config file (see `config_path`); raises `ConfigError` on any mistake."""
    explicit = bool(path) or bool(os.environ.get(CONFIG_ENV, "").strip())
    file = config_path(path)
    if not file.exists():
        if explicit:
            raise ConfigError(_("{file}: no such config file.").format(file=file))
        return Config()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(_("{file}: cannot be read: {error}").format(file=file, error=exc)) from exc
    return parse_config(text, file)


def parse_config(text: str, file: Path | str = "<config>") -> Config:
    """Check the TOML `text` of the config file `file` (named in the messages) and build the `Config`."""
    checker = _Checker(text, Path(file))
    return checker.config()


SECTIONS: dict[str, tuple[str, ...]] = {
    "general": ("language", "theme", "download_folder", "idle_minutes"),
    "kiosk": ("enabled", "idle_minutes", "theme", "screens"),
    "keys": (),  # any binding id
}


class _Checker:
    def __init__(self, text: str, file: Path) -> None:
        self.text = text
        self.file = file

    # Messages ------------------------------------------------------------------------------------

    def line_of(self, section: str | None, key: str | None = None) -> int | None:
        """The line number of `key` in `[section]` (or of the section header), from a plain scan of the text."""
        current = None
        for number, raw in enumerate(self.text.splitlines(), 1):
            line = raw.strip()
            header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", line)
            if header:
                current = header.group(1).strip().strip('"\'')
                if key is None and current == section:
                    return number
                continue
            if key is not None and current == section:
                match = re.match(r"""^(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.-]+))\s*=""", line)
                if match and key in match.groups():
                    return number
        return None

    def error(self, section: str | None, key: str | None, message: str) -> ConfigError:
        line = self.line_of(section, key)
        where = f"{self.file}"
        if line is not None:
            where = _("{file}, line {line}").format(file=self.file, line=line)
        if section is not None:
            where += f": [{section}]" + (f" {key}" if key is not None else "")
        return ConfigError(f"{where}: {message}")

    # Types ---------------------------------------------------------------------------------------

    def string(self, section: str, key: str, value: Any, allowed: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str):
            if allowed:
                raise self.error(section, key, _("must be a string in quotes, not {type} (one of {choices}).").format(
                    type=_type_name(value), choices=_choices(allowed)))
            raise self.error(section, key, _("must be a string in quotes, not {type}.").format(type=_type_name(value)))
        if allowed is not None and value not in allowed:
            raise self.error(section, key, _("{value!r} is not allowed; use one of {choices}.").format(
                value=value, choices=_choices(allowed)))
        return value

    def boolean(self, section: str, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(section, key, _("must be true or false, not {type}.").format(type=_type_name(value)))
        return value

    def minutes(self, section: str, key: str, value: Any, allow_zero: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(section, key, _("must be a number of minutes, not {type}.").format(
                type=_type_name(value)))
        if value < 0 or (value == 0 and not allow_zero) or value != value:
            message = (_("{value!r} is not allowed; use a number of minutes 0 or more (0: never log out).")
                       if allow_zero else
                       _("{value!r} is not allowed; use a number of minutes more than 0 (a kiosk always logs out)."))
            raise self.error(section, key, message.format(value=value))
        return float(value)

    def folder(self, section: str, key: str, value: Any) -> Path:
        text = self.string(section, key, value)
        path = Path(os.path.expandvars(text)).expanduser()
        if not text.strip() or not path.is_absolute():
            raise self.error(section, key, _("{value!r} is not allowed; use an absolute folder, e.g. "
                                             "\"~/Downloads/cards\" or \"/srv/depot/downloads\".").format(value=text))
        if path.exists() and not path.is_dir():
            raise self.error(section, key, _("{path!r} exists and is not a folder.").format(path=str(path)))
        return path

    def table(self, data: dict[str, Any], section: str) -> dict[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise self.error(None, None, _("{section} must be a section [{section}], not {type}.").format(
                section=section, type=_type_name(value)))
        return value

    # The whole file ------------------------------------------------------------------------------

    def config(self) -> Config:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_("{file}: not valid TOML: {error}").format(file=self.file, error=exc)) from exc
        for section in data:
            if section not in SECTIONS:
                raise self.error(None, None, _("unknown section [{section}] (line {line}); allowed: {allowed}.").format(
                    section=section, line=self.line_of(section), allowed=_choices(tuple(SECTIONS), brackets=True)))
        general = self.table(data, "general")
        kiosk = self.table(data, "kiosk")
        keys = self.table(data, "keys")
        for section, values in (("general", general), ("kiosk", kiosk)):
            for key in values:
                if key not in SECTIONS[section]:
                    raise self.error(section, key, _("unknown key {key!r}; allowed in [{section}]: {allowed}.").format(
                        key=key, section=section, allowed=", ".join(SECTIONS[section])))
        themes = tuple(THEMES)
        config = Config(
            path=self.file,
            language=self.string("general", "language", general["language"], LANGUAGES)
            if "language" in general else None,
            theme=self.string("general", "theme", general["theme"], themes) if "theme" in general else "dark",
            download_folder=self.folder("general", "download_folder", general["download_folder"])
            if "download_folder" in general else None,
            idle_minutes=self.minutes("general", "idle_minutes", general["idle_minutes"], allow_zero=True)
            if "idle_minutes" in general else DEFAULT_IDLE_MINUTES,
            kiosk=KioskConfig(
                enabled=self.boolean("kiosk", "enabled", kiosk["enabled"]) if "enabled" in kiosk else False,
                idle_minutes=self.minutes("kiosk", "idle_minutes", kiosk["idle_minutes"], allow_zero=False)
                if "idle_minutes" in kiosk else DEFAULT_KIOSK_IDLE_MINUTES,
                theme=self.string("kiosk", "theme", kiosk["theme"], themes)
                if "theme" in kiosk else DEFAULT_KIOSK_THEME,
                screens=self.screens(kiosk["screens"]) if "screens" in kiosk else (),
            ),
            keys=self.keys(keys),
        )
        return config

    def screens(self, value: Any) -> tuple[str, ...]:
        from tui.menu import MENU

        known = tuple(item.id for item in MENU)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error("kiosk", "screens", _("must be a list of menu item ids in quotes, not {type}; e.g. "
                                                   "screens = [\"cards.manage\", \"daily.transactions\"].").format(
                type=_type_name(value)))
        for screen in value:
            if screen not in known:
                raise self.error("kiosk", "screens", _("unknown menu item id {id!r}; allowed: {allowed}.").format(
                    id=screen, allowed=", ".join(known)))
        return tuple(dict.fromkeys(value))

    def keys(self, values: dict[str, Any]) -> dict[str, str]:
        if not values:
            return {}
        known = known_binding_ids()
        keymap: dict[str, str] = {}
        for binding_id, value in values.items():
            if binding_id not in known:
                import difflib

                close = difflib.get_close_matches(binding_id, sorted(known), n=3)
                if close:
                    message = _("unknown binding id {id!r}; did you mean {close}? `cardsonline config ids` lists "
                                "the {count} binding ids.")
                else:
                    message = _("unknown binding id {id!r}; `cardsonline config ids` lists the {count} binding ids.")
                raise self.error("keys", binding_id, message.format(
                    id=binding_id, close=_(" or ").join(repr(c) for c in close), count=len(known)))
            if not isinstance(value, str):
                raise self.error("keys", binding_id, _("must be a key in quotes such as \"f5\" or \"ctrl+r\" "
                                                       "(several: \"f5,ctrl+r\"), not {type}.").format(
                    type=_type_name(value)))
            keys = [part.strip() for part in value.split(",")]
            for key in keys:
                problem = key_problem(key)
                if problem:
                    raise self.error("keys", binding_id, f"{value!r}: {problem}")
            keymap[binding_id] = ",".join(keys)
        return keymap


def key_problem(key: str) -> str | None:
    """Why `key` is not a key Textual understands ("ctrl+r", "f5", "question_mark", "?"), or None."""
    if not key:
        return _("an empty key; write keys such as \"f5\" or \"ctrl+r\", separated by commas.")
    *modifiers, name = key.split("+") if len(key) > 1 else [key]
    for modifier in modifiers:
        if modifier not in KEY_MODIFIERS:
            return _("{modifier!r} in {key!r} is not a modifier; use {modifiers}.").format(
                modifier=modifier, key=key, modifiers=", ".join(sorted(KEY_MODIFIERS)))
    if len(name) == 1 and name.isprintable():
        return None
    if name in _key_names():
        return None
    try:
        unicodedata.lookup(name.replace("_", " ").upper())  # Textual's long names: "question_mark"
        return None
    except KeyError:
        pass
    return _("{name!r} in {key!r} is not a key name; use e.g. f5, ctrl+r, escape, enter, tab, up, home, or a "
             "character.").format(name=name, key=key)


def _key_names() -> frozenset[str]:
    """Key names without modifiers: "escape", "f5", "pageup", "tab", …"""
    from textual.keys import Keys, _character_to_key

    names = {str(k.value).rsplit("+", 1)[-1] for k in Keys if not str(k.value).startswith("<")}
    return frozenset(names | {_character_to_key(chr(code)) for code in range(33, 127)})


def known_binding_ids() -> frozenset[str]:
    """The ids of every binding of the app, its screens and its widgets (what `[keys]` may remap).

    Read from the source of the `tui` package (every `Binding(…, id="…")`) rather than by importing every
    screen, which would cost the start-up a second or two; a test checks this against the imported classes."""
    ids: set[str] = set()
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        if source == Path(__file__):
            continue  # this module only names Binding in its texts
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for match in re.finditer(r"\bBinding\(", text):
            depth, end = 1, match.end()
            while depth and end < len(text):  # to the closing parenthesis of the call
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            ids.update(re.findall(r"""\bid\s*=\s*["']([^"']+)["']""", text[match.end():end]))
    return frozenset(ids)


def imported_binding_ids() -> frozenset[str]:
    """The binding ids of the app and of every class in tui.screens and tui.widgets, by importing them (slow:
    for the test that keeps `known_binding_ids` honest)."""
    import importlib
    import pkgutil

    from textual.binding import Binding

    import tui.screens
    import tui.widgets
    from tui.app import CardsOnlineApp

    classes: list[type] = [CardsOnlineApp]
    for package in (tui.screens, tui.widgets):
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            classes.extend(v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__)
    return frozenset(binding.id for cls in classes for binding in getattr(cls, "BINDINGS", ()) or ()
                     if isinstance(binding, Binding) and binding.id)


def _type_name(value: Any) -> str:
    name = {bool: N_("true/false"), int: N_("a number"), float: N_("a number"), str: N_("a string"),
            list: N_("a list"), dict: N_("a table")}.get(type(value))
    return _(name) if name else type(value).__name__


def _choices(values: tuple[str, ...] | None, brackets: bool = False) -> str:
    values = values or ()
    return ", ".join(f"[{v}]" if brackets else f'"{v}"' for v in values)


# Saving the theme chosen in the portal -----------------------------------------------------------------

NEW_FILE_HEADER = "# Cards Online config file (TOML); `cardsonline config example` shows every setting.\n"


class ConfigSaveError(ConfigError):
    """The config file could not be updated; it is left as it was."""


def save_theme(theme: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Set `[general] theme` in the config file (see `config_path`), creating the file if it is missing, and
    return the file written.

    tomllib cannot write, and a TOML writer would drop the user's comments and layout: only the `theme` line
    of `[general]` is replaced (its comment kept), or added under `[general]`, or a `[general]` section is
    added at the end. The new text must then read back as the same settings with only the theme changed,
    else nothing is written; the file is replaced atomically (a temporary file in the same folder, renamed),
    through a symbolic link to its target, with the old file's permissions. Raises `ConfigSaveError`."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}")
    file = config_path(path)
    target = file.resolve() if file.is_symlink() else file
    try:
        old_text = None
        if target.exists():
            with open(target, encoding="utf-8", newline="") as file_in:  # newline="": keep \r\n as they are
                old_text = file_in.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigSaveError(f"{file}: cannot be read: {exc}") from exc
    if old_text is None:
        new_text = f'{NEW_FILE_HEADER}\n[general]\ntheme = "{theme}"\n'
    else:
        try:
            before = parse_config(old_text, file)
        except ConfigError as exc:
            raise ConfigSaveError(f"not saved: the file has a mistake to correct first: {exc}") from exc
        new_text = _with_general_theme(old_text, theme)
        try:
            after = parse_config(new_text, file)
        except ConfigError:
            after = None
        if after is None or after != _replace_theme(before, theme):
            raise ConfigSaveError(f"{file}: the theme could not be changed safely in this file; "
                                  f"set theme = \"{theme}\" in its [general] section yourself.")
    _write_atomically(target, new_text)
    return file


def _replace_theme(config: Config, theme: str) -> Config:
    from dataclasses import replace

    return replace(config, theme=theme)


_SECTION_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_THEME_LINE = re.compile(r"""^(\s*(?:theme|"theme"|'theme')\s*=\s*)("[^"\\\n]*"|'[^'\n]*')(.*)$""", re.S)


def _with_general_theme(text: str, theme: str) -> str:
    """`text` with `[general] theme` set to `theme`; the other lines as they were (a plain line scan, checked
    afterwards by `save_theme`)."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    section: str | None = None
    general_at: int | None = None
    for index, line in enumerate(lines):
        header = _SECTION_HEADER.match(line.rstrip("\r\n"))
        if header:
            section = header.group(1).strip().strip("\"'")
            if section == "general" and general_at is None:
                general_at = index
            continue
        if section == "general":
            match = _THEME_LINE.match(line)
            if match:
                lines[index] = f'{match.group(1)}"{theme}"{match.group(3)}'
                return "".join(lines)
    if general_at is not None:
        lines.insert(general_at + 1, f'theme = "{theme}"{newline}')
        return "".join(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    blank = newline if lines and lines[-1].strip() else ""
    return "".join(lines) + f'{blank}[general]{newline}theme = "{theme}"{newline}'


def _write_atomically(target: Path, text: str) -> None:
    import stat
    import tempfile

    if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
        # Replacing it would work in a writable folder (and root may write anything), but a file without
        # write permission says: leave it alone.
        raise ConfigSaveError(f"{target}: the file is read-only.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigSaveError(f"{target}: cannot be written: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise ConfigSaveError(f"{target}: cannot be written: {exc.strerror or exc}") from exc


# The download folder --------------------------------------------------------------------------------


def apply_download_folder(config: Config) -> None:
    """Make the config's download folder the default of the screens that download files: they read
    $CARDSONLINE_DOWNLOAD_DIR (exports.invoice_files.default_download_folder), which, when already set,
    wins over the file."""
    if config.download_folder is not None and not os.environ.get(DOWNLOAD_DIR_ENV, "").strip():
        os.environ[DOWNLOAD_DIR_ENV] = str(config.download_folder)


def download_folder(config: Config | None = None) -> Path:
    """The default folder for downloads: $CARDSONLINE_DOWNLOAD_DIR, else the config file's
    `download_folder`, else ~/Downloads when it exists, else the home folder."""
    configured = os.environ.get(DOWNLOAD_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    if config is not None and config.download_folder is not None:
        return config.download_folder
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.home()


# The example file -----------------------------------------------------------------------------------

EXAMPLE = """\
# Cards Online: config file (TOML). Every key is optional; a wrong key or value stops the portal
# with a message naming the line. Command-line options win over this file.

[general]
# Language before login: "en", "nl" or "fr" (default: $LANG; --lang wins). Once logged in, each user's own.
language = "en"
# Colour theme: "dark", "light" or "high-contrast".
theme = "dark"
# Default folder for downloaded files (invoices); $CARDSONLINE_DOWNLOAD_DIR wins when set.
download_folder = "~/Downloads"
# Log out after this many minutes without a key or click (0: never). --idle-minutes wins.
idle_minutes = 15

[kiosk]
# A depot terminal: no way out of the app, logs out by itself, optionally only a few screens.
# `cardsonline --kiosk` turns it on too.
enabled = false
# Log out after this many idle minutes (more than 0).
idle_minutes = 2
# The theme in kiosk mode.
theme = "high-contrast"
# The only main-menu items shown (ids as in `cardsonline config ids`); the user's rights still apply.
# Leave out or empty: every item the rights allow.
screens = ["cards.manage", "driver_codes.manage", "daily.transactions"]

[keys]
# Remap a key by binding id: binding_id = "key" (several keys: "f5,ctrl+r"). See `cardsonline config ids`.
# logout = "ctrl+o"
# quick_find = "f6"
"""
