"""`cardsonline issuer import-transactions FILE` and `cardsonline issuer simulate-transactions --days N`."""
from __future__ import annotations

from click.testing import CliRunner
from sqlmodel import func, select

from store.db import Database
from store.demo import build_demo
from store.models import Anomaly, Card, CardStatus, FuelTransaction, ProductType, TollTransaction
from tui.cli import main

NOW = "2026-11-26T09:00:00+00:00"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def simulated_ids(url: str) -> set[str]:
    with Database(url).session() as session:
        fuel = session.exec(select(FuelTransaction.issuer_transaction_id)
                            .where(FuelTransaction.issuer_transaction_id.startswith("SIM"))).all()
        toll = session.exec(select(TollTransaction.issuer_transaction_id)
                            .where(TollTransaction.issuer_transaction_id.startswith("SIM"))).all()
    return set(fuel) | set(toll)


def test_simulate_is_deterministic_and_a_second_run_adds_nothing(demo_db, tmp_path, clock):
    url = demo_db.url
    args = ("issuer", "simulate-transactions", "--database-url", url, "--now", NOW, "--days", "14", "--seed", "7",
            "--cards-limit", "12", "--break-rate", "0.2", "--no-alerts")
    first = run(*args)
    assert first.exit_code == 0, first.output
    ids = simulated_ids(url)
    assert ids and f"{len(ids):,} imported" in first.output
    with Database(url).session() as session:
        anomalies = session.exec(select(func.count()).select_from(Anomaly)
                                 .where(Anomaly.detected_at == clock.now())).one()
    assert anomalies > 0  # a break rate of 20 % breaks rules
    again = run(*args)
    assert again.exit_code == 0 and f"0 imported (0 fuel and services, 0 toll), {len(ids):,} already there" \
        in again.output
    assert simulated_ids(url) == ids
    # The same seed on another copy of the demo makes the same transactions.
    other = Database(f"sqlite:///{tmp_path / 'other.db'}", clock=clock)
    other.ensure_schema()
    build_demo(other, cards=20)
    other.dispose()
    assert run(*args[:2], "--database-url", other.url, *args[4:]).exit_code == 0
    assert simulated_ids(other.url) == ids


def test_import_reports_rejected_rows_and_is_idempotent(demo_db, tmp_path):
    with demo_db.session() as session:
        card = session.exec(select(Card).where(Card.status == CardStatus.ACTIVE,
                                               Card.product_type == ProductType.FLEET_CARD)
                            .order_by(Card.id)).first()
    path = tmp_path / "day.csv"
    path.write_text(
        "issuer_transaction_id;card_number;occurred_at;station;city;country;product;quantity;unit_price;"
        "amount_excl_vat;vat_rate;amount_incl_vat\n"
        f"CLI-1;{card.number};2026-11-25T10:00:00+01:00;Shell Gent;Gent;BE;{'diesel'};10,000;1,5000;15,00;21;18,15\n"
        f"CLI-2;{card.number};2026-11-25T11:00:00+01:00;Shell Gent;Gent;BE;kerosene;10;1.5;15;21;18.15\n",
        encoding="utf-8")
    first = run("issuer", "import-transactions", str(path), "--database-url", demo_db.url, "--now", NOW)
    assert first.exit_code == 0, first.output
    assert "Read 2 rows: 1 imported (1 fuel and services, 0 toll), 0 already there, 1 rejected." in first.output
    assert "rejected line 3: product 'kerosene' is unknown" in first.output
    again = run("issuer", "import-transactions", str(path), "--database-url", demo_db.url, "--now", NOW)
    assert "Read 2 rows: 0 imported (0 fuel and services, 0 toll), 1 already there, 1 rejected." in again.output


def test_import_of_a_file_it_cannot_read(demo_db, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("when;what\n2026-11-25;diesel\n")
    result = CliRunner().invoke(main, ["issuer", "import-transactions", str(path), "--database-url", demo_db.url])
    assert result.exit_code != 0 and "has no column issuer_transaction_id" in result.output
