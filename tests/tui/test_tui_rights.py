"""Rights everywhere (issue 5), through the TUI: for every menu item that needs a right, a user holding every
right but that one does not see the item, and when its screen is pushed anyway (bypassing the menu) the
service refuses: the screen shows the refusal and no data."""
from __future__ import annotations

import pytest
from sqlmodel import select
from textual.widgets import DataTable, OptionList, SelectionList
from textual.widgets._select import SelectOverlay

from store.models import Customer, CustomerNumber, Right, User, UserCustomerNumber, UserRight, UserStatus
from store.services.auth import set_password
from store.services.labels import right_label
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.home import HomeScreen
from tui.widgets.main_menu import MainMenu
from tui.widgets.message_line import MessageLine

PASSWORD = "Limit#2026"
RIGHTS_ITEMS = [item for item in MENU if item.right is not None]


def add_user(db, username: str, rights) -> None:
    """A user of the demo customer with these rights and both customer numbers."""
    with db.session() as session:
        customer = session.exec(select(Customer)).one()
        user = User(customer_id=customer.id, username=username, last_name=username.upper(), first_name="TEST",
                    email=f"{username}@test.example", phone="0470000000", language="en",
                    status=UserStatus.ACTIVE, created_at=db.clock.now())
        session.add(user)
        session.flush()
        set_password(session, user, PASSWORD, db.clock.now())
        session.add_all(UserRight(user_id=user.id, right=r) for r in rights)
        session.add_all(UserCustomerNumber(user_id=user.id, customer_number_id=n.id)
                        for n in session.exec(select(CustomerNumber).where(CustomerNumber.customer_id == customer.id)))
        session.commit()


def shown_texts(app) -> list[str]:
    """The refusals the user can read: message lines of the screen and notifications."""
    texts = [text for line in app.screen.query(MessageLine) if line.has_class("-shown") for text in line.lines]
    texts += [str(notification.message) for notification in app._notifications]
    return texts


def data_shown(app) -> dict[str, int]:
    """Rows of every table and list of the screen (a refused screen has none)."""
    counts = {}
    for table in app.screen.query(DataTable):
        counts[f"DataTable#{table.id}"] = table.row_count
    for options in app.screen.query(OptionList):
        # A Select's overlay holds its fixed filter choices ("Any status"...), not data.
        if not isinstance(options, (SelectionList, SelectOverlay)):
            counts[f"{type(options).__name__}#{options.id}"] = options.option_count
    for selection in app.screen.query(SelectionList):
        counts[f"SelectionList#{selection.id}"] = selection.option_count
    return {name: count for name, count in counts.items() if count}


def test_every_right_of_the_menu_is_a_store_right():
    assert RIGHTS_ITEMS and {item.right for item in RIGHTS_ITEMS} <= {r.value for r in Right}


@pytest.mark.parametrize("item", RIGHTS_ITEMS, ids=lambda item: item.id)
async def test_hidden_from_the_menu_and_refused_by_the_service(demo_db, ui, item):
    add_user(demo_db, "limited", [r for r in Right if r.value != item.right])
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "limited", PASSWORD)
        assert isinstance(app.screen, HomeScreen)
        shown = [i.id for i in app.screen.query_one(MainMenu).numbered]
        assert item.id not in shown
        # Other items needing other rights are shown: the user is not simply locked out.
        assert any(other.right is not None for other in MENU if other.id in shown)

        await app.push_screen(item.screen_class()())
        await ui.settle(pilot)
        await ui.settle(pilot)
        if type(app.screen).__name__ == "ReauthDialog":  # My invoices asks the password again on every entry
            assert not data_shown(app)
            await pilot.press(*"limited", "enter", *PASSWORD, "enter")
            await ui.settle(pilot)
            await ui.settle(pilot)
        if item.id == "cards.create":
            # The form asks the card/OBU type first and calls the service (create_card, which refuses: see
            # tests/store/test_rights_matrix.py) only when saved; before that it shows nothing of the customer's.
            assert type(app.screen).__name__ == "ProductTypeDialog"
            assert set(data_shown(app)) <= {"OptionList#product-types"}  # the fixed card/OBU types only
            return
        texts = shown_texts(app)
        # The refusal names the right as the rights list does ("Manage cards and OBUs"), not by its code.
        refusal = f"the right “{right_label(item.right)}”"
        assert any(refusal in text for text in texts), (type(app.screen).__name__, texts)
        assert not data_shown(app), data_shown(app)
