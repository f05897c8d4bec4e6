"""`cardsonline serve ssh`: the portal over SSH, one TUI process per session on its own pseudo-terminal.

An asyncio asyncssh server. Each SSH session that asks for a terminal gets a pty (os.openpty) and a child
process running the `cardsonline` command (`python -m tui.cli` with the database and idle options the server
got) with the pty as its controlling terminal. Bytes are pumped both ways between the SSH channel and the pty
master; a window change from the client sets the pty size (TIOCSWINSZ), so the child gets SIGWINCH. When the
child exits, its exit status goes to the client and the channel closes; when the client goes away, the child
gets SIGHUP, then SIGKILL after a grace period, and is reaped.

The portal's own login authenticates the person: by default the SSH layer asks nothing (any user name, no
system accounts). With `authorized_keys`, only the public keys listed there are admitted (read again on every
connection, like OpenSSH).

The store knows nothing of this module; the child processes use the store as the local TUI does.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import signal
import struct
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from tui.i18n import _

log = logging.getLogger("cardsonline.ssh")

HOST_KEY_NAME = "ssh_host_ed25519_key"
HANGUP_GRACE = 5.0  # seconds between SIGHUP and SIGKILL when a client goes away
DRAIN_AFTER_EXIT = 1.0  # seconds to read the child's last output after it exited
READ_SIZE = 65536
WRITE_HIGH_WATER = 256 * 1024  # bytes queued on the channel before we stop reading the pty
# From the client's environment, only these reach the child; LANG/LC_* choose the language before login.
CLIENT_ENV = ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LC_CTYPE", "COLORTERM", "NO_COLOR")
# The variables that choose the language (store.i18n.language_from_environment): when the client sends one,
# the server's own are dropped, or a server's LC_ALL would win over the client's LANG.
LANGUAGE_ENV = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# Never inherited from the server: the child's terminal is the client's. COLUMNS/LINES would freeze the size
# (shutil.get_terminal_size prefers them over the pty's own size, so resizes would be ignored).
SERVER_ENV_DROPPED = ("TERM", "COLORTERM", "COLUMNS", "LINES", "NO_COLOR", "TMUX", "STY", "TERM_PROGRAM")


def default_host_key_path() -> Path:
    from store.db import data_dir

    return data_dir() / HOST_KEY_NAME


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The server's ed25519 host key from `path`, generated (mode 0600) on first start and kept."""
    path = Path(path)
    if path.exists():
        if path.stat().st_mode & 0o077:
            log.warning("the host key %s can be read by others: chmod 600 it", path)
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="cardsonline host key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
    path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
    log.info("generated a new host key %s (%s)", path, key.get_fingerprint())
    return key


@dataclass
class ServerConfig:
    child_argv: Sequence[str]  # the command each session runs (the portal)
    host: str = "127.0.0.1"
    port: int = 2222
    host_key: Path | None = None  # None: the default in the user data dir
    max_sessions: int = 20
    authorized_keys: Path | None = None  # None: no SSH authentication (the portal's login decides)
    hangup_grace: float = HANGUP_GRACE
    keepalive_interval: float = 30.0  # seconds; a client silent for 3 intervals is dropped
    extra_env: dict[str, str] = field(default_factory=dict)


def portal_argv(database_url: str | None, idle_minutes: float | None = None, lock_after: int | None = None,
                lock_minutes: int | None = None) -> list[str]:
    """The command a session runs: this Python running `tui.cli` with the server's own options."""
    argv = [sys.executable, "-m", "tui.cli"]
    if database_url:
        argv += ["--database-url", database_url]
    if idle_minutes is not None:
        argv += ["--idle-minutes", f"{idle_minutes:g}"]
    if lock_after is not None:
        argv += ["--lock-after", str(lock_after)]
    if lock_minutes is not None:
        argv += ["--lock-minutes", str(lock_minutes)]
    return argv


def _set_winsize(fd: int, columns: int, rows: int, xpixels: int = 0, ypixels: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 1), max(columns, 1), ypixels, xpixels))


def _take_controlling_terminal() -> None:  # pragma: no cover - runs in the child between fork and exec
    # start_new_session made the child a session leader; its stdin (the pty slave) becomes its terminal, so
    # it gets SIGWINCH on resizes and SIGHUP when the terminal goes away.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PortalSession(asyncssh.SSHServerSession):
    """One SSH session: a pty and a portal process, bytes pumped both ways."""

    def __init__(self, server: SshPortalServer, username: str, peer: str) -> None:
        self.server = server
        self.username = username
        self.peer = peer
        self.chan: asyncssh.SSHServerChannel | None = None
        self.master: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.client_gone = False
        self.stopping = False  # the server is stopping: the child was hung up
        self.reading = False
        self.write_paused = False
        self.to_child = bytearray()  # client input not yet taken by the pty
        self.output_done: asyncio.Event | None = None
        self.task: asyncio.Task | None = None
        self.term_type = ""
        self.size = (80, 24)

    # asyncssh callbacks ------------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self.chan = chan
        chan.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return True  # like OpenSSH's ForceCommand: whatever was asked, the portal runs

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # no sftp or others

    def session_started(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes, datatype) -> None:
        self.to_child += data  # typed before the portal process exists: kept for it
        if self.master is not None:
            self._write_to_child()

    def eof_received(self) -> bool:
        return True  # keep the channel: the portal ends the session

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height)
        if self.master is not None and width and height:
            try:
                _set_winsize(self.master, width, height, pixwidth, pixheight)
            except OSError:
                pass

    def pause_writing(self) -> None:
        self.write_paused = True
        self._stop_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._start_reading()

    def break_received(self, msec: int) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client_gone = True
        self._stop_reading()
        if self.process is not None and self.process.returncode is None:
            self._signal_child(signal.SIGHUP)

    # The session -------------------------------------------------------------------------------

    async def _run(self) -> None:
        chan = self.chan
        assert chan is not None
        self.term_type = chan.get_terminal_type() or ""
        if not self.term_type:
            chan.write((_("Cards Online needs a terminal: connect with ssh -t.") + "\r\n").encode())
            chan.exit(1)
            return
        if not self.server.claim_slot(self):
            chan.write((_("Cards Online: all {count} sessions are in use; please try again later.").format(
                count=self.server.config.max_sessions) + "\r\n").encode())
            log.warning("session refused user=%s peer=%s: all %d sessions in use", self.username, self.peer,
                        self.server.config.max_sessions)
            chan.exit(1)
            return
        status: int | None = None
        try:
            status = await self._run_child(chan)
        except Exception:
            log.exception("session failed user=%s peer=%s", self.username, self.peer)
        finally:
            self.server.release_slot(self)
            self._close_master()
            duration = time.monotonic() - self.started if self.started else 0.0
            how = "client went away" if self.client_gone else "server stopped" if self.stopping else "app quit"
            log.info("session end user=%s peer=%s pid=%s duration=%.1fs exit=%s (%s)", self.username, self.peer,
                     self.process.pid if self.process else "-", duration, status, how)
        if not self.client_gone:
            try:
                if status is not None and status < 0:
                    chan.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
                else:
                    chan.exit(status if status is not None else 1)
            except (OSError, asyncssh.Error, ValueError):
                chan.close()

    def _child_env(self, chan: asyncssh.SSHServerChannel) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROPPED}
        env.update(self.server.config.extra_env)
        env["TERM"] = self.term_type
        client_env = chan.get_environment()
        if any(client_env.get(name) for name in LANGUAGE_ENV):
            for name in LANGUAGE_ENV:
                env.pop(name, None)
        for name in CLIENT_ENV:
            value = client_env.get(name)
            if value is not None and "\0" not in value:
                env[name] = value
        env["CARDSONLINE_SSH_USER"] = self.username
        env["CARDSONLINE_SSH_PEER"] = self.peer
        return env

    async def _run_child(self, chan: asyncssh.SSHServerChannel) -> int:
        loop = asyncio.get_running_loop()
        width, height, pixwidth, pixheight = chan.get_terminal_size()
        self.size = (width or 80, height or 24)
        master, slave = os.openpty()
        self.master = master
        try:
            _set_winsize(slave, self.size[0], self.size[1], pixwidth, pixheight)
            os.set_blocking(master, False)
            self.started = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *self.server.config.child_argv, stdin=slave, stdout=slave, stderr=slave,
                env=self._child_env(chan), start_new_session=True, preexec_fn=_take_controlling_terminal,
                close_fds=True)
        finally:
            os.close(slave)  # the child has it; the master sees EIO once the child's side is gone
        log.info("session start user=%s peer=%s term=%s size=%dx%d pid=%d", self.username, self.peer,
                 self.term_type, self.size[0], self.size[1], self.process.pid)
        self.output_done = asyncio.Event()
        if self.to_child:
            self._write_to_child()
        if self.client_gone:
            self._signal_child(signal.SIGHUP)
        else:
            self._start_reading()
        waiting = loop.create_task(self.process.wait())
        hung_up_at: float | None = None
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=0.5)
            if done:
                break
            if self.client_gone or self.stopping:
                hung_up_at = hung_up_at or time.monotonic()
                if time.monotonic() - hung_up_at >= self.server.config.hangup_grace:
                    self._signal_child(signal.SIGKILL)
        status = self.process.returncode
        if not self.client_gone:
            # The child's last words (e.g. the terminal restored) are still in the pty: read them out.
            try:
                await asyncio.wait_for(self.output_done.wait(), DRAIN_AFTER_EXIT)
            except asyncio.TimeoutError:
                pass
        self._stop_reading()
        return status

    def _signal_child(self, signum: int) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signum)  # the child leads its own session and process group
        except ProcessLookupError:
            pass
        except PermissionError:
            process.send_signal(signum)

    # The byte pump -----------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if self.master is not None and not self.reading and not self.write_paused and not self.client_gone:
            asyncio.get_running_loop().add_reader(self.master, self._read_from_child)
            self.reading = True

    def _stop_reading(self) -> None:
        if self.reading and self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
        self.reading = False

    def _read_from_child(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: nobody holds the slave side any more
            data = b""
        if not data:
            self._stop_reading()
            if self.output_done is not None:
                self.output_done.set()
            return
        if self.chan is not None and not self.client_gone:
            try:
                self.chan.write(data)
            except (OSError, asyncssh.Error, BrokenPipeError):
                self._stop_reading()

    def _write_to_child(self) -> None:
        if self.master is None:
            self.to_child.clear()
            return
        loop = asyncio.get_running_loop()
        while self.to_child:
            try:
                written = os.write(self.master, self.to_child)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    self.to_child.clear()
                    break
                continue
            del self.to_child[:written]
        loop.remove_writer(self.master)
        if self.to_child:
            loop.add_writer(self.master, self._write_to_child)
            if self.chan is not None and len(self.to_child) > WRITE_HIGH_WATER:
                self.chan.pause_reading()
        elif self.chan is not None:
            self.chan.resume_reading()

    def _close_master(self) -> None:
        master, self.master = self.master, None
        if master is None:
            return
        loop = asyncio.get_running_loop()
        if self.reading:
            loop.remove_reader(master)
            self.reading = False
        loop.remove_writer(master)
        os.close(master)

    async def hang_up(self) -> None:
        """The server is stopping: hang up the child (SIGKILL after the grace period) and wait until it is reaped;
        the client then gets the exit signal and the channel closes."""
        self.stopping = True
        self._signal_child(signal.SIGHUP)
        if self.task is not None:
            await asyncio.shield(self.task)


class _Connection(asyncssh.SSHServer):
    """Per connection: who and from where, and the (optional) key check."""

    def __init__(self, server: SshPortalServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.server.connections.add(conn)
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.server.connections.discard(self.conn)
        if exc is not None:
            log.debug("connection from %s lost: %s", self.peer, exc)

    def begin_auth(self, username: str) -> bool:
        path = self.server.config.authorized_keys
        if path is None:
            return False  # no SSH authentication: the portal's own login authenticates the person
        assert self.conn is not None
        try:
            self.conn.set_authorized_keys(str(path))
        except (OSError, ValueError) as exc:
            log.error("cannot read the authorized keys %s: %s", path, exc)
            self.conn.set_authorized_keys(asyncssh.import_authorized_keys(""))
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> PortalSession:
        assert self.conn is not None
        username = self.conn.get_extra_info("username") or "?"
        # Any name is accepted: keep it printable and short for the log line and the child's environment.
        username = "".join(c if c.isprintable() and not c.isspace() else "?" for c in username)[:64]
        return PortalSession(self.server, username, self.peer)


class SshPortalServer:
    """The listening server and its live sessions."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.sessions: set[PortalSession] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.host_key: asyncssh.SSHKey | None = None
        self._acceptor: Any = None
        self.port: int | None = None

    def claim_slot(self, session: PortalSession) -> bool:
        if len(self.sessions) >= self.config.max_sessions:
            return False
        self.sessions.add(session)
        return True

    def release_slot(self, session: PortalSession) -> None:
        self.sessions.discard(session)

    async def start(self) -> None:
        self.host_key = load_or_create_host_key(self.config.host_key or default_host_key_path())
        self._acceptor = await asyncssh.create_server(
            lambda: _Connection(self), self.config.host, self.config.port,
            server_host_keys=[self.host_key], encoding=None, line_editor=False, allow_scp=False,
            agent_forwarding=False, x11_forwarding=False, allow_pty=True,
            keepalive_interval=self.config.keepalive_interval or None, keepalive_count_max=3,
            server_version="CardsOnline")
        sockets = self._acceptor.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        auth = f"only the keys in {self.config.authorized_keys}" if self.config.authorized_keys else \
            "no SSH authentication (the portal's login decides)"
        log.info("listening on %s:%d, host key %s, at most %d sessions, %s", self.config.host, self.port,
                 self.host_key.get_fingerprint(), self.config.max_sessions, auth)

    async def stop(self) -> None:
        """Stop listening, end every session's portal process and reap it."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        sessions = list(self.sessions)
        if sessions:
            log.info("stopping: ending %d session(s)", len(sessions))
            await asyncio.gather(*(s.hang_up() for s in sessions), return_exceptions=True)
        for conn in list(self.connections):
            conn.close()
        for conn in list(self.connections):
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except asyncio.TimeoutError:
                conn.abort()


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run the server until SIGTERM or SIGINT, then end the sessions cleanly."""
    server = SshPortalServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await server.stop()
        log.info("stopped")
