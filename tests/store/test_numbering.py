"""Card numbers: Luhn check digit, layout, limits, and the numbers the demo hands out."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from store.demo import build_demo
from store.issuer.numbering import ISSUER_PREFIX, MAX_DIGITS, card_number, is_luhn_valid, luhn_check_digit
from store.models import Card, CustomerNumber

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=18)


@pytest.mark.parametrize("number", ["79927398713", "4111111111111111", "378282246310005", "6011111111111117",
                                    "5555555555554444", "00"])
def test_known_valid_numbers(number):
    assert is_luhn_valid(number)
    assert luhn_check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize("number", ["79927398710", "79927398711", "4111111111111112", "378282246310004"])
def test_known_invalid_numbers(number):
    assert not is_luhn_valid(number)


@pytest.mark.parametrize("number", ["", "7", "7992739871a", "7992 7398 713", "79927398713\n", "²3", "٧٩٩٢٧٣٩٨٧١٣"])
def test_only_two_or_more_ascii_digits_can_be_valid(number):
    assert not is_luhn_valid(number)


def test_check_digit_refuses_non_digits():
    with pytest.raises(ValueError):
        luhn_check_digit("12a4")
    with pytest.raises(ValueError):
        luhn_check_digit("")


@given(digit_strings)
def test_appending_the_check_digit_makes_any_payload_valid(payload):
    assert is_luhn_valid(payload + luhn_check_digit(payload))


@given(digit_strings, st.data())
def test_any_single_digit_typo_is_caught(payload, data):
    number = payload + luhn_check_digit(payload)
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    assert not is_luhn_valid(number[:position] + wrong + number[position + 1:])


def test_card_number_layout():
    number = card_number("70061", "4020001", 42)
    assert number == "70061" + "4020001" + "00042" + number[-1]
    assert len(number) == 18
    assert is_luhn_valid(number)


def test_sequence_takes_a_sixth_digit_up_to_the_limit():
    assert card_number("70061", "4020001", 99_999)[12:17] == "99999"
    big = card_number("70061", "4020001", 100_000)
    assert big[12:18] == "100000" and len(big) == MAX_DIGITS and is_luhn_valid(big)
    with pytest.raises(ValueError):
        card_number("70061", "4020001", 1_000_000)


@pytest.mark.parametrize("prefix, customer_number, sequence", [
    ("70061", "4020001", 0),  # sequences start at 1
    ("70061", "402001", 1),  # customer numbers have 7 digits
    ("70061", "40200011", 1),
    ("70061", "402000A", 1),
    ("7006A", "4020001", 1),
    ("", "4020001", 1),
    ("700611", "4020001", 100_000),  # 20 digits
])
def test_card_number_refuses_bad_parts(prefix, customer_number, sequence):
    with pytest.raises(ValueError):
        card_number(prefix, customer_number, sequence)


def test_numbers_differ_for_every_sequence_and_customer_number():
    numbers = {card_number("70061", customer, sequence)
               for customer in ("4020001", "4020002") for sequence in range(1, 5_001)}
    assert len(numbers) == 10_000


def test_every_number_of_the_demo_is_valid_unique_and_follows_the_sequence(db):
    build_demo(db)
    with db.session() as session:
        customer_numbers = session.exec(select(CustomerNumber)).all()
        rows = session.exec(select(Card.number, Card.customer_number_id).where(Card.number.is_not(None))).all()
    assert rows
    numbers = [number for number, _ in rows]
    assert len(set(numbers)) == len(numbers)
    assert all(is_luhn_valid(number) for number in numbers)
    for customer_number in customer_numbers:
        own = sorted(number for number, owner in rows if owner == customer_number.id)
        assert all(n.startswith(ISSUER_PREFIX + customer_number.number) for n in own)
        sequences = sorted(int(n[len(ISSUER_PREFIX) + 7:-1]) for n in own)
        assert sequences == list(range(1, len(own) + 1))  # no gaps, no reuse
        assert customer_number.card_sequence == len(own)
