"""My invoices (Fiche 11), the customer's side: search filters, the original → duplicate rule of downloads,
rights and option, re-authentication, reconciliation of an invoice against the period's transactions, and the
atomic writing of the PDF + signature pair."""
from __future__ import annotations

import os
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select
from test_cards import World

from exports.invoice_files import FilesExist, default_download_folder, write_invoice_pair, write_pair
from store.models import (
    AuditEvent,
    CardStatus,
    CustomerOption,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Product,
    Right,
    TollTransaction,
    User,
)
from store.services import auth, invoices
from store.services.cards import create_card
from store.services.context import actor_for
from store.services.errors import AuthenticationFailed, DomainError, PermissionDenied
from store.services.invoices import InvoiceFilter, Match

UTC = timezone.utc
PDF = b"%PDF-1.4\n% a signed invoice\n%%EOF\n"
P7S = b"0\x82\x01\x00 a detached CMS signature"


def make_invoice(session, number_id: int, number: str, issue: date, total: str, *, status=InvoiceStatus.ORIGINAL,
                 files: bool = True, period: tuple[date, date] | None = None) -> Invoice:
    start, end = period or ((issue.replace(day=1) - timedelta(days=1)).replace(day=1),
                            issue.replace(day=1) - timedelta(days=1))
    amount = Decimal(total)
    invoice = Invoice(customer_number_id=number_id, number=number, year=issue.year, sequence=int(number[-6:]),
                      issue_date=issue, period_start=start, period_end=end,
                      total_excl_vat=(amount / Decimal("1.21")).quantize(Decimal("0.01")),
                      total_vat=amount - (amount / Decimal("1.21")).quantize(Decimal("0.01")), total_incl_vat=amount,
                      status=status, pdf=PDF if files else None, signature_p7s=P7S if files else None,
                      pdf_sha256="ab" * 32 if files else None, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    session.add(invoice)
    session.commit()
    return invoice


@pytest.fixture
def world(session, clock) -> World:
    world = World.build(session, clock.now())
    world.customer.options = [CustomerOption.INVOICES_ONLINE.value]
    session.add(world.customer)
    session.commit()
    return world


@pytest.fixture
def accountant(world, clock):
    return world.actor_with("accounting", [Right.INVOICE_DOWNLOAD, Right.INVOICE_DATA_FILES], clock.now())


@pytest.fixture
def some_invoices(session, world):
    n, o = world.number.id, world.other_number.id
    return [
        make_invoice(session, n, "2026-000001", date(2026, 8, 3), "1200.00", status=InvoiceStatus.DUPLICATE),
        make_invoice(session, n, "2026-000003", date(2026, 9, 3), "950.50"),
        make_invoice(session, n, "2026-000005", date(2026, 10, 3), "2300.00"),
        make_invoice(session, o, "2026-000006", date(2026, 10, 3), "80.00"),
        make_invoice(session, n, "2026-000007", date(2026, 11, 3), "10.00", files=False),
    ]


# --- search -----------------------------------------------------------------------------------------------

def numbers(rows) -> list[str]:
    return [r.number for r in rows]


def test_search_newest_first_with_every_filter(session, accountant, some_invoices, world):
    every = invoices.search_invoices(session, accountant)
    assert numbers(every) == ["2026-000007", "2026-000006", "2026-000005", "2026-000003", "2026-000001"]
    assert invoices.count_invoices(session, accountant) == 5
    assert not every[0].has_files and every[1].has_files

    def search(**where):
        return numbers(invoices.search_invoices(session, accountant, InvoiceFilter(**where)))

    assert search(status=InvoiceStatus.DUPLICATE) == ["2026-000001"]
    assert search(status=InvoiceStatus.ORIGINAL, customer_number_id=world.number.id) == [
        "2026-000007", "2026-000005", "2026-000003"]
    assert search(number="0000 05") == ["2026-000005"]  # spaces ignored, any part of the number
    assert search(date_from=date(2026, 9, 1), date_to=date(2026, 10, 31)) == [
        "2026-000006", "2026-000005", "2026-000003"]
    assert search(amount_min=Decimal("80"), amount_max=Decimal("1200")) == [
        "2026-000006", "2026-000003", "2026-000001"]
    assert invoices.count_invoices(session, accountant, InvoiceFilter(amount_min=Decimal("1000"))) == 2
    with pytest.raises(DomainError, match="after the To date"):
        search(date_from=date(2026, 10, 1), date_to=date(2026, 9, 1))
    with pytest.raises(DomainError, match="lowest amount"):
        search(amount_min=Decimal("10"), amount_max=Decimal("1"))


def test_search_pages_with_keyset_positions(session, accountant, some_invoices):
    first = invoices.search_invoices(session, accountant, limit=2)
    second = invoices.search_invoices(session, accountant, after=first[-1].after, limit=2)
    third = invoices.search_invoices(session, accountant, after=second[-1].after, limit=2)
    assert numbers(first + second + third) == numbers(invoices.search_invoices(session, accountant))


def test_search_sees_only_the_actors_customer_numbers(session, world, some_invoices, clock):
    home_only = world.actor_with("home", [Right.INVOICE_DOWNLOAD], clock.now(), numbers=(world.number,))
    assert "2026-000006" not in numbers(invoices.search_invoices(session, home_only))
    with pytest.raises(PermissionDenied, match="customer number"):
        invoices.search_invoices(session, home_only, InvoiceFilter(customer_number_id=world.other_number.id))


def test_rights_and_option(session, world, some_invoices, clock):
    nobody = world.actor_with("nobody", [Right.CARD_MANAGE], clock.now())
    with pytest.raises(PermissionDenied, match=r"“Download invoices”"):
        invoices.search_invoices(session, nobody)
    files_only = world.actor_with("tid", [Right.INVOICE_DATA_FILES], clock.now())
    assert invoices.count_invoices(session, files_only) == 5  # the billing data files right reads the list
    with pytest.raises(PermissionDenied, match=r"“Download invoices”"):
        invoices.record_download(session, files_only, clock.now(), some_invoices[1].id)
    assert session.get(Invoice, some_invoices[1].id).status is InvoiceStatus.ORIGINAL
    download_only = world.actor_with("dl", [Right.INVOICE_DOWNLOAD], clock.now())
    with pytest.raises(PermissionDenied, match=r"“Billing data files \(TID\)”"):
        invoices.invoice_for_files(session, download_only, some_invoices[1].id)
    world.customer.options = []
    session.add(world.customer)
    session.commit()
    with pytest.raises(DomainError, match="invoices-online option"):
        invoices.search_invoices(session, download_only)
    with pytest.raises(DomainError, match="invoices-online option"):
        invoices.record_download(session, download_only, clock.now(), some_invoices[1].id)


# --- the original → duplicate rule -------------------------------------------------------------------------

def test_first_download_makes_the_original_a_duplicate_then_duplicates_stay(session, accountant, some_invoices,
                                                                             clock, world):
    original = some_invoices[1]
    details = invoices.invoice_details(session, accountant, original.id)
    assert details.status is InvoiceStatus.ORIGINAL and details.first_downloaded_by is None
    assert (details.pdf_name, details.signature_name) == ("2026-000003.pdf", "2026-000003.pdf.p7s")
    assert (details.pdf_size, details.signature_size) == (len(PDF), len(P7S))

    first = invoices.record_download(session, accountant, clock.now(), original.id)
    assert first.first and first.invoice.pdf == PDF and first.invoice.signature_p7s == P7S
    session.expire_all()
    row = session.get(Invoice, original.id)
    assert row.status is InvoiceStatus.DUPLICATE
    assert row.first_downloaded_by_id == accountant.user_id and row.first_downloaded_at == clock.now()
    details = invoices.invoice_details(session, accountant, original.id)
    assert details.first_downloaded_by == "TEST ACCOUNTING" and details.first_downloaded_at == clock.now()

    later = clock.now() + timedelta(days=3)
    other = world.actor_with("second", [Right.INVOICE_DOWNLOAD], clock.now())
    for _ in range(3):  # duplicates: without limit, and nothing changes
        again = invoices.record_download(session, other, later, original.id)
        assert not again.first and again.invoice.status is InvoiceStatus.DUPLICATE
    session.expire_all()
    row = session.get(Invoice, original.id)
    assert row.first_downloaded_by_id == accountant.user_id and row.first_downloaded_at == clock.now()
    events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "invoice",
                                                   AuditEvent.object_id == str(original.id))
                          .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["first download", "downloaded", "downloaded", "downloaded"]
    assert events[0].before == {"status": "original"} and events[0].after["status"] == "duplicate"
    assert events[0].actor_label == "accounting"


def test_a_failed_delivery_leaves_the_original(session, accountant, some_invoices, clock):
    def broken(invoice):
        raise OSError("disk full")

    with pytest.raises(OSError):
        invoices.record_download(session, accountant, clock.now(), some_invoices[1].id, deliver=broken)
    session.expire_all()
    row = session.get(Invoice, some_invoices[1].id)
    assert row.status is InvoiceStatus.ORIGINAL and row.first_downloaded_by_id is None


def test_an_invoice_without_files_is_refused(session, accountant, some_invoices, clock):
    with pytest.raises(DomainError, match="no signed PDF yet"):
        invoices.record_download(session, accountant, clock.now(), some_invoices[4].id)
    assert session.get(Invoice, some_invoices[4].id).status is InvoiceStatus.ORIGINAL


def test_another_customer_numbers_invoice_is_refused(session, world, some_invoices, clock):
    home_only = world.actor_with("home", [Right.INVOICE_DOWNLOAD], clock.now(), numbers=(world.number,))
    with pytest.raises(PermissionDenied, match="customer number"):
        invoices.record_download(session, home_only, clock.now(), some_invoices[3].id)
    with pytest.raises(PermissionDenied, match="customer number"):
        invoices.invoice_details(session, home_only, some_invoices[3].id)


def test_two_simultaneous_first_downloads_make_one_transition(db, session, accountant, some_invoices, clock):
    invoice_id = some_invoices[2].id
    barrier = threading.Barrier(2)
    results, errors = [], []

    def download():
        with db.session() as own:
            try:
                def deliver(invoice):
                    try:
                        barrier.wait(timeout=2)  # both have read the row before either writes
                    except threading.BrokenBarrierError:
                        pass  # a database that serialises the readers (row lock): the other one waits
                results.append(invoices.record_download(own, accountant, clock.now(), invoice_id, deliver=deliver))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(r.first for r in results) == [False, True]
    session.expire_all()
    assert session.get(Invoice, invoice_id).status is InvoiceStatus.DUPLICATE
    firsts = session.exec(select(AuditEvent).where(AuditEvent.object_id == str(invoice_id),
                                                   AuditEvent.action == "first download")).all()
    assert len(firsts) == 1


# --- re-authentication -------------------------------------------------------------------------------------

def test_reauthenticate_checks_the_password_and_counts_failures(session, world, clock):
    user = world.add_user("books", [Right.INVOICE_DOWNLOAD], clock.now(), password=True)
    actor = actor_for(session, user)
    last_login = session.get(User, user.id).last_login_at
    invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now() + timedelta(minutes=5))
    session.expire_all()
    assert session.get(User, user.id).last_login_at == last_login  # "Previous login" stays the real login
    with pytest.raises(AuthenticationFailed, match="own user name"):
        invoices.reauthenticate(session, actor, "fleetadmin", "Start#2026", clock.now())
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        invoices.reauthenticate(session, actor, "books", "nope", clock.now())
    session.expire_all()
    assert session.get(User, user.id).failed_logins == 1
    policy = auth.LoginPolicy(max_failures=3, lock_minutes=15)
    with pytest.raises(AuthenticationFailed) as wrong:
        invoices.reauthenticate(session, actor, "books", "nope", clock.now(), policy)
    assert not isinstance(wrong.value, invoices.AccountLocked)
    with pytest.raises(invoices.AccountLocked):
        invoices.reauthenticate(session, actor, "books", "nope", clock.now(), policy)
    session.expire_all()
    assert session.get(User, user.id).locked_until is not None
    with pytest.raises(AuthenticationFailed, match="locked"):  # even the right password, while locked
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), policy)


def test_reauthenticate_with_two_factor_asks_the_code_once_per_code(session, world, clock):
    import pyotp

    user = world.add_user("books", [Right.INVOICE_DOWNLOAD], clock.now(), password=True)
    secret = pyotp.random_base32()
    user.totp_secret = secret
    session.add(user)
    session.commit()
    actor = actor_for(session, user)

    def code(offset=0):
        return pyotp.TOTP(secret).at(int(clock.now().timestamp()) + offset)

    def failures():
        session.expire_all()
        return session.get(User, user.id).failed_logins

    # The login took this step's code.
    pending = auth.authenticate(session, "books", "Start#2026", clock.now())
    auth.verify_second_factor(session, pending, code(), clock.now())
    with pytest.raises(invoices.CodeNeeded, match="6-digit code") as missing:  # no code: asked, nothing counted
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now())
    assert missing.value.field == "code" and failures() == 0
    with pytest.raises(AuthenticationFailed, match="wrong password"):  # the password is still checked first
        invoices.reauthenticate(session, actor, "books", "nope", clock.now(), code=code(30))
    assert failures() == 1
    with pytest.raises(AuthenticationFailed, match="wrong or has expired") as wrong:  # counted like a password
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), code=code(-300))
    assert wrong.value.field == "code" and failures() == 2
    with pytest.raises(AuthenticationFailed, match="already been used"):  # the login's code: refused, not counted
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), code=code())
    assert failures() == 2
    clock.advance(timedelta(seconds=30))
    invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), code=code())
    assert failures() == 0  # the right password and code reset the count, as a login does
    clock.advance(timedelta(seconds=20))  # the next entry, within the same 30 seconds: not the same code again
    with pytest.raises(AuthenticationFailed, match="already been used"):
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), code=code())
    clock.advance(timedelta(seconds=10))
    invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), code=code())
    entries = session.exec(select(AuditEvent).where(AuditEvent.object_id == str(user.id),
                                                    AuditEvent.action == "re-authenticated")).all()
    assert len(entries) == 2

    policy = auth.LoginPolicy(max_failures=2, lock_minutes=15)
    with pytest.raises(AuthenticationFailed) as first:
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), policy, code="000000"
                                if code() != "000000" else "111111")
    assert not isinstance(first.value, invoices.AccountLocked)
    with pytest.raises(invoices.AccountLocked, match="wrong codes"):  # the locking attempt logs out
        invoices.reauthenticate(session, actor, "books", "Start#2026", clock.now(), policy, code=code(-300))
    session.expire_all()
    assert session.get(User, user.id).locked_until == clock.now() + timedelta(minutes=15)


# --- reconciliation ----------------------------------------------------------------------------------------

def _fuel(session, card, at, n, incl, excl=None):
    incl = Decimal(incl)
    excl = Decimal(excl) if excl else (incl / Decimal("1.21")).quantize(Decimal("0.01"))
    t = FuelTransaction(issuer_transaction_id=f"REC-{card.id}-{n}", card_id=card.id, rank=card.rank, occurred_at=at,
                        station=f"Station {n}", city="Gent", country="BE", product=Product.DIESEL,
                        quantity=Decimal("10"), unit_price=Decimal("1.5"), amount_excl_vat=excl,
                        vat_rate=Decimal("21"), amount_incl_vat=incl)
    session.add(t)
    session.commit()
    return t


def _line(session, invoice, card, description, incl, *, fuel=None, toll=None, excl=None):
    incl = Decimal(incl)
    excl = Decimal(excl) if excl else (incl / Decimal("1.21")).quantize(Decimal("0.01"))
    line = InvoiceLine(invoice_id=invoice.id, card_id=card.id if card else None, description=description,
                       amount_excl_vat=excl, vat_rate=Decimal("21"), vat_amount=incl - excl, amount_incl_vat=incl,
                       fuel_transaction_id=fuel.id if fuel else None, toll_transaction_id=toll.id if toll else None)
    session.add(line)
    session.commit()
    return line


def test_reconciliation_finds_a_missing_line_an_extra_line_and_a_changed_amount(session, world, accountant, clock):
    now = clock.now()
    card_a = world.set_status(create_card(session, world.actor, now, world.card_spec(license_plate="1-AAA-001"))[0],
                              CardStatus.ACTIVE)
    card_b = world.set_status(create_card(session, world.actor, now, world.card_spec(license_plate="1-BBB-002"))[0],
                              CardStatus.ACTIVE)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    invoice = make_invoice(session, world.number.id, "2026-000010", date(2026, 11, 3), "0", period=october)
    t1 = _fuel(session, card_a, datetime(2026, 10, 5, 8, tzinfo=UTC), 1, "60.50")
    t2 = _fuel(session, card_a, datetime(2026, 10, 12, 8, tzinfo=UTC), 2, "121.00")
    t3 = _fuel(session, card_b, datetime(2026, 10, 20, 8, tzinfo=UTC), 3, "30.25")  # not invoiced
    # 31/10 23:30 UTC is 1/11 00:30 in Brussels: outside the period, so not expected on the invoice.
    _fuel(session, card_b, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 4, "12.10")
    # 30/09 22:30 UTC is 1/10 00:30 in Brussels: inside the period, and invoiced.
    t5 = _fuel(session, card_b, datetime(2026, 9, 30, 22, 30, tzinfo=UTC), 5, "24.20")
    toll = TollTransaction(issuer_transaction_id="REC-T1", card_id=card_a.id, operator="Viapass", country="BE",
                           entry_point="A", exit_point="B", entry_at=datetime(2026, 10, 7, 7, tzinfo=UTC),
                           exit_at=datetime(2026, 10, 7, 8, tzinfo=UTC), vehicle_class="N3",
                           amount_excl_vat=Decimal("10.00"), vat_rate=Decimal("21"), amount_incl_vat=Decimal("12.10"))
    session.add(toll)
    session.commit()
    _line(session, invoice, card_a, "05/10 diesel", "60.50", fuel=t1)  # matched
    _line(session, invoice, card_a, "12/10 diesel", "125.00", fuel=t2)  # the amount differs
    _line(session, invoice, card_a, "07/10 toll", "12.10", toll=toll)  # matched
    _line(session, invoice, card_b, "01/10 diesel", "24.20", fuel=t5)  # matched (local day)
    _line(session, invoice, card_b, "Monthly card fee 10/2026", "5.00")  # a charge: names no transaction
    _line(session, invoice, card_a, "05/10 diesel again", "60.50", fuel=t1)  # billed twice: without transaction

    result = invoices.reconcile(session, accountant, invoice.id)
    assert result.number == "2026-000010"
    assert result.count(Match.MATCHED) == 3
    assert result.count(Match.AMOUNT_DIFFERS) == 1
    assert result.count(Match.LINE_WITHOUT_TRANSACTION) == 1
    assert result.count(Match.NOT_INVOICED) == 1
    assert result.count(Match.CHARGE) == 1
    assert result.differences == 3  # the fee is no difference
    by_card = {c.card_id: c for c in result.cards}
    a, b = by_card[card_a.id], by_card[card_b.id]
    # In time order; the line without transaction has no time: last.
    assert [r.match for r in a.rows] == [Match.MATCHED, Match.MATCHED, Match.AMOUNT_DIFFERS,
                                         Match.LINE_WITHOUT_TRANSACTION]
    differs = a.rows[2]
    assert (differs.invoiced, differs.transacted, differs.difference) == (
        Decimal("125.00"), Decimal("121.00"), Decimal("4.00"))
    extra = a.rows[3]
    assert extra.description == "05/10 diesel again" and extra.transacted is None
    assert extra.difference == Decimal("60.50")
    assert a.invoiced == Decimal("258.10") and a.transacted == Decimal("193.60") and a.difference == Decimal("64.50")
    missing = next(r for r in b.rows if r.match is Match.NOT_INVOICED)
    assert missing.transaction_id == t3.id and missing.invoiced is None and missing.difference == Decimal("-30.25")
    fee = next(r for r in b.rows if r.match is Match.CHARGE)
    assert fee.invoiced == Decimal("5.00") and fee.difference == 0
    assert b.differences == 1 and b.charges == Decimal("5.00")
    assert result.invoiced == Decimal("287.30") and result.charges == Decimal("5.00")
    assert result.transacted == Decimal("248.05")
    assert result.difference == Decimal("34.25")  # 4.00 + 60.50 - 30.25


def test_reconciliation_needs_an_invoice_right_and_the_customer_number(session, world, some_invoices, clock):
    nobody = world.actor_with("nobody", [Right.CARD_MANAGE], clock.now())
    with pytest.raises(PermissionDenied):
        invoices.reconcile(session, nobody, some_invoices[1].id)
    home_only = world.actor_with("home", [Right.INVOICE_DOWNLOAD], clock.now(), numbers=(world.number,))
    with pytest.raises(PermissionDenied, match="customer number"):
        invoices.reconcile(session, home_only, some_invoices[3].id)


# --- writing the pair atomically ---------------------------------------------------------------------------

class Stored:
    number = "2026-000042"
    pdf = PDF
    signature_p7s = P7S


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_pair_writes_both_files(tmp_path):
    pdf, p7s = write_invoice_pair(tmp_path, Stored)
    assert (pdf.name, p7s.name) == ("2026-000042.pdf", "2026-000042.pdf.p7s")
    assert pdf.read_bytes() == PDF and p7s.read_bytes() == P7S
    assert leftovers(tmp_path) == ["2026-000042.pdf", "2026-000042.pdf.p7s"]
    write_invoice_pair(tmp_path, Stored)  # the same bytes again (a duplicate): fine
    assert leftovers(tmp_path) == ["2026-000042.pdf", "2026-000042.pdf.p7s"]


def test_a_failure_on_the_second_file_leaves_neither(tmp_path, monkeypatch):
    real_replace = os.replace

    def failing(src, dst):
        if str(dst).endswith(".p7s"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        write_invoice_pair(tmp_path, Stored)
    assert leftovers(tmp_path) == []


def test_a_failure_while_writing_leaves_neither(tmp_path, monkeypatch):
    import exports.invoice_files as files

    calls = []
    real_fsync = os.fsync

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_invoice_pair(tmp_path, Stored)
    assert leftovers(tmp_path) == []


def test_a_read_only_folder_leaves_nothing(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(OSError):
            write_invoice_pair(folder, Stored)
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o755)


def test_a_target_that_cannot_be_moved_aside_leaves_nothing(tmp_path):
    (tmp_path / "2026-000042.pdf").mkdir()  # a folder where the PDF goes: it cannot be replaced, even as root
    with pytest.raises(OSError):
        write_invoice_pair(tmp_path, Stored, overwrite=True)
    assert leftovers(tmp_path) == ["2026-000042.pdf"]  # only the folder that was there: no temporary file


def test_a_different_existing_file_is_not_overwritten_unless_told(tmp_path):
    (tmp_path / "2026-000042.pdf").write_bytes(b"something else")
    with pytest.raises(FilesExist) as exists:
        write_invoice_pair(tmp_path, Stored)
    assert [p.name for p in exists.value.paths] == ["2026-000042.pdf"]
    assert (tmp_path / "2026-000042.pdf").read_bytes() == b"something else"
    assert leftovers(tmp_path) == ["2026-000042.pdf"]
    write_invoice_pair(tmp_path, Stored, overwrite=True)
    assert (tmp_path / "2026-000042.pdf").read_bytes() == PDF


def test_a_failed_overwrite_puts_the_old_file_back(tmp_path, monkeypatch):
    (tmp_path / "2026-000042.pdf").write_bytes(b"old pdf")
    real_replace = os.replace

    def failing(src, dst):
        if str(dst).endswith(".pdf.p7s") and str(src).endswith(".part"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        write_pair(tmp_path, "2026-000042", PDF, P7S, overwrite=True)
    assert leftovers(tmp_path) == ["2026-000042.pdf"]
    assert (tmp_path / "2026-000042.pdf").read_bytes() == b"old pdf"


def test_default_download_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDSONLINE_DOWNLOAD_DIR", str(tmp_path / "invoices"))
    assert default_download_folder() == tmp_path / "invoices"
    monkeypatch.delenv("CARDSONLINE_DOWNLOAD_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_download_folder() == tmp_path
    (tmp_path / "Downloads").mkdir()
    assert default_download_folder() == tmp_path / "Downloads"
