"""Daily follow-up → Anomalies: acknowledge anomalies, one or several at once, with an optional comment.

Acknowledging says "seen, dealt with": the anomaly leaves the list of new anomalies; it keeps who acknowledged
it and when. It never blocks or unblocks a card (jump to the card for that: Manage cards, Block).

Acknowledging an anomaly that is acknowledged already keeps who acknowledged it first and when; with a comment it
replaces the comment (audited as "comment changed"), without one it is left as it is and counted as unchanged.
So pressing the key twice does no harm, and a comment can be corrected afterwards.

The whole selection is one transaction with one audit event per changed anomaly. A selection holding an anomaly
of a customer number the actor may not act for is refused as a whole: nothing is acknowledged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlmodel import Session, select

from ..i18n import _, ngettext
from ..models import Anomaly, AnomalyStatus, Card, CustomerNumber, Right
from . import audit
from .atomic import atomic
from .context import Actor
from .errors import DomainError, NotFound, PermissionDenied

COMMENT_MAX: int = Anomaly.__table__.c.comment.type.length  # 400


@dataclass(frozen=True)
class AcknowledgeResult:
    acknowledged: int  # new anomalies now acknowledged
    comments_changed: int  # acknowledged already: their comment was replaced
    unchanged: int  # acknowledged already, no comment given: left as they were

    @property
    def total(self) -> int:
        return self.acknowledged + self.comments_changed + self.unchanged


def clean_comment(comment: str | None) -> str | None:
    """The comment as stored: spaces trimmed, None when empty; refused when longer than COMMENT_MAX."""
    text = " ".join((comment or "").split())
    if len(text) > COMMENT_MAX:
        raise DomainError(_("The comment has {count} characters; at most {maximum} are allowed. Shorten it.").format(
            count=len(text), maximum=COMMENT_MAX), field="comment")
    return text or None


def _anomalies_for_update(session: Session, actor: Actor, anomaly_ids: Iterable[int]) -> list[tuple[Anomaly, Card]]:
    wanted = sorted(set(anomaly_ids))
    if not wanted:
        raise DomainError(_("Select at least one anomaly (space bar marks it), then acknowledge."))
    rows = list(session.exec(
        select(Anomaly, Card).join(Card, Card.id == Anomaly.card_id).where(Anomaly.id.in_(wanted))
        .order_by(Anomaly.id).with_for_update(of=Anomaly).execution_options(populate_existing=True)).all())
    if len(rows) != len(wanted):
        missing = len(wanted) - len(rows)
        raise NotFound(ngettext("{count} of the selected anomalies does not exist (any more): refresh the list and "
                                "select again.",
                                "{count} of the selected anomalies do not exist (any more): refresh the list and "
                                "select again.", missing).format(count=missing))
    if not actor.is_issuer:
        foreign = [a for a, card in rows if card.customer_number_id not in actor.customer_number_ids]
        if foreign:
            raise PermissionDenied(ngettext(
                "{count} of the selected anomalies belongs to a customer number you may not act for; nothing was "
                "acknowledged.",
                "{count} of the selected anomalies belong to a customer number you may not act for; nothing was "
                "acknowledged.", len(foreign)).format(count=len(foreign)))
    return rows


@atomic
def acknowledge_anomalies(session: Session, actor: Actor, now: datetime, anomaly_ids: Iterable[int],
                          comment: str | None = None) -> AcknowledgeResult:
    """Acknowledge the selected anomalies with an optional comment (see the module's docstring for anomalies
    acknowledged already). Returns how many were acknowledged, had their comment changed, or stayed as they were.
    """
    actor.require(Right.ANOMALIES)
    text = clean_comment(comment)
    rows = _anomalies_for_update(session, actor, anomaly_ids)
    acknowledged = changed = unchanged = 0
    customers: dict[int, int] = {}
    for anomaly, card in rows:
        customer_id = customers.get(card.customer_number_id)
        if customer_id is None:
            customer_id = session.get(CustomerNumber, card.customer_number_id).customer_id
            customers[card.customer_number_id] = customer_id
        before = {"status": anomaly.status, "comment": anomaly.comment}
        if anomaly.status is AnomalyStatus.NEW:
            anomaly.status = AnomalyStatus.ACKNOWLEDGED
            anomaly.acknowledged_by_id = actor.user_id
            anomaly.acknowledged_at = now
            anomaly.comment = text
            action = "acknowledged"
            acknowledged += 1
        elif text is not None and text != anomaly.comment:
            anomaly.comment = text
            action = "comment changed"
            changed += 1
        else:
            unchanged += 1
            continue
        session.add(anomaly)
        audit.record(session, actor, now, "anomaly", anomaly.id, action, before=before,
                     after={"status": anomaly.status, "comment": anomaly.comment, "rule": anomaly.rule,
                            "card": card.number or card.license_plate or card.embossed_name,
                            "selected": len(rows)},
                     customer_id=customer_id)
    return AcknowledgeResult(acknowledged=acknowledged, comments_changed=changed, unchanged=unchanged)
