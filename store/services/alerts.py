"""Anomaly alerts by e-mail (Fiche 12 anomaly detection, Fiche 02 PASSalert), grouped into one digest per user.

A transaction import (or the simulator) stores anomalies with `notified_at` empty; `send_anomaly_alerts` then
queues, in one transaction, ONE e-mail per recipient listing all their new anomalies (a burst of 500 anomalies
is one mail, not 500), and stamps the anomalies `notified_at`. Run after every import, it sends at most one
digest per user per import run.

Who receives an anomaly of a card: an active user of the card's customer number who
- works for a customer with the anomaly-detection option, holds the right to see anomalies (`Right.ANOMALIES`)
  and switched on anomaly e-mails for that rule (or for all) in *My account > Notification settings*; or
- works for a customer with the PASSalert option, holds `Right.PASSALERT` and switched on PASSalert e-mails
  (`NotificationKind.PASSALERT`, detail = the rule or "" for all).
Anomalies of customers with neither option are left alone (not e-mailed, not stamped). Anomalies of customers
with an option are stamped even when nobody subscribed: a user who subscribes later gets the anomalies from
then on, not a backlog.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlmodel import Session

from ..i18n import N_, _, ngettext, use_language
from ..models import (
    Anomaly,
    AnomalyRule,
    Card,
    Customer,
    CustomerNumber,
    CustomerOption,
    FuelTransaction,
    NotificationKind,
    NotificationSetting,
    Right,
    TollTransaction,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from .outbox import queue_email

MAX_LINES = 50  # anomalies listed in one digest; the rest are counted ("… and 12 more")
IN_CHUNK = 500

# How a mail names each rule (English, marked; translated into the recipient's language when composed).
RULE_LABELS = {
    AnomalyRule.PRODUCT_NOT_ALLOWED: N_("product not allowed"),
    AnomalyRule.LIMIT_AMOUNT: N_("amount limit exceeded"),
    AnomalyRule.LIMIT_VOLUME: N_("volume limit exceeded"),
    AnomalyRule.FORBIDDEN_DAY: N_("forbidden day"),
    AnomalyRule.OUTSIDE_HOURS: N_("outside the allowed hours"),
    AnomalyRule.COUNTRY_NOT_ALLOWED: N_("country not allowed"),
    AnomalyRule.ABOVE_TANK_CAPACITY: N_("more than the tank capacity"),
    AnomalyRule.ODOMETER: N_("implausible odometer"),
    AnomalyRule.TOO_MANY_TRANSACTIONS: N_("too many transactions in a day"),
    AnomalyRule.PLASTIC_NOT_VALID: N_("blocked or expired card"),
    AnomalyRule.DRIVER_CODE: N_("unknown or blocked driver code"),
}
# The values of an anomaly's details worth a line in a mail, in this order.
_DETAIL_KEYS = ("product", "reason", "total", "limit", "quantity", "tank_capacity_l", "time", "date", "country",
                "odometer_km", "previous_km", "count", "max", "driver_code")


@dataclass
class AlertReport:
    anomalies: int = 0  # stamped notified
    mails: int = 0

    def __str__(self) -> str:
        return f"Anomaly alerts: {self.mails} e-mails for {self.anomalies} anomalies."


def _details(details: dict) -> str:
    return ", ".join(f"{key} {details[key]}" for key in _DETAIL_KEYS if details.get(key) not in (None, ""))


def _wanted(settings: dict[tuple[int, NotificationKind], set[str]], user_id: int, kind: NotificationKind,
            rule: AnomalyRule) -> bool:
    details = settings.get((user_id, kind), ())
    return "" in details or rule.value in details


def send_anomaly_alerts(session: Session, now: datetime) -> AlertReport:
    """Queue one digest e-mail per recipient with every anomaly not yet notified (see the module's docstring);
    commits."""
    report = AlertReport()
    customers = {}
    for customer_id, options, zone in session.execute(select(Customer.id, Customer.options, Customer.timezone)):
        options = set(options or ())
        kinds = set()
        if CustomerOption.ANOMALY_DETECTION.value in options:
            kinds.add(NotificationKind.ANOMALY)
        if CustomerOption.PASSALERT.value in options:
            kinds.add(NotificationKind.PASSALERT)
        if kinds:
            customers[customer_id] = (kinds, ZoneInfo(zone))
    if not customers:
        return report
    occurred = func.coalesce(FuelTransaction.occurred_at, TollTransaction.exit_at)
    rows = session.execute(
        select(Anomaly.id, Anomaly.rule, Anomaly.details, Anomaly.action, Card.customer_number_id, Card.number,
               Card.license_plate, Card.embossed_name, CustomerNumber.customer_id,
               FuelTransaction.occurred_at, TollTransaction.exit_at)
        .join(Card, Card.id == Anomaly.card_id)
        .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
        .outerjoin(FuelTransaction, FuelTransaction.id == Anomaly.fuel_transaction_id)
        .outerjoin(TollTransaction, TollTransaction.id == Anomaly.toll_transaction_id)
        .where(Anomaly.notified_at.is_(None), CustomerNumber.customer_id.in_(list(customers)))
        .order_by(occurred, Anomaly.id)).all()
    if not rows:
        return report
    lines: dict[int, list] = {}  # by customer number
    for row in rows:
        lines.setdefault(row.customer_number_id, []).append(row)
    users = session.execute(
        select(User, UserCustomerNumber.customer_number_id)
        .join(UserCustomerNumber, UserCustomerNumber.user_id == User.id)
        .where(UserCustomerNumber.customer_number_id.in_(list(lines)), User.status != UserStatus.DEACTIVATED)
        .order_by(User.id)).all()
    user_ids = sorted({user.id for user, _number in users})
    rights: dict[int, set[Right]] = {}
    settings: dict[tuple[int, NotificationKind], set[str]] = {}
    for start in range(0, len(user_ids), IN_CHUNK):
        chunk = user_ids[start:start + IN_CHUNK]
        for user_id, right in session.execute(select(UserRight.user_id, UserRight.right).where(
                UserRight.user_id.in_(chunk), UserRight.right.in_([Right.ANOMALIES, Right.PASSALERT]))):
            rights.setdefault(user_id, set()).add(right)
        for user_id, kind, detail in session.execute(
                select(NotificationSetting.user_id, NotificationSetting.kind, NotificationSetting.detail).where(
                    NotificationSetting.user_id.in_(chunk), NotificationSetting.enabled.is_(True),
                    NotificationSetting.kind.in_([NotificationKind.ANOMALY, NotificationKind.PASSALERT]))):
            settings.setdefault((user_id, kind), set()).add(detail)
    digests: dict[int, tuple[User, list]] = {}
    for user, number_id in users:
        kinds, zone = customers.get(user.customer_id, (set(), None))
        today = now.astimezone(zone).date() if zone else now.date()
        if (user.valid_from and today < user.valid_from) or (user.valid_until and today > user.valid_until):
            continue
        held = rights.get(user.id, set())
        mine = []
        for row in lines[number_id]:
            if row.customer_id != user.customer_id:
                continue
            if (NotificationKind.ANOMALY in kinds and Right.ANOMALIES in held
                    and _wanted(settings, user.id, NotificationKind.ANOMALY, row.rule)) or \
                    (NotificationKind.PASSALERT in kinds and Right.PASSALERT in held
                     and _wanted(settings, user.id, NotificationKind.PASSALERT, row.rule)):
                mine.append(row)
        if mine:
            digests.setdefault(user.id, (user, []))[1].extend(mine)
    for user, mine in digests.values():
        _queue_digest(session, now, user, mine, customers[user.customer_id][1])
        report.mails += 1
    ids = [row.id for row in rows]
    for start in range(0, len(ids), IN_CHUNK):
        session.execute(update(Anomaly).where(Anomaly.id.in_(ids[start:start + IN_CHUNK])).values(notified_at=now))
    report.anomalies = len(ids)
    session.commit()
    return report


def _queue_digest(session: Session, now: datetime, user: User, rows: list, zone: ZoneInfo) -> None:
    rows = sorted(rows, key=lambda r: ((r.occurred_at or r.exit_at or now), r.id))
    with use_language(user.language):  # the digest is written in its recipient's language
        subject = ngettext("{count} anomaly on your cards", "{count} anomalies on your cards", len(rows)).format(
            count=len(rows))
        body = [_("Hello {name},\n\nThe latest transactions deviate from your cards' configuration:").format(
            name=user.display_name or user.username), ""]
        blocked = _("product blocked until the period ends")
        for row in rows[:MAX_LINES]:
            moment = row.occurred_at or row.exit_at
            when = f"{moment.astimezone(zone):%d/%m/%Y %H:%M}" if moment else ""
            card = row.number or ""
            vehicle = row.license_plate or row.embossed_name
            if vehicle:
                card = f"{card} ({vehicle})"
            label = RULE_LABELS.get(row.rule)
            line = f"- {when}  {card}: {_(label) if label else row.rule.value}"
            details = _details(row.details or {})
            if details:
                line += f" ({details})"
            if row.action is not None and row.action.value == "block":
                line += f"; {blocked}"
            body.append(line)
        if len(rows) > MAX_LINES:
            body.append(_("… and {more} more.").format(more=len(rows) - MAX_LINES))
        body += ["", _("See them in Cards Online: Daily follow-up > Anomalies.")]
    queue_email(session, now, to_address=user.email, subject=subject, body="\n".join(body), language=user.language,
                user_id=user.id)
