"""Users of a customer (Fiche 10): create with an invitation, first login, search, change, deactivate;
two-factor sign-in (RFC 6238 time-based one-time passwords).

Rules decided here (the guide is silent on them):
- **User name.** The administrator may give one (3-60 characters: lower-case letters, digits, `.`, `_`,
  `-`); when left empty it is derived from the names: first letter of the first name + the last name,
  lower case, accents and other characters dropped (AN PEETERS -> `apeeters`), with 2, 3 … appended when
  that name is taken. The invitation e-mail tells the user their user name.
- **Names** are stored in capitals (NAAM and VOORNAAM "in drukletters"); the screen shows them in capitals
  while the administrator types. The first-login challenge compares with what is stored, exactly (case,
  spelling, accents): the new user types NAME and FIRST NAME in capitals as the administrator entered them,
  and the phone number as entered. Only spaces before and after are ignored.
- **Phone**: exactly 10 characters, no spaces: digits, optionally a leading `+`.
- **Rights and customer numbers**: an administrator may only grant rights they hold themselves, and only
  customer numbers of their own customer that they may act for themselves (no escalation). A user needs at
  least one customer number.
- **Administrators** are users holding Right.USERS. An administrator cannot remove their own USERS right
  nor deactivate themselves; the last *active* administrator of a customer (status active and inside their
  validity period) can never lose the right, be deactivated or get a validity that has ended.
- **Invitation**: sent at once (outbox) on creation; three wrong first-login attempts lock it until an
  administrator resends it (which resets the count and invalidates an earlier half-finished first login).
- **Two-factor**: a user turns it on by confirming a first code for a fresh secret (the secret is kept by
  the caller between the two steps, and stored only when confirmed); turning it off needs a valid code,
  and is refused while an administrator requires it. An administrator can require it (the user then sets it
  up at their next login before entering) and can reset it for a user who lost their device. Every code is
  accepted once only, wherever it is typed (login, My invoices, turning it on or off): `claim_totp` records its
  time step and refuses that step and earlier ones afterwards.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import update
from sqlmodel import Session, col, func, or_, select

from ..i18n import N_, _, ngettext, use_language
from ..models import Customer, CustomerNumber, Right, User, UserCustomerNumber, UserRight, UserStatus
from . import audit
from .atomic import atomic
from .auth import local_date, password_history, set_password
from .context import Actor
from .errors import AuthenticationFailed, DomainError, NotFound, PermissionDenied, StaleObject
from .labels import right_label
from .outbox import queue_email
from .passwords import policy_violations

MAX_INVITATION_FAILURES = 3
PHONE_LENGTH = 10
LANGUAGES = ("nl", "fr", "en")
TOTP_ISSUER = "Cards Online"
TOTP_DIGITS = 6

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_PHONE = re.compile(r"^\+?[0-9]+$")
_USERNAME = re.compile(r"^[a-z0-9._-]{3,60}$")

CHALLENGE_FAILED = N_("The details do not match the invitation. Type your user name, then NAME, FIRST NAME and "
                      "phone number exactly as your administrator entered them (capitals, spelling).")


# Values ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserRow:
    """One user as the search shows it."""

    id: int
    username: str
    last_name: str
    first_name: str
    email: str
    phone: str
    language: str
    status: UserStatus
    valid_from: date | None
    valid_until: date | None
    locked: bool  # locked out after failed logins (until locked_until)
    locked_until: datetime | None
    invitation_locked: bool  # three wrong first-login attempts
    two_factor_on: bool
    two_factor_required: bool
    rights: frozenset[Right]
    customer_number_ids: tuple[int, ...]
    version: int

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class FirstLoginTicket:
    """The invited user answered the challenge; they may now choose a password (complete_first_login)."""

    user_id: int
    username: str
    invitation_sent_at: datetime | None


# Validation -----------------------------------------------------------------------------------------

def _problem(problems: list[tuple[str, str]], field: str, message: str) -> None:
    problems.append((field, message))


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise DomainError(" ".join(m for _f, m in problems), field=problems[0][0], problems=[m for _f, m in problems])


def normalise_name(value: str) -> str:
    """NAME / FIRST NAME as stored: in capitals, spaces around removed."""
    return (value or "").strip().upper()


def _check_names(problems, last_name: str, first_name: str) -> None:
    if not last_name:
        _problem(problems, "last_name", _("Type the user's NAME."))
    elif len(last_name) > 80:
        _problem(problems, "last_name", _("The NAME has at most 80 characters."))
    if not first_name:
        _problem(problems, "first_name", _("Type the user's FIRST NAME."))
    elif len(first_name) > 80:
        _problem(problems, "first_name", _("The FIRST NAME has at most 80 characters."))


def _check_email(problems, email: str) -> None:
    if not email:
        _problem(problems, "email", _("Type the user's e-mail address: the invitation is sent there."))
    elif len(email) > 200 or not _EMAIL.match(email):
        _problem(problems, "email",
                 _("'{email}' is not a valid e-mail address; write it as name@company.com.").format(email=email))


def _check_phone(problems, phone: str) -> None:
    if not phone:
        _problem(problems, "phone", _("Type the user's phone number (10 characters, no spaces)."))
    elif any(c.isspace() for c in phone):
        _problem(problems, "phone", _("Write the phone number without spaces (10 characters, e.g. 0470123456)."))
    elif len(phone) != PHONE_LENGTH:
        _problem(problems, "phone", _("The phone number must have exactly {length} characters (it has {count}), "
                                      "e.g. 0470123456.").format(length=PHONE_LENGTH, count=len(phone)))
    elif not _PHONE.match(phone):
        _problem(problems, "phone", _("The phone number may hold only digits (and a leading +)."))


def _check_validity(problems, valid_from: date | None, valid_until: date | None, today: date) -> None:
    if valid_from and valid_until and valid_from > valid_until:
        _problem(problems, "valid_until", _("The validity ends ({end:%d/%m/%Y}) before it starts ({start:%d/%m/%Y}); "
                                            "pick an end on or after the start.").format(end=valid_until,
                                                                                         start=valid_from))
    elif valid_until and valid_until < today:
        _problem(problems, "valid_until", _("The validity end {end:%d/%m/%Y} is in the past; pick today or a later "
                                            "day, or leave it empty.").format(end=valid_until))


def _check_language(problems, language: str) -> None:
    if language not in LANGUAGES:
        _problem(problems, "language", _("Choose the language among {languages}.").format(
            languages=", ".join(LANGUAGES)))


def _rights_of(values: Iterable[Right | str]) -> set[Right]:
    rights = set()
    for value in values:
        try:
            rights.add(value if isinstance(value, Right) else Right(value))
        except ValueError as exc:
            raise DomainError(_("'{value}' is not an application of the portal.").format(value=value),
                              field="rights") from exc
    return rights


def _check_grantable_rights(actor: Actor, rights: set[Right], already: set[Right] = frozenset()) -> None:
    """An administrator may only hand out rights they hold (those the user already had may stay)."""
    if actor.is_issuer:
        return
    extra = sorted(rights - set(actor.rights) - set(already), key=lambda r: r.value)
    if extra:
        raise PermissionDenied(_("You cannot grant rights you do not hold yourself: {rights}.").format(
            rights=", ".join(f"“{right_label(r)}”" for r in extra)))


def _check_numbers(session: Session, actor: Actor, customer_id: int, number_ids: set[int],
                   already: set[int] = frozenset()) -> None:
    if not number_ids:
        raise DomainError(_("Tick at least one customer number the user may act for."), field="customer_numbers")
    rows = session.exec(select(CustomerNumber).where(col(CustomerNumber.id).in_(number_ids))).all()
    found = {n.id for n in rows if n.customer_id == customer_id}
    if found != number_ids:
        raise PermissionDenied(_("One of the customer numbers is not yours; choose among your own."))
    if not actor.is_issuer:
        foreign = number_ids - set(actor.customer_number_ids) - set(already)
        if foreign:
            raise PermissionDenied(_("You may only give access to customer numbers you may act for yourself."))


def derive_username(session: Session, last_name: str, first_name: str) -> str:
    def ascii_lower(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return re.sub(r"[^a-z0-9]", "", plain.lower())

    base = (ascii_lower(first_name)[:1] + ascii_lower(last_name))[:55] or "user"
    if len(base) < 3:
        base = (base + "user")[:55]
    candidate, n = base, 1
    while session.exec(select(User.id).where(User.username == candidate)).first() is not None:
        n += 1
        candidate = f"{base}{n}"
    return candidate


# Reading --------------------------------------------------------------------------------------------

def _rights(session: Session, user_id: int) -> set[Right]:
    return set(session.exec(select(UserRight.right).where(UserRight.user_id == user_id)).all())


def _numbers(session: Session, user_id: int) -> set[int]:
    return set(session.exec(select(UserCustomerNumber.customer_number_id)
                            .where(UserCustomerNumber.user_id == user_id)).all())


def _row(session: Session, user: User, now: datetime) -> UserRow:
    numbers = session.exec(
        select(CustomerNumber.id).join(UserCustomerNumber, UserCustomerNumber.customer_number_id == CustomerNumber.id)
        .where(UserCustomerNumber.user_id == user.id).order_by(CustomerNumber.number)).all()
    return UserRow(
        id=user.id, username=user.username, last_name=user.last_name, first_name=user.first_name, email=user.email,
        phone=user.phone, language=user.language, status=user.status, valid_from=user.valid_from,
        valid_until=user.valid_until, locked=user.locked_until is not None and user.locked_until > now,
        locked_until=user.locked_until,
        invitation_locked=user.status == UserStatus.INVITED and user.invitation_failures >= MAX_INVITATION_FAILURES,
        two_factor_on=user.totp_secret is not None, two_factor_required=user.totp_required,
        rights=frozenset(_rights(session, user.id)), customer_number_ids=tuple(numbers), version=user.version)


def _user_of_customer(session: Session, actor: Actor, user_id: int, *, for_update: bool = True) -> User:
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = session.exec(query).first()
    if user is None or (not actor.is_issuer and user.customer_id != actor.customer_id):
        raise NotFound(_("This user does not exist (any more) in your company."))
    return user


def get_user(session: Session, actor: Actor, now: datetime, user_id: int) -> UserRow:
    actor.require(Right.USERS)
    return _row(session, _user_of_customer(session, actor, user_id, for_update=False), now)


# At most this many users in one search result: a customer has tens of users, a large one a few hundred;
# the screen asks for one more to know, and say, when more match (narrow the search then).
USER_SEARCH_LIMIT = 500


def search_users(session: Session, actor: Actor, now: datetime, *, name: str = "", email: str = "",
                 right: Right | str | None = None, status: UserStatus | str | None = None,
                 limit: int = USER_SEARCH_LIMIT) -> list[UserRow]:
    """The customer's users matching every criterion given (name, user name or e-mail: contains, any case),
    the first `limit` by name."""
    actor.require(Right.USERS)
    query = select(User).where(User.customer_id == actor.customer_id)
    if name.strip():
        needle = f"%{name.strip().lower()}%"
        query = query.where(or_(func.lower(User.last_name).like(needle), func.lower(User.first_name).like(needle),
                                func.lower(User.username).like(needle),
                                func.lower(User.first_name + " " + User.last_name).like(needle)))
    if email.strip():
        query = query.where(func.lower(User.email).like(f"%{email.strip().lower()}%"))
    if right:
        wanted = right if isinstance(right, Right) else Right(right)
        query = query.where(col(User.id).in_(select(UserRight.user_id).where(UserRight.right == wanted)))
    if status:
        query = query.where(User.status == (status if isinstance(status, UserStatus) else UserStatus(status)))
    users = session.exec(query.order_by(User.last_name, User.first_name, User.id).limit(limit)).all()
    return [_row(session, u, now) for u in users]


# Administrators -------------------------------------------------------------------------------------

def _is_active_admin(session: Session, user: User, today: date, rights: set[Right] | None = None) -> bool:
    rights = _rights(session, user.id) if rights is None else rights
    return (Right.USERS in rights and user.status == UserStatus.ACTIVE
            and (user.valid_from is None or user.valid_from <= today)
            and (user.valid_until is None or user.valid_until >= today))


def _other_active_admins(session: Session, user: User, today: date) -> int:
    others = session.exec(
        select(User).where(User.customer_id == user.customer_id, User.id != user.id,
                           User.status == UserStatus.ACTIVE,
                           col(User.id).in_(select(UserRight.user_id).where(UserRight.right == Right.USERS)))
    ).all()
    return sum(1 for other in others if _is_active_admin(session, other, today, {Right.USERS}))


def _guard_last_admin(session: Session, user: User, today: date, message: str) -> None:
    """`message`: an N_ sentence with {name}, what the last administrator cannot do."""
    if _is_active_admin(session, user, today) and _other_active_admins(session, user, today) == 0:
        raise DomainError(_(message).format(name=user.display_name))


# Mails ----------------------------------------------------------------------------------------------

# The e-mails, in English (the source); `_mail_*` translate them into the recipient's language.
INVITATION_SUBJECT = N_("Your access to Cards Online")
INVITATION_BODY = N_(
    "Hello,\n\n{admin} has given you access to Cards Online for {customer}.\n\n"
    "Your user name: {username}\n\n"
    "To log in the first time, choose \"First login with an invitation\" on the login screen and type "
    "your NAME, FIRST NAME and phone number exactly as your administrator entered them (in capitals). "
    "Then choose your password.\n\n"
    "After three wrong attempts the invitation is locked; your administrator can send it again.\n")
CHANGED_SUBJECT = N_("Your Cards Online profile has changed")
CHANGED_BODY = N_("Hello,\n\n{actor} changed your Cards Online profile ({username}):\n\n{changes}\n\n"
                  "If you did not expect this, contact your administrator.\n")

_CHANGES = {
    "rights": N_("Your applications: {value}"),
    "validity": N_("Your access: {value}"),
    "customer_numbers": N_("Your customer numbers: {value}"),
    "deactivated": N_("Your access has been deactivated."),
    "unlocked": N_("Your account has been unlocked; you can log in again."),
    "2fa_required": N_("Two-factor sign-in is now required: you will set it up at your next login."),
    "2fa_not_required": N_("Two-factor sign-in is no longer required."),
    "2fa_on": N_("Two-factor sign-in has been turned on."),
    "2fa_off": N_("Two-factor sign-in has been turned off."),
    "2fa_reset": N_("Your two-factor sign-in has been reset; set it up again at your next login if required."),
}


def _validity_text(user: User) -> str:
    start = f"{user.valid_from:%d/%m/%Y}" if user.valid_from else "…"
    end = f"{user.valid_until:%d/%m/%Y}" if user.valid_until else "…"
    return f"{start} - {end}"


def _mail_invitation(session: Session, actor: Actor, now: datetime, user: User) -> None:
    customer = session.get(Customer, user.customer_id)
    with use_language(user.language):  # in the recipient's language
        subject = _(INVITATION_SUBJECT)
        body = _(INVITATION_BODY).format(admin=actor.label, customer=customer.name if customer else "",
                                         username=user.username)
    queue_email(session, now, to_address=user.email, subject=subject, body=body, language=user.language,
                user_id=user.id)


def _rights_text(rights: Iterable[Right]) -> str:
    """The rights by their readable names in the current language, in the order the users screen lists them."""
    order = list(Right)
    return ", ".join(right_label(right) for right in sorted(rights, key=order.index)) or "-"


def _mail_change(session: Session, actor: Actor, now: datetime, user: User,
                 changes: list[tuple[str, str | frozenset[Right]]]) -> None:
    """`changes`: (key of _CHANGES, value); the value of "rights" is the set of rights, named here, in the
    recipient's language."""
    with use_language(user.language):  # in the recipient's language
        lines = [_(_CHANGES[key]).format(value=_rights_text(value) if key == "rights" else value)
                 for key, value in changes]
        subject = _(CHANGED_SUBJECT)
        body = _(CHANGED_BODY).format(actor=actor.label, username=user.username, changes="\n".join(lines))
    queue_email(session, now, to_address=user.email, subject=subject, body=body, language=user.language,
                user_id=user.id)


def _number_text(session: Session, ids: Iterable[int]) -> str:
    rows = session.exec(select(CustomerNumber).where(col(CustomerNumber.id).in_(list(ids)))
                        .order_by(CustomerNumber.number)).all()
    return ", ".join(n.number for n in rows)


def _check_version(user: User, version: int | None) -> None:
    if version is not None and version != user.version:
        raise StaleObject(_("{name} was changed by someone else meanwhile. Look at the user again and redo your "
                            "change.").format(name=user.display_name))


def _today(session: Session, customer_id: int, now: datetime) -> date:
    customer = session.get(Customer, customer_id)
    return local_date(customer, now) if customer else now.date()


# Create ---------------------------------------------------------------------------------------------

@atomic
def create_user(session: Session, actor: Actor, now: datetime, *, last_name: str, first_name: str, email: str,
                phone: str, rights: Iterable[Right | str] = (), customer_number_ids: Iterable[int] = (),
                valid_from: date | None = None, valid_until: date | None = None, language: str | None = None,
                username: str | None = None) -> UserRow:
    """My account -> Create a user; the invitation e-mail is queued in the same transaction."""
    actor.require(Right.USERS)
    if actor.customer_id is None:
        raise PermissionDenied(_("Only a user of a customer can create users."))
    customer = session.get(Customer, actor.customer_id)
    last_name, first_name = normalise_name(last_name), normalise_name(first_name)
    email, phone = (email or "").strip(), (phone or "").strip()
    language = (language or (customer.language if customer else "nl")).strip().lower()
    today = _today(session, actor.customer_id, now)
    problems: list[tuple[str, str]] = []
    _check_names(problems, last_name, first_name)
    _check_email(problems, email)
    _check_phone(problems, phone)
    _check_validity(problems, valid_from, valid_until, today)
    _check_language(problems, language)
    username = (username or "").strip().lower()
    if username:
        if not _USERNAME.match(username):
            _problem(problems, "username", _("A user name has 3 to 60 characters: lower-case letters, digits, "
                                             "'.', '_' or '-'. Leave it empty to derive it from the names."))
        elif session.exec(select(User.id).where(User.username == username)).first() is not None:
            _problem(problems, "username", _("The user name '{username}' is taken; choose another one or leave it "
                                             "empty to derive a free one.").format(username=username))
    _raise(problems)
    granted = _rights_of(rights)
    _check_grantable_rights(actor, granted)
    numbers = {int(n) for n in customer_number_ids}
    _check_numbers(session, actor, actor.customer_id, numbers)
    user = User(customer_id=actor.customer_id, username=username or derive_username(session, last_name, first_name),
                last_name=last_name, first_name=first_name, email=email, phone=phone, language=language,
                status=UserStatus.INVITED, valid_from=valid_from, valid_until=valid_until, invitation_sent_at=now,
                invitation_failures=0, created_at=now)
    session.add(user)
    session.flush()
    for right in sorted(granted, key=lambda r: r.value):
        session.add(UserRight(user_id=user.id, right=right))
    for number_id in sorted(numbers):
        session.add(UserCustomerNumber(user_id=user.id, customer_number_id=number_id))
    audit.record(session, actor, now, "user", user.id, "created", after={
        "username": user.username, "last_name": last_name, "first_name": first_name, "email": email, "phone": phone,
        "language": language, "valid_from": valid_from, "valid_until": valid_until,
        "rights": sorted(r.value for r in granted), "customer_number_ids": sorted(numbers)})
    _mail_invitation(session, actor, now, user)
    session.flush()
    return _row(session, user, now)


# First login ----------------------------------------------------------------------------------------

def first_login_challenge(session: Session, now: datetime, username: str, last_name: str, first_name: str,
                          phone: str) -> FirstLoginTicket:
    """The invited user proves who they are: NAME, FIRST NAME and phone exactly as the administrator entered
    them. A wrong answer counts (committed here); the third locks the invitation until it is resent."""
    user = session.exec(select(User).where(User.username == (username or "").strip()).with_for_update()).first()
    if user is None:
        raise AuthenticationFailed(_(CHALLENGE_FAILED))
    if user.status != UserStatus.INVITED:
        raise AuthenticationFailed(_("This user has already completed the first login. Log in with your user name "
                                     "and password."))
    if user.invitation_failures >= MAX_INVITATION_FAILURES:
        raise AuthenticationFailed(_("This invitation is locked after 3 wrong attempts. Ask your administrator to "
                                     "send it again."))
    actor = Actor(user_id=user.id, label=user.username, customer_id=user.customer_id)
    answers = ((last_name or "").strip(), (first_name or "").strip(), (phone or "").strip())
    if answers != (user.last_name, user.first_name, user.phone):
        user.invitation_failures += 1
        session.add(user)
        audit.record(session, actor, now, "user", user.id, "first login failed",
                     after={"invitation_failures": user.invitation_failures})
        session.commit()
        left = MAX_INVITATION_FAILURES - user.invitation_failures
        if left <= 0:
            raise AuthenticationFailed(_("The details do not match the invitation. It is now locked after 3 wrong "
                                         "attempts: ask your administrator to send it again."))
        raise AuthenticationFailed(ngettext(
            "The details do not match the invitation. Type your user name, then NAME, FIRST NAME and phone number "
            "exactly as your administrator entered them (capitals, spelling). {left} attempt left.",
            "The details do not match the invitation. Type your user name, then NAME, FIRST NAME and phone number "
            "exactly as your administrator entered them (capitals, spelling). {left} attempts left.",
            left).format(left=left))
    session.rollback()  # release the row lock; nothing changed
    return FirstLoginTicket(user_id=user.id, username=user.username, invitation_sent_at=user.invitation_sent_at)


@atomic
def complete_first_login(session: Session, now: datetime, ticket: FirstLoginTicket, new_password: str,
                         confirmation: str) -> None:
    """Set the first password (Fiche 01 policy); the user becomes active and logs in with it."""
    user = session.exec(select(User).where(User.id == ticket.user_id).with_for_update()).first()
    if (user is None or user.status != UserStatus.INVITED or user.invitation_sent_at != ticket.invitation_sent_at
            or user.invitation_failures >= MAX_INVITATION_FAILURES):
        raise AuthenticationFailed(_("This invitation is no longer valid. Start the first login again, or ask your "
                                     "administrator to send the invitation again."))
    if new_password != confirmation:
        raise DomainError(_("The new password and its confirmation differ."), field="confirmation")
    problems = policy_violations(user.username, new_password, password_history(session, user.id))
    if problems:
        raise DomainError(" ".join(problems), field="new", problems=problems)
    set_password(session, user, new_password, now)
    user.status = UserStatus.ACTIVE
    user.invitation_failures = 0
    session.add(user)
    actor = Actor(user_id=user.id, label=user.username, customer_id=user.customer_id)
    audit.record(session, actor, now, "user", user.id, "first login completed",
                 before={"status": UserStatus.INVITED}, after={"status": UserStatus.ACTIVE})


# Changes by an administrator ------------------------------------------------------------------------

_UNSET = object()


@atomic
def update_user(session: Session, actor: Actor, now: datetime, user_id: int, *,
                rights: Iterable[Right | str] | None = None, customer_number_ids: Iterable[int] | None = None,
                valid_from=_UNSET, valid_until=_UNSET, version: int | None = None) -> UserRow:
    """Change a user's rights, customer numbers and/or validity (what is not given stays); the user is mailed."""
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    _check_version(user, version)
    today = _today(session, user.customer_id, now)
    old_rights, old_numbers = _rights(session, user.id), _numbers(session, user.id)
    before = {"rights": sorted(r.value for r in old_rights), "customer_number_ids": sorted(old_numbers),
              "valid_from": user.valid_from, "valid_until": user.valid_until}
    changes: list[tuple[str, str | frozenset[Right]]] = []
    new_rights = old_rights if rights is None else _rights_of(rights)
    new_from = user.valid_from if valid_from is _UNSET else valid_from
    new_until = user.valid_until if valid_until is _UNSET else valid_until
    if (new_from, new_until) != (user.valid_from, user.valid_until):
        problems: list[tuple[str, str]] = []
        _check_validity(problems, new_from, new_until, today)
        _raise(problems)
    if Right.USERS in old_rights and Right.USERS not in new_rights:
        if user.id == actor.user_id:
            raise DomainError(_("You cannot remove your own right 'Users': ask another administrator to do it."),
                              field="rights")
        _guard_last_admin(session, user, today, N_(
            "{name} is the last active administrator of your company: they cannot lose the right 'Users'. Give "
            "another active user the right 'Users' first."))
    ends = (new_until is not None and new_until < today) or (new_from is not None and new_from > today)
    if ends and (new_from, new_until) != (user.valid_from, user.valid_until):
        if user.id == actor.user_id:
            raise DomainError(_("You cannot end your own access: ask another administrator to do it."),
                              field="valid_until")
        _guard_last_admin(session, user, today, N_(
            "{name} is the last active administrator of your company: they cannot get a validity that excludes "
            "today. Give another active user the right 'Users' first."))
    if new_rights != old_rights:
        _check_grantable_rights(actor, new_rights, old_rights)
        for right in old_rights - new_rights:
            row = session.get(UserRight, (user.id, right))
            if row is not None:
                session.delete(row)
        for right in new_rights - old_rights:
            session.add(UserRight(user_id=user.id, right=right))
        changes.append(("rights", frozenset(new_rights)))
    if customer_number_ids is not None:
        new_numbers = {int(n) for n in customer_number_ids}
        if new_numbers != old_numbers:
            _check_numbers(session, actor, user.customer_id, new_numbers, old_numbers)
            for number_id in old_numbers - new_numbers:
                row = session.get(UserCustomerNumber, (user.id, number_id))
                if row is not None:
                    session.delete(row)
            for number_id in new_numbers - old_numbers:
                session.add(UserCustomerNumber(user_id=user.id, customer_number_id=number_id))
            changes.append(("customer_numbers", _number_text(session, new_numbers)))
    else:
        new_numbers = old_numbers
    if (new_from, new_until) != (user.valid_from, user.valid_until):
        user.valid_from, user.valid_until = new_from, new_until
        changes.append(("validity", _validity_text(user)))
    if not changes:
        raise DomainError(_("Nothing changed: change the rights, customer numbers or validity first."))
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "changed", before=before, after={
        "rights": sorted(r.value for r in new_rights), "customer_number_ids": sorted(new_numbers),
        "valid_from": user.valid_from, "valid_until": user.valid_until}, customer_id=user.customer_id)
    _mail_change(session, actor, now, user, changes)
    session.flush()
    return _row(session, user, now)


def change_rights(session: Session, actor: Actor, now: datetime, user_id: int, rights: Iterable[Right | str],
                  version: int | None = None) -> UserRow:
    return update_user(session, actor, now, user_id, rights=rights, version=version)


def change_validity(session: Session, actor: Actor, now: datetime, user_id: int, valid_from: date | None,
                    valid_until: date | None, version: int | None = None) -> UserRow:
    return update_user(session, actor, now, user_id, valid_from=valid_from, valid_until=valid_until, version=version)


def change_customer_numbers(session: Session, actor: Actor, now: datetime, user_id: int,
                            customer_number_ids: Iterable[int], version: int | None = None) -> UserRow:
    return update_user(session, actor, now, user_id, customer_number_ids=customer_number_ids, version=version)


@atomic
def resend_invitation(session: Session, actor: Actor, now: datetime, user_id: int) -> UserRow:
    """Send the invitation again; resets the wrong first-login attempts (unlocks the invitation)."""
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    if user.status != UserStatus.INVITED:
        raise DomainError(_("{name} has already logged in: there is no invitation to resend. Use Unlock if they are "
                            "locked out.").format(name=user.display_name))
    before = {"invitation_failures": user.invitation_failures, "invitation_sent_at": user.invitation_sent_at}
    user.invitation_failures = 0
    user.invitation_sent_at = now
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "invitation resent", before=before,
                 after={"invitation_failures": 0, "invitation_sent_at": now}, customer_id=user.customer_id)
    _mail_invitation(session, actor, now, user)
    session.flush()
    return _row(session, user, now)


@atomic
def unlock_user(session: Session, actor: Actor, now: datetime, user_id: int) -> UserRow:
    """Lift a lock-out after failed logins (and a locked invitation's count)."""
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    locked = user.locked_until is not None and user.locked_until > now
    if not locked and user.failed_logins == 0:
        if user.status == UserStatus.INVITED:
            raise DomainError(_("{name} is not locked out: nothing to unlock. Use Resend invitation for a locked "
                                "invitation.").format(name=user.display_name))
        raise DomainError(_("{name} is not locked out: nothing to unlock.").format(name=user.display_name))
    before = {"locked_until": user.locked_until, "failed_logins": user.failed_logins}
    user.locked_until = None
    user.failed_logins = 0
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "unlocked", before=before,
                 after={"locked_until": None, "failed_logins": 0}, customer_id=user.customer_id)
    _mail_change(session, actor, now, user, [("unlocked", "")])
    session.flush()
    return _row(session, user, now)


@atomic
def deactivate_user(session: Session, actor: Actor, now: datetime, user_id: int) -> UserRow:
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    if user.id == actor.user_id:
        raise DomainError(_("You cannot deactivate yourself: ask another administrator to do it."))
    if user.status == UserStatus.DEACTIVATED:
        raise DomainError(_("{name} is already deactivated.").format(name=user.display_name))
    _guard_last_admin(session, user, _today(session, user.customer_id, now), N_(
        "{name} is the last active administrator of your company: they cannot be deactivated. Give another "
        "active user the right 'Users' first."))
    before = {"status": user.status}
    user.status = UserStatus.DEACTIVATED
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "deactivated", before=before,
                 after={"status": UserStatus.DEACTIVATED}, customer_id=user.customer_id)
    _mail_change(session, actor, now, user, [("deactivated", "")])
    session.flush()
    return _row(session, user, now)


# Two-factor sign-in ---------------------------------------------------------------------------------

def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def totp_steps(secret: str | None, code: str, now: datetime) -> list[int]:
    """The time steps (RFC 6238 counters: Unix time // 30) whose code is `code`, among the step of `now` and one
    step before and after it (clock drift), in ascending order; empty for a wrong code."""
    import hmac

    import pyotp

    code = (code or "").replace(" ", "").strip()
    if not secret or len(code) != TOTP_DIGITS or not code.isdigit():
        return []
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    return [step for step in (current - 1, current, current + 1)
            if hmac.compare_digest(totp.generate_otp(step), code)]


CODE_ACCEPTED, CODE_WRONG, CODE_USED = "accepted", "wrong", "used"


def claim_totp(session: Session, user: User, secret: str | None, code: str, now: datetime) -> str:
    """Accept a one-time code for `user` at most once: CODE_ACCEPTED, and its step becomes the user's
    `totp_last_step` (in the session's transaction: it counts once the caller commits); CODE_WRONG when it is
    not the code of the accepted window (`totp_steps`); CODE_USED when it is, but of a step no later than the
    last one accepted (a replay, or an older code after a newer one).

    The step is recorded by a conditional UPDATE (only over an older step), so of two sessions checking the same
    code at once exactly one records it: on PostgreSQL the second waits for the first's row lock and then finds
    the step taken; SQLite runs one writer at a time. Every check of a code goes through here."""
    steps = totp_steps(secret, code, now)
    if not steps:
        return CODE_WRONG
    last = col(User.totp_last_step)
    for step in steps:
        claimed = session.execute(
            update(User).where(col(User.id) == user.id, or_(last.is_(None), last < step)).values(totp_last_step=step))
        if claimed.rowcount == 1:
            return CODE_ACCEPTED
    return CODE_USED


WRONG_CODE = N_("The code is wrong or has expired. Type the 6-digit code your authenticator app shows now "
                "(check that the phone's clock is right).")
CODE_USED_MESSAGE = N_("This code has already been used. Wait for the next code your authenticator app shows (a new "
                       "one every 30 seconds) and type that one.")


def code_problem(outcome: str) -> str | None:
    """The message for a refused code (translated), None for an accepted one."""
    if outcome == CODE_WRONG:
        return _(WRONG_CODE)
    if outcome == CODE_USED:
        return _(CODE_USED_MESSAGE)
    return None


def _own_user(session: Session, actor: Actor) -> User:
    user = session.exec(select(User).where(User.id == actor.user_id).with_for_update()).first()
    if user is None:
        raise NotFound(_("User not found."))
    return user


@atomic
def enable_two_factor(session: Session, actor: Actor, now: datetime, secret: str, code: str) -> None:
    """My account -> Two-factor sign-in: turn it on with the secret shown, confirmed by a first code."""
    user = _own_user(session, actor)
    if user.totp_secret is not None:
        raise DomainError(_("Two-factor sign-in is already on. Turn it off first to use a new device."))
    problem = code_problem(claim_totp(session, user, secret, code, now))
    if problem:
        raise DomainError(problem, field="code")
    user.totp_secret = secret
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "two-factor on", after={"two_factor": True})
    _mail_change(session, actor, now, user, [("2fa_on", "")])


@atomic
def disable_two_factor(session: Session, actor: Actor, now: datetime, code: str) -> None:
    user = _own_user(session, actor)
    if user.totp_secret is None:
        raise DomainError(_("Two-factor sign-in is not on."))
    if user.totp_required:
        raise DomainError(_("Your administrator requires two-factor sign-in for you: it cannot be turned off."))
    problem = code_problem(claim_totp(session, user, user.totp_secret, code, now))
    if problem:
        raise DomainError(problem, field="code")
    user.totp_secret = None
    user.totp_last_step = None  # a new secret's codes start afresh
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "two-factor off", after={"two_factor": False})
    _mail_change(session, actor, now, user, [("2fa_off", "")])


@atomic
def require_two_factor(session: Session, actor: Actor, now: datetime, user_id: int, required: bool = True) -> UserRow:
    """An administrator requires (or stops requiring) two-factor sign-in for a user."""
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    if user.totp_required == required:
        message = (_("Two-factor sign-in is already required for {name}.") if required
                   else _("Two-factor sign-in is already not required for {name}."))
        raise DomainError(message.format(name=user.display_name))
    user.totp_required = required
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "two-factor required" if required else "two-factor optional",
                 before={"totp_required": not required}, after={"totp_required": required},
                 customer_id=user.customer_id)
    _mail_change(session, actor, now, user, [("2fa_required" if required else "2fa_not_required", "")])
    session.flush()
    return _row(session, user, now)


@atomic
def reset_two_factor(session: Session, actor: Actor, now: datetime, user_id: int) -> UserRow:
    """For a user who lost their device: forget their secret (they set it up again if it is required)."""
    actor.require(Right.USERS)
    user = _user_of_customer(session, actor, user_id)
    if user.totp_secret is None:
        raise DomainError(_("{name} has no two-factor sign-in set up: nothing to reset.").format(
            name=user.display_name))
    user.totp_secret = None
    user.totp_last_step = None  # a new secret's codes start afresh
    user.version += 1
    session.add(user)
    audit.record(session, actor, now, "user", user.id, "two-factor reset", before={"two_factor": True},
                 after={"two_factor": False}, customer_id=user.customer_id)
    _mail_change(session, actor, now, user, [("2fa_reset", "")])
    session.flush()
    return _row(session, user, now)


def two_factor_status(session: Session, actor: Actor) -> tuple[bool, bool]:
    """(on, required) for the acting user."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound(_("User not found."))
    return user.totp_secret is not None, user.totp_required


@atomic
def set_own_language(session: Session, actor: Actor, now: datetime, language: str) -> str:
    """My account -> Language: the language of the user's screens and e-mails (en, nl or fr). Every user may
    choose their own; it is audited like any change to a user. Returns the language now in force."""
    language = (language or "").strip().lower()
    if language not in LANGUAGES:
        raise DomainError(_("Choose the language among {languages}.").format(languages=", ".join(LANGUAGES)),
                          field="language")
    user = _own_user(session, actor)
    if user.language != language:
        before = user.language
        user.language = language
        user.version += 1
        session.add(user)
        audit.record(session, actor, now, "user", user.id, "language changed", before={"language": before},
                     after={"language": language}, customer_id=user.customer_id)
        session.flush()
    return user.language
