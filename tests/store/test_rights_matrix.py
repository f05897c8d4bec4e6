"""Rights everywhere (issue 5): every service function and read model that takes an `actor` refuses, by itself,
an actor without the right it needs (not only a hidden menu item), and an actor acting for a customer number
that is not theirs.

The functions are found by introspection: a new public function with an `actor` parameter in store/services or
store/queries makes `test_every_function_with_an_actor_is_in_the_matrix` fail until it joins MATRIX (the right
it needs and a call with plausible arguments) or EXEMPT (with the reason).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Callable, Literal

import pytest
from sqlmodel import Session
from test_cards import CERTIFICATE, World

import store.queries
import store.services
from store.models import BlockReason, Card, CardStatus, DriverCode, DriverCodeStatus, FleetDivision, Right
from store.queries.audit import audit_choices, count_audit, iter_audit, search_audit
from store.queries.card_filter import CardFilter
from store.queries.card_settings import card_settings
from store.queries.cards import card_divisions, count_cards, list_requests, search_cards
from store.queries.fleet_export import count_fleet, fleet_export_rows
from store.queries import reports as monthly_reports
from store.queries.transactions import (
    AnomalyFilter,
    TollFilter,
    TransactionFilter,
    count_anomalies,
    daily_totals,
    daily_transactions,
    followup_divisions,
    search_anomalies,
    toll_operators,
    toll_totals,
    toll_transactions,
    transaction_anomalies,
)
from store.services import bulk, cards, divisions, driver_codes, notifications, outbox, renewals, users
from store.services import invoices as my_invoices
from store.services.anomaly_review import acknowledge_anomalies
from store.services import budgets
from store.services.bulk import BulkAction, BulkParams
from store.services import what_if as what_if_service
from store.services.cards import spec_from_card
from store.services.context import Actor
from store.services.labels import right_label
from store.services.driver_codes import DriverCodeFilter
from store.services.errors import DomainError, PermissionDenied

# --- which functions ------------------------------------------------------------------------------------


def functions_with_an_actor() -> dict[str, Callable]:
    """Public functions defined in a module of store/services or store/queries with an `actor` parameter,
    by "package.module.name" relative to store (e.g. "services.cards.block_card")."""
    found: dict[str, Callable] = {}
    for package in (store.services, store.queries):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, function in inspect.getmembers(module, inspect.isfunction):
                function = inspect.unwrap(function)
                if (name.startswith("_") or function.__module__ != module.__name__
                        or "actor" not in inspect.signature(function).parameters):
                    continue
                found[f"{module.__name__.removeprefix('store.')}.{name}"] = function
    return found


EXEMPT = {
    # Acting on one's own account: being logged in is the right.
    "services.auth.change_password": "changes the acting user's own password (checks the current one)",
    "services.users.enable_two_factor": "turns two-factor sign-in on for the acting user only",
    "services.users.disable_two_factor": "turns two-factor sign-in off for the acting user only (needs a code)",
    "services.users.two_factor_status": "reads the acting user's own two-factor state",
    "services.users.set_own_language": "sets the acting user's own language (My account -> Language)",
    "services.invoices.reauthenticate": "checks the acting user's own user name and password (My invoices)",
    # Helpers that hold no data of their own and are only called after the caller's check.
    "services.auth.usable_rights": "pure: which of the actor's rights the customer's options allow (menu)",
    "services.context.get_customer": "reads the actor's own customer (name, options, time zone)",
    "services.audit.record": "writes the trail of a change inside a service that already checked the right",
    "queries.audit.customer_zone": "the time zone of the actor's own customer, to show dates",
    "queries.transactions.customer_zone": "the time zone of the actor's own customer, to find local days",
    "queries.card_filter.scoped_filter": "narrows a filter to the actor's customer numbers (refuses another "
                                         "one: test_scoped_filter_refuses_a_customer_number_not_theirs); "
                                         "its callers check the right",
    # The issuer's own work: no portal right allows it.
    "services.customers.change_timezone": "issuer only: refuses every portal user whatever their rights "
                                          "(test_customer_timezone.test_the_change_is_audited_and_only_the_issuers)",
}


# --- the test data --------------------------------------------------------------------------------------

@dataclass
class Data:
    """The World of test_cards plus, per customer number, an active card and an empty division; a second user."""

    world: World
    home: SimpleNamespace  # objects of world.number
    foreign: SimpleNamespace  # the same on world.other_number
    target_user_id: int

    def actor(self, rights, numbers: tuple[int, ...] | None = None) -> Actor:
        w = self.world
        return Actor(user_id=w.user.id, label=w.user.username, customer_id=w.customer.id, rights=frozenset(rights),
                     customer_number_ids=(self.home.number_id, self.foreign.number_id) if numbers is None
                     else numbers)


def _objects(world: World, now: datetime, number, division: FleetDivision, plate: str) -> SimpleNamespace:
    session = world.session
    card, _ = cards.create_card(session, world.actor, now,
                                world.card_spec(customer_number_id=number.id, division_id=division.id,
                                                license_plate=plate))
    card = world.set_status(card, CardStatus.ACTIVE)
    other = FleetDivision(customer_number_id=number.id, name=f"Other {number.number}")
    empty = FleetDivision(customer_number_id=number.id, name=f"Empty {number.number}")
    session.add_all([other, empty])
    session.commit()
    code = DriverCode(customer_number_id=number.id, division_id=division.id, code="0001", driver_name="Jan Peeters",
                      created_at=now)
    blocked = DriverCode(customer_number_id=number.id, division_id=division.id, code="0002", driver_name="Piet Maes",
                         status=DriverCodeStatus.BLOCKED, blocked_at=now, created_at=now)
    session.add_all([code, blocked])
    session.commit()
    return SimpleNamespace(number_id=number.id, card_id=card.id, division_id=division.id, other_division_id=other.id,
                           empty_division_id=empty.id, code_id=code.id, blocked_code_id=blocked.id,
                           card_number=card.number,
                           spec=world.card_spec(customer_number_id=number.id, division_id=division.id,
                                                license_plate="9-NEW-999"))


@pytest.fixture
def data(session: Session, clock) -> Data:
    now = clock.now()
    world = World.build(session, now)
    home = _objects(world, now, world.number, world.division, "1-HOM-001")
    foreign = _objects(world, now, world.other_number, world.foreign_division, "1-FOR-001")
    target = world.add_user("target", [Right.CARD_MANAGE], now, numbers=(world.number,))
    return Data(world, home, foreign, target.id)


# --- the matrix -----------------------------------------------------------------------------------------
#
# Each call gets (session, actor, now, x, data) where x holds the ids of one customer number (data.home, or
# data.foreign for the customer-number check). `scope` says how a customer number not the actor's is refused:
# "raise": PermissionDenied; "per card": each card's result is refused and says so (one refused card never
# stops the others); "hidden": the card is left out; None: the function takes no customer number or card.

Scope = Literal["raise", "per card", "hidden"] | None


@dataclass(frozen=True)
class Entry:
    right: Right
    call: Callable
    scope: Scope = None
    also_missing: frozenset[Right] = frozenset()  # rights that also grant it (attach: create or manage)
    also_needed: frozenset[Right] = frozenset()  # rights it needs as well (moving cards: manage cards too)

    @property
    def needed(self) -> list[Right]:
        return [self.right, *sorted(self.also_needed)]


def _fuel_transaction(s, x) -> int:
    """A fuel transaction of the card of x (Daily follow-up), now; its id."""
    from decimal import Decimal

    from store.models import FuelTransaction, Product

    card = s.get(Card, x.card_id)
    from uuid import uuid4

    t = FuelTransaction(issuer_transaction_id=f"RM-{uuid4().hex[:20]}",
                        card_id=card.id, rank=card.rank, occurred_at=card.created_at, station="Station",
                        city="Antwerpen", country="BE", product=Product.DIESEL, quantity=Decimal("40"),
                        unit_price=Decimal("1.5"), amount_excl_vat=Decimal("60"), vat_rate=Decimal("21"),
                        amount_incl_vat=Decimal("72.60"))
    s.add(t)
    s.commit()
    return t.id


def _anomaly(s, x) -> int:
    """A new anomaly of the card of x; its id."""
    from store.models import Anomaly, AnomalyRule

    anomaly = Anomaly(card_id=x.card_id, rule=AnomalyRule.LIMIT_AMOUNT, detected_at=s.get(Card, x.card_id).created_at)
    s.add(anomaly)
    s.commit()
    return anomaly.id


def _invoice(s, x) -> int:
    """An original invoice with its files on the customer number of x (made once); its id."""
    from datetime import date
    from decimal import Decimal

    from sqlmodel import select

    from store.models import Invoice

    found = s.exec(select(Invoice.id).where(Invoice.customer_number_id == x.number_id)).first()
    if found is not None:
        return found
    invoice = Invoice(customer_number_id=x.number_id, number=f"2026-{x.number_id:06d}", year=2026,
                      sequence=x.number_id, issue_date=date(2026, 11, 3), period_start=date(2026, 10, 1),
                      period_end=date(2026, 10, 31), total_excl_vat=Decimal("100"), total_vat=Decimal("21"),
                      total_incl_vat=Decimal("121"), pdf=b"%PDF-1.4", signature_p7s=b"0", pdf_sha256="0" * 64)
    s.add(invoice)
    s.commit()
    return invoice.id


def _months(now: datetime):
    """A one-month report period: the month of `now`."""
    return monthly_reports.MonthRange(now.date(), now.date())


def _block(x) -> tuple:
    return [x.card_id], BulkAction.BLOCK, BulkParams(reason=BlockReason.LOSS)


MATRIX: dict[str, Entry] = {
    # cards and OBUs
    "services.cards.create_card": Entry(Right.CARD_CREATE, lambda s, a, now, x, d: cards.create_card(
        s, a, now, x.spec), "raise"),
    "services.cards.copy_card": Entry(Right.CARD_CREATE, lambda s, a, now, x, d: cards.copy_card(
        s, a, now, x.card_id, "9-CPY-001"), "raise"),
    "services.cards.apply_change": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.apply_change(
        s, a, now, x.card_id, replace(spec_from_card(s, x.card_id), driver_name="Someone Else"), 1), "raise"),
    "services.cards.block_card": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.block_card(
        s, a, now, x.card_id, BlockReason.LOSS, False), "raise"),
    "services.cards.cancel_card": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.cancel_card(
        s, a, now, x.card_id), "raise"),
    "services.cards.delete_card": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.delete_card(
        s, a, now, x.card_id), "raise"),
    "services.cards.renew_card": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.renew_card(
        s, a, now, x.card_id), "raise"),
    "services.cards.reissue_pins": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.reissue_pins(
        s, a, now, [x.card_id]), "per card"),
    "services.cards.attach_document": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: cards.attach_document(
        s, a, now, x.card_id, CERTIFICATE), "raise", frozenset({Right.CARD_CREATE})),
    # bulk actions on the card list
    "services.bulk.resolve_selection": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: bulk.resolve_selection(
        s, a, CardFilter(customer_number_ids=(x.number_id,))), "raise"),
    "services.bulk.move_to_division": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: bulk.move_to_division(
        s, a, now, x.card_id, x.other_division_id), "raise"),
    "services.bulk.preview_bulk": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: bulk.preview_bulk(
        s, a, *_block(x)), "per card"),
    "services.bulk.iter_preview_bulk": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: list(bulk.iter_preview_bulk(
        s, a, *_block(x))), "per card"),
    "services.bulk.apply_bulk": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: bulk.apply_bulk(
        s, a, now, *_block(x)), "per card"),
    "services.bulk.iter_apply_bulk": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: list(bulk.iter_apply_bulk(
        s, a, now, *_block(x))), "per card"),
    # card read models
    "queries.cards.search_cards": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: search_cards(
        s, a, x.number_id), "raise"),
    "queries.cards.count_cards": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: count_cards(
        s, a, x.number_id), "raise"),
    "queries.cards.card_divisions": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: card_divisions(
        s, a, x.number_id), "raise"),
    "queries.cards.list_requests": Entry(Right.CARD_REQUESTS, lambda s, a, now, x, d: list_requests(s, a)),
    "queries.card_settings.card_settings": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: card_settings(
        s, a, [x.card_id]), "hidden"),
    "queries.fleet_export.count_fleet": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: count_fleet(
        s, a, CardFilter(customer_number_ids=(x.number_id,))), "raise"),
    "queries.fleet_export.fleet_export_rows": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: list(
        fleet_export_rows(s, a, CardFilter(customer_number_ids=(x.number_id,)))), "raise"),
    # fleet divisions
    "services.divisions.list_divisions": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.list_divisions(
        s, a, x.number_id), "raise"),
    "services.divisions.create_division": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.create_division(
        s, a, now, x.number_id, "Brand new"), "raise"),
    "services.divisions.rename_division": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.rename_division(
        s, a, now, x.empty_division_id, "Renamed"), "raise"),
    "services.divisions.delete_division": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.delete_division(
        s, a, now, x.empty_division_id), "raise"),
    "services.divisions.move_cards": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.move_cards(
        s, a, now, x.division_id, x.other_division_id), "raise", also_needed=frozenset({Right.CARD_MANAGE})),
    "services.divisions.move_driver_codes": Entry(Right.DIVISIONS, lambda s, a, now, x, d: divisions.move_driver_codes(
        s, a, now, x.division_id, x.other_division_id), "raise",
        also_needed=frozenset({Right.DRIVER_CODES_MANAGE})),
    # driver codes (Fiches 13-16)
    "services.driver_codes.search_driver_codes": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.search_driver_codes(
            s, a, DriverCodeFilter(customer_number_id=x.number_id)), "raise"),
    "services.driver_codes.count_driver_codes": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.count_driver_codes(
            s, a, DriverCodeFilter(customer_number_id=x.number_id)), "raise"),
    "services.driver_codes.driver_code_divisions": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.driver_code_divisions(s, a, x.number_id),
        "raise", frozenset({Right.DRIVER_CODES_CREATE})),
    "services.driver_codes.create_driver_code": Entry(
        Right.DRIVER_CODES_CREATE, lambda s, a, now, x, d: driver_codes.create_driver_code(
            s, a, now, x.number_id, x.division_id, "0999", "Nieuwe Chauffeur"), "raise"),
    "services.driver_codes.modify_driver_code": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.modify_driver_code(
            s, a, now, x.code_id, driver_name="Jan Claes"), "raise"),
    "services.driver_codes.block_plan": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.block_plan(s, a, now, [x.code_id]), "raise"),
    "services.driver_codes.block_driver_codes": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.block_driver_codes(
            s, a, now, [x.code_id]), "raise"),
    "services.driver_codes.unblock_driver_codes": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.unblock_driver_codes(
            s, a, now, [x.blocked_code_id]), "raise"),
    # A card of another customer number is "not found" (tests/store/test_driver_codes.py).
    "services.driver_codes.reissue_card": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.reissue_card(s, a, x.card_number)),
    "services.driver_codes.reissue_driver_codes": Entry(
        Right.DRIVER_CODES_MANAGE, lambda s, a, now, x, d: driver_codes.reissue_driver_codes(
            s, a, now, [x.code_id], x.card_number, x.division_id), "raise"),
    # card renewal (Fiche 12)
    "services.renewals.renewal_status_list": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.renewal_status_list(
        s, a, now, x.number_id), "raise"),
    "services.renewals.renewal_board": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.renewal_board(
        s, a, now, x.number_id), "raise"),
    "services.renewals.cancel_renewal": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.cancel_renewal(
        s, a, now, x.card_id), "raise"),
    "services.renewals.restore_renewal": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.restore_renewal(
        s, a, now, x.card_id), "raise"),
    "services.renewals.preview_renewal_configuration": Entry(
        Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.preview_renewal_configuration(
            s, a, now, x.card_id, spec_from_card(s, x.card_id)), "raise"),
    "services.renewals.change_renewal_configuration": Entry(
        Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.change_renewal_configuration(
            s, a, now, x.card_id, spec_from_card(s, x.card_id), 1), "raise"),
    "services.renewals.cancel_renewals": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.cancel_renewals(
        s, a, now, [x.card_id]), "per card"),
    "services.renewals.restore_renewals": Entry(Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.restore_renewals(
        s, a, now, [x.card_id]), "per card"),
    "services.renewals.change_renewal_configurations": Entry(
        Right.CARD_RENEWAL, lambda s, a, now, x, d: renewals.change_renewal_configurations(
            s, a, now, [x.card_id], controls=spec_from_card(s, x.card_id).controls), "per card"),
    # notification settings
    "services.notifications.get_notification_settings": Entry(
        Right.NOTIFICATIONS, lambda s, a, now, x, d: notifications.get_notification_settings(s, a)),
    "services.notifications.set_notification_settings": Entry(
        Right.NOTIFICATIONS, lambda s, a, now, x, d: notifications.set_notification_settings(
            s, a, now, notifications.NotificationPreferences(requests_done=True))),
    "services.notifications.get_invoice_alerts": Entry(
        Right.USERS, lambda s, a, now, x, d: notifications.get_invoice_alerts(s, a)),
    "services.notifications.set_invoice_alerts": Entry(
        Right.USERS, lambda s, a, now, x, d: notifications.set_invoice_alerts(s, a, now, [d.target_user_id])),
    # users (their scope is the customer: a user of another customer is "not found")
    "services.users.search_users": Entry(Right.USERS, lambda s, a, now, x, d: users.search_users(s, a, now)),
    "services.users.get_user": Entry(Right.USERS, lambda s, a, now, x, d: users.get_user(
        s, a, now, d.target_user_id)),
    "services.users.create_user": Entry(Right.USERS, lambda s, a, now, x, d: users.create_user(
        s, a, now, last_name="Nieuw", first_name="Lid", email="nieuw.lid@test.example", phone="0470000009",
        customer_number_ids=[x.number_id]), "raise"),
    "services.users.update_user": Entry(Right.USERS, lambda s, a, now, x, d: users.update_user(
        s, a, now, d.target_user_id, customer_number_ids=[x.number_id]), "raise"),
    "services.users.change_customer_numbers": Entry(Right.USERS, lambda s, a, now, x, d: users.change_customer_numbers(
        s, a, now, d.target_user_id, [x.number_id]), "raise"),
    "services.users.change_rights": Entry(Right.USERS, lambda s, a, now, x, d: users.change_rights(
        s, a, now, d.target_user_id, [Right.USERS])),
    "services.users.change_validity": Entry(Right.USERS, lambda s, a, now, x, d: users.change_validity(
        s, a, now, d.target_user_id, None, None)),
    "services.users.resend_invitation": Entry(Right.USERS, lambda s, a, now, x, d: users.resend_invitation(
        s, a, now, d.target_user_id)),
    "services.users.unlock_user": Entry(Right.USERS, lambda s, a, now, x, d: users.unlock_user(
        s, a, now, d.target_user_id)),
    "services.users.deactivate_user": Entry(Right.USERS, lambda s, a, now, x, d: users.deactivate_user(
        s, a, now, d.target_user_id)),
    "services.users.require_two_factor": Entry(Right.USERS, lambda s, a, now, x, d: users.require_two_factor(
        s, a, now, d.target_user_id)),
    "services.users.reset_two_factor": Entry(Right.USERS, lambda s, a, now, x, d: users.reset_two_factor(
        s, a, now, d.target_user_id)),
    # e-mail outbox (administrators)
    "services.outbox.list_outbox": Entry(Right.USERS, lambda s, a, now, x, d: outbox.list_outbox(s, a)),
    "services.outbox.count_outbox": Entry(Right.USERS, lambda s, a, now, x, d: outbox.count_outbox(s, a)),
    # audit trail
    "queries.audit.search_audit": Entry(Right.AUDIT, lambda s, a, now, x, d: search_audit(s, a)),
    "queries.audit.count_audit": Entry(Right.AUDIT, lambda s, a, now, x, d: count_audit(s, a)),
    "queries.audit.iter_audit": Entry(Right.AUDIT, lambda s, a, now, x, d: list(iter_audit(s, a))),
    "queries.audit.audit_choices": Entry(Right.AUDIT, lambda s, a, now, x, d: audit_choices(s, a)),
    # monthly reports and budgets
    "queries.reports.followup_months": Entry(Right.REPORT_CARD_FOLLOWUP, lambda s, a, now, x, d: (
        monthly_reports.followup_months(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.followup_cards": Entry(Right.REPORT_CARD_FOLLOWUP, lambda s, a, now, x, d: (
        monthly_reports.followup_cards(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.iter_followup_cards": Entry(Right.REPORT_CARD_FOLLOWUP, lambda s, a, now, x, d: list(
        monthly_reports.iter_followup_cards(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.consumption_cards": Entry(Right.REPORT_CONSUMPTION, lambda s, a, now, x, d: (
        monthly_reports.consumption_cards(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.iter_consumption_cards": Entry(Right.REPORT_CONSUMPTION, lambda s, a, now, x, d: list(
        monthly_reports.iter_consumption_cards(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.consumption_groups": Entry(Right.REPORT_CONSUMPTION, lambda s, a, now, x, d: (
        monthly_reports.consumption_groups(s, a, x.number_id, _months(now), by="vehicle_type")), "raise"),
    "queries.reports.budget_followup": Entry(Right.REPORT_BUDGET, lambda s, a, now, x, d: (
        monthly_reports.budget_followup(s, a, x.number_id, _months(now))), "raise"),
    "queries.reports.export_report_rows": Entry(Right.REPORT_EXPORT, lambda s, a, now, x, d: list(
        monthly_reports.export_report_rows(s, a, "budget", x.number_id, _months(now))), "raise",
        also_needed=frozenset({Right.REPORT_BUDGET})),
    "services.budgets.set_budget": Entry(Right.REPORT_BUDGET, lambda s, a, now, x, d: budgets.set_budget(
        s, a, now, x.number_id, now.date(), "100", division_id=x.division_id), "raise"),
    "services.budgets.clear_budget": Entry(Right.REPORT_BUDGET, lambda s, a, now, x, d: budgets.clear_budget(
        s, a, now, x.number_id, now.date(), card_id=x.card_id), "raise"),
    "services.budgets.find_budget_card": Entry(Right.REPORT_BUDGET, lambda s, a, now, x, d: budgets.find_budget_card(
        s, a, x.number_id, x.card_number), "raise"),
    # daily follow-up (issue 8): daily transactions, toll transactions, anomalies
    "queries.transactions.daily_transactions": Entry(
        Right.DAILY_TRANSACTIONS, lambda s, a, now, x, d: daily_transactions(
            s, a, now.date(), TransactionFilter(customer_number_id=x.number_id)), "raise"),
    "queries.transactions.daily_totals": Entry(Right.DAILY_TRANSACTIONS, lambda s, a, now, x, d: daily_totals(
        s, a, now.date(), TransactionFilter(customer_number_id=x.number_id)), "raise"),
    "queries.transactions.transaction_anomalies": Entry(
        Right.DAILY_TRANSACTIONS, lambda s, a, now, x, d: transaction_anomalies(s, a, _fuel_transaction(s, x)),
        "raise"),
    "queries.transactions.followup_divisions": Entry(
        Right.DAILY_TRANSACTIONS, lambda s, a, now, x, d: followup_divisions(s, a, x.number_id), "raise",
        frozenset({Right.ANOMALIES, Right.TOLL_TRANSACTIONS})),
    "queries.transactions.toll_transactions": Entry(Right.TOLL_TRANSACTIONS, lambda s, a, now, x, d: toll_transactions(
        s, a, now.date(), where=TollFilter(customer_number_id=x.number_id)), "raise"),
    "queries.transactions.toll_totals": Entry(Right.TOLL_TRANSACTIONS, lambda s, a, now, x, d: toll_totals(
        s, a, now.date(), where=TollFilter(customer_number_id=x.number_id)), "raise"),
    "queries.transactions.toll_operators": Entry(Right.TOLL_TRANSACTIONS, lambda s, a, now, x, d: toll_operators(s, a)),
    "queries.transactions.search_anomalies": Entry(Right.ANOMALIES, lambda s, a, now, x, d: search_anomalies(
        s, a, AnomalyFilter(customer_number_id=x.number_id)), "raise"),
    "queries.transactions.count_anomalies": Entry(Right.ANOMALIES, lambda s, a, now, x, d: count_anomalies(
        s, a, AnomalyFilter(customer_number_id=x.number_id)), "raise"),
    "services.anomaly_review.acknowledge_anomalies": Entry(
        Right.ANOMALIES, lambda s, a, now, x, d: acknowledge_anomalies(s, a, now, [_anomaly(s, x)], "Seen"), "raise"),
    # My invoices (Fiche 11, issue 9): reading needs either invoice right, downloading the download right
    "services.invoices.search_invoices": Entry(Right.INVOICE_DOWNLOAD, lambda s, a, now, x, d: (
        my_invoices.search_invoices(s, a, my_invoices.InvoiceFilter(customer_number_id=x.number_id))), "raise",
        frozenset({Right.INVOICE_DATA_FILES})),
    "services.invoices.count_invoices": Entry(Right.INVOICE_DOWNLOAD, lambda s, a, now, x, d: (
        my_invoices.count_invoices(s, a, my_invoices.InvoiceFilter(customer_number_id=x.number_id))), "raise",
        frozenset({Right.INVOICE_DATA_FILES})),
    "services.invoices.invoice_details": Entry(Right.INVOICE_DOWNLOAD, lambda s, a, now, x, d: (
        my_invoices.invoice_details(s, a, _invoice(s, x))), "raise", frozenset({Right.INVOICE_DATA_FILES})),
    "services.invoices.reconcile": Entry(Right.INVOICE_DOWNLOAD, lambda s, a, now, x, d: (
        my_invoices.reconcile(s, a, _invoice(s, x))), "raise", frozenset({Right.INVOICE_DATA_FILES})),
    "services.invoices.record_download": Entry(Right.INVOICE_DOWNLOAD, lambda s, a, now, x, d: (
        my_invoices.record_download(s, a, now, _invoice(s, x))), "raise"),
    "services.invoices.invoice_for_files": Entry(Right.INVOICE_DATA_FILES, lambda s, a, now, x, d: (
        my_invoices.invoice_for_files(s, a, _invoice(s, x))), "raise"),
    # what-if of a changed configuration against the card's past transactions (issue 8)
    "services.what_if.what_if": Entry(Right.CARD_MANAGE, lambda s, a, now, x, d: what_if_service.what_if(
        s, a, now, x.card_id, spec_from_card(s, x.card_id)), "raise"),
}

SCOPED = sorted(name for name, entry in MATRIX.items() if entry.scope is not None)


# --- the tests ------------------------------------------------------------------------------------------

def test_every_function_with_an_actor_is_in_the_matrix_or_exempt():
    found = set(functions_with_an_actor())
    missing = sorted(found - set(MATRIX) - set(EXEMPT))
    assert not missing, f"Add these to MATRIX (the right they need and a call) or to EXEMPT (why): {missing}"
    assert not set(MATRIX) & set(EXEMPT)
    stale = sorted((set(MATRIX) | set(EXEMPT)) - found)
    assert not stale, f"No longer public functions with an actor: {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_refused_without_the_right_and_not_refused_with_it(session, data, clock, name):
    entry = MATRIX[name]
    for right in entry.needed:
        missing = {right, *entry.also_missing} if right is entry.right else {right}
        without = data.actor([r for r in Right if r not in missing])
        with pytest.raises(PermissionDenied) as refused:
            entry.call(session, without, clock.now(), data.home, data)
        assert f"“{right_label(right)}”" in refused.value.message  # the missing right, by its readable name
        session.rollback()
    # The same call by an actor holding only the rights it needs (and the customer numbers) passes the rights
    # check; another business rule may still say no.
    try:
        entry.call(session, data.actor(entry.needed), clock.now(), data.home, data)
    except PermissionDenied as error:
        pytest.fail(f"{name} refused an actor holding {[r.value for r in entry.needed]}: {error.message}")
    except DomainError:
        pass


@pytest.mark.parametrize("name", SCOPED)
def test_refused_for_a_customer_number_not_theirs(session, data, clock, name):
    entry = MATRIX[name]
    home_only = data.actor(list(Right), numbers=(data.home.number_id,))
    if entry.scope == "raise":
        with pytest.raises(PermissionDenied, match="customer number"):
            entry.call(session, home_only, clock.now(), data.foreign, data)
        return
    result = entry.call(session, home_only, clock.now(), data.foreign, data)
    if entry.scope == "hidden":
        assert data.foreign.card_id not in result and not result
    else:  # "per card"
        assert result and all((not r.ok) if hasattr(r, "ok") else r.outcome == "refused" for r in result)
        assert all("customer number" in r.message for r in result), [r.message for r in result]
    session.rollback()
    assert session.get(Card, data.foreign.card_id).status is CardStatus.ACTIVE  # nothing was done to it


def test_scoped_filter_refuses_a_customer_number_not_theirs(session, data):
    from store.queries.card_filter import scoped_filter

    home_only = data.actor(list(Right), numbers=(data.home.number_id,))
    with pytest.raises(PermissionDenied, match="customer number"):
        scoped_filter(session, home_only, CardFilter(customer_number_ids=(data.foreign.number_id,)))
    assert scoped_filter(session, home_only, CardFilter()).customer_number_ids == (data.home.number_id,)
