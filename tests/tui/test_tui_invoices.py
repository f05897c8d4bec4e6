"""My invoices with the keyboard (issue 9, Fiche 11): the user name and password are asked on every entry (a
wrong password is refused and counted, the locking one logs out), Search invoices with filters, the properties
window and the download of both files that makes an original a duplicate, billing data files, reconciliation,
and verifying a downloaded pair."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select
from textual.widgets import DataTable, Input, Static

from store.models import Invoice, InvoiceStatus, User
from store.services.auth import LoginPolicy
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.home import HomeScreen
from tui.screens.invoices import (
    BillingFilesScreen,
    InvoicePropertiesDialog,
    InvoicesScreen,
    ReauthDialog,
    ReconciliationScreen,
    VerifyDialog,
)
from tui.screens.login import LoginScreen
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

PDF = b"%PDF-1.4\n% a test invoice\n%%EOF\n"
P7S = b"0\x82 a detached signature"


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


def failed_logins(db, username: str) -> int:
    with db.session() as session:
        return session.exec(select(User).where(User.username == username)).one().failed_logins


async def reauth(pilot, ui, username: str, password: str) -> None:
    assert isinstance(pilot.app.screen, ReauthDialog)
    await pilot.press(*username, "enter", *password, "enter")
    await ui.settle(pilot)


async def enter_invoices(pilot, ui, menu_id: str = "invoices.search", password: str = "Books#2026"):
    pilot.app.open_menu_item(item(menu_id))
    await ui.settle(pilot)
    await reauth(pilot, ui, "accounting", password)
    return pilot.app.screen


def give_files(db, number: str | None = None) -> Invoice:
    """Put a (fake) signed PDF and signature on the newest original invoice of the first customer number."""
    with db.session() as session:
        query = select(Invoice).where(Invoice.status == InvoiceStatus.ORIGINAL)
        query = query.where(Invoice.number == number) if number else query.order_by(Invoice.issue_date.desc(),
                                                                                      Invoice.id.desc())
        invoice = session.exec(query).first()
        invoice.pdf, invoice.signature_p7s, invoice.pdf_sha256 = PDF, P7S, "cd" * 32
        session.add(invoice)
        session.commit()
        session.refresh(invoice)
        return invoice


async def test_reauthentication_is_asked_on_every_entry(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        app.open_menu_item(item("invoices.search"))
        await ui.settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        behind = app.screen_stack[-2]
        assert isinstance(behind, InvoicesScreen) and not behind.unlocked
        assert behind.query_one(PagedTable).records == []  # nothing read before the check

        await reauth(pilot, ui, "accounting", "wrong#2026")  # refused and counted like a login
        assert isinstance(app.screen, ReauthDialog)
        assert "wrong password" in app.screen.query_one(MessageLine).text
        assert app.screen.query_one("#reauth-password", Input).value == ""
        assert failed_logins(demo_db, "accounting") == 1
        await pilot.press(*"Books#2026", "enter")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, InvoicesScreen) and screen.unlocked
        assert screen.query_one(PagedTable).records
        assert failed_logins(demo_db, "accounting") == 0  # a good password resets the count, as a login does

        await pilot.press("escape")  # leave My invoices
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        app.open_menu_item(item("invoices.search"))  # enter again: asked again
        await ui.settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        await pilot.press("escape")  # Esc goes back to the menu, nothing shown
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)

        app.open_menu_item(item("invoices.data_files"))  # the other screen of the group asks too
        await ui.settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        await reauth(pilot, ui, "fleetadmin", "Fleet#2026")  # someone else's name is refused
        assert "own user name" in app.screen.query_one(MessageLine).text
        assert failed_logins(demo_db, "fleetadmin") == 0


async def test_the_locking_attempt_logs_out(demo_db, ui):
    app = CardsOnlineApp(demo_db, login_policy=LoginPolicy(max_failures=2, lock_minutes=15))
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        app.open_menu_item(item("invoices.search"))
        await ui.settle(pilot)
        await reauth(pilot, ui, "accounting", "wrong#2026")
        await pilot.press(*"wrong#2026", "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert "locked" in app.screen.query_one("#login-message", MessageLine).text


async def test_with_two_factor_the_code_is_asked_too_and_once_only(demo_db, ui):
    import pyotp

    from tui.screens.two_factor import SecondFactorScreen

    secret = pyotp.random_base32()
    with demo_db.session() as session:
        accounting = session.exec(select(User).where(User.username == "accounting")).one()
        accounting.totp_secret = secret
        session.add(accounting)
        session.commit()

    def code(offset: int = 0) -> str:
        return pyotp.TOTP(secret).at(int(demo_db.clock.now().timestamp()) + offset)

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        assert isinstance(app.screen, SecondFactorScreen)
        await pilot.press(*code(), "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)

        app.open_menu_item(item("invoices.search"))
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReauthDialog) and dialog.needs_code
        assert dialog.query_one("#reauth-code", Input).display
        assert "these are asked" in str(dialog.query_one("#reauth-note", Static).render())
        await reauth(pilot, ui, "accounting", "Books#2026")  # Enter after the password goes to the code
        assert app.focused is dialog.query_one("#reauth-code", Input)
        await pilot.press("enter")  # no code yet: asked, nothing checked
        await ui.settle(pilot)
        assert "6-digit code" in dialog.query_one(MessageLine).text

        await pilot.press(*code(), "enter")  # the code the login used: refused, not counted
        await ui.settle(pilot)
        assert app.screen is dialog
        assert "already been used" in dialog.query_one(MessageLine).text
        assert dialog.query_one("#reauth-code", Input).value == ""
        assert dialog.query_one("#reauth-password", Input).value == "Books#2026"  # only the code is typed again
        assert failed_logins(demo_db, "accounting") == 0

        await pilot.press(*code(-300), "enter")  # a wrong code: counted like a wrong password
        await ui.settle(pilot)
        assert "wrong or has expired" in dialog.query_one(MessageLine).text
        assert failed_logins(demo_db, "accounting") == 1

        demo_db.clock.advance(timedelta(seconds=30))  # the app shows the next code
        await pilot.press(*code(), "enter")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, InvoicesScreen) and screen.unlocked
        assert failed_logins(demo_db, "accounting") == 0


async def test_wrong_codes_lock_and_log_out_like_wrong_passwords(demo_db, ui):
    import pyotp

    secret = pyotp.random_base32()
    with demo_db.session() as session:
        accounting = session.exec(select(User).where(User.username == "accounting")).one()
        accounting.totp_secret = secret
        session.add(accounting)
        session.commit()
    now = int(demo_db.clock.now().timestamp())
    app = CardsOnlineApp(demo_db, login_policy=LoginPolicy(max_failures=2, lock_minutes=15))
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        await pilot.press(*pyotp.TOTP(secret).at(now), "enter")
        await ui.settle(pilot)
        app.open_menu_item(item("invoices.search"))
        await ui.settle(pilot)
        await reauth(pilot, ui, "accounting", "Books#2026")
        for _ in range(2):
            await pilot.press(*pyotp.TOTP(secret).at(now - 300), "enter")
            await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert "wrong codes" in app.screen.query_one("#login-message", MessageLine).text


async def test_download_writes_both_files_and_makes_a_duplicate(demo_db, ui, tmp_path, monkeypatch):
    tmp_path = tmp_path / "downloads"  # the test database lives in tmp_path itself
    tmp_path.mkdir()
    monkeypatch.setenv("CARDSONLINE_DOWNLOAD_DIR", str(tmp_path))
    invoice = give_files(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui)
        screen.query_one("#invoices-number", Input).value = invoice.number
        screen.query_one("#invoices-number", Input).focus()
        await pilot.press("enter")  # filters, back to the list
        await ui.settle(pilot)
        assert [r.number for r in screen.query_one(PagedTable).records] == [invoice.number]
        await pilot.press("enter")  # properties
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, InvoicePropertiesDialog)
        text = dialog.query_one("#properties-text", Static).render().plain
        assert f"{invoice.number}.pdf" in text and f"{invoice.number}.pdf.p7s" in text and "cd" * 32 in text
        assert "Original" in text
        assert "Keep both files" in dialog.query_one("#properties-keep", Static).render().plain
        assert dialog.query_one("#download-folder", Input).value == str(tmp_path)  # the configured default
        await pilot.press("enter")
        await ui.settle(pilot)
        pdf, p7s = tmp_path / f"{invoice.number}.pdf", tmp_path / f"{invoice.number}.pdf.p7s"
        assert pdf.read_bytes() == PDF and p7s.read_bytes() == P7S
        message = dialog.query_one(MessageLine).text
        assert str(pdf) in message and str(p7s) in message and "keep them together" in message
        assert "Duplicate: first downloaded" in dialog.query_one("#properties-text", Static).render().plain
        with demo_db.session() as session:
            row = session.get(Invoice, invoice.id)
            assert row.status is InvoiceStatus.DUPLICATE and row.first_downloaded_at == demo_db.clock.now()
        await pilot.press("enter")  # a duplicate again: without limit, nothing else changes
        await ui.settle(pilot)
        assert "keep them together" in dialog.query_one(MessageLine).text
        assert sorted(p.name for p in tmp_path.iterdir()) == [pdf.name, p7s.name]
        await pilot.press("escape")
        await ui.settle(pilot)
        assert isinstance(app.screen, InvoicesScreen)
        assert screen.last_pair == (pdf, p7s)
        assert screen.query_one(PagedTable).records[0].status is InvoiceStatus.DUPLICATE


async def test_download_asks_before_replacing_another_file(demo_db, ui, tmp_path):
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    invoice = give_files(demo_db)
    (tmp_path / f"{invoice.number}.pdf").write_bytes(b"another file")
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        await enter_invoices(pilot, ui)
        app.push_screen(InvoicePropertiesDialog(invoice.id))
        await ui.settle(pilot)
        dialog = app.screen
        dialog.query_one("#download-folder", Input).value = str(tmp_path)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "already exists" in dialog.query_one(MessageLine).text
        assert (tmp_path / f"{invoice.number}.pdf").read_bytes() == b"another file"
        assert not (tmp_path / f"{invoice.number}.pdf.p7s").exists()
        with demo_db.session() as session:
            assert session.get(Invoice, invoice.id).status is InvoiceStatus.ORIGINAL  # nothing downloaded
        await pilot.press("enter")  # Enter again replaces it
        await ui.settle(pilot)
        assert (tmp_path / f"{invoice.number}.pdf").read_bytes() == PDF
        with demo_db.session() as session:
            assert session.get(Invoice, invoice.id).status is InvoiceStatus.DUPLICATE


async def test_an_invoice_without_files_cannot_be_downloaded(demo_db, ui, tmp_path):
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    with demo_db.session() as session:
        invoice = session.exec(select(Invoice).where(Invoice.pdf.is_(None))).first()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        await enter_invoices(pilot, ui)
        app.push_screen(InvoicePropertiesDialog(invoice.id))
        await ui.settle(pilot)
        dialog = app.screen
        assert "not available yet" in dialog.query_one(MessageLine).text
        dialog.query_one("#download-folder", Input).value = str(tmp_path)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "no signed PDF yet" in dialog.query_one(MessageLine).text
        assert list(tmp_path.iterdir()) == []


async def test_search_filters_by_status(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui)
        every = screen.query_one(PagedTable).records
        assert {r.status for r in every} == {InvoiceStatus.ORIGINAL, InvoiceStatus.DUPLICATE}
        screen.query_one("#invoices-status").value = "duplicate"
        await ui.settle(pilot)
        shown = screen.query_one(PagedTable).records
        assert shown and {r.status for r in shown} == {InvoiceStatus.DUPLICATE}
        screen.query_one("#invoices-from", Input).value = "31/02/2026"
        screen.query_one("#invoices-from", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "not a date" in screen.query_one(MessageLine).text
        await pilot.press("ctrl+r")
        await ui.settle(pilot)
        assert len(screen.query_one(PagedTable).records) == len(every)


async def test_reconciliation_of_the_highlighted_invoice(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui)
        invoice = screen.query_one(PagedTable).current
        await pilot.press("r")
        await ui.settle(pilot)
        recon = app.screen
        assert isinstance(recon, ReconciliationScreen)
        assert recon.result is not None and recon.result.number == invoice.number
        assert recon.query_one("#recon-cards", DataTable).row_count == len(recon.result.cards)
        assert "Invoiced €" in recon.query_one("#recon-totals", Static).render().plain
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen


def move_a_transaction_to_a_later_invoice(db):
    """A transaction of an earlier invoice's period that is on the newest invoice (as a late one would be):
    (earlier invoice id, newest invoice number and period start, the transaction's card id)."""
    from decimal import Decimal

    from store.models import Card, FuelTransaction, InvoiceLine

    with db.session() as session:
        newest = session.exec(select(Invoice).order_by(Invoice.issue_date.desc(), Invoice.id.desc())).first()
        earlier = session.exec(select(Invoice).where(Invoice.customer_number_id == newest.customer_number_id,
                                                     Invoice.period_start < newest.period_start)
                               .order_by(Invoice.period_start.desc())).first()
        line = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == earlier.id,
                                                      InvoiceLine.fuel_transaction_id.is_not(None))).first()
        tx = session.get(FuelTransaction, line.fuel_transaction_id)
        card = session.get(Card, tx.card_id)
        session.delete(line)
        tx.invoice_id = newest.id
        session.add(tx)
        session.add(InvoiceLine(invoice_id=newest.id, card_id=card.id, description="late", quantity=tx.quantity,
                                amount_excl_vat=tx.amount_excl_vat, vat_rate=tx.vat_rate,
                                vat_amount=tx.amount_incl_vat - tx.amount_excl_vat,
                                amount_incl_vat=tx.amount_incl_vat, fuel_transaction_id=tx.id))
        session.commit()
        assert tx.amount_incl_vat > Decimal(0)
        return earlier.id, newest.number, newest.period_start, card.id


async def test_reconciliation_names_the_invoice_a_late_transaction_is_on(demo_db, ui):
    earlier_id, number, month, card_id = move_a_transaction_to_a_later_invoice(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        await enter_invoices(pilot, ui)
        app.push_screen(ReconciliationScreen(earlier_id))
        await ui.settle(pilot)
        recon = app.screen
        assert "1 transaction arrived late and is on another invoice" in recon.query_one(
            "#recon-totals", Static).render().plain
        card_row = next(i for i, card in enumerate(recon.result.cards) if card.card_id == card_id)
        recon.query_one("#recon-cards", DataTable).move_cursor(row=card_row)
        await ui.settle(pilot)
        table = recon.query_one("#recon-rows", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        late = [row for row in rows if row[1] == "Other invoice"]
        assert len(late) == 1, rows
        assert late[0][2].startswith(f"On invoice {number} of {month:%m/%Y}: ")
        assert not any(row[1] == "Not invoiced" for row in rows)


async def test_billing_files_screen_opens_for_the_tid_right(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui, "invoices.data_files")
        assert isinstance(screen, BillingFilesScreen) and screen.query_one(PagedTable).records
        await pilot.press("v")
        await ui.settle(pilot)
        assert isinstance(app.screen, VerifyDialog)


# --- signed pairs: download, then verify (exports.invoice_signing) -------------------------------------------

def simple_pdf(text: str) -> bytes:
    from io import BytesIO

    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pageCompression=0, invariant=1)
    pdf.drawString(72, 720, text)
    pdf.save()
    return buffer.getvalue()


def sign_an_invoice(db, tmp_path: Path, monkeypatch) -> Invoice:
    """Issuer keys in tmp_path (the portal trusts their CA), and the newest original invoice signed with them."""
    import hashlib
    from datetime import datetime, timezone

    from exports.invoice_signing import init_keys, load_signer, sign_invoice

    now = datetime.now(timezone.utc).replace(microsecond=0)  # the certificates are valid from the real now
    keys = init_keys(tmp_path / "keys", b"test passphrase", now)
    monkeypatch.setenv("CARDSONLINE_ISSUER_CA", str(keys.ca_cert))
    invoice = give_files(db)
    pdf, p7s = sign_invoice(simple_pdf(f"Invoice {invoice.number}"), load_signer(keys.signer_p12, b"test passphrase"),
                            now)
    with db.session() as session:
        row = session.get(Invoice, invoice.id)
        row.pdf, row.signature_p7s, row.pdf_sha256 = pdf, p7s, hashlib.sha256(pdf).hexdigest()
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


async def test_verify_the_downloaded_pair_and_a_tampered_copy(demo_db, ui, tmp_path, monkeypatch):
    invoice = sign_an_invoice(demo_db, tmp_path, monkeypatch)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setenv("CARDSONLINE_DOWNLOAD_DIR", str(downloads))
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui)
        assert screen.query_one(PagedTable).current.number == invoice.number  # the newest invoice
        await pilot.press("enter")
        await ui.settle(pilot)
        await pilot.press("enter")  # download to the default folder
        await ui.settle(pilot)
        await pilot.press("escape")
        await ui.settle(pilot)
        pdf = downloads / f"{invoice.number}.pdf"
        assert pdf.read_bytes() == invoice.pdf

        await pilot.press("v")  # verify: the PDF just downloaded is filled in, its .p7s is found beside it
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, VerifyDialog)
        assert dialog.query_one("#verify-pdf", Input).value == str(pdf)
        await pilot.press("enter")
        await ui.settle(pilot)
        line = dialog.query_one(MessageLine)
        assert line.kind == "success" and line.text.startswith("Valid"), line.text

        tampered = tmp_path / "tampered"
        tampered.mkdir()
        data = bytearray(pdf.read_bytes())
        at = data.index(f"Invoice {invoice.number}".encode())
        data[at] = ord("J")  # "Jnvoice": one byte changed in the signed content
        (tampered / pdf.name).write_bytes(bytes(data))
        (tampered / f"{pdf.name}.p7s").write_bytes((downloads / f"{pdf.name}.p7s").read_bytes())
        dialog.query_one("#verify-pdf", Input).value = str(tampered / pdf.name)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert line.kind == "error" and not line.text.startswith("Valid") and line.lines, line.text

        (tampered / f"{pdf.name}.p7s").unlink()  # the PDF alone: not a complete pair
        dialog.query_one("#verify-pdf", Input).value = str(pdf)
        dialog.query_one("#verify-p7s", Input).value = str(tampered / f"{pdf.name}.p7s")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert line.kind == "error" and "No signature file" in line.text


async def test_billing_data_files_of_an_invoice(demo_db, ui, tmp_path):
    folder = tmp_path / "tid"
    folder.mkdir()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        screen = await enter_invoices(pilot, ui, "invoices.data_files")
        number = screen.query_one(PagedTable).current.number
        await pilot.press("enter")
        await ui.settle(pilot)
        dialog = app.screen
        assert f"TID-{number}.csv" in dialog.query_one("#tid-files", Static).render().plain
        dialog.query_one("#tid-folder", Input).value = str(folder)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert sorted(p.name for p in folder.iterdir()) == [f"TID-{number}.csv", f"TID-{number}.xlsx"]
        assert str(folder / f"TID-{number}.csv") in dialog.query_one(MessageLine).text
