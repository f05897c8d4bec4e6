"""The deterministic demo data set: `cardsonline demo` and the first `make run`.

Same seed, same data. Large card counts are written in batches so memory stays flat.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from sqlalchemy import delete, func
from sqlmodel import Session, SQLModel, select

from .db import Database
from .models import (
    Address,
    AddressKind,
    Customer,
    CustomerNumber,
    CustomerOption,
    FleetDivision,
    Right,
    SystemSetting,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from .services.auth import set_password

Progress = Callable[[int, int, str], None]

DEMO_PASSWORDS = {"fleetadmin": "Fleet#2026", "depot": "Depot#2026", "accounting": "Books#2026", "intern": "Intern#2026"}
DEPOT_RIGHTS = (Right.CARD_MANAGE, Right.DRIVER_CODES_MANAGE, Right.DAILY_TRANSACTIONS)
ACCOUNTING_RIGHTS = (Right.INVOICE_DOWNLOAD, Right.INVOICE_DATA_FILES, Right.REPORT_CONSUMPTION,
                     Right.REPORT_BUDGET, Right.REPORT_EXPORT, Right.REPORT_CARD_FOLLOWUP)


class DemoExists(Exception):
    pass


def _clear(session: Session) -> None:
    # Children before parents, so foreign keys hold on every backend.
    for table in reversed(SQLModel.metadata.sorted_tables):
        session.exec(delete(table))
    session.commit()


def build_demo(db: Database, cards: int = 150, seed: int = 2026, force: bool = False,
               progress: Progress | None = None) -> str:
    """Fill `db` with the demo; refuses a database that already has customers unless `force`."""
    rng = random.Random(seed)
    now = db.clock.now()
    with db.session() as session:
        if session.exec(select(func.count()).select_from(Customer)).one() and not force:
            raise DemoExists("The database already holds data; use --force to replace it with the demo.")
        _clear(session)
        customer = Customer(
            name="Transports Dubois NV", vat_number="BE0412345678", driver_code_prefix="7310",
            timezone="Europe/Brussels", language="nl", options=[o.value for o in CustomerOption],
            contact_name="Sofie Peeters", contact_email="sofie.peeters@issuer.example", created_at=now,
        )
        session.add(customer)
        session.flush()
        numbers = [
            CustomerNumber(customer_id=customer.id, number="4020001", name="Dubois Antwerpen"),
            CustomerNumber(customer_id=customer.id, number="4020002", name="Dubois Liège"),
        ]
        session.add_all(numbers)
        session.flush()
        divisions = [
            FleetDivision(customer_number_id=numbers[0].id, name="Distribution"),
            FleetDivision(customer_number_id=numbers[0].id, name="Long haul"),
            FleetDivision(customer_number_id=numbers[1].id, name="Management"),
        ]
        session.add_all(divisions)
        for number, (street, postal, city) in zip(numbers, [("Noorderlaan 100", "2030", "Antwerpen"),
                                                           ("Quai de Rome 12", "4000", "Liège")]):
            for kind in (AddressKind.SHIPPING, AddressKind.PIN_MAILING, AddressKind.BILLING):
                session.add(Address(customer_number_id=number.id, kind=kind, name=customer.name,
                                    street=street, postal_code=postal, city=city, country="BE"))
        users = [
            ("fleetadmin", "PEETERS", "AN", "an.peeters@dubois.example", "0470123456", list(Right), numbers, None),
            ("depot", "JANSSENS", "TOM", "tom.janssens@dubois.example", "0471234567", list(DEPOT_RIGHTS),
             numbers[:1], None),
            ("accounting", "LAMBERT", "MARIE", "marie.lambert@dubois.example", "0472345678",
             list(ACCOUNTING_RIGHTS), numbers, None),
            ("intern", "MAES", "LUCAS", "lucas.maes@dubois.example", "0473456789", [Right.CARD_MANAGE],
             numbers[:1], date(2026, 6, 30)),  # validity ended: shows the refusal
        ]
        for username, last, first, email, phone, rights, allowed, valid_until in users:
            user = User(customer_id=customer.id, username=username, last_name=last, first_name=first, email=email,
                        phone=phone, language="en", status=UserStatus.ACTIVE, valid_until=valid_until,
                        created_at=now)
            session.add(user)
            session.flush()
            set_password(session, user, DEMO_PASSWORDS[username], now)
            session.add_all(UserRight(user_id=user.id, right=r) for r in rights)
            session.add_all(UserCustomerNumber(user_id=user.id, customer_number_id=n.id) for n in allowed)
        session.add(SystemSetting(key="demo", value=f"seed={seed} cards={cards}"))
        session.commit()
    del rng
    return f"Demo: 1 customer, {len(numbers)} customer numbers, {len(divisions)} divisions, {len(users)} users."


def is_demo(db: Database) -> bool:
    with db.session() as session:
        return session.get(SystemSetting, "demo") is not None
