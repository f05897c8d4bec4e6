"""Monthly reports → Consumption follow-up: litres, l/100 km and cost per km from the odometer readings.

Views (V): *Cards* (each card that bought fuel in the period, 50 at a time), *Divisions* and *Vehicle types*.
C shows the consumption trend (l/100 km month by month) of the highlighted line. How the distance is measured
(and why a card without odometer readings has no l/100 km) is told in F1 and in store.queries.reports.
"""
from __future__ import annotations

from tui.i18n import N_, _
from tui.screens.report_common import PAGE, ReportScreen, money, month_label, right, theme_rgb, whole


def ratio(value, places: int = 2) -> str:
    return "—" if value is None else f"{value:.{places}f}"


class ConsumptionReportScreen(ReportScreen):
    TITLE = N_("Consumption follow-up")
    HELP = N_("Litres of fuel (diesel, petrol, LPG), the distance from the odometer readings typed at the pump, "
              "litres per 100 km and fuel cost per km (excl. VAT), per card, fleet division or vehicle type. "
              "A card's distance in a month is its highest minus its lowest reading; the fuel bought at the lowest "
              "reading is left out of the ratios (it was burnt before). Months with fewer than two readings have "
              "no distance (—). C shows the l/100 km trend of the highlighted line.")
    REPORT = "consumption"
    VIEWS = (("cards", N_("Cards")), ("division", N_("Divisions")), ("vehicle_type", N_("Vehicle types")))
    PAGED_VIEWS = frozenset({"cards"})

    def columns(self, view: str) -> list[tuple[str, str, int]]:
        name = {"cards": (N_("Card"), 19), "division": (N_("Division"), 19), "vehicle_type": (N_("Vehicle type"), 19)}
        label, width = name[view]
        second = [("plate", N_("Plate"), 10)] if view == "cards" else [("n", N_("Cards"), 7)]
        return [("name", label, width), *second, ("litres", N_("Litres"), 10), ("km", N_("km"), 10),
                ("l100", N_("l/100km"), 7), ("eurkm", N_("EUR/km"), 6)]

    def fetch_rows(self, session, actor, number_id, period, view, after):
        from store.queries.reports import consumption_cards, consumption_groups

        if view == "cards":
            rows = consumption_cards(session, actor, number_id, period, after=after, limit=PAGE)
            return rows, len(rows) == PAGE
        return consumption_groups(session, actor, number_id, period, by=view), False

    def cells(self, view, row):
        total = row.total
        figures = (right(whole(total.litres)), right(whole(total.distance_km) if total.distance_km else "—"),
                   right(ratio(total.litres_per_100km)), right(ratio(total.cost_per_km, 3)))
        if view == "cards":
            return (row.number or "—", row.license_plate or row.embossed_name or "", *figures)
        return (row.label, right(str(row.cards)), *figures)

    def explain(self, view, row) -> str:
        total = row.total
        text = _("{litres} l for {cost} EUR excl. VAT").format(litres=whole(total.litres), cost=money(total.cost))
        if view == "cards":
            text = f"{row.division} · {row.vehicle_type or '—'} · " + text
        if not total.distance_km:
            text += " · " + _("no odometer readings to measure the distance")
        return text

    def chart(self, plt, view, row) -> None:
        if row is None:
            return
        name = (row.license_plate or row.number or "") if view == "cards" else row.label
        plt.title(_("Litres per 100 km, {name}").format(name=name))
        months = [m for m in row.months]
        labels = [month_label(m.month) for m in months]
        values = [float(m.figures.litres_per_100km) if m.figures.litres_per_100km is not None else 0.0
                  for m in months]
        plt.bar(labels, values, color=theme_rgb(self.app, "primary", "blue"))
        if not any(values):
            plt.title(_("{name}: no odometer readings to measure the distance").format(name=name))
