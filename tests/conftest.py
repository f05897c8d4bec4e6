"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
CARDSONLINE_TEST_DATABASE_URL is set) with a fixed clock."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from store import models  # noqa: F401
from store.db import Database, FixedClock, make_engine

TEST_DATABASE_URL_ENV = "CARDSONLINE_TEST_DATABASE_URL"
START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def _reset_postgres(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One SQLite file migrated to the head; each test gets a copy (migrating per test is slow)."""
    from store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    engine.dispose()
    return path


@pytest.fixture
def database_url(tmp_path, request) -> str:
    url = os.environ.get(TEST_DATABASE_URL_ENV)
    if url:
        engine = make_engine(url)
        _reset_postgres(engine)
        engine.dispose()
        return url
    path = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url, clock):
    """An empty database at the schema head, built by the Alembic migrations."""
    from store.migrate import upgrade

    database = Database(database_url, clock=clock)
    if os.environ.get(TEST_DATABASE_URL_ENV):
        upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(db):
    with db.session() as s:
        yield s


@pytest.fixture
def cheap_password_hashing(monkeypatch):
    """argon2 with tiny cost parameters, for flows that log in many times (the cost is not what they test)."""
    from argon2 import PasswordHasher

    import store.services.passwords as passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", None)


@pytest.fixture(autouse=True)
def _signing_keys_in_tmp(tmp_path_factory, monkeypatch):
    """The invoice signing keys (the demo makes them when missing) live in the test run's temporary folder,
    never in the user's data dir; the demo passphrase applies unless a test sets one."""
    folder = tmp_path_factory.getbasetemp() / "signing-keys"
    monkeypatch.setenv("CARDSONLINE_SIGNING_P12", str(folder / "issuer-signing.p12"))
    monkeypatch.setenv("CARDSONLINE_ISSUER_CA", str(folder / "issuer-ca.pem"))
    monkeypatch.delenv("CARDSONLINE_SIGNING_PASSPHRASE", raising=False)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory, monkeypatch):
    """Never the config file of whoever runs the tests (~/.config/cardsonline/config.toml could change the theme,
    the idle timeout, the keys or turn kiosk mode on): the default place is an empty folder of this test, which
    the processes a test starts (`serve ssh` sessions) inherit; a test that wants a file sets one."""
    monkeypatch.delenv("CARDSONLINE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def demo_db(db):
    """The `db` fixture (fixed clock) holding a small demo: fleetadmin, depot, accounting, intern, 20 cards."""
    from store.demo import build_demo

    build_demo(db, cards=20)
    return db


# --- a real SMTP server for e-mail tests ---------------------------------------------------------------
#
# `smtp_server` runs aiosmtpd on 127.0.0.1 (a free port) for one test and captures what it receives:
#
#     def test_invitation(session, smtp_server, clock):
#         ...queue a mail, commit...
#         send_pending(session, clock.now(), smtp_server.url)
#         [mail] = smtp_server.messages            # email.message.EmailMessage, as received
#         assert mail["To"] == "new.user@test.example" and "first login" in mail.get_content()
#
# `smtp_server.reject["x@test.example"] = (550, "5.1.1 No such user")` makes RCPT TO answer that code for
# the address (a 4xx code for a transient refusal); `smtp_server.url` is the CARDSONLINE_SMTP_URL to use.
# `smtp_tls_server` is the same with a self-signed certificate and STARTTLS required (`url` has
# `starttls=1&cafile=…`, so the sender verifies the certificate); it needs the `openssl` command.

from dataclasses import dataclass, field  # noqa: E402  (kept with the fixtures that use it)


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list = field(default_factory=list)  # EmailMessage objects, in the order received
    envelopes: list = field(default_factory=list)  # (mail_from, [rcpt_tos]) per message
    reject: dict = field(default_factory=dict)  # address -> (code, text) answered to RCPT TO
    url_query: str = ""

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}{self.url_query}"


class _CapturingHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.server.reject.get(address)
        if refusal is not None:
            code, text = refusal
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")  # wire CRLF → \n
        self.server.messages.append(message_from_bytes(raw, policy=policy.default))
        self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_smtp(server: SmtpServer, **smtp_kwargs):
    from aiosmtpd.controller import Controller

    controller = Controller(_CapturingHandler(server), hostname=server.host, port=server.port, **smtp_kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 capturing every message it accepts (see the comment above)."""
    server = SmtpServer(host="127.0.0.1", port=free_port())
    controller = _run_smtp(server)
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def smtp_tls_server(tls_certificate):
    """Like `smtp_server`, but STARTTLS is required before MAIL FROM; `url` trusts the test certificate."""
    import ssl
    from urllib.parse import quote

    cert, key = tls_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(host="127.0.0.1", port=free_port(), url_query=f"?starttls=1&cafile={quote(str(cert))}")
    controller = _run_smtp(server, tls_context=context, require_starttls=True)
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture(autouse=True, scope="session")
def _catalogs():
    """The message catalogs, installed as the portal and the commands install them (importing tui.i18n does it),
    whatever runs first: `pytest tests/store` alone (CI on PostgreSQL) translates as the whole suite does."""
    from store.i18n import install_catalogs

    install_catalogs(Path(__file__).resolve().parent.parent / "tui" / "i18n" / "locale")


@pytest.fixture(autouse=True)
def _english_environment(monkeypatch):
    """The tests read English whatever the locale of the machine running them: `cardsonline` takes its
    language from LANG/LC_* (store.i18n.startup_language), and the language is the process's."""
    from store.i18n import set_language

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    set_language("en")
    yield
    set_language("en")
