"""card month totals: each card's transactions summed per month of its customer's time zone (issue 8)

The monthly reports read `card_month_total` instead of every transaction. The table is filled here from the
transactions already stored; from now on whatever inserts transactions adds them to it in the same transaction.

The filling is a frozen copy of store.issuer.month_totals.rebuild_month_totals as it was at this revision (its
SQL, the product lists of store.queries.reports, the tables as they were at 0005): a migration must give the
same result whatever the application code becomes later, so it imports nothing from `store`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 23:40:00
"""
from datetime import date, datetime, time, timezone
from typing import Sequence, Union
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    money = sa.Numeric(precision=16, scale=2)
    volume = sa.Numeric(precision=16, scale=3)
    totals = op.create_table(
        'card_month_total',
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('fuel_count', sa.Integer(), nullable=False),
        sa.Column('fuel_litres', volume, nullable=False),
        sa.Column('fuel_excl', money, nullable=False),
        sa.Column('fuel_incl', money, nullable=False),
        sa.Column('toll_count', sa.Integer(), nullable=False),
        sa.Column('toll_excl', money, nullable=False),
        sa.Column('toll_incl', money, nullable=False),
        sa.Column('cons_count', sa.Integer(), nullable=False),
        sa.Column('cons_litres', volume, nullable=False),
        sa.Column('cons_cost', money, nullable=False),
        sa.Column('km_min', sa.Integer(), nullable=True),
        sa.Column('km_max', sa.Integer(), nullable=True),
        sa.Column('km_litres', volume, nullable=False),
        sa.Column('km_cost', money, nullable=False),
        sa.Column('low_litres', volume, nullable=False),
        sa.Column('low_cost', money, nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['card.id'], ),
        sa.PrimaryKeyConstraint('card_id', 'month'),
        sqlite_with_rowid=False,
    )
    _fill(op.get_bind(), totals)


# --- frozen copy of rebuild_month_totals (whole table) at this revision -------------------------------------

# The stored values of store.models.Product: liquid fuels and AdBlue count in litres; consumption is the fuels.
_LITRE_PRODUCTS = ('diesel', 'petrol 95', 'petrol 98', 'lpg', 'adblue')
_CONSUMPTION_PRODUCTS = ('diesel', 'petrol 95', 'petrol 98', 'lpg')

_customer = sa.table('customer', sa.column('id', sa.Integer), sa.column('timezone', sa.String))
_customer_number = sa.table('customer_number', sa.column('id', sa.Integer), sa.column('customer_id', sa.Integer))
_card = sa.table('card', sa.column('id', sa.Integer), sa.column('customer_number_id', sa.Integer))
_fuel = sa.table('fuel_transaction', sa.column('card_id', sa.Integer),
                 sa.column('occurred_at', sa.DateTime(timezone=True)), sa.column('product', sa.String),
                 sa.column('quantity', sa.Numeric(12, 3)), sa.column('amount_excl_vat', sa.Numeric(14, 2)),
                 sa.column('amount_incl_vat', sa.Numeric(14, 2)), sa.column('odometer_km', sa.Integer))
_toll = sa.table('toll_transaction', sa.column('card_id', sa.Integer), sa.column('exit_at', sa.DateTime(timezone=True)),
                 sa.column('amount_excl_vat', sa.Numeric(14, 2)), sa.column('amount_incl_vat', sa.Numeric(14, 2)))


def _local_month(moment: datetime, zone: ZoneInfo) -> date:
    if moment.tzinfo is None:  # SQLite keeps UTC without its zone
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(zone)
    return date(local.year, local.month, 1)


def _months_between(first: date, last: date) -> list:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def _month_case(column, months: list, zone: ZoneInfo, naive_utc: bool):
    """The customer's month of `column` (rows between the first month's start and the last one's end)."""
    starts = [datetime.combine(m, time(), tzinfo=zone).astimezone(timezone.utc) for m in months]
    if naive_utc:  # as the application binds a UTC moment on SQLite
        starts = [start.replace(tzinfo=None) for start in starts]
    if len(months) == 1:
        return sa.literal(months[0], sa.Date)
    return sa.case(*[(column < starts[i + 1], sa.literal(months[i], sa.Date)) for i in range(len(months) - 1)],
                   else_=sa.literal(months[-1], sa.Date))


def _fill(connection, totals) -> None:
    names = connection.execute(sa.select(_customer.c.timezone).distinct()).scalars().all()
    for name in names:
        try:
            zone = ZoneInfo(name or 'UTC')
        except Exception:  # noqa: BLE001 - an unknown zone name counts as UTC, as the reports do
            zone = ZoneInfo('UTC')
        of_zone = (sa.select(_card.c.id)
                   .join(_customer_number, _customer_number.c.id == _card.c.customer_number_id)
                   .join(_customer, _customer.c.id == _customer_number.c.customer_id)
                   .where(_customer.c.timezone == name))
        _fill_zone(connection, totals, zone, of_zone if len(names) > 1 else None)


def _fill_zone(connection, totals, zone: ZoneInfo, cards) -> None:
    ft, tt = _fuel.c, _toll.c
    naive_utc = connection.dialect.name == 'sqlite'
    fuel_where = [ft.card_id.in_(cards)] if cards is not None else []
    toll_where = [tt.card_id.in_(cards)] if cards is not None else []
    moments = [m for m in (*connection.execute(
        sa.select(sa.func.min(ft.occurred_at), sa.func.max(ft.occurred_at)).where(*fuel_where)).one(),
        *connection.execute(sa.select(sa.func.min(tt.exit_at), sa.func.max(tt.exit_at)).where(*toll_where)).one())
        if m is not None]
    if not moments:
        return
    moments = [m.replace(tzinfo=timezone.utc) if m.tzinfo is None else m for m in moments]
    months = _months_between(_local_month(min(moments), zone), _local_month(max(moments), zone))
    zero = sa.literal_column('0')
    consumption = ft.product.in_(_CONSUMPTION_PRODUCTS)
    cons_km = sa.case((consumption, ft.odometer_km))
    fm = _month_case(ft.occurred_at, months, zone, naive_utc)
    lines = sa.select(ft.card_id.label('card_id'), fm.label('month'), ft.product.label('product'),
                      ft.quantity.label('q'), ft.amount_excl_vat.label('excl'), ft.amount_incl_vat.label('incl'),
                      cons_km.label('km'), sa.func.min(cons_km).over(partition_by=(ft.card_id, fm)).label('low_km')
                      ).where(*fuel_where).subquery('lines')
    cons = lines.c.product.in_(_CONSUMPTION_PRODUCTS)

    def when(condition, value):
        return sa.func.sum(sa.case((condition, value), else_=zero))

    fuel = sa.select(lines.c.card_id, lines.c.month, sa.func.count().label('fuel_count'),
                     when(lines.c.product.in_(_LITRE_PRODUCTS), lines.c.q).label('fuel_litres'),
                     sa.func.sum(lines.c.excl).label('fuel_excl'), sa.func.sum(lines.c.incl).label('fuel_incl'),
                     zero.label('toll_count'), zero.label('toll_excl'), zero.label('toll_incl'),
                     when(cons, sa.literal_column('1')).label('cons_count'), when(cons, lines.c.q).label('cons_litres'),
                     when(cons, lines.c.excl).label('cons_cost'),
                     sa.func.min(lines.c.km).label('km_min'), sa.func.max(lines.c.km).label('km_max'),
                     when(lines.c.km.isnot(None), lines.c.q).label('km_litres'),
                     when(lines.c.km.isnot(None), lines.c.excl).label('km_cost'),
                     when(lines.c.km == lines.c.low_km, lines.c.q).label('low_litres'),
                     when(lines.c.km == lines.c.low_km, lines.c.excl).label('low_cost')
                     ).group_by(lines.c.card_id, lines.c.month)
    tm = _month_case(tt.exit_at, months, zone, naive_utc)
    no_km = sa.cast(sa.null(), sa.Integer)
    toll = sa.select(tt.card_id.label('card_id'), tm.label('month'),
                     *[zero.label(name) for name in ('fuel_count', 'fuel_litres', 'fuel_excl', 'fuel_incl')],
                     sa.func.count().label('toll_count'), sa.func.sum(tt.amount_excl_vat).label('toll_excl'),
                     sa.func.sum(tt.amount_incl_vat).label('toll_incl'),
                     *[zero.label(name) for name in ('cons_count', 'cons_litres', 'cons_cost')],
                     no_km.label('km_min'), no_km.label('km_max'),
                     *[zero.label(name) for name in ('km_litres', 'km_cost', 'low_litres', 'low_cost')]
                     ).where(*toll_where).group_by(tt.card_id, tm)
    both = sa.union_all(fuel, toll).subquery('both')
    c = both.c
    combined = sa.select(c.card_id, c.month, *[sa.func.sum(c[name]) for name in (
        'fuel_count', 'fuel_litres', 'fuel_excl', 'fuel_incl', 'toll_count', 'toll_excl', 'toll_incl',
        'cons_count', 'cons_litres', 'cons_cost')], sa.func.min(c.km_min), sa.func.max(c.km_max),
        *[sa.func.sum(c[name]) for name in ('km_litres', 'km_cost', 'low_litres', 'low_cost')]
    ).group_by(c.card_id, c.month)
    columns = ['card_id', 'month', 'fuel_count', 'fuel_litres', 'fuel_excl', 'fuel_incl', 'toll_count', 'toll_excl',
               'toll_incl', 'cons_count', 'cons_litres', 'cons_cost', 'km_min', 'km_max', 'km_litres', 'km_cost',
               'low_litres', 'low_cost']
    connection.execute(totals.insert().from_select(columns, combined))


def downgrade() -> None:
    op.drop_table('card_month_total')
