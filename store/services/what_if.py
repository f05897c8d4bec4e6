"""What-if (issue 8): a changed limit or control, replayed against a card's last N months of transactions.

Before saving a change, the user sees which past transactions the new configuration would have refused (a
finding with the action *block*: a block limit exceeded, or a product the card would not carry) or reported
(*notify*), with totals, next to the same totals under the current configuration. It runs the anomaly rules of
the import (store.issuer.anomaly_rules) on the card's own history and changes nothing.

Replay rules: the transactions since local midnight of the same day N months back up to `now`, in time order; the history before that start (the running period, the last odometer reading) is read too, so the first
transactions are judged like the others. A refused transaction would not have happened, so it does not count
toward later period sums; a block limit exceeded blocks the product for the rest of its period, as it would
have. Only the configuration's rules are replayed: the plastic's validity and driver codes do not depend on
it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from ..i18n import _
from ..issuer.anomaly_rules import CardConfig, CardHistory, Finding, Limit, Tx, check_transaction
from ..models import Card, FuelTransaction, LimitAction, Product, Right, TollTransaction
from .bulk import BulkParams, template_spec
from .card_specs import CardSpec, FieldProblem, InvalidSpec, _check_controls, _check_limits
from .cards import spec_from_card
from .context import Actor
from .errors import DomainError, NotFound
from .renewals import months_before

MAX_MONTHS = 24


@dataclass(frozen=True)
class WhatIfItem:
    """One past transaction the changed configuration would have refused or reported."""

    transaction_id: int
    toll: bool
    occurred_at: datetime
    product: Product
    quantity: Decimal
    amount: Decimal  # including VAT
    outcome: str  # "refused" or "reported"
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class WhatIfTotals:
    transactions: int = 0
    refused: int = 0
    reported: int = 0
    refused_amount: Decimal = Decimal("0.00")
    reported_amount: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class WhatIfReport:
    card_id: int
    since: datetime
    until: datetime
    items: tuple[WhatIfItem, ...] = ()  # under the changed configuration, in time order
    totals: WhatIfTotals = field(default_factory=WhatIfTotals)  # the changed configuration
    current: WhatIfTotals = field(default_factory=WhatIfTotals)  # the card's configuration as it is


def _config_from_spec(base: CardConfig, spec: CardSpec) -> CardConfig:
    controls = spec.controls
    return base.with_settings(
        limits=[Limit(l.product, l.allowed, l.amount, l.volume, l.period, l.action) for l in spec.limits],
        allowed_weekdays=controls.allowed_weekdays, hours_from=controls.hours_from, hours_to=controls.hours_to,
        forbidden_days=controls.forbidden_days, allowed_countries=controls.allowed_countries,
        tank_capacity_l=controls.tank_capacity_l, odometer_prompt=controls.odometer_prompt,
        max_transactions_per_day=controls.max_transactions_per_day)


def _transactions(session: Session, card_id: int, obu: bool, since: datetime, until: datetime) -> list[tuple]:
    if obu:
        t = TollTransaction.__table__.c
        rows = session.execute(select(t.id, t.exit_at, t.amount_incl_vat, t.country)
                               .where(t.card_id == card_id, t.exit_at >= since, t.exit_at <= until)
                               .order_by(t.exit_at, t.id)).all()
        return [(row.id, Tx(row.exit_at, Product.TOLLS, row.amount_incl_vat, country=row.country, toll=True))
                for row in rows]
    f = FuelTransaction.__table__.c
    rows = session.execute(select(f.id, f.occurred_at, f.product, f.quantity, f.amount_incl_vat, f.country,
                                  f.odometer_km, f.driver_code, f.rank)
                           .where(f.card_id == card_id, f.occurred_at >= since, f.occurred_at <= until)
                           .order_by(f.occurred_at, f.id)).all()
    return [(row.id, Tx(row.occurred_at, row.product, row.amount_incl_vat, row.quantity, row.country,
                        row.odometer_km, row.driver_code, row.rank)) for row in rows]


def _replay(session: Session, config: CardConfig, transactions: list[tuple], since: datetime
            ) -> tuple[list[WhatIfItem], WhatIfTotals]:
    from ..issuer.transactions_import import load_histories

    start = config.history_start(since)
    histories = load_histories(session, {config.card_id: config}, {config.card_id: start} if start else {},
                               {config.card_id: since} if config.odometer_prompt else {}, until=since)
    history = histories.get(config.card_id) or CardHistory()
    items: list[WhatIfItem] = []
    refused = reported = 0
    refused_amount = reported_amount = Decimal("0.00")
    for transaction_id, tx in transactions:
        findings = check_transaction(tx, config, history, configuration_only=True)
        refuse = any(finding.action is LimitAction.BLOCK for finding in findings)
        history.record(tx, findings, counts=not refuse)
        if not findings:
            continue
        if refuse:
            refused, refused_amount = refused + 1, refused_amount + tx.amount
        else:
            reported, reported_amount = reported + 1, reported_amount + tx.amount
        items.append(WhatIfItem(transaction_id, tx.toll, tx.occurred_at, tx.product, tx.quantity, tx.amount,
                                "refused" if refuse else "reported", tuple(findings)))
    return items, WhatIfTotals(len(transactions), refused, reported, refused_amount, reported_amount)


def what_if(session: Session, actor: Actor, now: datetime, card_id: int, config: CardSpec | BulkParams, *,
            months: int = 3) -> WhatIfReport:
    """Replay the card's last `months` months of transactions against `config` (the card form's spec, or a
    template's limits and controls laid over the card's own settings); see the module's docstring.
    Changes nothing."""
    actor.require(Right.CARD_MANAGE)
    try:
        card = session.get(Card, card_id)
        if card is None:
            raise NotFound(_("This card or OBU does not exist."))
        actor.require_customer_number(card.customer_number_id)
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
            raise DomainError(_("Replay between 1 and {maximum} months of transactions.").format(maximum=MAX_MONTHS),
                              field="months")
        spec = template_spec(spec_from_card(session, card_id), config) if isinstance(config, BulkParams) else config
        problems: list[FieldProblem] = []

        def add(field_path: str, message: str) -> None:
            problems.append(FieldProblem(field_path, message))

        _check_controls(spec.controls, add)
        _check_limits(spec.limits, add)
        if problems:
            raise InvalidSpec(problems)
        from ..issuer.transactions_import import CustomerZones, load_card_configs

        _number, current = load_card_configs(session, CustomerZones(session), ids=[card_id])[card_id]
        changed = _config_from_spec(current, spec)
        local_today = now.astimezone(current.zone).date()
        since = datetime.combine(months_before(local_today, months), time(0), current.zone).astimezone(timezone.utc)
        transactions = _transactions(session, card_id, current.is_obu, since, now)
        items, totals = _replay(session, changed, transactions, since)
        _items, before = _replay(session, current, transactions, since)
        return WhatIfReport(card_id, since, now, tuple(items), totals, before)
    finally:
        session.rollback()  # a read: nothing to keep, no transaction left open
