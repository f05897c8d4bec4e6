"""Fiche 01 login and password rules, lockout, validity, and rights with customer options."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from store.models import AuditEvent, Customer, CustomerNumber, CustomerOption, Right, User, UserCustomerNumber, UserRight
from store.services import auth
from store.services.auth import WRONG_CREDENTIALS, LoginPolicy, authenticate, change_password, usable_rights
from store.services.context import ISSUER, actor_for
from store.services.errors import AuthenticationFailed, DomainError, PermissionDenied
from store.services.passwords import policy_violations, hash_password, verify_password

PASSWORD = "Start#2026"


@pytest.fixture
def user(session, clock):
    customer = Customer(name="Acme", driver_code_prefix="1234", options=[CustomerOption.OBU.value])
    session.add(customer)
    session.flush()
    number = CustomerNumber(customer_id=customer.id, number="4000001", name="Acme 1")
    session.add(number)
    session.flush()
    user = User(customer_id=customer.id, username="jdoe", last_name="DOE", first_name="JOHN",
                email="j@acme.example", phone="0470000000")
    session.add(user)
    session.flush()
    auth.set_password(session, user, PASSWORD, clock.now())
    session.add(UserCustomerNumber(user_id=user.id, customer_number_id=number.id))
    session.add(UserRight(user_id=user.id, right=Right.CARD_MANAGE))
    session.commit()
    return user


# --- password policy, rule by rule ---------------------------------------------------------

@pytest.mark.parametrize(
    "password, broken",
    [
        ("Ab#1234", []),  # exactly 7: fine
        ("Ab#123", ["at least 7 characters"]),
        ("1234567#", ["1 letter"]),
        ("abcdefg#", ["1 digit"]),
        ("abcdef12", ["special character"]),
        ("abc", ["at least 7 characters", "1 digit", "special character"]),
        ("       ", ["1 letter", "1 digit", "special character"]),  # spaces are not special characters
    ],
)
def test_policy_names_each_broken_rule(password, broken):
    problems = policy_violations("someone", password)
    assert len(problems) == len(broken)
    for fragment, problem in zip(broken, problems):
        assert fragment in problem


def test_policy_refuses_the_user_name_case_insensitively():
    problems = policy_violations("Fleet#Admin1", "fleet#admin1")
    assert problems == ["The password must differ from the user name."]


def test_policy_refuses_the_previous_four_passwords():
    history = [hash_password(p) for p in ("Pass#0004", "Pass#0003", "Pass#0002", "Pass#0001")]
    assert any("previous 4" in p for p in policy_violations("u", "Pass#0001", history))
    assert policy_violations("u", "Pass#0005", history) == []


def test_hashes_are_argon2id_and_verify():
    h = hash_password("Secret#1")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Secret#1")
    assert not verify_password(h, "Secret#2")
    assert not verify_password(None, "Secret#1")
    assert not verify_password("not a hash", "Secret#1")


# --- login -------------------------------------------------------------------------------

def test_login_succeeds_and_loads_rights_and_numbers(session, user, clock):
    result = authenticate(session, "jdoe", PASSWORD, clock.now())
    assert result.actor.user_id == user.id
    assert result.actor.rights == frozenset({Right.CARD_MANAGE})
    assert [n.number for n in result.customer_numbers] == ["4000001"]
    assert session.get(User, user.id).last_login_at == clock.now()
    assert result.previous_login_at is None
    first = clock.now()
    clock.advance(timedelta(hours=2))
    assert authenticate(session, "jdoe", PASSWORD, clock.now()).previous_login_at == first


def test_unknown_user_and_wrong_password_give_the_same_message(session, user, clock):
    with pytest.raises(AuthenticationFailed) as unknown:
        authenticate(session, "nobody", PASSWORD, clock.now())
    with pytest.raises(AuthenticationFailed) as wrong:
        authenticate(session, "jdoe", "Wrong#2026", clock.now())
    assert unknown.value.message == wrong.value.message == WRONG_CREDENTIALS


def test_five_failures_in_a_row_lock_for_fifteen_minutes(session, user, clock):
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "jdoe", "Wrong#2026", clock.now())
    # A success in between resets the count: failures must be in a row.
    authenticate(session, "jdoe", PASSWORD, clock.now())
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "jdoe", "Wrong#2026", clock.now())
    with pytest.raises(AuthenticationFailed) as locked:
        authenticate(session, "jdoe", PASSWORD, clock.now())
    assert "locked" in locked.value.message
    assert "until 10:15" in locked.value.message  # 09:15 UTC shown in the customer's zone (Brussels)
    clock.advance(timedelta(minutes=14, seconds=59))
    with pytest.raises(AuthenticationFailed):
        authenticate(session, "jdoe", PASSWORD, clock.now())
    clock.advance(timedelta(seconds=1))
    assert authenticate(session, "jdoe", PASSWORD, clock.now()).user.id == user.id
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))).all()
    assert actions.count("locked") == 1
    assert actions.count("login failed") == 9


def test_lock_policy_is_configurable(session, user, clock):
    policy = LoginPolicy(max_failures=2, lock_minutes=1)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            authenticate(session, "jdoe", "Wrong#2026", clock.now(), policy)
    with pytest.raises(AuthenticationFailed, match="locked"):
        authenticate(session, "jdoe", PASSWORD, clock.now(), policy)
    clock.advance(timedelta(minutes=1))
    authenticate(session, "jdoe", PASSWORD, clock.now(), policy)


def test_validity_period_is_enforced_in_the_customers_time_zone(session, user, clock):
    # 09:00 UTC on 26 Nov 2026 is 26 Nov in Brussels.
    user.valid_until = date(2026, 11, 25)
    session.add(user)
    session.commit()
    with pytest.raises(AuthenticationFailed, match="ended on 25/11/2026"):
        authenticate(session, "jdoe", PASSWORD, clock.now())
    user.valid_until = date(2026, 11, 26)
    user.valid_from = date(2026, 11, 27)
    session.add(user)
    session.commit()
    with pytest.raises(AuthenticationFailed, match="starts on 27/11/2026"):
        authenticate(session, "jdoe", PASSWORD, clock.now())
    user.valid_from = date(2026, 11, 26)
    session.add(user)
    session.commit()
    assert authenticate(session, "jdoe", PASSWORD, clock.now()).user.id == user.id


# --- change password ---------------------------------------------------------------------

def test_change_password_enforces_the_policy_and_history(session, user, clock):
    actor = actor_for(session, user)
    with pytest.raises(DomainError, match="current password is wrong"):
        change_password(session, actor, "nope", "New#pass1", "New#pass1", clock.now())
    with pytest.raises(DomainError, match="confirmation differ"):
        change_password(session, actor, PASSWORD, "New#pass1", "New#pass2", clock.now())
    with pytest.raises(DomainError) as err:
        change_password(session, actor, PASSWORD, "jdoe", "jdoe", clock.now())
    assert len(err.value.problems) == 4  # length, digit, special character, user name
    with pytest.raises(DomainError, match="previous 4"):
        change_password(session, actor, PASSWORD, PASSWORD, PASSWORD, clock.now())

    current = PASSWORD
    for new in ("Second#2", "Third#33", "Fourth#4"):
        clock.advance(timedelta(minutes=1))
        change_password(session, actor, current, new, new, clock.now())
        current = new
    # The first password is now the 4th previous: still refused; a 5th change frees it.
    with pytest.raises(DomainError, match="previous 4"):
        change_password(session, actor, current, PASSWORD, PASSWORD, clock.now())
    clock.advance(timedelta(minutes=1))
    change_password(session, actor, current, "Fifth#555", "Fifth#555", clock.now())
    clock.advance(timedelta(minutes=1))
    change_password(session, actor, "Fifth#555", PASSWORD, PASSWORD, clock.now())
    assert authenticate(session, "jdoe", PASSWORD, clock.now()).user.id == user.id
    with pytest.raises(AuthenticationFailed):
        authenticate(session, "jdoe", "Fifth#555", clock.now())
    changes = session.exec(select(AuditEvent).where(AuditEvent.action == "password changed")).all()
    assert len(changes) == 5 and all(e.actor_label == "jdoe" for e in changes)


# --- rights --------------------------------------------------------------------------------

def test_usable_rights_need_the_customer_option(session, user):
    session.add(UserRight(user_id=user.id, right=Right.TOLL_TRANSACTIONS))  # needs option OBU: bought
    session.add(UserRight(user_id=user.id, right=Right.PASSALERT))  # needs option PASSALERT: not bought
    session.commit()
    actor = actor_for(session, user)
    customer = session.get(Customer, user.customer_id)
    assert usable_rights(actor, customer) == frozenset({Right.CARD_MANAGE, Right.TOLL_TRANSACTIONS})


def test_actor_require_refuses_missing_rights_and_foreign_customer_numbers(session, user):
    actor = actor_for(session, user)
    actor.require(Right.CARD_MANAGE)
    with pytest.raises(PermissionDenied, match=r"“Create card/OBU”"):
        actor.require(Right.CARD_CREATE)
    actor.require_customer_number(actor.customer_number_ids[0])
    with pytest.raises(PermissionDenied):
        actor.require_customer_number(999)
    ISSUER.require(Right.CARD_CREATE)  # the issuer's batches act for every customer
