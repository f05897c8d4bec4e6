"""Who gets which e-mail: a user's own notification settings, and the customer's invoice alert recipients.

*My account -> Notification settings* (Fiche 02 "Meldingen instellen", Fiche 12): each user chooses for
themselves which alerts they receive by e-mail: anomalies (all, or some kinds of anomaly rule), requests done
(the issuer produced, shipped or refused a request) and renewal notices. Right: `Right.NOTIFICATIONS`.

*My account -> Customer alert settings* (Fiche 11 "Instellingen klantenwaarschuwingen"): the users of the
customer who get an e-mail with a link when a new invoice is available. It decides about OTHER users' mail,
so it is an administrator's setting: `Right.USERS` (the right to administer users), and the customer must have
the invoices-online option (without it no invoice is ever announced).

Storage (`NotificationSetting`, one row per user, kind and detail): a saved choice is always written as an
explicit row, enabled or not, because "no row" means "never chosen" and the senders fall back to a default
then (`store.issuer.production.recipients`: requests done go to the administrators while nobody of the customer
number chose). Anomalies: the row with detail "" switched on means every rule; otherwise the rows per
`AnomalyRule` value that are switched on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlmodel import Session, select

from ..i18n import _
from ..models import (
    AnomalyRule,
    Customer,
    CustomerOption,
    NotificationKind,
    NotificationSetting,
    Right,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from . import audit
from .atomic import atomic
from .context import Actor
from .errors import DomainError, NotFound

ALL = ""  # the detail meaning "every one of this kind"
OWN_KINDS = (NotificationKind.ANOMALY, NotificationKind.REQUEST_DONE, NotificationKind.RENEWAL_NOTICE)


@dataclass(frozen=True)
class NotificationPreferences:
    """A user's own e-mail alerts."""

    anomaly_rules: frozenset[AnomalyRule] = frozenset()  # every rule = all anomalies
    requests_done: bool = False
    renewal_notices: bool = False

    @property
    def all_anomalies(self) -> bool:
        return self.anomaly_rules >= frozenset(AnomalyRule)

    def as_dict(self) -> dict:
        return {"anomalies": "all" if self.all_anomalies else sorted(rule.value for rule in self.anomaly_rules),
                "requests_done": self.requests_done, "renewal_notices": self.renewal_notices}


def _own_user(session: Session, actor: Actor) -> User:
    if actor.user_id is None:
        raise DomainError(_("Notification settings belong to a portal user; log in as that user."))
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound(_("Your user no longer exists."))
    return user


def _settings(session: Session, user_id: int, kinds: Iterable[NotificationKind]) -> list[NotificationSetting]:
    return list(session.exec(select(NotificationSetting).where(
        NotificationSetting.user_id == user_id, NotificationSetting.kind.in_(list(kinds)))
        .order_by(NotificationSetting.id)).all())


def _request_done_default(session: Session, user: User) -> bool:
    """Requests done when the user never chose: what the sender does (administrators, while nobody of their
    customer numbers chose either way)."""
    if session.exec(select(UserRight).where(UserRight.user_id == user.id, UserRight.right == Right.USERS)).first() \
            is None:
        return False
    numbers = select(UserCustomerNumber.customer_number_id).where(UserCustomerNumber.user_id == user.id)
    colleagues = select(UserCustomerNumber.user_id).where(UserCustomerNumber.customer_number_id.in_(numbers))
    chosen = session.exec(select(NotificationSetting.id).where(
        NotificationSetting.kind == NotificationKind.REQUEST_DONE,
        NotificationSetting.user_id.in_(colleagues))).first()
    return chosen is None


def _preferences(session: Session, user: User) -> NotificationPreferences:
    rows = _settings(session, user.id, OWN_KINDS)
    by_kind: dict[NotificationKind, list[NotificationSetting]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    rules: set[AnomalyRule] = set()
    for row in by_kind.get(NotificationKind.ANOMALY, []):
        if not row.enabled:
            continue
        if row.detail == ALL:
            rules = set(AnomalyRule)
            break
        try:
            rules.add(AnomalyRule(row.detail))
        except ValueError:
            continue  # a rule that no longer exists

    def switched_on(kind: NotificationKind) -> bool | None:
        kind_rows = [row for row in by_kind.get(kind, []) if row.detail == ALL]
        return kind_rows[0].enabled if kind_rows else None

    requests_done = switched_on(NotificationKind.REQUEST_DONE)
    if requests_done is None:
        requests_done = _request_done_default(session, user)
    return NotificationPreferences(frozenset(rules), requests_done,
                                   bool(switched_on(NotificationKind.RENEWAL_NOTICE)))


def get_notification_settings(session: Session, actor: Actor) -> NotificationPreferences:
    """The acting user's own e-mail alerts."""
    actor.require(Right.NOTIFICATIONS)
    try:
        return _preferences(session, _own_user(session, actor))
    finally:
        session.rollback()


def _put(session: Session, existing: dict[tuple[NotificationKind, str], NotificationSetting], user_id: int,
         kind: NotificationKind, detail: str, enabled: bool) -> None:
    row = existing.pop((kind, detail), None)
    if row is None:
        row = NotificationSetting(user_id=user_id, kind=kind, detail=detail, enabled=enabled)
    row.enabled = enabled
    session.add(row)


@atomic
def set_notification_settings(session: Session, actor: Actor, now: datetime,
                              preferences: NotificationPreferences) -> NotificationPreferences:
    """Save the acting user's own e-mail alerts (each choice as an explicit row, on or off)."""
    actor.require(Right.NOTIFICATIONS)
    user = _own_user(session, actor)
    unknown = [rule for rule in preferences.anomaly_rules if not isinstance(rule, AnomalyRule)]
    if unknown:
        raise DomainError(_("Unknown kind of anomaly: {kinds}. Choose among the listed kinds.").format(
            kinds=", ".join(map(str, unknown))))
    before = _preferences(session, user)
    existing = {(row.kind, row.detail): row for row in _settings(session, user.id, OWN_KINDS)}
    if preferences.all_anomalies:
        _put(session, existing, user.id, NotificationKind.ANOMALY, ALL, True)
    else:
        _put(session, existing, user.id, NotificationKind.ANOMALY, ALL, False)
        for rule in sorted(preferences.anomaly_rules, key=lambda r: r.value):
            _put(session, existing, user.id, NotificationKind.ANOMALY, rule.value, True)
    _put(session, existing, user.id, NotificationKind.REQUEST_DONE, ALL, preferences.requests_done)
    _put(session, existing, user.id, NotificationKind.RENEWAL_NOTICE, ALL, preferences.renewal_notices)
    for row in existing.values():  # per-rule anomaly rows no longer chosen
        session.delete(row)
    session.flush()
    after = _preferences(session, user)
    if after != before:
        audit.record(session, actor, now, "user", user.id, "notification settings changed",
                     before=before.as_dict(), after=after.as_dict())
    return after


def wants_email(session: Session, user_id: int, kind: NotificationKind, detail: str = ALL) -> bool:
    """Whether the user switched on e-mails of `kind` (for an anomaly: of the rule `detail`). Senders use it;
    a kind never chosen counts as off (a sender with another default decides that itself)."""
    rows = _settings(session, user_id, [kind])
    return any(row.enabled and row.detail in (ALL, detail) for row in rows)


# --- customer alert settings (Fiche 11) ------------------------------------------------------------------

@dataclass(frozen=True)
class AlertCandidate:
    user_id: int
    username: str
    name: str
    email: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.username})"


@dataclass(frozen=True)
class InvoiceAlerts:
    candidates: tuple[AlertCandidate, ...]  # the customer's users who may receive it, by name
    recipients: tuple[int, ...]  # the user ids who do, in the order of `candidates`


def _customer_with_invoices(session: Session, actor: Actor) -> Customer:
    actor.require(Right.USERS)
    customer = session.get(Customer, actor.customer_id) if actor.customer_id is not None else None
    if customer is None:
        raise NotFound(_("Customer not found."))
    if CustomerOption.INVOICES_ONLINE.value not in (customer.options or []):
        raise DomainError(_("Your company does not have the invoices-online option, so no invoice is announced by "
                            "e-mail. Ask your contact person at the issuer for the option."))
    return customer


def _candidates(session: Session, customer_id: int) -> list[User]:
    return list(session.exec(select(User).where(User.customer_id == customer_id,
                                                User.status != UserStatus.DEACTIVATED)
                             .order_by(User.last_name, User.first_name, User.username)).all())


def _invoice_recipient_ids(session: Session, user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    rows = session.exec(select(NotificationSetting).where(
        NotificationSetting.user_id.in_(user_ids), NotificationSetting.kind == NotificationKind.INVOICE_AVAILABLE,
        NotificationSetting.detail == ALL)).all()
    return {row.user_id for row in rows if row.enabled}


def _alerts(session: Session, customer: Customer) -> InvoiceAlerts:
    users = _candidates(session, customer.id)
    chosen = _invoice_recipient_ids(session, [user.id for user in users])
    candidates = tuple(AlertCandidate(u.id, u.username, u.display_name or u.username, u.email) for u in users)
    return InvoiceAlerts(candidates, tuple(c.user_id for c in candidates if c.user_id in chosen))


def get_invoice_alerts(session: Session, actor: Actor) -> InvoiceAlerts:
    """The customer's users, and those who get an e-mail when a new invoice is available."""
    try:
        return _alerts(session, _customer_with_invoices(session, actor))
    finally:
        session.rollback()


@atomic
def set_invoice_alerts(session: Session, actor: Actor, now: datetime, user_ids: Iterable[int]) -> InvoiceAlerts:
    """Exactly these users of the customer get the new-invoice e-mail; the others no longer do."""
    customer = _customer_with_invoices(session, actor)
    users = {user.id: user for user in _candidates(session, customer.id)}
    wanted = {int(user_id) for user_id in user_ids}
    strangers = wanted - set(users)
    if strangers:
        raise DomainError(_("Only active users of your company can receive invoice alerts: refresh the list and "
                            "choose again."))
    before = _alerts(session, customer)
    rows = {row.user_id: row for row in session.exec(select(NotificationSetting).where(
        NotificationSetting.user_id.in_(list(users)), NotificationSetting.kind == NotificationKind.INVOICE_AVAILABLE,
        NotificationSetting.detail == ALL)).all()}
    for user_id in users:
        enabled = user_id in wanted
        row = rows.get(user_id)
        if row is None:
            if not enabled:
                continue  # never chosen stays "no row": nothing to switch off
            row = NotificationSetting(user_id=user_id, kind=NotificationKind.INVOICE_AVAILABLE, detail=ALL)
        if row.id is not None and row.enabled == enabled:
            continue
        row.enabled = enabled
        session.add(row)
    session.flush()
    after = _alerts(session, customer)
    if after.recipients != before.recipients:
        audit.record(session, actor, now, "customer", customer.id, "invoice alerts changed",
                     before={"recipients": [users[i].username for i in before.recipients]},
                     after={"recipients": [users[i].username for i in after.recipients]}, customer_id=customer.id)
    return after


def invoice_recipients(session: Session, customer_id: int) -> list[User]:
    """Who gets the e-mail with a link when a new invoice of `customer_id` is available (for the sender)."""
    users = _candidates(session, customer_id)
    chosen = _invoice_recipient_ids(session, [user.id for user in users])
    return [user for user in users if user.id in chosen]
