"""The look of My invoices at 80×24 (pytest-textual-snapshot): the re-authentication asked on every entry, Search
invoices with its status column, the properties window before a download, and a reconciliation with its
differences highlighted.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from store.models import Invoice, InvoiceLine, InvoiceStatus
from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)
PDF = b"%PDF-1.4\n% a snapshot invoice\n%%EOF\n" * 40
P7S = b"0\x82 a detached signature" * 30


@pytest.fixture(autouse=True)
def _download_folder(monkeypatch):
    monkeypatch.setenv("CARDSONLINE_DOWNLOAD_DIR", "/tmp/invoices")  # the same default on every machine


def newest_original(db) -> Invoice:
    """The newest original invoice of the demo, with fixed stand-in files (the same size and hash every run)."""
    import hashlib

    with db.session() as session:
        invoice = session.exec(select(Invoice).where(Invoice.status == InvoiceStatus.ORIGINAL)
                               .order_by(Invoice.issue_date.desc(), Invoice.id.desc())).first()
        invoice.pdf, invoice.signature_p7s, invoice.pdf_sha256 = PDF, P7S, hashlib.sha256(PDF).hexdigest()
        session.add(invoice)
        session.commit()
        session.refresh(invoice)
        return invoice


async def _enter(pilot, snap_login, snap_settle, item_id="invoices.search"):
    await snap_login(pilot, "accounting", "Books#2026")
    pilot.app.open_menu_item(next(item for item in MENU if item.id == item_id))
    await snap_settle(pilot)


async def _reauth(pilot, snap_settle):
    await pilot.press(*"accounting", "enter", *"Books#2026", "enter")
    await snap_settle(pilot)


def test_reauthentication_dialog(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _enter(pilot, snap_login, snap_settle)
        await pilot.press(*"accounting", "enter", *"wrong#2026", "enter")  # refused: the message shows
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_reauthentication_dialog_with_two_factor(snap_compare, demo_db, snap_login, snap_settle):
    """With two-factor sign-in the dialog asks the code too, and still fits 80×24 with its longest message: the
    code the login used, typed again."""
    import pyotp

    from store.models import User

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    now = int(demo_db.clock.now().timestamp())

    async def run_before(pilot):
        await snap_login(pilot, "accounting", "Books#2026")
        with demo_db.session() as session:  # as if this login had taken this step's code
            accounting = session.exec(select(User).where(User.username == "accounting")).one()
            accounting.totp_secret, accounting.totp_last_step = secret, now // 30
            session.add(accounting)
            session.commit()
        pilot.app.open_menu_item(next(item for item in MENU if item.id == "invoices.search"))
        await snap_settle(pilot)
        await pilot.press(*"accounting", "enter", *"Books#2026", "enter", *pyotp.TOTP(secret).at(now), "enter")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_search_invoices(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _enter(pilot, snap_login, snap_settle)
        await _reauth(pilot, snap_settle)
        await pilot.press("down", "down")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_invoice_properties(snap_compare, demo_db, snap_login, snap_settle):
    newest_original(demo_db)

    async def run_before(pilot):
        await _enter(pilot, snap_login, snap_settle)
        await _reauth(pilot, snap_settle)
        await pilot.press("enter")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_reconciliation_with_differences(snap_compare, demo_db, snap_login, snap_settle):
    """The newest invoice with a changed amount, a line billed twice and a transaction left out."""
    with demo_db.session() as session:
        invoice = session.exec(select(Invoice).order_by(Invoice.issue_date.desc(), Invoice.id.desc())).first()
        lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id,
                                                       InvoiceLine.fuel_transaction_id.is_not(None))
                             .order_by(InvoiceLine.id)).all()
        changed, removed = lines[0], next(line for line in lines[1:] if line.card_id == lines[0].card_id)
        changed.amount_incl_vat += Decimal("10.00")
        session.add(changed)
        session.add(InvoiceLine(invoice_id=invoice.id, card_id=changed.card_id, description="Billed twice",
                                amount_excl_vat=changed.amount_excl_vat, vat_rate=changed.vat_rate,
                                vat_amount=changed.vat_amount, amount_incl_vat=changed.amount_incl_vat,
                                fuel_transaction_id=changed.fuel_transaction_id))
        session.add(InvoiceLine(invoice_id=invoice.id, card_id=changed.card_id, description="Monthly card fee",
                                amount_excl_vat=Decimal("1.50"), vat_rate=Decimal("21"), vat_amount=Decimal("0.32"),
                                amount_incl_vat=Decimal("1.82")))
        session.delete(removed)
        session.commit()

    async def run_before(pilot):
        await _enter(pilot, snap_login, snap_settle)
        await _reauth(pilot, snap_settle)
        await pilot.press("r")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
