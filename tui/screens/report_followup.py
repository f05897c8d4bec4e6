"""Monthly reports → Follow-up per card/OBU: what was bought, month by month.

Two views (V): *Cards*, one line per card/OBU with a transaction in the period (50 at a time), its totals
over the period, and *Months*, the customer number's fuel and toll totals per month. C shows a chart of the
monthly spend: of the whole customer number (Months), or of the highlighted card (Cards).
"""
from __future__ import annotations

from tui.i18n import N_, _
from tui.screens.report_common import PAGE, ReportScreen, money, month_label, right, theme_rgb, whole


class FollowupReportScreen(ReportScreen):
    TITLE = N_("Follow-up per card/OBU")
    HELP = N_("What each card and OBU bought, month by month: transactions, litres (fuels and AdBlue) and "
              "amounts excluding and including VAT, fuel and toll apart. Cards shows each card or OBU used in the "
              "period; Months shows the customer number's totals. C shows the monthly spend as a chart.")
    REPORT = "followup"
    VIEWS = (("cards", N_("Cards")), ("months", N_("Months")))  # cards first: its first page is quick
    PAGED_VIEWS = frozenset({"cards"})

    def columns(self, view: str) -> list[tuple[str, str, int]]:
        if view == "months":
            return [("month", N_("Month"), 6), ("tx", N_("Trans."), 6), ("litres", N_("Litres"), 9),
                    ("fuel", N_("Fuel excl."), 12), ("toll", N_("Toll excl."), 10),
                    ("excl", N_("Total excl."), 11), ("incl", N_("Total incl."), 11)]
        return [("card", N_("Card/OBU"), 19), ("plate", N_("Plate"), 10), ("tx", N_("Trans."), 6),
                ("litres", N_("Litres"), 9), ("excl", N_("Excl. VAT"), 11), ("incl", N_("Incl. VAT"), 11)]

    def fetch_rows(self, session, actor, number_id, period, view, after):
        from store.queries.reports import followup_cards, followup_months

        if view == "months":
            return followup_months(session, actor, number_id, period), False
        rows = followup_cards(session, actor, number_id, period, after=after, limit=PAGE)
        return rows, len(rows) == PAGE

    def cells(self, view, row):
        if view == "months":
            total = row.total
            return (month_label(row.month), right(whole(total.transactions)), right(whole(row.fuel.litres)),
                    right(money(row.fuel.amount_excl_vat)), right(money(row.toll.amount_excl_vat)),
                    right(money(total.amount_excl_vat)), right(money(total.amount_incl_vat)))
        total = row.total.total
        return (row.number or "—", row.license_plate or row.embossed_name or "", right(whole(total.transactions)),
                right(whole(total.litres)), right(money(total.amount_excl_vat)),
                right(money(total.amount_incl_vat)))

    def explain(self, view, row) -> str:
        if view == "months":
            return _("{month}: {fuel} fuel/service and {toll} toll transactions.").format(
                month=f"{row.month:%m/%Y}", fuel=row.fuel.transactions, toll=row.toll.transactions)
        return _("{card} · {division} · {driver}").format(
            card=row.number or row.license_plate or "", division=row.division, driver=row.driver_name or "—")

    def chart(self, plt, view, row) -> None:
        if view == "months":
            months = self.rows
            title = _("Monthly spend excl. VAT (EUR), {number}").format(number=self.app.active_customer_number.number)
        else:
            months = list(row.months) if row is not None else []
            title = _("Monthly spend excl. VAT (EUR), {card}").format(
                card=(row.license_plate or row.number or "") if row is not None else "")
        plt.title(title)
        if not months:
            return
        labels = [month_label(m.month) for m in months]
        fuel = [float(m.fuel.amount_excl_vat) for m in months]
        toll = [float(m.toll.amount_excl_vat) for m in months]
        plt.stacked_bar(labels, [fuel, toll], labels=[_("fuel"), _("toll")],
                        color=[theme_rgb(self.app, "primary", "blue"), theme_rgb(self.app, "warning", "yellow")])
