"""`cardsonline serve ssh`, end to end: the real command as a server process on 127.0.0.1, real SSH clients
(asyncssh's client; OpenSSH's `ssh` too when it is installed), the portal in its own process per session, on the
test database (SQLite here, PostgreSQL when CARDSONLINE_TEST_DATABASE_URL is set).

Waits are generous (a loaded 2-core machine starts ten Python processes at once); every server is stopped at the
end of its test and every portal process it logged must be gone by then.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncssh
import pytest

from ssh_client import KEYS, open_terminal, screen_text

ROOT = Path(__file__).resolve().parents[2]
LOGIN_TEXT = "Log in to Cards Online"
HOME_TEXT = "Your session"  # the home screen's session panel
WAIT = 120  # seconds: the longest wait for a screen (ten cold Python starts on two cores)


class ServerProcess:
    """`cardsonline serve ssh` in a subprocess; its log lines collected as they come."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "ssh", *args], cwd=ROOT,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for_line(r"listening on [\d.]+:(\d+)", timeout=WAIT).group(1))

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = WAIT, count: int = 1) -> re.Match:
        """The `count`-th log line matching `pattern` (regex), waiting for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = [m for m in (re.search(pattern, line) for line in self.lines) if m]
                if len(matches) >= count:
                    return matches[count - 1]
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"the server exited ({self.process.returncode}):\n" + "\n".join(self.lines))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no log line like {pattern!r} ×{count} in {timeout} s:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(remaining, 1.0))

    async def line(self, pattern: str, timeout: float = WAIT, count: int = 1) -> re.Match:
        """`wait_for_line` for async tests: the event loop (and the clients on it) keeps running meanwhile."""
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout, count)

    def child_pids(self) -> list[int]:
        return [int(m.group(1)) for m in (re.search(r"session start .* pid=(\d+)", line) for line in self.lines) if m]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError("the server did not stop within 60 s of SIGTERM")
        self._reader.join(10)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def ssh_server(demo_db, database_url, tmp_path):
    """A factory: `ssh_server("--max-sessions", "1")` starts the server on a free port of 127.0.0.1 over the demo
    database. At the end: SIGTERM, a clean exit, and none of its portal processes left."""
    servers: list[ServerProcess] = []
    demo_db.dispose()  # the portal processes have the database to themselves

    def start(*options: str) -> ServerProcess:
        server = ServerProcess(["--database-url", database_url, "--host", "127.0.0.1", "--port", "0",
                                "--host-key", str(tmp_path / "ssh_host_ed25519_key"), *options])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        log = "\n".join(server.lines)
        assert server.process.returncode == 0, log
        assert "Traceback" not in log, log
        left = [pid for pid in server.child_pids() if _alive(pid)]
        for pid in left:  # never leave them behind, even when failing
            os.kill(pid, signal.SIGKILL)
        assert not left, f"portal processes left running: {left}\n{log}"


async def _log_in(session, chan, username: str = "fleetadmin", password: str = "Fleet#2026",
                 login_text: str = LOGIN_TEXT) -> None:
    await session.wait_for(login_text, WAIT)
    start = len(session.output)
    chan.write(username.encode() + KEYS["tab"] + password.encode() + KEYS["enter"])
    await session.wait_for(HOME_TEXT, WAIT, since=start)


async def _quit(conn, chan, session) -> None:
    chan.write(KEYS["ctrl+q"])
    await asyncio.wait_for(session.closed.wait(), WAIT)
    conn.close()
    await conn.wait_closed()


async def test_log_in_read_the_home_screen_and_quit(ssh_server, tmp_path):
    server = ssh_server()
    key_file = tmp_path / "ssh_host_ed25519_key"
    assert key_file.stat().st_mode & 0o777 == 0o600  # generated on first start, private

    conn, chan, session = await open_terminal(server.port, username="whoever", env={"LANG": "nl_BE.UTF-8"})
    import tui.i18n  # noqa: F401 - the catalogs, for the Dutch login screen the client's LANG asks for
    from store.i18n import _, use_language

    with use_language("nl"):
        login_text = _(LOGIN_TEXT)
    await _log_in(session, chan, login_text=login_text)  # the demo's fleetadmin reads English once logged in
    home = session.text()
    assert "AN PEETERS (fleetadmin)" in home and "Main menu" in home
    await _quit(conn, chan, session)
    assert session.exit_status == 0
    assert "\x1b[?1049l" in session.output.decode("utf-8", "replace")  # the app restored the terminal on its way out
    end = await server.line(r"session end user=whoever peer=127\.0\.0\.1:\d+ pid=\d+ duration=[\d.]+s exit=0 "
                               r"\(app quit\)")
    assert end
    await server.line(r"session start user=whoever peer=127\.0\.0\.1:\d+ term=xterm-256color size=80x24")

    # A second start keeps the host key it made.
    fingerprint = re.search(r"host key (SHA256:\S+),", "\n".join(server.lines)).group(1)
    server.stop()
    again = ssh_server()
    assert f"host key {fingerprint}," in "\n".join(again.lines)


async def test_terminal_size_resizes_and_colours_follow_the_client(ssh_server):
    server = ssh_server()
    conn, chan, session = await open_terminal(server.port, size=(100, 30), term_type="xterm-256color")
    await session.wait_for(LOGIN_TEXT, WAIT)
    await session.wait_for(b"\x1b[30;", WAIT)  # Textual draws on the 30th row: the pty has the client's size
    assert b"\x1b[38;5;" in session.output and b"\x1b[38;2;" not in session.output  # 256 colours, as TERM says

    start = len(session.output)
    chan.change_terminal_size(120, 40)
    await session.wait_for(b"\x1b[40;", WAIT, since=start)  # SIGWINCH reached the app: it repainted at 120x40
    await _quit(conn, chan, session)

    # A client that says it has true colour gets it.
    conn, chan, session = await open_terminal(server.port, env={"COLORTERM": "truecolor"})
    await session.wait_for(LOGIN_TEXT, WAIT)
    await session.wait_for(b"\x1b[38;2;", WAIT)
    await _quit(conn, chan, session)


async def test_a_client_that_goes_away_ends_its_portal_process(ssh_server, database_url):
    server = ssh_server()
    conn, chan, session = await open_terminal(server.port, username="gone fake log line")
    await session.wait_for(LOGIN_TEXT, WAIT)
    [pid] = server.child_pids()
    assert _alive(pid)
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"tui.cli" in command_line and database_url.encode() not in command_line  # the URL goes by environment
    conn.abort()  # the network goes away: no exit, no close
    # SIGHUP at once (SIGKILL 5 s later at worst), not the keepalive's 90 s
    await server.line(r"session end user=gone\?fake\?log\?line .* \(client went away\)", timeout=60)
    assert not _alive(pid)


async def test_stopping_the_server_ends_its_sessions(ssh_server):
    server = ssh_server()
    conn, chan, session = await open_terminal(server.port, username="late")
    await session.wait_for(LOGIN_TEXT, WAIT)
    [pid] = server.child_pids()
    await asyncio.to_thread(server.stop)  # SIGTERM
    assert server.process.returncode == 0
    await asyncio.wait_for(session.closed.wait(), WAIT)
    assert session.exit_signal == "HUP", (session.exit_signal, session.exit_status)  # the portal was hung up
    assert not _alive(pid)
    await server.line(r"session end user=late .* \(server stopped\)", timeout=5)
    conn.close()


async def test_max_sessions_refuses_extra_connections_with_a_message(ssh_server):
    server = ssh_server("--max-sessions", "1")
    conn, chan, session = await open_terminal(server.port)
    await session.wait_for(LOGIN_TEXT, WAIT)

    conn2, chan2, extra = await open_terminal(server.port)
    await asyncio.wait_for(extra.closed.wait(), WAIT)
    assert "all 1 sessions are in use; please try again later" in extra.text()
    assert extra.exit_status == 1
    conn2.close()
    await _quit(conn, chan, session)

    # Once the first session ended, a new one gets in.
    conn, chan, session = await open_terminal(server.port)
    await session.wait_for(LOGIN_TEXT, WAIT)
    await _quit(conn, chan, session)
    await server.line(r"session refused .* all 1 sessions in use")

    # Without a terminal (`ssh host` with -T, or a command without -t) there is no portal to show.
    conn = await asyncssh.connect("127.0.0.1", server.port, username="batch", known_hosts=None, client_keys=(),
                                  agent_path=None, config=None)
    result = await asyncio.wait_for(conn.run("cards list", encoding=None), WAIT)
    assert result.exit_status == 1 and b"needs a terminal: connect with ssh -t" in result.stdout
    conn.close()


async def test_idle_sessions_are_logged_out_like_local_ones(ssh_server):
    server = ssh_server("--idle-minutes", "0.05")  # 3 seconds
    conn, chan, session = await open_terminal(server.port)
    await _log_in(session, chan)
    start = len(session.output)
    await session.wait_for("without activity", WAIT, since=start)  # "logged out after 3 seconds" above it
    await _quit(conn, chan, session)


@pytest.mark.parametrize(("config", "seconds", "kiosk"), [
    ("[general]\nidle_minutes = 0.07\n", "4.2", False),
    ("[general]\nidle_minutes = 60\n[kiosk]\nenabled = true\nidle_minutes = 0.04\n", "2.4", True),
], ids=["general", "kiosk"])
async def test_the_idle_timeout_of_ssh_sessions_comes_from_the_config_file(ssh_server, config, seconds, kiosk):
    """The sessions read the config file of the server's account (here the test's own config folder,
    tests/conftest.py): [general] idle_minutes, or [kiosk] idle_minutes when it turns kiosk mode on."""
    import os

    file = Path(os.environ["XDG_CONFIG_HOME"]) / "cardsonline" / "config.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(config)
    server = ssh_server()
    conn, chan, session = await open_terminal(server.port)
    await _log_in(session, chan)
    start = len(session.output)
    await session.wait_for(f"logged out after {seconds}", WAIT, since=start)
    await session.wait_for("seconds without activity", WAIT, since=start)
    if not kiosk:
        await _quit(conn, chan, session)
        return
    chan.write(KEYS["ctrl+q"])  # a kiosk has no way out: the session stays until the client goes away
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(session.closed.wait(), 3)
    conn.close()
    await conn.wait_closed()


async def test_authorized_keys_admit_only_the_listed_keys(ssh_server, tmp_path):
    admitted = asyncssh.generate_private_key("ssh-ed25519")
    other = asyncssh.generate_private_key("ssh-ed25519")
    keys_file = tmp_path / "authorized_keys"
    keys_file.write_bytes(admitted.export_public_key())
    server = ssh_server("--authorized-keys", str(keys_file))

    conn, chan, session = await open_terminal(server.port, client_keys=[admitted])
    await session.wait_for(LOGIN_TEXT, WAIT)
    await _quit(conn, chan, session)
    for keys in ([other], ()):
        with pytest.raises(asyncssh.PermissionDenied):
            await open_terminal(server.port, client_keys=keys)


async def test_ten_sessions_at_once_on_one_database(ssh_server, database_url):
    """Ten people at once, each their own user: log in (a write: last login, audit), change their password
    through *Change my password* (item 1 of their main menu), find one of their cards by its plate (a read
    of the cards), quit. Every session succeeds, and the database has every new password and every event."""
    from sqlmodel import func, select

    from store.db import Database
    from store.models import AuditEvent, Card, CustomerNumber, Right, User, UserCustomerNumber, UserRight
    from store.models.accounts import UserStatus
    from store.services.auth import set_password
    from store.services.passwords import verify_password

    database = Database(database_url)
    with database.session() as s:
        admin = s.exec(select(User).where(User.username == "fleetadmin")).one()
        number = s.exec(select(CustomerNumber).where(CustomerNumber.number == "4020001")).one()
        cards = s.exec(select(Card.number, Card.license_plate).where(
            Card.customer_number_id == number.id, Card.number.is_not(None), Card.license_plate.is_not(None))
            .order_by(Card.id)).all()
        for i in range(10):
            user = User(customer_id=admin.customer_id, username=f"ssh{i}", last_name=f"SESSION{i}", first_name="TEST",
                        email=f"ssh{i}@test.example", phone="0470000000", language="en", status=UserStatus.ACTIVE,
                        created_at=database.clock.now())
            s.add(user)
            s.flush()
            set_password(s, user, "Start#2026", database.clock.now())
            s.add(UserRight(user_id=user.id, right=Right.CARD_MANAGE))
            s.add(UserCustomerNumber(user_id=user.id, customer_number_id=number.id))
        s.commit()
    plates: dict[str, str] = {}
    for card_number, plate in cards:
        plates.setdefault(plate, card_number)
    picked = list(plates.items())[:10]
    assert len(picked) == 10, cards

    server = ssh_server()

    async def one(i: int, plate: str, card_number: str) -> None:
        conn, chan, session = await open_terminal(server.port, username=f"person{i}")
        await _log_in(session, chan, f"ssh{i}", "Start#2026")
        await session.wait_for("1  Change my password", WAIT)  # this user's main menu: the item's number
        start = len(session.output)
        chan.write(b"1")
        await session.wait_for("Your new password must", WAIT, since=start)
        start = len(session.output)
        chan.write(b"Start#2026\t" + f"Session#{i}x2026".encode() + b"\t" + f"Session#{i}x2026".encode() + b"\r")
        await session.wait_for("Your password has been changed", WAIT, since=start)
        start = len(session.output)
        chan.write(KEYS["f4"])
        await session.wait_for("Find a card or OBU", WAIT, since=start)
        chan.write(plate.encode())
        await session.wait_for(card_number, WAIT, since=start)
        await _quit(conn, chan, session)
        assert session.exit_status == 0, session.text()[-2000:]

    await asyncio.gather(*(one(i, plate, card_number) for i, (plate, card_number) in enumerate(picked)))
    for i in range(10):
        await server.line(rf"session end user=person{i} .* exit=0 \(app quit\)")
    with database.session() as s:
        for i in range(10):
            user = s.exec(select(User).where(User.username == f"ssh{i}")).one()
            assert verify_password(user.password_hash, f"Session#{i}x2026")
            assert user.last_login_at is not None
            actions = s.exec(select(AuditEvent.action).where(AuditEvent.actor_user_id == user.id)).all()
            assert sorted(actions) == ["login", "password changed"], (user.username, actions)
        assert s.exec(select(func.count()).select_from(User).where(User.username.like("ssh%"))).one() == 10
    database.dispose()


async def test_openssh_client(ssh_server, tmp_path):
    """With Debian's OpenSSH client when installed (`ssh -tt` on a pty of ours); on a machine without it, the same
    flow with asyncssh's client, so the test never silently does nothing."""
    server = ssh_server()
    ssh = shutil.which("ssh")
    if ssh is None:
        conn, chan, session = await open_terminal(server.port, username="kiosk")
        await _log_in(session, chan)
        await _quit(conn, chan, session)
        assert session.exit_status == 0
        return
    import pty

    master, slave = pty.openpty()
    from tui.ssh_server import _set_winsize

    _set_winsize(slave, 80, 24)
    client = subprocess.Popen(
        [ssh, "-tt", "-p", str(server.port), "-o", "StrictHostKeyChecking=no", "-o",
         f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         "-F", "/dev/null", "kiosk@127.0.0.1"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True, env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    output = bytearray()
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
        output.extend(data)
        changed.set()

    loop.add_reader(master, readable)

    async def wait_for(text: str, since: int = 0) -> None:
        deadline = time.monotonic() + WAIT
        while text not in screen_text(bytes(output[since:])):
            assert time.monotonic() < deadline, f"{text!r} not shown:\n{screen_text(bytes(output))[-3000:]}"
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 1)
            except asyncio.TimeoutError:
                pass

    try:
        await wait_for(LOGIN_TEXT)
        start = len(output)
        os.write(master, b"fleetadmin\tFleet#2026\r")
        await wait_for(HOME_TEXT, start)
        os.write(master, KEYS["ctrl+q"])
        assert await asyncio.to_thread(client.wait, WAIT) == 0
    finally:
        loop.remove_reader(master)
        if client.poll() is None:
            client.kill()
            client.wait()
        os.close(master)
    await server.line(r"session end user=kiosk .* exit=0 \(app quit\)")
