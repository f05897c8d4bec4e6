"""The "messages" domain in Dutch and French (issue 10): refusals of the services, e-mails in their recipient's
language, the invoice PDF and its billing file in the customer's language, export headers in the user's.

`tui.i18n` is imported first: it installs the catalogs, as the command and the portal do at start-up.
"""
from __future__ import annotations

import sys
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from sqlmodel import select

import tui.i18n  # noqa: F401  (installs the catalogs)
from store.i18n import _, use_language

sys.path.insert(0, str(Path(__file__).parent / "store"))
from test_invoicing import ISSUE_AT, OCTOBER, FakeRenderer, build_world  # noqa: E402

from store.issuer.invoicing import invoice_document, invoice_month  # noqa: E402
from store.models import Customer, Invoice, OutboxMessage  # noqa: E402,F401
from store.services.errors import AuthenticationFailed, DomainError  # noqa: E402


def test_a_refusal_of_a_service_in_dutch_and_french(session, clock, cheap_password_hashing):
    from store.services.auth import authenticate
    from store.services.budgets import parse_amount

    with use_language("nl"):
        with pytest.raises(DomainError) as nl:
            parse_amount("0")
        with pytest.raises(AuthenticationFailed) as nl_login:
            authenticate(session, "nobody", "wrong", clock.now())
    with use_language("fr"):
        with pytest.raises(DomainError) as fr:
            parse_amount("0")
        with pytest.raises(AuthenticationFailed) as fr_login:
            authenticate(session, "nobody", "wrong", clock.now())
    assert nl.value.message == ("Een budget moet meer dan 0 euro zijn. Om een budget te verwijderen, maakt u het "
                                "leeg.")
    assert nl_login.value.message == "Onbekende gebruikersnaam of fout paswoord."
    assert fr.value.message == "Un budget doit être supérieur à 0 euro. Pour supprimer un budget, videz-le."
    assert fr_login.value.message == "Nom d'utilisateur inconnu ou mot de passe erroné."
    with pytest.raises(DomainError) as en:  # outside a use_language block: the process language, English here
        parse_amount("0")
    assert en.value.message == "A budget must be more than 0 euro. To remove a budget, clear it."


def test_card_refusals_are_whole_sentences_per_card_and_obu_with_the_status_in_words():
    from store.models import Card, CardStatus, CodeType, ProductType, RenewalStatus
    from store.services.cards import CardAction, refusal

    card = Card(product_type=ProductType.FLEET_CARD, status=CardStatus.BLOCKED, code_type=CodeType.PIN,
                renewal_status=RenewalStatus.NONE)
    obu = Card(product_type=ProductType.PASSANGO_OBU, status=CardStatus.BLOCKED, renewal_status=RenewalStatus.NONE)
    expired = Card(product_type=ProductType.FLEET_CARD, status=CardStatus.EXPIRED, code_type=CodeType.PIN,
                   renewal_status=RenewalStatus.NONE)
    with use_language("fr"):
        assert refusal(card, CardAction.BLOCK) == "Cette carte est déjà bloquée."
        assert refusal(obu, CardAction.BLOCK) == "Cet OBU est déjà bloqué."
        assert refusal(expired, CardAction.RENEW) == ("Seule une carte active peut être renouvelée ; celle-ci est "
                                                      "expirée.")
    with use_language("nl"):
        assert refusal(card, CardAction.BLOCK) == "Deze kaart is al geblokkeerd."
        assert refusal(expired, CardAction.RENEW) == ("Enkel een actieve kaart kan vernieuwd worden; deze is "
                                                      "vervallen.")
    assert refusal(obu, CardAction.BLOCK) == "This OBU is already blocked."


def test_a_plural_follows_the_count_in_french():
    from store.i18n import ngettext

    def text(count):
        with use_language("fr"):
            return ngettext("{count} of the selected anomalies does not exist (any more): refresh the list and "
                            "select again.",
                            "{count} of the selected anomalies do not exist (any more): refresh the list and "
                            "select again.", count).format(count=count)

    assert text(1) == "1 des anomalies sélectionnées n'existe pas (ou plus) : actualisez la liste et sélectionnez à " \
                      "nouveau."
    assert text(3) == "3 des anomalies sélectionnées n'existent pas (ou plus) : actualisez la liste et sélectionnez " \
                      "à nouveau."


def test_the_invoice_mail_goes_out_in_each_recipients_language(session):
    from store.models import NotificationKind, NotificationSetting, User

    world = build_world(session)  # accounting reads French; fleetadmin reads Dutch and now wants the alerts too
    fleetadmin = session.exec(select(User).where(User.username == "fleetadmin")).one()
    session.add(NotificationSetting(user_id=fleetadmin.id, kind=NotificationKind.INVOICE_AVAILABLE))
    session.commit()
    with use_language("en"):  # the batch's own language does not matter
        invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer(), portal_link="https://portal.example/i/{number}")
    number = session.exec(select(Invoice.number).where(Invoice.customer_number_id == world.a.id,
                                                       Invoice.period_start == OCTOBER)).one()
    mails = {m.to_address: m for m in session.exec(select(OutboxMessage)).all() if number in m.subject}
    french, dutch = mails["accounting@test.example"], mails["fleetadmin@test.example"]
    assert (french.language, dutch.language) == ("fr", "nl")
    assert french.subject == f"La facture {number} est disponible"
    assert french.body.startswith("Bonjour Anne COMPTABLE,")
    assert "394,58 EUR TVA comprise" in french.body and "Mes factures" in french.body
    assert dutch.subject == f"Factuur {number} is beschikbaar"
    assert dutch.body.startswith("Beste ") and "394,58 EUR incl. btw" in dutch.body and "Mijn facturen" in dutch.body


def test_an_invitation_to_a_french_speaking_user_is_french(session, clock, cheap_password_hashing):
    from store.models import CustomerNumber, Right, User, UserCustomerNumber, UserRight, UserStatus
    from store.services import users
    from store.services.context import actor_for

    customer = Customer(name="Dubois SA", driver_code_prefix="4321", timezone="Europe/Brussels", language="fr")
    session.add(customer)
    session.flush()
    number = CustomerNumber(customer_id=customer.id, number="300001", name="Dubois")
    session.add(number)
    session.flush()
    admin = User(customer_id=customer.id, username="chef", last_name="DUBOIS", first_name="MARIE",
                 email="marie@dubois.example", phone="0470000009", status=UserStatus.ACTIVE, language="nl",
                 created_at=clock.now())
    session.add(admin)
    session.flush()
    session.add_all([UserRight(user_id=admin.id, right=right) for right in Right])
    session.add(UserCustomerNumber(user_id=admin.id, customer_number_id=number.id))
    session.commit()
    with use_language("nl"):  # the administrator works in Dutch; the new user reads French
        row = users.create_user(session, actor_for(session, admin), clock.now(), last_name="Lambert",
                                first_name="Luc", email="luc@dubois.example", phone="0471111111",
                                rights=[Right.CARD_MANAGE], customer_number_ids=[number.id], language="fr")
    mail = session.exec(select(OutboxMessage).where(OutboxMessage.user_id == row.id)).one()
    assert mail.language == "fr"
    assert mail.subject == "Votre accès à Cards Online"
    assert mail.body.startswith("Bonjour,\n\nchef vous a donné accès à Cards Online pour Dubois SA.")
    assert f"Votre nom d'utilisateur : {row.username}" in mail.body


def _page_text(pdf: bytes) -> bytes:
    """The first page's content stream, decompressed: its ASCII words stand in the text operators."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    page = PdfFileReader(BytesIO(pdf)).root["/Pages"]["/Kids"][0].get_object()
    content = page["/Contents"].get_object()
    data = content.data
    return data if b"Tj" in data else zlib.decompress(data)


def test_the_invoice_pdf_of_a_dutch_speaking_customer_has_dutch_labels(session):
    from exports.invoice_pdf import render_invoice_pdf

    world = build_world(session)
    world.customer.language = "nl"
    session.add(world.customer)
    session.commit()
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    invoice = session.exec(select(Invoice).where(Invoice.customer_number_id == world.a.id,
                                                 Invoice.period_start == OCTOBER)).one()
    with use_language("fr"):  # whoever runs the batch: the PDF is in the customer's language
        text = _page_text(render_invoice_pdf(invoice_document(session, invoice.id)))
    for label in (b"(FACTUUR) Tj", b"(Factuurnummer) Tj", b"(Vervaldatum) Tj", b"(Omschrijving) Tj", b"(Subtotaal)",
                  b"(Te betalen) Tj", b"Maandelijkse kaartbijdrage 10/2026"):
        assert label in text, label
    for french in (b"(FACTURE) Tj", b"(Sous-total)", b"Redevance mensuelle"):
        assert french not in text, french


def test_an_xlsx_export_in_french_and_the_billing_file_in_the_customers_language(session, tmp_path):
    from openpyxl import load_workbook

    from exports.audit_xlsx import write_audit_xlsx
    from exports.billing_data import write_billing_data
    from exports.fleet_xlsx import write_fleet_xlsx

    with use_language("fr"):  # a French-speaking user's export
        write_fleet_xlsx([], tmp_path / "fleet.xlsx")
        write_audit_xlsx([], tmp_path / "audit.xlsx", zone=None)
    fleet = load_workbook(tmp_path / "fleet.xlsx").worksheets[0]
    headers = [cell.value for cell in fleet[1]]
    assert fleet.title == "Flotte"
    assert headers[:3] == ["Numéro de carte/OBU", "Rang", "Type de carte/OBU"]
    assert "Diesel : autorisé" in headers and "Recharge électrique : volume (kWh)" in headers
    audit = load_workbook(tmp_path / "audit.xlsx").worksheets[0]
    with use_language("fr"):  # the same words as the French screens
        assert audit.title == _("Audit trail") != "Audit trail"
        assert [cell.value for cell in audit[1]][:2] == [_("Date and time"), _("User")] != ["Date and time", "User"]

    world = build_world(session)  # the customer speaks French
    invoice_month(session, OCTOBER, ISSUE_AT, FakeRenderer())
    invoice = session.exec(select(Invoice).where(Invoice.customer_number_id == world.a.id,
                                                 Invoice.period_start == OCTOBER)).one()
    with use_language("nl"):  # a Dutch-speaking user downloads the billing data of a French-speaking customer
        csv_path, xlsx_path = write_billing_data(session, invoice.id, tmp_path)
    sheet = load_workbook(xlsx_path).worksheets[0]
    assert sheet.title == "Données de facturation"
    assert [cell.value for cell in sheet[1]][:2] == ["Numéro de facture", "Date d'émission"]
    # The CSV is the machine format: its header row keeps the English names.
    assert csv_path.read_text(encoding="utf-8-sig").splitlines()[0].startswith("Invoice number;Issue date;")
