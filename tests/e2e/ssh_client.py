"""A small SSH terminal client for the tests and the benchmark: asyncssh's client, a pty of a given size, every
byte the server sends kept, and helpers to wait for text to appear on the screen."""
from __future__ import annotations

import asyncio
import re
import time

import asyncssh

# Escape sequences: CSI (colours, cursor moves), OSC (titles, clipboard), charset and keypad selections.
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")

KEYS = {"tab": b"\t", "enter": b"\r", "ctrl+q": b"\x11", "ctrl+p": b"\x10", "f4": b"\x1bOS", "escape": b"\x1b"}


def screen_text(data: bytes) -> str:
    """The text in a stream of terminal output, escape sequences removed (each run of text stays whole)."""
    return _ESCAPES.sub(b"", data).decode("utf-8", "replace")


def _squeeze(text: str) -> str:
    return "".join(text.split())


class TerminalSession(asyncssh.SSHClientSession):
    def __init__(self) -> None:
        self.output = bytearray()
        self.changed = asyncio.Event()
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype) -> None:
        self.output += data
        self.changed.set()

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal

    def connection_lost(self, exc) -> None:
        self.closed.set()
        self.changed.set()

    def text(self, since: int = 0) -> str:
        return screen_text(bytes(self.output[since:]))

    async def wait_for(self, needle: str | bytes, timeout: float = 90, since: int = 0) -> float:
        """Wait until `needle` (text, or raw bytes) shows in what arrived after byte `since`; the time it took."""
        start = time.monotonic()
        while True:
            if isinstance(needle, bytes):
                found = needle in bytes(self.output[since:])
            else:  # spaces aside: the app may move the cursor over cells that did not change
                found = _squeeze(needle) in _squeeze(self.text(since))
            if found:
                return time.monotonic() - start
            if self.closed.is_set():
                raise AssertionError(f"the session closed before {needle!r} appeared; the screen said:\n"
                                     f"{self.text(since)[-3000:]}")
            remaining = timeout - (time.monotonic() - start)
            if remaining <= 0:
                raise AssertionError(f"{needle!r} did not appear within {timeout} s; the screen said:\n"
                                     f"{self.text(since)[-3000:]}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
            except asyncio.TimeoutError:
                pass


async def open_terminal(port: int, username: str = "driver", size: tuple[int, int] = (80, 24),
                        term_type: str = "xterm-256color", env: dict[str, str] | None = None,
                        client_keys=(), host: str = "127.0.0.1"):
    """Connect (no host key check: a test server) and open a session with a pty: (connection, channel, session)."""
    conn = await asyncssh.connect(host, port, username=username, known_hosts=None, client_keys=client_keys,
                                  agent_path=None, password=None, kbdint_auth=False, config=None)
    chan, session = await conn.create_session(TerminalSession, term_type=term_type, term_size=size,
                                              encoding=None, env=env or {})
    return conn, chan, session
