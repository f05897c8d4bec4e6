"""The issuer's nightly run: `cardsonline issuer nightly [--now …]`, as cron runs it every night (e.g. 05:00
and 06:05 local time; running it more often does no harm).

Each piece of nightly work is one step: a function `(session, now) -> str` that does its work in its own
transaction and says in one line what it did. A step must be idempotent: a second run at the same `now` changes
nothing. Steps run in the order of `STEPS`; later nightly work is added there, one line each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlmodel import Session

from ..i18n import N_, _
from ..services.alerts import send_anomaly_alerts
from ..services.driver_codes import apply_pending_blocks
from .renewals import run_renewals

Step = Callable[[Session, datetime], str]


def pending_driver_code_blocks(session: Session, now: datetime) -> str:
    """Fiche 16: blocks of more than 5 driver codes at once take effect the next morning (06:00 local)."""
    result = apply_pending_blocks(session, now)
    return _("Driver codes blocked: {applied} (block pending for a later morning: {pending}).").format(
        applied=result.applied, pending=result.still_pending)


def renewal_campaign(session: Session, now: datetime) -> str:
    """Fiche 12: the renewal campaign's steps that are due (notices, reminders, production, activation)."""
    return str(run_renewals(session, now))


def anomaly_alerts(session: Session, now: datetime) -> str:
    """Fiche 12 / PASSalert: the digest of anomalies an import left unnotified (imported with --no-alerts, or
    a run that stopped before its alerts). Normally each import already sent them: then this sends nothing."""
    return str(send_anomaly_alerts(session, now))


# The nightly work, in order. Add later nightly work here (one step each).
STEPS: list[tuple[str, Step]] = [
    (N_("driver code blocks"), pending_driver_code_blocks),
    (N_("renewals"), renewal_campaign),
    (N_("anomaly alerts"), anomaly_alerts),
]


@dataclass
class NightlyReport:
    now: datetime
    lines: list[tuple[str, str]] = field(default_factory=list)  # (step name, what it did)

    def __str__(self) -> str:
        head = _("Nightly run at {now:%Y-%m-%d %H:%M} UTC.").format(now=self.now.astimezone(timezone.utc))
        return "\n".join([head, *(f"- {_(name)}: {text}" for name, text in self.lines)])


def run_nightly(db_or_session, now: datetime) -> NightlyReport:
    """Run every nightly step at `now` (timezone-aware). Takes a `Database` or an open `Session`."""
    report = NightlyReport(now)
    if isinstance(db_or_session, Session):
        for name, step in STEPS:
            report.lines.append((name, step(db_or_session, now)))
        return report
    with db_or_session.session() as session:
        for name, step in STEPS:
            report.lines.append((name, step(session, now)))
    return report
