"""Users (Fiche 10): create with invitation, first login challenge, changes, administrators, two-factor."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pyotp
import pytest
from sqlmodel import select

from store.models import (AuditEvent, Customer, CustomerNumber, OutboxMessage, Right, User, UserCustomerNumber,
                          UserRight, UserStatus)
from store.services import users
from store.services.auth import LoginPolicy, authenticate, set_password, verify_second_factor
from store.services.context import Actor, actor_for
from store.services.errors import AuthenticationFailed, DomainError, NotFound, PermissionDenied, StaleObject


@pytest.fixture(autouse=True)
def _cheap(cheap_password_hashing):
    pass


@pytest.fixture
def world(session, clock):
    """Customer ACME with two customer numbers, an administrator (all rights) and another customer."""
    acme = Customer(name="ACME", driver_code_prefix="1234", timezone="Europe/Brussels", language="nl")
    other = Customer(name="OTHER", driver_code_prefix="9999")
    session.add(acme)
    session.add(other)
    session.flush()
    n1 = CustomerNumber(customer_id=acme.id, number="100001", name="ACME North")
    n2 = CustomerNumber(customer_id=acme.id, number="100002", name="ACME South")
    n3 = CustomerNumber(customer_id=other.id, number="900001", name="Other")
    session.add_all([n1, n2, n3])
    session.flush()
    admin = User(customer_id=acme.id, username="admin", last_name="BOSS", first_name="ANNA", email="anna@acme.example",
                 phone="0470000000", status=UserStatus.ACTIVE, created_at=clock.now())
    session.add(admin)
    session.flush()
    set_password(session, admin, "Admin#2026", clock.now())
    for right in Right:
        session.add(UserRight(user_id=admin.id, right=right))
    for n in (n1, n2):
        session.add(UserCustomerNumber(user_id=admin.id, customer_number_id=n.id))
    session.commit()

    class W:
        pass

    w = W()
    w.acme, w.other, w.n1, w.n2, w.n3, w.admin_id = acme.id, other.id, n1.id, n2.id, n3.id, admin.id
    w.actor = actor_for(session, admin)
    return w


def create(session, clock, world, actor=None, **overrides):
    values = dict(last_name="Peeters", first_name="Jan", email="jan.peeters@acme.example", phone="0471234567",
                  rights=[Right.CARD_MANAGE], customer_number_ids=[world.n1])
    values.update(overrides)
    return users.create_user(session, actor or world.actor, clock.now(), **values)


def mails(session, user_id=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    return session.exec(query).all()


def problem_fields(excinfo) -> str:
    return excinfo.value.field


# --- create ------------------------------------------------------------------------------------------

def test_create_user_stores_capitals_rights_numbers_and_queues_the_invitation(session, clock, world):
    row = create(session, clock, world, rights=[Right.CARD_MANAGE, Right.USERS], valid_until=date(2027, 1, 31))
    assert (row.last_name, row.first_name, row.username) == ("PEETERS", "JAN", "jpeeters")
    assert row.status == UserStatus.INVITED
    assert row.rights == {Right.CARD_MANAGE, Right.USERS}
    assert row.customer_number_ids == (world.n1,)
    assert row.language == "nl"  # the customer's language by default
    [mail] = mails(session, row.id)
    assert mail.to_address == "jan.peeters@acme.example" and mail.language == "nl"
    assert "jpeeters" in mail.body and "PEETERS" not in mail.body  # the challenge's answers are not in the mail
    user = session.get(User, row.id)
    assert user.invitation_sent_at == clock.now() and user.password_hash is None
    event = session.exec(select(AuditEvent).where(AuditEvent.object_id == str(row.id),
                                                  AuditEvent.action == "created")).one()
    assert event.after["rights"] == ["account.users", "cards.manage"]


def test_username_derived_unique_or_given(session, clock, world):
    assert create(session, clock, world).username == "jpeeters"
    assert create(session, clock, world, email="j2@acme.example").username == "jpeeters2"
    assert create(session, clock, world, last_name="Dubois-Lefèvre", first_name="Élodie").username == "eduboislefevre"
    assert create(session, clock, world, username="Boss.Two").username == "boss.two"
    with pytest.raises(DomainError, match="taken") as exc:
        create(session, clock, world, username="boss.two")
    assert exc.value.field == "username"
    with pytest.raises(DomainError, match="3 to 60 characters"):
        create(session, clock, world, username="a b")


@pytest.mark.parametrize("field, value, message", [
    ("last_name", "  ", "Type the user's NAME"),
    ("first_name", "", "Type the user's FIRST NAME"),
    ("email", "", "Type the user's e-mail"),
    ("email", "jan@acme", "not a valid e-mail"),
    ("email", "jan peeters@acme.example", "not a valid e-mail"),
    ("phone", "", "phone number"),
    ("phone", "0471 23456", "without spaces"),
    ("phone", "047123456", "exactly 10 characters"),
    ("phone", "04712345678", "exactly 10 characters"),
    ("phone", "04712345ab", "only digits"),
    ("language", "de", "language"),
])
def test_create_user_refuses_invalid_fields(session, clock, world, field, value, message):
    with pytest.raises(DomainError, match=message) as exc:
        create(session, clock, world, **{field: value})
    assert exc.value.field == field
    assert mails(session) == []  # nothing queued when refused


def test_phone_with_leading_plus_is_ten_characters(session, clock, world):
    assert create(session, clock, world, phone="+324712345").phone == "+324712345"


def test_create_user_lists_every_problem(session, clock, world):
    with pytest.raises(DomainError) as exc:
        create(session, clock, world, last_name="", email="x", phone="1")
    assert len(exc.value.problems) == 3


def test_validity_from_must_not_follow_to_nor_end_in_the_past(session, clock, world):
    with pytest.raises(DomainError, match="before it starts") as exc:
        create(session, clock, world, valid_from=date(2027, 2, 1), valid_until=date(2027, 1, 1))
    assert exc.value.field == "valid_until"
    with pytest.raises(DomainError, match="in the past"):
        create(session, clock, world, valid_until=date(2026, 11, 25))
    assert create(session, clock, world, valid_from=date(2027, 1, 1), valid_until=date(2027, 1, 1)).valid_from


def test_create_needs_the_users_right(session, clock, world):
    actor = Actor(user_id=world.admin_id, label="admin", customer_id=world.acme,
                  rights=frozenset({Right.CARD_MANAGE}), customer_number_ids=(world.n1,))
    with pytest.raises(PermissionDenied, match="the right “Users \\(administration\\)”"):
        create(session, clock, world, actor=actor)


def test_customer_numbers_only_own_and_at_least_one(session, clock, world):
    with pytest.raises(DomainError, match="at least one customer number"):
        create(session, clock, world, customer_number_ids=[])
    with pytest.raises(PermissionDenied, match="not yours"):
        create(session, clock, world, customer_number_ids=[world.n3])
    limited = Actor(user_id=world.admin_id, label="admin", customer_id=world.acme,
                    rights=frozenset(Right), customer_number_ids=(world.n1,))
    with pytest.raises(PermissionDenied, match="act for yourself"):
        create(session, clock, world, actor=limited, customer_number_ids=[world.n2])


def test_an_administrator_grants_only_rights_they_hold(session, clock, world):
    limited = Actor(user_id=world.admin_id, label="admin", customer_id=world.acme,
                    rights=frozenset({Right.USERS, Right.CARD_MANAGE}), customer_number_ids=(world.n1,))
    with pytest.raises(PermissionDenied, match="“Create card/OBU”"):
        create(session, clock, world, actor=limited, rights=[Right.CARD_CREATE])
    with pytest.raises(DomainError, match="not an application"):
        create(session, clock, world, rights=["no.such"])


# --- first login -------------------------------------------------------------------------------------

def test_first_login_exact_answers_then_password_then_login(session, clock, world):
    row = create(session, clock, world)
    ticket = users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")
    with pytest.raises(DomainError) as exc:
        users.complete_first_login(session, clock.now(), ticket, "short", "short")
    assert len(exc.value.problems) >= 2  # every Fiche 01 rule broken is named
    with pytest.raises(DomainError, match="differ"):
        users.complete_first_login(session, clock.now(), ticket, "Secret#2026", "Secret#2027")
    with pytest.raises(DomainError, match="user name"):
        users.complete_first_login(session, clock.now(), ticket, "JPeeters", "JPeeters")
    users.complete_first_login(session, clock.now(), ticket, "Secret#2026", "Secret#2026")
    assert session.get(User, row.id).status == UserStatus.ACTIVE
    result = authenticate(session, "jpeeters", "Secret#2026", clock.now())
    assert result.complete and result.actor.rights == {Right.CARD_MANAGE}
    with pytest.raises(AuthenticationFailed, match="already completed"):
        users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")


@pytest.mark.parametrize("answers", [
    ("Peeters", "JAN", "0471234567"),  # case matters
    ("PEETERS", "JAN", "0471 234567"),
    ("PEETERS", "JEAN", "0471234567"),  # spelling
])
def test_first_login_answers_must_match_exactly(session, clock, world, answers):
    create(session, clock, world)
    with pytest.raises(AuthenticationFailed, match="2 attempts left"):
        users.first_login_challenge(session, clock.now(), "jpeeters", *answers)


def test_three_wrong_answers_lock_the_invitation_until_resent(session, clock, world):
    row = create(session, clock, world)
    for left in ("2 attempts left", "1 attempt left", "now locked"):
        with pytest.raises(AuthenticationFailed, match=left):
            users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0000000000")
    with pytest.raises(AuthenticationFailed, match="locked after 3"):
        users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")
    assert users.search_users(session, world.actor, clock.now(), name="peeters")[0].invitation_locked
    users.resend_invitation(session, world.actor, clock.now(), row.id)
    assert len(mails(session, row.id)) == 2
    assert users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")


def test_resend_invalidates_an_earlier_ticket(session, clock, world):
    row = create(session, clock, world)
    ticket = users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")
    clock.advance(timedelta(minutes=1))
    users.resend_invitation(session, world.actor, clock.now(), row.id)
    with pytest.raises(AuthenticationFailed, match="no longer valid"):
        users.complete_first_login(session, clock.now(), ticket, "Secret#2026", "Secret#2026")


def test_unknown_user_gets_the_same_message(session, clock, world):
    with pytest.raises(AuthenticationFailed, match="do not match"):
        users.first_login_challenge(session, clock.now(), "nobody", "A", "B", "0471234567")


# --- search and changes ------------------------------------------------------------------------------

def test_search_by_name_email_right_status(session, clock, world):
    jan = create(session, clock, world)
    create(session, clock, world, last_name="Maes", first_name="Lucas", email="lucas@acme.example",
           rights=[Right.USERS])
    now = clock.now()
    assert [r.username for r in users.search_users(session, world.actor, now, name="jan")] == ["jpeeters"]
    assert [r.username for r in users.search_users(session, world.actor, now, name="jan peeters")] == ["jpeeters"]
    assert [r.username for r in users.search_users(session, world.actor, now, email="LUCAS@")] == ["lmaes"]
    assert {r.username for r in users.search_users(session, world.actor, now, right=Right.USERS)} == {"admin", "lmaes"}
    assert {r.username for r in users.search_users(session, world.actor, now, status=UserStatus.INVITED)} == \
        {"jpeeters", "lmaes"}
    assert jan.id in {r.id for r in users.search_users(session, world.actor, now)}


def test_change_rights_numbers_validity_mails_the_user(session, clock, world):
    row = create(session, clock, world)
    updated = users.update_user(session, world.actor, clock.now(), row.id, rights=[Right.CARD_CREATE],
                                customer_number_ids=[world.n1, world.n2], valid_until=date(2027, 6, 30),
                                version=row.version)
    assert updated.rights == {Right.CARD_CREATE}
    assert set(updated.customer_number_ids) == {world.n1, world.n2}
    assert updated.valid_until == date(2027, 6, 30)
    change_mail = mails(session, row.id)[-1]
    assert "Uw toepassingen: Kaart/OBU aanmaken" in change_mail.body  # the right's name, in Jan's language (nl)
    assert "cards.create" not in change_mail.body
    assert "100002" in change_mail.body and "30/06/2027" in change_mail.body
    with pytest.raises(StaleObject, match="meanwhile"):
        users.change_rights(session, world.actor, clock.now(), row.id, [Right.CARD_MANAGE], version=row.version)
    with pytest.raises(DomainError, match="Nothing changed"):
        users.change_rights(session, world.actor, clock.now(), row.id, [Right.CARD_CREATE])
    with pytest.raises(DomainError, match="before it starts"):
        users.change_validity(session, world.actor, clock.now(), row.id, date(2027, 7, 1), date(2027, 6, 1))
    with pytest.raises(PermissionDenied, match="not yours"):
        users.change_customer_numbers(session, world.actor, clock.now(), row.id, [world.n3])


@pytest.mark.parametrize("language, line", [
    ("fr", "Vos applications : Gérer les cartes et OBU, Transactions journalières, Suivi budgétaire"),
    ("en", "Your applications: Manage cards and OBUs, Daily transactions, Budget follow-up"),
])
def test_the_rights_mail_names_the_rights_in_the_recipients_language(session, clock, world, smtp_server, language,
                                                                       line):
    """The e-mail of a rights change lists the rights by their readable names (as the users screen, in its
    order), in the recipient's language whoever makes the change, not by their codes (cards.manage)."""
    from store.services.outbox import send_pending

    row = create(session, clock, world, language=language)
    users.change_rights(session, world.actor, clock.now(), row.id,
                        [Right.REPORT_BUDGET, Right.DAILY_TRANSACTIONS, Right.CARD_MANAGE], version=row.version)
    session.commit()
    send_pending(session, clock.now(), smtp_server.url)
    invitation, change = smtp_server.messages  # sent oldest first
    assert change["To"] == "jan.peeters@acme.example" and change["Content-Language"] == language
    assert line in change.get_content().splitlines()
    assert not any(right.value in change.get_content() for right in Right)


def test_users_of_another_customer_are_invisible(session, clock, world):
    stranger = User(customer_id=world.other, username="stranger", last_name="X", first_name="Y",
                    email="x@other.example", phone="0470000001", status=UserStatus.ACTIVE)
    session.add(stranger)
    session.commit()
    assert "stranger" not in {r.username for r in users.search_users(session, world.actor, clock.now())}
    with pytest.raises(NotFound):
        users.deactivate_user(session, world.actor, clock.now(), stranger.id)


def test_unlock_a_locked_out_user(session, clock, world):
    row = create(session, clock, world)
    with pytest.raises(DomainError, match="not locked out"):
        users.unlock_user(session, world.actor, clock.now(), row.id)
    user = session.get(User, row.id)
    user.locked_until = clock.now() + timedelta(minutes=10)
    session.add(user)
    session.commit()
    assert users.get_user(session, world.actor, clock.now(), row.id).locked
    assert not users.unlock_user(session, world.actor, clock.now(), row.id).locked
    assert "ontgrendeld" in mails(session, row.id)[-1].body  # in the user's language (nl)
    assert "PEETERS" not in mails(session, row.id)[-1].body  # nothing of the first-login answers


def test_deactivated_user_cannot_log_in(session, clock, world):
    row = create(session, clock, world)
    ticket = users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")
    users.complete_first_login(session, clock.now(), ticket, "Secret#2026", "Secret#2026")
    users.deactivate_user(session, world.actor, clock.now(), row.id)
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        authenticate(session, "jpeeters", "Secret#2026", clock.now())
    with pytest.raises(DomainError, match="already deactivated"):
        users.deactivate_user(session, world.actor, clock.now(), row.id)


# --- administrators ----------------------------------------------------------------------------------

def test_admin_cannot_remove_own_users_right_nor_deactivate_self(session, clock, world):
    with pytest.raises(DomainError, match="your own right 'Users'"):
        users.change_rights(session, world.actor, clock.now(), world.admin_id, [Right.CARD_MANAGE])
    with pytest.raises(DomainError, match="deactivate yourself"):
        users.deactivate_user(session, world.actor, clock.now(), world.admin_id)
    with pytest.raises(DomainError, match="end your own access"):
        users.change_validity(session, world.actor, clock.now(), world.admin_id, date(2027, 1, 1), None)


def _activate(session, clock, world, **kw):
    row = create(session, clock, world, rights=[Right.USERS, Right.CARD_MANAGE], **kw)
    ticket = users.first_login_challenge(session, clock.now(), row.username, row.last_name, row.first_name, row.phone)
    users.complete_first_login(session, clock.now(), ticket, "Second#2026", "Second#2026")
    return row


def test_last_active_administrator_is_never_removed(session, clock, world):
    second = _activate(session, clock, world, last_name="Two", first_name="Admin", email="two@acme.example")
    second_actor = actor_for(session, session.get(User, second.id))
    # With two active administrators the second may remove the first's right …
    users.change_rights(session, second_actor, clock.now(), world.admin_id, [Right.CARD_MANAGE])
    # … and now the second is the last one: the first (no longer an admin) cannot act; an issuer cannot either.
    from store.services.context import ISSUER

    with pytest.raises(DomainError, match="last active administrator"):
        users.change_rights(session, ISSUER, clock.now(), second.id, [Right.CARD_MANAGE])
    with pytest.raises(DomainError, match="last active administrator"):
        users.deactivate_user(session, ISSUER, clock.now(), second.id)


def test_an_invited_administrator_does_not_count_as_active(session, clock, world):
    invited = create(session, clock, world, rights=[Right.USERS])
    from store.services.context import ISSUER

    with pytest.raises(DomainError, match="last active administrator"):
        users.deactivate_user(session, ISSUER, clock.now(), world.admin_id)
    users.deactivate_user(session, world.actor, clock.now(), invited.id)


# --- two-factor --------------------------------------------------------------------------------------

def _active_user(session, clock, world):
    row = create(session, clock, world)
    ticket = users.first_login_challenge(session, clock.now(), "jpeeters", "PEETERS", "JAN", "0471234567")
    users.complete_first_login(session, clock.now(), ticket, "Secret#2026", "Secret#2026")
    return row, actor_for(session, session.get(User, row.id))


def code(secret, clock, offset=0):
    return pyotp.TOTP(secret).at(int(clock.now().timestamp()) + offset)


def test_turn_two_factor_on_then_login_needs_the_code(session, clock, world):
    row, actor = _active_user(session, clock, world)
    secret = users.new_totp_secret()
    assert users.provisioning_uri(secret, "jpeeters").startswith("otpauth://totp/Cards%20Online:jpeeters?secret=")
    with pytest.raises(DomainError, match="wrong or has expired"):
        users.enable_two_factor(session, actor, clock.now(), secret, "000000")
    assert session.get(User, row.id).totp_secret is None  # not on until confirmed
    users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    clock.advance(timedelta(seconds=30))  # the code that turned it on is used: the login takes the next one

    pending = authenticate(session, "jpeeters", "Secret#2026", clock.now())
    assert pending.second_factor == "code" and not pending.complete and not pending.actor.rights
    with pytest.raises(AuthenticationFailed, match="wrong or has expired"):
        verify_second_factor(session, pending, code(secret, clock, offset=-300), clock.now())
    result = verify_second_factor(session, pending, code(secret, clock), clock.now())
    assert result.complete and result.actor.rights == {Right.CARD_MANAGE}
    assert session.get(User, row.id).last_login_at == clock.now()


def test_wrong_codes_count_towards_the_lockout(session, clock, world):
    _row, actor = _active_user(session, clock, world)
    secret = users.new_totp_secret()
    users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    policy = LoginPolicy(max_failures=2)
    pending = authenticate(session, "jpeeters", "Secret#2026", clock.now(), policy)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            verify_second_factor(session, pending, "123456", clock.now(), policy)
    with pytest.raises(AuthenticationFailed, match="locked"):
        verify_second_factor(session, pending, code(secret, clock), clock.now(), policy)


def _two_factor_user(session, clock, world):
    """jpeeters with two-factor sign-in turned on at START (the code of that step is used by turning it on)."""
    row, actor = _active_user(session, clock, world)
    secret = users.new_totp_secret()
    users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    return row, secret


def login_with_code(session, clock, totp_code, policy=LoginPolicy()):
    pending = authenticate(session, "jpeeters", "Secret#2026", clock.now(), policy)
    return verify_second_factor(session, pending, totp_code, clock.now(), policy)


def test_a_code_is_accepted_once_at_login(session, clock, world):
    row, secret = _two_factor_user(session, clock, world)
    with pytest.raises(AuthenticationFailed, match="already been used") as used:
        login_with_code(session, clock, code(secret, clock))  # the code that turned it on, still in its step
    assert used.value.field == "code" and "next code" in used.value.message
    clock.advance(timedelta(seconds=30))
    step = int(clock.now().timestamp()) // 30
    assert login_with_code(session, clock, code(secret, clock)).complete
    assert session.get(User, row.id).totp_last_step == step
    with pytest.raises(AuthenticationFailed, match="already been used"):  # the same code again
        login_with_code(session, clock, code(secret, clock))
    with pytest.raises(AuthenticationFailed, match="already been used"):  # an earlier step, still in the window
        login_with_code(session, clock, code(secret, clock, offset=-30))
    # A replay is not a guess: it is audited but not counted toward the lockout.
    session.expire_all()
    assert session.get(User, row.id).failed_logins == 0
    reused = session.exec(select(AuditEvent).where(AuditEvent.object_id == str(row.id),
                                                   AuditEvent.action == "second factor reused")).all()
    assert len(reused) == 3

    clock.advance(timedelta(seconds=30))  # the next step: its code is accepted
    assert login_with_code(session, clock, code(secret, clock)).complete
    # The next step's code (one step of drift ahead) is accepted; the current one is then older, and refused.
    assert login_with_code(session, clock, code(secret, clock, offset=30)).complete
    with pytest.raises(AuthenticationFailed, match="already been used"):
        login_with_code(session, clock, code(secret, clock))
    session.expire_all()
    assert session.get(User, row.id).totp_last_step == step + 2
    # Wrong codes still count as failed logins.
    with pytest.raises(AuthenticationFailed, match="wrong or has expired"):
        login_with_code(session, clock, code(secret, clock, offset=-300))
    session.expire_all()
    assert session.get(User, row.id).failed_logins == 1


def test_two_logins_racing_with_the_same_code_only_one_gets_in(db, session, clock, world, monkeypatch):
    _row, secret = _two_factor_user(session, clock, world)
    clock.advance(timedelta(seconds=30))
    the_code = code(secret, clock)
    barrier = threading.Barrier(2)
    real_steps = users.totp_steps

    def steps_then_wait(*args):
        steps = real_steps(*args)
        try:
            barrier.wait(timeout=2)  # both have read the user and checked the code before either records it
        except threading.BrokenBarrierError:
            pass  # a database that serialises the two (row lock): the other one waits
        return steps

    monkeypatch.setattr(users, "totp_steps", steps_then_wait)
    pendings = [authenticate(session, "jpeeters", "Secret#2026", clock.now()) for _ in range(2)]
    results, errors = [], []

    def log_in(pending):
        with db.session() as own:
            try:
                results.append(verify_second_factor(own, pending, the_code, clock.now()))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=log_in, args=(p,)) for p in pendings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and results[0].complete
    assert len(errors) == 1 and isinstance(errors[0], AuthenticationFailed), errors
    assert "already been used" in errors[0].message
    logins = session.exec(select(AuditEvent).where(AuditEvent.action == "login")).all()
    assert len(logins) == 1


def test_turning_two_factor_off_and_on_takes_fresh_codes(session, clock, world):
    row, actor = _active_user(session, clock, world)
    secret = users.new_totp_secret()
    users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    clock.advance(timedelta(seconds=30))
    users.disable_two_factor(session, actor, clock.now(), code(secret, clock))
    assert session.get(User, row.id).totp_last_step is None  # the next secret's codes start afresh
    fresh = users.new_totp_secret()
    users.enable_two_factor(session, actor, clock.now(), fresh, code(fresh, clock))  # the same step, a new secret
    with pytest.raises(DomainError, match="already been used") as used:
        users.disable_two_factor(session, actor, clock.now(), code(fresh, clock))
    assert used.value.field == "code"
    assert session.get(User, row.id).totp_secret == fresh  # still on


def test_turn_off_needs_a_code_and_not_when_required(session, clock, world):
    row, actor = _active_user(session, clock, world)
    secret = users.new_totp_secret()
    users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    with pytest.raises(DomainError, match="already on"):
        users.enable_two_factor(session, actor, clock.now(), secret, code(secret, clock))
    with pytest.raises(DomainError, match="wrong"):
        users.disable_two_factor(session, actor, clock.now(), "111111")
    users.require_two_factor(session, world.actor, clock.now(), row.id, True)
    with pytest.raises(DomainError, match="requires two-factor"):
        users.disable_two_factor(session, actor, clock.now(), code(secret, clock))
    users.require_two_factor(session, world.actor, clock.now(), row.id, False)
    with pytest.raises(DomainError, match="already been used"):  # the code that turned it on
        users.disable_two_factor(session, actor, clock.now(), code(secret, clock))
    clock.advance(timedelta(seconds=30))
    users.disable_two_factor(session, actor, clock.now(), code(secret, clock))
    assert users.two_factor_status(session, actor) == (False, False)
    assert authenticate(session, "jpeeters", "Secret#2026", clock.now()).complete


def test_required_two_factor_is_set_up_at_the_next_login(session, clock, world):
    row, _actor = _active_user(session, clock, world)
    users.require_two_factor(session, world.actor, clock.now(), row.id)
    assert "next login" in mails(session, row.id)[-1].body or "volgende" in mails(session, row.id)[-1].body
    pending = authenticate(session, "jpeeters", "Secret#2026", clock.now())
    assert pending.second_factor == "setup"
    with pytest.raises(AuthenticationFailed, match="set it up"):
        verify_second_factor(session, pending, "123456", clock.now())
    secret = users.new_totp_secret()
    result = verify_second_factor(session, pending, code(secret, clock), clock.now(), new_secret=secret)
    assert result.complete and session.get(User, row.id).totp_secret == secret
    # An administrator can reset it (lost phone): next login asks to set it up again.
    users.reset_two_factor(session, world.actor, clock.now(), row.id)
    assert authenticate(session, "jpeeters", "Secret#2026", clock.now()).second_factor == "setup"


def test_a_user_sets_their_own_language_audited(session, clock, world):
    jan = create(session, clock, world, language="fr")
    actor = actor_for(session, session.get(User, jan.id))
    assert users.set_own_language(session, actor, clock.now(), " NL ") == "nl"
    assert session.get(User, jan.id).language == "nl"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "language changed")).one()
    assert (event.object_id, event.before, event.after) == (str(jan.id), {"language": "fr"}, {"language": "nl"})
    assert users.set_own_language(session, actor, clock.now(), "nl") == "nl"  # the same again: no new event
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "language changed")).all()) == 1
    with pytest.raises(DomainError) as refused:
        users.set_own_language(session, actor, clock.now(), "de")
    assert refused.value.field == "language"
    assert session.get(User, jan.id).language == "nl"
