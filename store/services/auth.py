"""Login, lockout, validity and password change (Fiche 01)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..i18n import N_, _
from ..models import Customer, CustomerNumber, CustomerOption, PasswordHistory, Right, User, UserStatus
from . import audit
from .context import Actor, actor_for
from .errors import AuthenticationFailed, DomainError, NotFound
from .passwords import HISTORY_DEPTH, dummy_verify, hash_password, policy_violations, verify_password

WRONG_CREDENTIALS = N_("Unknown user name or wrong password.")


LOCKED = N_("This account is locked after {failures} failed attempts until {until:%H:%M}. Try again later or ask "
            "an administrator to unlock it.")
DEACTIVATED = N_("This user has been deactivated. Ask your administrator.")


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lock_minutes: int = 15


@dataclass(frozen=True)
class LoginResult:
    actor: Actor
    user: User
    customer: Customer
    customer_numbers: list[CustomerNumber]
    previous_login_at: datetime | None  # before this login; None for a first login
    # Two-factor sign-in: None = logged in. "code" = the password was right but the user must still give a
    # one-time code; "setup" = an administrator requires two-factor sign-in and the user has not set it up yet.
    # Either way nothing is granted yet (the actor holds no rights): complete with `verify_second_factor`.
    second_factor: str | None = None

    @property
    def complete(self) -> bool:
        return self.second_factor is None


def local_date(customer: Customer, moment: datetime):
    return moment.astimezone(ZoneInfo(customer.timezone)).date()


def authenticate(session: Session, username: str, password: str, now: datetime,
                 policy: LoginPolicy = LoginPolicy()) -> LoginResult:
    """Check the credentials; raises AuthenticationFailed with a message fit to show.

    Unknown user and wrong password give the same message. The change (failure count, lock, last login)
    is committed here, since a failed attempt must be counted even though the login is refused.
    """
    user, customer = check_credentials(session, username, password, now, policy)
    actor = Actor(user_id=user.id, label=user.username, customer_id=user.customer_id)
    if user.totp_secret is not None or user.totp_required:
        # The password is right; the login completes with the second factor (verify_second_factor).
        return LoginResult(actor=actor, user=user, customer=customer, customer_numbers=[],
                           previous_login_at=user.last_login_at,
                           second_factor="code" if user.totp_secret is not None else "setup")
    return _complete_login(session, user, customer, now)


def check_credentials(session: Session, username: str, password: str, now: datetime,
                      policy: LoginPolicy = LoginPolicy()) -> tuple[User, Customer]:
    """The password part of a login, without logging in (no last login, no login event): also for asking the
    password again before a sensitive screen. A wrong password is counted (and committed) as a failed login;
    raises AuthenticationFailed with a message fit to show."""
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None or user.password_hash is None:
        dummy_verify(password)
        raise AuthenticationFailed(_(WRONG_CREDENTIALS))
    customer = session.get(Customer, user.customer_id)
    if user.locked_until is not None and user.locked_until > now:
        until = user.locked_until.astimezone(ZoneInfo(customer.timezone))
        raise AuthenticationFailed(_(LOCKED).format(failures=policy.max_failures, until=until))
    if not verify_password(user.password_hash, password):
        count_failed_login(session, user, now, policy, "login failed")
        raise AuthenticationFailed(_(WRONG_CREDENTIALS))
    today = local_date(customer, now)
    if user.status == UserStatus.DEACTIVATED:
        raise AuthenticationFailed(_(DEACTIVATED))
    if user.valid_from is not None and today < user.valid_from:
        raise AuthenticationFailed(_("Your access starts on {start:%d/%m/%Y}.").format(start=user.valid_from))
    if user.valid_until is not None and today > user.valid_until:
        raise AuthenticationFailed(_("Your access ended on {end:%d/%m/%Y}. Ask your administrator.").format(
            end=user.valid_until))
    return user, customer


def _complete_login(session: Session, user: User, customer: Customer, now: datetime) -> LoginResult:
    actor = Actor(user_id=user.id, label=user.username, customer_id=user.customer_id)
    previous_login_at = user.last_login_at
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "login")
    session.commit()
    actor = actor_for(session, user)
    numbers = [session.get(CustomerNumber, i) for i in actor.customer_number_ids]
    return LoginResult(actor=actor, user=user, customer=customer, customer_numbers=numbers,
                       previous_login_at=previous_login_at)


def count_failed_login(session: Session, user: User, now: datetime, policy: LoginPolicy, action: str) -> None:
    """A wrong password or one-time code: counted (and committed); the one that reaches the policy's limit locks
    the account for its minutes."""
    actor = Actor(user_id=user.id, label=user.username, customer_id=user.customer_id)
    user.failed_logins += 1
    audit.record(session, actor, now, "user", user.id, action, after={"failed_logins": user.failed_logins})
    if user.failed_logins >= policy.max_failures:
        user.locked_until = now + timedelta(minutes=policy.lock_minutes)
        user.failed_logins = 0
        audit.record(session, actor, now, "user", user.id, "locked", after={"locked_until": user.locked_until})
    session.add(user)
    session.commit()


def verify_second_factor(session: Session, pending: LoginResult, code: str, now: datetime,
                         policy: LoginPolicy = LoginPolicy(), new_secret: str | None = None) -> LoginResult:
    """Complete a login that `authenticate` left waiting for the one-time code (RFC 6238).

    For second_factor == "setup" the user confirms `new_secret` (shown to them as a provisioning URI) with a
    first code; it is stored and the login completes. A wrong code counts as a failed login (lockout); a code
    already accepted once is refused (`users.claim_totp`, `refuse_used_code`).
    """
    from .users import CODE_USED, CODE_WRONG, claim_totp, code_problem

    user = session.get(User, pending.user.id)
    if user is None or pending.second_factor is None:
        raise AuthenticationFailed(_(WRONG_CREDENTIALS))
    customer = session.get(Customer, user.customer_id)
    if user.locked_until is not None and user.locked_until > now:
        until = user.locked_until.astimezone(ZoneInfo(customer.timezone))
        raise AuthenticationFailed(_(LOCKED).format(failures=policy.max_failures, until=until))
    if user.status == UserStatus.DEACTIVATED:
        raise AuthenticationFailed(_(DEACTIVATED))
    secret = user.totp_secret
    if secret is None:
        if not new_secret:
            raise AuthenticationFailed(_("Your administrator requires two-factor sign-in: set it up first."))
        secret = new_secret
    outcome = claim_totp(session, user, secret, code, now)
    if outcome == CODE_WRONG:
        count_failed_login(session, user, now, policy, "second factor failed")
        raise AuthenticationFailed(code_problem(outcome), field="code")
    if outcome == CODE_USED:
        refuse_used_code(session, user, now)
    if user.totp_secret is None:
        user.totp_secret = secret
        user.version += 1
        audit.record(session, Actor(user_id=user.id, label=user.username, customer_id=user.customer_id), now,
                     "user", user.id, "two-factor on", after={"two_factor": True})
    return _complete_login(session, user, customer, now)


def refuse_used_code(session: Session, user: User, now: datetime) -> None:
    """A one-time code that was already accepted (`users.claim_totp` said CODE_USED): refused with a message that
    says to wait for the next code. Audited, but not counted toward the lockout: it is the user's own right code
    typed a second time within its 30 seconds (a second login, or My invoices right after the login), and
    refusing it already stops a replay; a guess that is wrong is counted."""
    from .users import CODE_USED, code_problem

    audit.record(session, Actor(user_id=user.id, label=user.username, customer_id=user.customer_id), now, "user",
                 user.id, "second factor reused")
    session.commit()
    raise AuthenticationFailed(code_problem(CODE_USED), field="code")


def password_history(session: Session, user_id: int) -> list[str]:
    rows = session.exec(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .limit(HISTORY_DEPTH)
    ).all()
    return list(rows)


def set_password(session: Session, user: User, new_password: str, now: datetime) -> None:
    """Store a new password hash and remember it in the history (the 4 latest are refused again)."""
    new_hash = hash_password(new_password)
    user.password_hash = new_hash
    user.password_changed_at = now
    user.version += 1
    session.add(user)
    session.add(PasswordHistory(user_id=user.id, password_hash=new_hash, created_at=now))


def change_password(session: Session, actor: Actor, current_password: str, new_password: str,
                    confirmation: str, now: datetime) -> None:
    """My account -> Change my password. Raises DomainError naming every rule that is broken."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound(_("User not found."))
    if not verify_password(user.password_hash, current_password):
        raise DomainError(_("The current password is wrong."), field="current")
    if new_password != confirmation:
        raise DomainError(_("The new password and its confirmation differ."), field="confirmation")
    problems = policy_violations(user.username, new_password, password_history(session, user.id))
    if problems:
        raise DomainError(" ".join(problems), field="new", problems=problems)
    set_password(session, user, new_password, now)
    audit.record(session, actor, now, "user", user.id, "password changed")
    session.commit()


# Which option a right needs besides being granted; rights not listed need no option.
RIGHT_OPTIONS: dict[Right, CustomerOption] = {
    Right.DRIVER_CODES_MANAGE: CustomerOption.DRIVER_CODES,
    Right.DRIVER_CODES_CREATE: CustomerOption.DRIVER_CODES,
    Right.TOLL_TRANSACTIONS: CustomerOption.OBU,
    Right.ANOMALIES: CustomerOption.ANOMALY_DETECTION,
    Right.REPORT_CARD_FOLLOWUP: CustomerOption.MONTHLY_REPORTS,
    Right.REPORT_CONSUMPTION: CustomerOption.MONTHLY_REPORTS,
    Right.REPORT_EXPORT: CustomerOption.MONTHLY_REPORTS,
    Right.REPORT_BUDGET: CustomerOption.MONTHLY_REPORTS,
    Right.INVOICE_DATA_FILES: CustomerOption.INVOICES_ONLINE,
    Right.INVOICE_DOWNLOAD: CustomerOption.INVOICES_ONLINE,
    Right.PASSALERT: CustomerOption.PASSALERT,
}


def usable_rights(actor: Actor, customer: Customer) -> frozenset[Right]:
    """The rights the user holds whose customer option (if any) the customer has bought."""
    options = set(customer.options or [])
    return frozenset(r for r in actor.rights if r not in RIGHT_OPTIONS or RIGHT_OPTIONS[r].value in options)
