"""The monthly invoicing batch (store.issuer.invoicing) with a stand-in renderer: lines, VAT per rate and
totals against figures computed by hand, month boundaries in the customer's time zone, gapless numbers per
year, e-mails to the customer alert recipients, a re-run refused, and a failed run that leaves no half invoice.
The real PDF and signatures: tests/test_invoicing_files.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from store.issuer.invoicing import (
    InvoiceDocument,
    InvoicingFailed,
    MonthAlreadyInvoiced,
    invoice_document,
    invoice_month,
)
from store.models import (
    Address,
    AddressKind,
    AuditEvent,
    Card,
    CardStatus,
    Customer,
    CustomerNumber,
    CustomerOption,
    FleetDivision,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    Product,
    ProductType,
    TollTransaction,
    User,
    UserCustomerNumber,
)
from store.services.errors import DomainError

pytestmark = pytest.mark.store

D = Decimal
OCTOBER = date(2026, 10, 1)
ISSUE_AT = datetime(2026, 11, 3, 6, 0, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@dataclass
class World:
    customer: Customer
    a: CustomerNumber  # 4020001: a fleet card and an OBU with October traffic
    b: CustomerNumber  # 4020002: one fleet card
    card_a: Card
    obu_a: Card
    card_b: Card
    accounting: User  # chose invoice alerts, may act for 4020001 only, reads French
    outside: list[int]  # ids of the fuel transactions just outside October (local time)


def _fuel(card: Card, tx_id: str, when: str, product: Product, excl: str, rate: str, incl: str,
          country: str = "BE", quantity: str = "10") -> FuelTransaction:
    return FuelTransaction(issuer_transaction_id=tx_id, card_id=card.id, rank=1, occurred_at=utc(when),
                           station="Q8 Antwerpen", city="Antwerpen", country=country, product=product,
                           quantity=D(quantity), unit_price=D("1.5000"), amount_excl_vat=D(excl), vat_rate=D(rate),
                           amount_incl_vat=D(incl))


def _toll(card: Card, tx_id: str, when: str, excl: str, rate: str, incl: str) -> TollTransaction:
    return TollTransaction(issuer_transaction_id=tx_id, card_id=card.id, operator="viapass (BE)", country="BE",
                           entry_point="E313 Antwerpen-Oost", exit_point="E313 Hasselt-West", entry_at=utc(when),
                           exit_at=utc(when), vehicle_class="3", amount_excl_vat=D(excl), vat_rate=D(rate),
                           amount_incl_vat=D(incl))


def build_world(session: Session) -> World:
    now = utc("2026-09-01T08:00:00")
    customer = Customer(name="Transports Dubois NV", vat_number="BE0999.888.777", driver_code_prefix="7310",
                        timezone="Europe/Brussels", language="fr", options=[CustomerOption.INVOICES_ONLINE.value],
                        created_at=now)
    session.add(customer)
    session.flush()
    a = CustomerNumber(customer_id=customer.id, number="4020001", name="Dubois Antwerpen")
    b = CustomerNumber(customer_id=customer.id, number="4020002", name="Dubois Liège")
    session.add_all([a, b])
    session.flush()
    div_a = FleetDivision(customer_number_id=a.id, name="Distribution")
    div_b = FleetDivision(customer_number_id=b.id, name="Management")
    session.add_all([div_a, div_b,
                     Address(customer_number_id=a.id, kind=AddressKind.BILLING, name="Comptabilité Dubois",
                             street="Noorderlaan 100", postal_code="2030", city="Antwerpen"),
                     Address(customer_number_id=b.id, kind=AddressKind.SHIPPING, name="Dubois Liège",
                             street="Quai de Rome 12", postal_code="4000", city="Liège")])
    session.flush()

    def card(number: CustomerNumber, division: FleetDivision, product_type: ProductType, card_number: str,
             plate: str) -> Card:
        row = Card(customer_number_id=number.id, division_id=division.id, product_type=product_type,
                   number=card_number, rank=1, status=CardStatus.ACTIVE, license_plate=plate, created_at=now)
        session.add(row)
        return row

    card_a = card(a, div_a, ProductType.FLEET_CARD, "700614020001000018", "1-ABC-123")
    obu_a = card(a, div_a, ProductType.PASSANGO_OBU, "700614020001000083", "1-OBU-001")
    card_b = card(b, div_b, ProductType.FLEET_CARD, "700614020002000016", "2-XYZ-789")
    # A card nobody used: no fee.
    card(a, div_a, ProductType.FLEET_CARD, "700614020001000026", "1-IDL-000")
    session.flush()
    before = _fuel(card_a, "T-SEP30", "2026-09-30T21:30:00", Product.DIESEL, "5.00", "21", "6.05")  # 23:30 CEST
    after = _fuel(card_a, "T-NOV01", "2026-10-31T23:30:00", Product.DIESEL, "30.00", "21", "36.30")  # 00:30 CET
    session.add_all([
        before, after,
        _fuel(card_a, "T-OCT01", "2026-09-30T22:30:00", Product.DIESEL, "10.00", "21", "12.10"),  # 00:30 CEST
        _fuel(card_a, "T-OCT05", "2026-10-05T08:00:00", Product.DIESEL, "150.00", "21", "181.50", quantity="100"),
        _fuel(card_a, "T-OCT12", "2026-10-12T09:00:00", Product.DIESEL, "100.00", "20", "120.00", country="FR"),
        _fuel(card_a, "T-OCT20", "2026-10-20T10:00:00", Product.CAR_WASH, "12.00", "21", "14.52", quantity="1"),
        _fuel(card_a, "T-OCT31", "2026-10-31T22:30:00", Product.DIESEL, "20.00", "21", "24.20"),  # 23:30 CET
        _toll(obu_a, "P-OCT07", "2026-10-07T07:00:00", "11.40", "0", "11.40"),
        _toll(obu_a, "P-OCT15", "2026-10-15T07:00:00", "20.00", "21", "24.20"),
        _fuel(card_b, "T-B-OCT10", "2026-10-10T12:00:00", Product.DIESEL, "50.00", "21", "60.50"),
    ])
    accounting = User(customer_id=customer.id, username="accounting", last_name="COMPTABLE", first_name="Anne",
                      email="accounting@test.example", phone="0470000000", language="fr")
    other = User(customer_id=customer.id, username="fleetadmin", last_name="ADMIN", first_name="Fleet",
                 email="fleetadmin@test.example", phone="0470000001", language="nl")
    session.add_all([accounting, other])
    session.flush()
    session.add_all([UserCustomerNumber(user_id=accounting.id, customer_number_id=a.id),
                     UserCustomerNumber(user_id=other.id, customer_number_id=a.id),
                     UserCustomerNumber(user_id=other.id, customer_number_id=b.id),
                     NotificationSetting(user_id=accounting.id, kind=NotificationKind.INVOICE_AVAILABLE),
                     # An earlier invoice of 2026 and one of 2025: October continues 2026's numbers. (August:
                     # September is not invoiced yet, so T-SEP30 is no late transaction for October.)
                     Invoice(customer_number_id=a.id, number="2026-000007", year=2026, sequence=7,
                             issue_date=date(2026, 9, 3), period_start=date(2026, 8, 1),
                             period_end=date(2026, 8, 31), total_excl_vat=D(0), total_vat=D(0),
                             total_incl_vat=D(0), created_at=now),
                     Invoice(customer_number_id=a.id, number="2025-000040", year=2025, sequence=40,
                             issue_date=date(2025, 12, 3), period_start=date(2025, 11, 1),
                             period_end=date(2025, 11, 30), total_excl_vat=D(0), total_vat=D(0),
                             total_incl_vat=D(0), created_at=now)])
    session.commit()
    return World(customer, a, b, card_a, obu_a, card_b, accounting, [before.id, after.id])


class FakeRenderer:
    """Stands in for exports.invoicing's PDF + signatures; can fail for one customer number."""

    def __init__(self, fail_for: str | None = None):
        self.documents: list[InvoiceDocument] = []
        self.fail_for = fail_for

    def __call__(self, document: InvoiceDocument) -> tuple[bytes, bytes]:
        if document.customer_number == self.fail_for:
            raise RuntimeError("the renderer broke")
        self.documents.append(document)
        return f"%PDF-fake {document.number}".encode(), b"p7s " + document.number.encode()


@pytest.fixture
def world(session) -> World:
    return build_world(session)


def _october(session: Session, world: World) -> list[Invoice]:
    return list(session.exec(select(Invoice).where(Invoice.period_start == OCTOBER)
                             .order_by(Invoice.sequence)).all())


def test_invoices_add_up_to_the_figures_computed_by_hand(session, world):
    render = FakeRenderer()
    report = invoice_month(session, OCTOBER, ISSUE_AT, render)

    assert [(i.number, i.customer_number, i.lines) for i in report.issued] == [
        ("2026-000008", "4020001", 9), ("2026-000009", "4020002", 2)]
    a, b = _october(session, world)
    # 4020001: fuel 10 + 150 + 100 (FR, 20 %) + 12 + 20, tolls 11.40 (0 %) + 20, fees 1.50 (card) + 4.00 (OBU).
    assert (a.total_excl_vat, a.total_vat, a.total_incl_vat) == (D("328.90"), D("65.68"), D("394.58"))
    assert (a.issue_date, a.period_start, a.period_end) == (date(2026, 11, 3), OCTOBER, date(2026, 10, 31))
    assert (b.total_excl_vat, b.total_vat, b.total_incl_vat) == (D("51.50"), D("10.82"), D("62.32"))
    doc_a = render.documents[0]
    assert [(v.rate, v.base, v.vat, v.total) for v in doc_a.vat] == [
        (D("0.00"), D("11.40"), D("0.00"), D("11.40")),
        (D("20.00"), D("100.00"), D("20.00"), D("120.00")),
        (D("21.00"), D("217.50"), D("45.68"), D("263.18"))]
    assert [(g.card_number, g.card_label, len(g.lines), g.total_incl_vat) for g in doc_a.groups] == [
        ("700614020001000018", "1-ABC-123", 6, D("354.14")), ("700614020001000083", "1-OBU-001", 3, D("40.44"))]
    card_lines = doc_a.groups[0].lines
    # The customer speaks French: the invoice's lines (stored with it) are written in French.
    assert [line.description for line in card_lines] == [
        "01/10/2026 diesel, Q8 Antwerpen, Antwerpen (BE)", "05/10/2026 diesel, Q8 Antwerpen, Antwerpen (BE)",
        "12/10/2026 diesel, Q8 Antwerpen, Antwerpen (FR)", "20/10/2026 lavage, Q8 Antwerpen, Antwerpen (BE)",
        "31/10/2026 diesel, Q8 Antwerpen, Antwerpen (BE)", "Redevance mensuelle carte 10/2026"]
    fee = card_lines[-1]
    assert (fee.kind, fee.amount_excl_vat, fee.vat_amount, fee.amount_incl_vat) == ("fee", D("1.50"), D("0.32"),
                                                                                      D("1.82"))
    assert doc_a.groups[1].lines[-1].amount_incl_vat == D("4.84")
    assert (doc_a.customer.name, doc_a.customer.vat_number, doc_a.language) == ("Transports Dubois NV",
                                                                                "BE0999.888.777", "fr")
    assert "Comptabilité Dubois" in doc_a.customer.lines
    assert doc_a.due_date == date(2026, 12, 3)
    # The signed files are kept with the invoice.
    assert a.pdf == b"%PDF-fake 2026-000008" and a.signature_p7s == b"p7s 2026-000008"
    assert a.pdf_sha256 == "%s" % __import__("hashlib").sha256(a.pdf).hexdigest()
    # Every October transaction carries its invoice; the ones just outside October (local time) do not.
    marked = {t.issuer_transaction_id: t.invoice_id for t in session.exec(select(FuelTransaction)).all()}
    assert marked["T-SEP30"] is None and marked["T-NOV01"] is None
    assert marked["T-OCT01"] == marked["T-OCT31"] == a.id and marked["T-B-OCT10"] == b.id
    assert {t.invoice_id for t in session.exec(select(TollTransaction)).all()} == {a.id}
    # invoice_document reads the same back from the database.
    assert invoice_document(session, a.id) == doc_a


def test_invoice_mail_goes_to_the_chosen_recipients_in_their_language(session, world):
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), portal_link="https://portal.example/invoices/{number}")
    mails = session.exec(select(OutboxMessage)).all()
    # accounting chose invoice alerts and may act for 4020001 only; fleetadmin did not choose them.
    assert [(m.to_address, m.subject, m.language) for m in mails] == [
        ("accounting@test.example", "La facture 2026-000008 est disponible", "fr")]
    assert "https://portal.example/invoices/2026-000008" in mails[0].body
    assert "394,58 EUR" in mails[0].body and "Anne COMPTABLE" in mails[0].body
    assert session.exec(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "invoice issued")).one() == 2


def test_no_mail_without_the_invoices_online_option(session, world):
    world.customer.options = []
    session.add(world.customer)
    session.commit()
    report = invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert len(report.issued) == 2 and report.mails == 0
    assert session.exec(select(OutboxMessage)).all() == []


def test_a_month_is_never_invoiced_twice(session, world):
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    before = [(i.number, i.total_incl_vat, i.pdf_sha256) for i in _october(session, world)]
    with pytest.raises(MonthAlreadyInvoiced, match="already invoiced"):
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert [(i.number, i.total_incl_vat, i.pdf_sha256) for i in _october(session, world)] == before
    assert session.exec(select(func.max(Invoice.sequence)).where(Invoice.year == 2026)).one() == 9
    assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_a_failed_run_leaves_no_half_invoice_and_a_rerun_completes_the_month(session, world):
    lines_before = session.exec(select(func.count()).select_from(InvoiceLine)).one()
    with pytest.raises(InvoicingFailed, match="stopped at customer number 4020002") as failure:
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(fail_for="4020002"))
    assert [i.number for i in failure.value.report.issued] == ["2026-000008"]
    # 4020001's invoice is complete; of 4020002's nothing is left: no invoice, no number, no line, no mark.
    [a] = _october(session, world)
    assert a.customer_number_id == world.a.id and a.pdf is not None
    assert session.exec(select(func.max(Invoice.sequence)).where(Invoice.year == 2026)).one() == 8
    assert session.exec(select(func.count()).select_from(InvoiceLine)).one() == lines_before + 9
    b_tx = session.exec(select(FuelTransaction).where(FuelTransaction.card_id == world.card_b.id)).all()
    assert [t.invoice_id for t in b_tx] == [None]
    # Running the month again makes only the missing invoice, with the next number.
    report = invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert ([(i.number, i.customer_number) for i in report.issued], report.already_invoiced) == (
        [("2026-000009", "4020002")], 1)


def test_a_failure_on_the_first_invoice_leaves_nothing_at_all(session, world):
    counts = lambda: [session.exec(select(func.count()).select_from(model)).one()  # noqa: E731
                      for model in (Invoice, InvoiceLine, OutboxMessage, AuditEvent)]
    before = counts()
    with pytest.raises(InvoicingFailed) as failure:
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(fail_for="4020001"))
    assert failure.value.report.issued == []
    assert counts() == before
    assert session.exec(select(func.count()).select_from(FuelTransaction)
                        .where(FuelTransaction.invoice_id.is_not(None))).one() == 0
    assert session.exec(select(func.max(Invoice.sequence)).where(Invoice.year == 2026)).one() == 7


def test_a_month_that_is_not_over_is_refused(session, world):
    # 31/10 23:30 in Brussels is still October there.
    with pytest.raises(DomainError, match="not over yet"):
        invoice_month(session, OCTOBER, utc("2026-10-31T22:30:00"), FakeRenderer())
    assert _october(session, world) == []


def test_only_some_customer_numbers(session, world):
    report = invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), customer_numbers=["4020002"])
    assert [(i.number, i.customer_number) for i in report.issued] == [("2026-000008", "4020002")]
    with pytest.raises(DomainError, match="Unknown customer number 999"):
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), customer_numbers=["999"])


def test_a_new_year_starts_at_one(session, world):
    report = invoice_month(session, date(2026, 12, 1), utc("2027-01-02T06:00:00"), FakeRenderer())
    assert report.issued == [] and report.nothing_to_invoice == 2
    session.add(_fuel(world.card_b, "T-DEC", "2026-12-10T10:00:00", Product.DIESEL, "10.00", "21", "12.10"))
    session.commit()
    report = invoice_month(session, date(2026, 12, 1), utc("2027-01-02T06:00:00"), FakeRenderer())
    assert [i.number for i in report.issued] == ["2027-000001"]


NOVEMBER = date(2026, 11, 1)
NOVEMBER_RUN = utc("2026-12-02T06:00:00")


def _lines_naming(session: Session, tx: FuelTransaction | TollTransaction) -> int:
    column = InvoiceLine.fuel_transaction_id if isinstance(tx, FuelTransaction) else InvoiceLine.toll_transaction_id
    return session.exec(select(func.count()).select_from(InvoiceLine).where(column == tx.id)).one()


def test_a_late_transaction_goes_on_the_next_invoice_exactly_once(session, world):
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    # After October was invoiced, the issuer's file brings October transactions (late) and November's.
    late_fuel = _fuel(world.card_a, "T-OCT25-LATE", "2026-10-25T09:00:00", Product.DIESEL, "40.00", "21", "48.40")
    late_toll = _toll(world.obu_a, "P-OCT20-LATE", "2026-10-20T07:00:00", "10.00", "21", "12.10")
    late_b = _fuel(world.card_b, "T-B-OCT28-LATE", "2026-10-28T12:00:00", Product.DIESEL, "30.00", "21", "36.30")
    november = _fuel(world.card_a, "T-NOV10", "2026-11-10T10:00:00", Product.DIESEL, "20.00", "21", "24.20")
    session.add_all([late_fuel, late_toll, late_b, november])
    session.commit()
    # October is not made again: the late ones wait for the next invoice.
    with pytest.raises(MonthAlreadyInvoiced):
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert late_fuel.invoice_id is None

    render = FakeRenderer()
    report = invoice_month(session, NOVEMBER, NOVEMBER_RUN, render)
    assert [(i.number, i.customer_number, i.lines) for i in report.issued] == [
        ("2026-000010", "4020001", 5), ("2026-000011", "4020002", 1)]
    a, b = session.exec(select(Invoice).where(Invoice.period_start == NOVEMBER).order_by(Invoice.sequence)).all()
    # 4020001: late 40.00 + 10.00 (toll), November 30.00 (T-NOV01) + 20.00, the card's fee 1.50 (used in
    # November); the OBU has only a late toll: no OBU fee. VAT 8.40 + 2.10 + 6.30 + 4.20 + 0.32 = 21.32;
    # incl. 48.40 + 12.10 + 36.30 + 24.20 + 1.82 = 122.82.
    assert (a.total_excl_vat, a.total_vat, a.total_incl_vat) == (D("101.50"), D("21.32"), D("122.82"))
    assert (a.period_start, a.period_end) == (NOVEMBER, date(2026, 11, 30))
    # 4020002: only the late transaction, no fee (its card was not used in November).
    assert (b.total_excl_vat, b.total_vat, b.total_incl_vat) == (D("30.00"), D("6.30"), D("36.30"))
    doc_a, doc_b = render.documents
    # The lines show their real dates; the document (and so the PDF) says the period holds late transactions.
    assert [line.description for group in doc_a.groups for line in group.lines] == [
        "25/10/2026 diesel, Q8 Antwerpen, Antwerpen (BE)", "01/11/2026 diesel, Q8 Antwerpen, Antwerpen (BE)",
        "10/11/2026 diesel, Q8 Antwerpen, Antwerpen (BE)",
        "Redevance mensuelle carte 11/2026", "20/10/2026 péage viapass (BE), E313 Antwerpen-Oost - E313 Hasselt-West"]
    assert (doc_a.late_from, doc_a.late_to) == (date(2026, 10, 20), date(2026, 10, 25))
    assert (doc_b.late_from, doc_b.late_to) == (date(2026, 10, 28), date(2026, 10, 28))
    assert invoice_document(session, a.id) == doc_a
    # Each on exactly one invoice, the next one; nothing of October was invoiced twice.
    for tx in (late_fuel, late_toll, late_b, november):
        session.refresh(tx)
        assert _lines_naming(session, tx) == 1
    assert (late_fuel.invoice_id, late_toll.invoice_id, november.invoice_id, late_b.invoice_id) == (
        a.id, a.id, a.id, b.id)
    october_lines = session.exec(select(func.count()).select_from(InvoiceLine).join(
        Invoice, Invoice.id == InvoiceLine.invoice_id).where(Invoice.period_start == OCTOBER)).one()
    assert october_lines == 9 + 2
    # September was never invoiced for 4020001: its transaction waits for September's own run.
    assert session.exec(select(FuelTransaction.invoice_id).where(
        FuelTransaction.issuer_transaction_id == "T-SEP30")).one() is None
    # December: nothing left.
    report = invoice_month(session, date(2026, 12, 1), utc("2027-01-02T06:00:00"), FakeRenderer())
    assert report.issued == [] and report.nothing_to_invoice == 2


def test_reconciling_a_month_names_the_invoice_a_late_transaction_went_on(session, world):
    from store.models import Right
    from store.services.context import Actor
    from store.services.invoices import Match, reconcile

    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    # Booked after October was invoiced: they go on November's invoice.
    late_fuel = _fuel(world.card_a, "T-OCT25-LATE", "2026-10-25T09:00:00", Product.DIESEL, "40.00", "21", "48.40")
    late_toll = _toll(world.obu_a, "P-OCT20-LATE", "2026-10-20T07:00:00", "10.00", "21", "12.10")
    session.add_all([late_fuel, late_toll])
    session.commit()
    invoice_month(session, NOVEMBER, NOVEMBER_RUN, FakeRenderer())
    # Booked after November was invoiced too: on no invoice yet (it waits for December's).
    later = _fuel(world.card_a, "T-OCT28-LATER", "2026-10-28T09:00:00", Product.LPG, "8.00", "21", "9.68")
    session.add(later)
    session.commit()
    october, november = (session.exec(select(Invoice).where(Invoice.customer_number_id == world.a.id,
                                                            Invoice.period_start == month)).one()
                         for month in (OCTOBER, NOVEMBER))
    assert (october.number, november.number) == ("2026-000008", "2026-000010")
    actor = Actor(user_id=world.accounting.id, label="accounting", customer_id=world.customer.id,
                  rights=frozenset({Right.INVOICE_DOWNLOAD}), customer_number_ids=(world.a.id,))

    result = reconcile(session, actor, october.id)
    rows = {r.transaction_id: r for card in result.cards for r in card.rows if r.transaction_id}
    for tx in (late_fuel, late_toll):
        row = rows[tx.id]
        assert (row.match, row.other_invoice_number, row.other_invoice_month) == (
            Match.OTHER_INVOICE, "2026-000010", NOVEMBER)
        assert row.invoiced is None and row.difference == 0
    assert rows[late_toll.id].description == "toll viapass (BE), E313 Antwerpen-Oost - E313 Hasselt-West"
    missing = rows[later.id]
    assert (missing.match, missing.other_invoice_number, missing.description) == (
        Match.NOT_INVOICED, None, "lpg, Q8 Antwerpen, Antwerpen (BE)")
    assert missing.difference == D("-9.68")
    # October's own lines all match; only the transaction on no invoice is a difference.
    assert result.count(Match.OTHER_INVOICE) == 2 and result.count(Match.NOT_INVOICED) == 1
    assert result.count(Match.MATCHED) == 7 and result.differences == 1
    assert result.elsewhere == D("60.50")
    assert result.invoiced == october.total_incl_vat
    assert result.difference == D("-9.68")
    # November's reconciliation has the late ones on its lines, matched.
    result = reconcile(session, actor, november.id)
    rows = {r.transaction_id: r for card in result.cards for r in card.rows if r.transaction_id}
    assert rows[late_fuel.id].match is Match.MATCHED and rows[late_toll.id].match is Match.MATCHED
    assert later.id not in rows and result.differences == 0


def test_a_month_run_for_some_customer_numbers_only_keeps_the_others_transactions_for_its_own_run(session, world):
    # October invoiced for 4020001 only: October is not closed for 4020002, so November does not take its
    # October transaction; October's own run does.
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), customer_numbers=["4020001"])
    report = invoice_month(session, NOVEMBER, NOVEMBER_RUN, FakeRenderer())
    # 4020001: its November transaction (T-NOV01, 36.30) and the card fee (1.82); 4020002: nothing.
    assert [(i.customer_number, i.lines, i.total_incl_vat) for i in report.issued] == [("4020001", 2, D("38.12"))]
    assert report.nothing_to_invoice == 1
    assert session.exec(select(FuelTransaction.invoice_id).where(
        FuelTransaction.issuer_transaction_id == "T-B-OCT10")).one() is None
    report = invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert [(i.customer_number, i.lines, i.total_incl_vat) for i in report.issued] == [("4020002", 2, D("62.32"))]


def test_a_rerun_is_refused_with_a_clear_message_and_changes_nothing(session, world):
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    counts = lambda: [session.exec(select(func.count()).select_from(model)).one()  # noqa: E731
                      for model in (Invoice, InvoiceLine, OutboxMessage, AuditEvent)]
    before = counts()
    with pytest.raises(MonthAlreadyInvoiced) as refusal:
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert refusal.value.message == (
        "10/2026 is already invoiced: 2 customer numbers have their invoice for it, and an invoice is never made "
        "twice. Transactions of 10/2026 that arrive late go on the next month's invoice.")
    with pytest.raises(MonthAlreadyInvoiced, match="1 customer number has its invoice"):
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), customer_numbers=["4020002"])
    assert counts() == before


def test_a_month_without_transactions_and_a_customer_number_without_cards_make_no_invoice(session, world):
    # Fees are for the cards used in the month: a month without transactions has none, so no invoice, no number
    # taken, no mail; it is no refusal either, and the next invoice takes the next number.
    session.add(CustomerNumber(customer_id=world.customer.id, number="4020003", name="Dubois Namur"))  # no card
    session.commit()
    report = invoice_month(session, date(2026, 9, 1), utc("2026-10-02T06:00:00"), FakeRenderer(),
                           customer_numbers=["4020002", "4020003"])
    assert (report.issued, report.nothing_to_invoice, report.already_invoiced) == ([], 2, 0)
    assert session.exec(select(func.max(Invoice.sequence)).where(Invoice.year == 2026)).one() == 7
    report = invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    assert [(i.number, i.customer_number) for i in report.issued] == [("2026-000008", "4020001"),
                                                                      ("2026-000009", "4020002")]
    assert report.nothing_to_invoice == 1  # 4020003, without cards
    assert "0 issued" not in str(report) and "1 without transactions" in str(report)
