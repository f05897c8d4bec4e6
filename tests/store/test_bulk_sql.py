"""store.issuer.bulk_sql: the import's executemany sends what SQLAlchemy's own executemany would send."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, insert, select

from store.issuer.bulk_sql import _sqlite_utc, executemany
from store.models import FuelTransaction, Product

MOMENTS = [datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc),
           datetime(2026, 3, 29, 1, 2, 3, 45, tzinfo=timezone(timedelta(hours=2))),  # not UTC: converted
           datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=timezone.utc),
           datetime(5, 1, 1, tzinfo=timezone.utc)]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_utc_datetime_is_bound_as_sqlalchemy_binds_it_on_sqlite(moment):
    engine = create_engine("sqlite://")
    compiled = insert(FuelTransaction.__table__).compile(dialect=engine.dialect, column_keys=["occurred_at"])
    assert _sqlite_utc(moment) == compiled._bind_processors["occurred_at"](moment)


def test_a_naive_datetime_is_refused_and_none_stays_none():
    with pytest.raises(ValueError, match="naive"):
        _sqlite_utc(datetime(2026, 11, 26, 9, 0))
    assert _sqlite_utc(None) is None


def test_rows_written_by_bulk_sql_read_back_as_written_by_sqlalchemy():
    engine = create_engine("sqlite://")
    FuelTransaction.__table__.create(engine)
    rows = [dict(issuer_transaction_id=f"T-{i}", card_id=1, rank=1, occurred_at=moment, station="S", city="C",
                 country="BE", product=Product.DIESEL, quantity=Decimal("50.125"), unit_price=Decimal("1.5000"),
                 amount_excl_vat=Decimal("75.19"), vat_rate=Decimal("21.00"), amount_incl_vat=Decimal("90.98"),
                 odometer_km=None, driver_code=None, invoice_id=None) for i, moment in enumerate(MOMENTS)]
    table = FuelTransaction.__table__
    with engine.begin() as connection:
        executemany(connection, "test fuel", insert(table), rows[:2])
        connection.execute(insert(table), rows[2:])
        stored = {row.issuer_transaction_id: row for row in connection.execute(select(table))}
        raw = dict(connection.exec_driver_sql(
            "SELECT issuer_transaction_id, occurred_at FROM fuel_transaction").all())
    for row in rows:
        back = stored[row["issuer_transaction_id"]]
        assert back.occurred_at == row["occurred_at"] and back.occurred_at.tzinfo is not None
        assert (back.product, back.quantity, back.amount_incl_vat) == (Product.DIESEL, Decimal("50.125"),
                                                                      Decimal("90.98"))
    # The same text on disk either way, so comparisons in SQL (time ranges) see one format.
    assert {len(text) for text in raw.values()} == {len("2026-11-26 09:00:00.000000")}


def test_enums_and_dates_are_bound_as_sqlalchemy_binds_them_and_bad_values_still_refused():
    from store.issuer.bulk_sql import _enum_value, _sqlite_date
    from store.issuer.month_totals import _upsert

    engine = create_engine("sqlite://")
    sqlalchemy_product = insert(FuelTransaction.__table__).compile(
        dialect=engine.dialect, column_keys=["product"])._bind_processors["product"]
    product = _enum_value(sqlalchemy_product, Product)
    for value in [*Product, Product.DIESEL.value, None]:
        assert product(value) == sqlalchemy_product(value)
    with pytest.raises(LookupError):
        product("rocket fuel")
    sqlalchemy_month = _upsert("sqlite").compile(dialect=engine.dialect)._bind_processors["month"]
    for value in (date(2026, 11, 1), date(5, 1, 1), None):
        assert _sqlite_date(value) == sqlalchemy_month(value)
