"""Card numbers as the issuer hands them out: issuer prefix + customer number + sequence + Luhn check digit."""
from __future__ import annotations

import re
from datetime import date

ISSUER_PREFIX = "70061"  # the issuer's identification number that starts every card number
MAX_DIGITS = 19  # ISO/IEC 7812: a card number has at most 19 digits
CUSTOMER_NUMBER_DIGITS = 7
SEQUENCE_DIGITS = 5  # zero-padded; a sixth digit is used once a customer number passes 99,999 cards
MAX_SEQUENCE = 999_999

_DIGITS = re.compile(r"[0-9]+")


def _require_digits(value: str, what: str) -> None:
    # str.isdigit() also accepts characters such as "²", which are no card digits.
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"{what} must consist of the digits 0-9, got {value!r}")


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits` + it pass the Luhn (mod 10) check."""
    _require_digits(digits, "the digits")
    total = 0
    # Counting from the right of the payload, every first, third, … digit is doubled, because the
    # check digit will take the rightmost place.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str(-total % 10)


def is_luhn_valid(number: str) -> bool:
    """Whether `number` (check digit last) passes the Luhn check; False for anything but 2+ digits."""
    if len(number) < 2 or not _DIGITS.fullmatch(number):
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def card_number(issuer_prefix: str, customer_number: str, sequence: int) -> str:
    """The card number for the `sequence`-th card of `customer_number`, e.g. 70061 4020001 00042 + check."""
    _require_digits(issuer_prefix, "the issuer prefix")
    _require_digits(customer_number, "the customer number")
    if len(customer_number) != CUSTOMER_NUMBER_DIGITS:
        raise ValueError(f"a customer number has {CUSTOMER_NUMBER_DIGITS} digits, got {customer_number!r}")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"the sequence must be between 1 and {MAX_SEQUENCE}, got {sequence}")
    payload = f"{issuer_prefix}{customer_number}{sequence:0{SEQUENCE_DIGITS}d}"
    if len(payload) + 1 > MAX_DIGITS:
        raise ValueError(f"the card number would have {len(payload) + 1} digits; at most {MAX_DIGITS} are allowed")
    return payload + luhn_check_digit(payload)


def add_years(day: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February): card validity is counted in years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
