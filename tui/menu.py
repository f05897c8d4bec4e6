"""The main menu registry (Fiche 02): which screens exist, in which group, and the right each needs.

A screen joins the menu by adding one `MenuItem` to `MENU` below (or calling `register()`):

    MenuItem(
        id="cards.manage",                        # stable id: tests, command palette, later key maps
        group="cards",                            # one of GROUPS' ids
        label=N_("Manage cards and OBUs"),        # marked for translation, translated when shown
        screen="tui.screens.card_search:CardSearchScreen",  # "module:Class", imported on first use
        right="cards.manage",                     # a store Right (or its value); None = every user
    )

An item is shown only when the user holds its right *and* the customer has the option that right needs;
`store.services.auth.usable_rights()` decides both, the session keeps its result, `visible_menu()` filters.
A group with no visible item is not shown. Register only screens that exist: no placeholders.

This module imports neither the store nor the screens, so the app starts fast.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from importlib import import_module
from typing import TYPE_CHECKING, Union

from tui.i18n import N_

if TYPE_CHECKING:
    from textual.screen import Screen


@dataclass(frozen=True)
class MenuGroup:
    id: str
    label: str  # marked with N_, translated when shown


# The groups of Fiche 02, in the order of the guide's main menu.
GROUPS: tuple[MenuGroup, ...] = (
    MenuGroup("account", N_("My account")),
    MenuGroup("cards", N_("My cards and OBUs")),
    MenuGroup("driver_codes", N_("My driver codes")),
    MenuGroup("daily", N_("Daily follow-up")),
    MenuGroup("reports", N_("Monthly reports")),
    MenuGroup("invoices", N_("My invoices")),
    MenuGroup("passalert", N_("PASSalert")),
)
GROUP_IDS = frozenset(g.id for g in GROUPS)

ScreenRef = Union[str, "type[Screen]"]


def right_value(right: object) -> str | None:
    """A right as its plain string value: accepts a store `Right` member or its value."""
    if right is None:
        return None
    if isinstance(right, Enum):
        return str(right.value)
    return str(right)


@dataclass(frozen=True)
class MenuItem:
    id: str
    group: str
    label: str
    screen: ScreenRef
    right: object = None  # store Right, its string value, or None for "every logged-in user"

    def __post_init__(self) -> None:
        if self.group not in GROUP_IDS:
            raise ValueError(f"Unknown menu group {self.group!r} for menu item {self.id!r}")
        # Keep the plain value: comparing with the session's usable rights needs no store import.
        object.__setattr__(self, "right", right_value(self.right))

    def screen_class(self) -> type[Screen]:
        """The screen class, importing its module on first use for a "module:Class" reference."""
        if isinstance(self.screen, str):
            module_name, _colon, class_name = self.screen.partition(":")
            return getattr(import_module(module_name), class_name)
        return self.screen

    def visible_for(self, usable_rights: Iterable[object]) -> bool:
        """Shown to a user whose usable rights (granted, and allowed by the customer's options) are these."""
        return self.right is None or self.right in {right_value(r) for r in usable_rights}


# The one registry of the main menu. Keep the guide's order inside each group.
MENU: list[MenuItem] = [
    MenuItem(id="account.notifications", group="account", label=N_("Notification settings"), screen="tui.screens.notification_settings:NotificationSettingsScreen", right="account.notifications"),  # noqa: E501
    # Fiche 11 "Instellingen klantenwaarschuwingen": chooses which OTHER users get the new-invoice e-mail, so it is
    # an administrator's setting (the right to administer users), not the invoice downloader's.
    MenuItem(id="account.alert_settings", group="account", label=N_("Customer alert settings"), screen="tui.screens.alert_settings:AlertSettingsScreen", right="account.users"),  # noqa: E501
    MenuItem(id="account.divisions", group="account", label=N_("Manage fleet divisions"), screen="tui.screens.divisions:DivisionsScreen", right="account.divisions"),  # noqa: E501
    MenuItem(
        id="account.change_password",
        group="account",
        label=N_("Change my password"),
        screen="tui.screens.change_password:ChangePasswordScreen",
        right=None,  # every logged-in user may change their own password (Fiche 01)
    ),
    MenuItem(id="account.two_factor", group="account", label=N_("Two-factor sign-in"), screen="tui.screens.two_factor:TwoFactorScreen", right=None),  # noqa: E501
    MenuItem(id="account.language", group="account", label=N_("Language"), screen="tui.screens.language:LanguageScreen", right=None),  # noqa: E501
    MenuItem(id="account.users", group="account", label=N_("Users"), screen="tui.screens.users:UsersScreen", right="account.users"),  # noqa: E501
    MenuItem(id="account.audit", group="account", label=N_("Audit trail"), screen="tui.screens.audit_trail:AuditTrailScreen", right="account.audit"),  # noqa: E501
    MenuItem(id="account.outbox", group="account", label=N_("Outbox"), screen="tui.screens.outbox:OutboxScreen", right="account.users"),  # noqa: E501
    MenuItem(id="cards.create", group="cards", label=N_("Create card/OBU"), screen="tui.screens.card_form:CardFormScreen", right="cards.create"),  # noqa: E501
    MenuItem(id="cards.manage", group="cards", label=N_("Manage cards and OBUs"), screen="tui.screens.card_list:CardListScreen", right="cards.manage"),  # noqa: E501
    MenuItem(id="cards.requests", group="cards", label=N_("My requests"), screen="tui.screens.my_requests:MyRequestsScreen", right="cards.requests"),  # noqa: E501
    MenuItem(id="cards.renewal", group="cards", label=N_("Renewal status"), screen="tui.screens.renewal_status:RenewalStatusScreen", right="cards.renewal"),  # noqa: E501
    MenuItem(id="cards.renewal_board", group="cards", label=N_("Renewal board"), screen="tui.screens.renewal_board:RenewalBoardScreen", right="cards.renewal"),  # noqa: E501
    # Fiches 13-16. Both need the customer option DRIVER_CODES as well (store.services.auth.RIGHT_OPTIONS).
    MenuItem(id="driver_codes.manage", group="driver_codes", label=N_("Search driver codes"), screen="tui.screens.driver_codes:DriverCodesScreen", right="driver_codes.manage"),  # noqa: E501
    MenuItem(id="driver_codes.create", group="driver_codes", label=N_("Create driver code"), screen="tui.screens.driver_codes:DriverCodeFormScreen", right="driver_codes.create"),  # noqa: E501
    # Daily follow-up (Fiche 02), in the guide's order. Anomalies needs the customer option ANOMALY_DETECTION and
    # PASSango transactions the option OBU (store.services.auth.RIGHT_OPTIONS).
    MenuItem(id="daily.anomalies", group="daily", label=N_("Anomalies"), screen="tui.screens.anomalies:AnomaliesScreen", right="daily.anomalies"),  # noqa: E501
    MenuItem(id="daily.transactions", group="daily", label=N_("Daily transactions"), screen="tui.screens.daily_transactions:DailyTransactionsScreen", right="daily.transactions"),  # noqa: E501
    MenuItem(id="daily.toll_transactions", group="daily", label=N_("PASSango transactions"), screen="tui.screens.toll_transactions:TollTransactionsScreen", right="daily.toll_transactions"),  # noqa: E501
    # Monthly reports (Fiche 02). All need the customer option MONTHLY_REPORTS as well.
    MenuItem(id="reports.card_followup", group="reports", label=N_("Follow-up per card/OBU"), screen="tui.screens.report_followup:FollowupReportScreen", right="reports.card_followup"),  # noqa: E501
    MenuItem(id="reports.consumption", group="reports", label=N_("Consumption follow-up"), screen="tui.screens.report_consumption:ConsumptionReportScreen", right="reports.consumption"),  # noqa: E501
    MenuItem(id="reports.export", group="reports", label=N_("Data export (xls)"), screen="tui.screens.report_export:ReportExportScreen", right="reports.export"),  # noqa: E501
    MenuItem(id="reports.budget", group="reports", label=N_("Budget follow-up"), screen="tui.screens.report_budget:BudgetReportScreen", right="reports.budget"),  # noqa: E501
    # My invoices (Fiche 11), in the guide's order. Both need the customer option INVOICES_ONLINE, and both screens
    # ask the user name and password again on every entry.
    MenuItem(id="invoices.data_files", group="invoices", label=N_("Billing data files (TID)"), screen="tui.screens.invoices:BillingFilesScreen", right="invoices.data_files"),  # noqa: E501
    MenuItem(id="invoices.search", group="invoices", label=N_("Search invoices"), screen="tui.screens.invoices:InvoicesScreen", right="invoices.download"),  # noqa: E501
]


def register(item: MenuItem, registry: list[MenuItem] | None = None) -> MenuItem:
    """Add `item` to the registry (MENU by default); ids are unique."""
    registry = MENU if registry is None else registry
    if any(existing.id == item.id for existing in registry):
        raise ValueError(f"Menu item {item.id!r} is already registered")
    registry.append(item)
    return item


def visible_menu(usable_rights: Iterable[object],
                 items: Iterable[MenuItem] | None = None) -> list[tuple[MenuGroup, list[MenuItem]]]:
    """The groups with their visible items, in menu order; groups without a visible item are left out."""
    rights = frozenset(right_value(r) for r in usable_rights)
    items = list(MENU if items is None else items)
    result = []
    for group in GROUPS:
        shown = [item for item in items if item.group == group.id and item.visible_for(rights)]
        if shown:
            result.append((group, shown))
    return result
