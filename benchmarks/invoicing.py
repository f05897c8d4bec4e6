"""Invoicing a month for 200 customer numbers: seconds per invoice for the whole invoice against pyhanko alone
signing the same PDFs.

The whole invoice: store.issuer.invoicing.invoice_month with the real renderer (the data: number, lines, VAT,
totals, transactions marked, e-mails; the PDF; the PAdES signature and the detached .p7s; the commit), then the
billing data files (TID CSV and xlsx) written for it from its document, as `issue_month` does. Measured per
invoice, from the end of one to the end of the next. The baseline: pyhanko alone, its stock
`SimpleSigner.load_pkcs12` and `signers.sign_pdf` with default settings (PAdES, SHA-256), signing each of the
very same unsigned PDFs the run rendered (kept in memory, not timed). Goal (issue 9): the whole invoice at most
2x the signing alone.

The data: `--numbers` customer numbers (one customer each), each with 4 fleet cards (25 fuel/service
transactions each in October 2026) and an OBU (20 tolls): about 125 lines per invoice. Keys: demo ECDSA P-256
(`init_keys`). Each run invoices a fresh copy of the database; right after each invoice (outside its time) the
baseline signs that invoice's unsigned PDF, so both see the same machine load. Prints the medians per invoice
and their ratio (the machines are shared and noisy: compare ratios).

    .venv/bin/python benchmarks/invoicing.py [--numbers 200] [--runs 3]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 2.0
MONTH = date(2026, 10, 1)
ISSUE_AT = datetime(2026, 11, 3, 5, 0, tzinfo=timezone.utc)
PASSPHRASE = b"benchmark"


def build(url: str, numbers: int) -> None:
    from sqlalchemy import insert

    from store.db import Database
    from store.migrate import upgrade
    from store.models import (Card, CardStatus, Customer, CustomerNumber, FleetDivision, FuelTransaction, Product,
                              ProductType, TollTransaction)

    db = Database(url)
    upgrade(db.engine)
    rng = random.Random(9)
    products = [Product.DIESEL] * 6 + [Product.ADBLUE, Product.CAR_WASH, Product.SHOP]
    start = datetime(2026, 10, 1, 6, tzinfo=timezone.utc)
    with db.session() as session:
        connection = session.connection()
        fuel, toll = [], []
        for n in range(numbers):
            customer = Customer(name=f"Transports n°{n} SA", vat_number=f"BE0{400000000 + n}", driver_code_prefix="7310",
                                language=("nl", "fr", "en")[n % 3], created_at=start)
            session.add(customer)
            session.flush()
            number = CustomerNumber(customer_id=customer.id, number=f"{4100000 + n}", name=f"Dépôt {n}")
            session.add(number)
            session.flush()
            division = FleetDivision(customer_number_id=number.id, name="Distribution")
            session.add(division)
            session.flush()
            for c in range(5):
                obu = c == 4
                card = Card(customer_number_id=number.id, division_id=division.id,
                            product_type=ProductType.PASSANGO_OBU if obu else ProductType.FLEET_CARD,
                            number=f"70061{4100000 + n}{c:05d}0", rank=1, status=CardStatus.ACTIVE,
                            license_plate=f"{n % 9}-ABC-{c:03d}", created_at=start)
                session.add(card)
                session.flush()
                for t in range(20 if obu else 25):
                    moment = start + timedelta(hours=rng.uniform(0, 29 * 24))
                    excl = Decimal(rng.randint(500, 20000)) / 100
                    rate = Decimal(0) if obu and t % 3 == 0 else Decimal(21)
                    incl = (excl * (100 + rate) / 100).quantize(Decimal("0.01"))
                    if obu:
                        toll.append(dict(issuer_transaction_id=f"P-{n}-{c}-{t}", card_id=card.id,
                                         operator="viapass (BE)", country="BE", entry_point="E40 Gent-Centrum",
                                         exit_point="E40 Brussel-Noord", entry_at=moment - timedelta(minutes=40),
                                         exit_at=moment, vehicle_class="3", amount_excl_vat=excl, vat_rate=rate,
                                         amount_incl_vat=incl))
                    else:
                        fuel.append(dict(issuer_transaction_id=f"T-{n}-{c}-{t}", card_id=card.id, rank=1,
                                         occurred_at=moment, station="Q8 Liège", city="Liège", country="BE",
                                         product=rng.choice(products), quantity=Decimal("40.000"),
                                         unit_price=Decimal("1.6000"), amount_excl_vat=excl, vat_rate=rate,
                                         amount_incl_vat=incl))
        connection.execute(insert(FuelTransaction.__table__), fuel)
        connection.execute(insert(TollTransaction.__table__), toll)
        session.commit()
    db.dispose()


def baseline_signer(keys):
    """pyhanko alone: its stock SimpleSigner from the PKCS#12 and sign_pdf with default settings."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = signers.SimpleSigner.load_pkcs12(str(keys.signer_p12), passphrase=PASSPHRASE)
    meta = signers.PdfSignatureMetadata(field_name="Signature", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)

    def sign(pdf: bytes) -> bytes:
        return signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf), strict=False), meta, signer=signer).getvalue()

    return sign


def run_month(url: str, keys, out: Path) -> tuple[list[float], list[float], dict[str, float]]:
    """Seconds per invoice of the whole invoice and, interleaved (right after each invoice, outside its
    time, so both see the same load), of pyhanko alone signing that invoice's unsigned PDF."""
    from exports.billing_data import write_document_billing_data
    from exports.invoice_pdf import render_invoice_pdf
    from exports.invoice_signing import load_signer, sign_invoice
    from store.db import Database
    from store.issuer.invoicing import invoice_month

    db = Database(url)
    unsigned: list[bytes] = []
    documents: list = []
    whole: list[float] = []
    alone: list[float] = []
    parts: dict[str, list[float]] = {"pdf": [], "signatures": [], "TID": []}
    pyhanko_sign = baseline_signer(keys)
    with db.session() as session:
        signer = load_signer(keys.signer_p12, PASSPHRASE)

        def render(document):
            started = time.perf_counter()
            pdf = render_invoice_pdf(document)
            rendered = time.perf_counter()
            unsigned.append(pdf)
            documents.append(document)
            files = sign_invoice(pdf, signer, ISSUE_AT, reason=f"Invoice {document.number}")
            parts["pdf"].append(rendered - started)
            parts["signatures"].append(time.perf_counter() - rendered)
            return files

        last = time.perf_counter()

        def progress(report) -> None:
            nonlocal last
            started = time.perf_counter()
            # As `cardsonline issuer invoice --out` does (exports.invoicing.issue_month): from the document.
            write_document_billing_data(documents[-1], out)
            parts["TID"].append(time.perf_counter() - started)
            whole.append(time.perf_counter() - last)
            started = time.perf_counter()
            pyhanko_sign(unsigned[-1])
            alone.append(time.perf_counter() - started)
            last = time.perf_counter()

        invoice_month(session, MONTH, ISSUE_AT, render, progress=progress)
    db.dispose()
    return whole, alone, {name: statistics.median(times) for name, times in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=200, help="customer numbers (one invoice each)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from exports.invoice_signing import init_keys

    with tempfile.TemporaryDirectory(prefix="invoicing-bench-") as folder:
        folder = Path(folder)
        template = folder / "template.db"
        started = time.perf_counter()
        build(f"sqlite:///{template}", args.numbers)
        keys = init_keys(folder / "keys", PASSPHRASE, ISSUE_AT - timedelta(days=30))
        print(f"Data: {args.numbers} customer numbers, {args.numbers * 120:,} transactions "
              f"({time.perf_counter() - started:.1f} s to build).")
        whole_medians, base_medians = [], []
        for run in range(1, args.runs + 1):
            db_file = folder / f"run{run}.db"
            shutil.copyfile(template, db_file)
            out = folder / f"out{run}"
            out.mkdir()
            whole, base, parts = run_month(f"sqlite:///{db_file}", keys, out)
            whole_medians.append(statistics.median(whole))
            base_medians.append(statistics.median(base))
            print(f"run {run}: {len(whole)} invoices in {sum(whole):.1f} s; per invoice median whole "
                  f"{whole_medians[-1] * 1000:.1f} ms, pyhanko signing alone {base_medians[-1] * 1000:.1f} ms "
                  f"(ratio {whole_medians[-1] / base_medians[-1]:.2f}x); medians of the parts: "
                  + ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in parts.items())
                  + ", the rest is the data and the commit")
            db_file.unlink()
        whole_ms = statistics.median(whole_medians) * 1000
        base_ms = statistics.median(base_medians) * 1000
        # The ratio of each run compares times taken under the same load (interleaved); its median is the result.
        ratio = statistics.median(w / b for w, b in zip(whole_medians, base_medians))
        print(f"Median per invoice over the runs: whole invoice (data, PDF, PAdES + .p7s, TID CSV + xlsx) "
              f"{whole_ms:.1f} ms; pyhanko alone signing the same PDF {base_ms:.1f} ms.")
        print(f"Ratio (median of the runs' ratios): {ratio:.2f}x (goal <= {RATIO_GOAL:.1f}x) -> "
              f"{'OK' if ratio <= RATIO_GOAL else 'OVER'}")


if __name__ == "__main__":
    main()
