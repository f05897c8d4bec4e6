"""The issuer's invoicing with the real files (exports/invoicing.py, invoice_pdf.py, invoice_signing.py): signed
PDFs and .p7s that verify (pyhanko and openssl), the € and accents in the PDF's font, the TID files beside them,
the demo's invoices signed, and the commands `issuer keys init`, `issuer invoice` and `invoices verify`."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent / "store"))
from test_invoicing import ISSUE_AT, OCTOBER, build_world  # noqa: E402

from exports.billing_data import billing_rows  # noqa: E402
from exports.invoice_signing import init_keys, load_signer, load_trust_roots, verify_pair  # noqa: E402
from exports.invoicing import issue_month, render_missing  # noqa: E402
from store.models import Invoice  # noqa: E402
from tui.cli import main  # noqa: E402

PASSPHRASE = "correct horse battery staple"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@pytest.fixture
def keys(tmp_path):
    return init_keys(tmp_path / "keys", PASSPHRASE.encode(), datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def key_env(keys, monkeypatch):
    monkeypatch.setenv("CARDSONLINE_SIGNING_P12", str(keys.signer_p12))
    monkeypatch.setenv("CARDSONLINE_ISSUER_CA", str(keys.ca_cert))
    monkeypatch.setenv("CARDSONLINE_SIGNING_PASSPHRASE", PASSPHRASE)
    return keys


def _to_unicode(pdf: bytes) -> str:
    """Every /ToUnicode map of the PDF's fonts, decoded (which characters the text uses)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(BytesIO(pdf))
    maps = []
    for page in reader.root["/Pages"]["/Kids"]:
        for font in page.get_object()["/Resources"]["/Font"].values():
            font = font.get_object()
            assert "BitstreamVeraSans" in font["/BaseFont"]  # embedded (a subset): no viewer font needed
            maps.append(font["/ToUnicode"].get_object().data.decode("latin-1"))
    return "\n".join(maps)


def test_a_month_with_signed_pdfs_and_billing_files(session, keys, tmp_path):
    build_world(session)
    out = tmp_path / "out"
    out.mkdir()
    report = issue_month(session, OCTOBER, ISSUE_AT, load_signer(keys.signer_p12, PASSPHRASE.encode()), out_dir=out)
    assert [i.number for i in report.issued] == ["2026-000008", "2026-000009"]
    roots = load_trust_roots(keys.ca_cert)
    for invoice in session.exec(select(Invoice).where(Invoice.period_start == OCTOBER)).all():
        result = verify_pair(invoice.pdf, invoice.signature_p7s, roots)
        assert result.valid, result.problems
        assert result.signed_at == ISSUE_AT
        assert invoice.pdf_sha256 == hashlib.sha256(invoice.pdf).hexdigest()
        # The files written for the issuer are the stored ones, and openssl agrees on the detached signature.
        assert (out / f"{invoice.number}.pdf").read_bytes() == invoice.pdf
        assert (out / f"{invoice.number}.pdf.p7s").read_bytes() == invoice.signature_p7s
        check = subprocess.run([OPENSSL, "cms", "-verify", "-binary", "-inform", "DER",
                                "-in", str(out / f"{invoice.number}.pdf.p7s"), "-content",
                                str(out / f"{invoice.number}.pdf"), "-CAfile", str(keys.ca_cert), "-purpose", "any",
                                "-out", "/dev/null"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        # The TID files carry the same totals.
        total = [row for row in billing_rows(session, invoice.id)][-1]
        assert (total.amount_excl_vat, total.vat_amount, total.amount_incl_vat) == (
            invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat)
        assert (out / f"TID-{invoice.number}.csv").exists() and (out / f"TID-{invoice.number}.xlsx").exists()
    a = session.exec(select(Invoice).where(Invoice.number == "2026-000008")).one()
    assert a.total_incl_vat == Decimal("394.58")
    used = _to_unicode(a.pdf)
    # The euro sign and the French accents are in the embedded font's character map (the customer reads French).
    for char in "€éÉà":  # "Échéance", "Période", "Total à payer", "394,58 €"
        assert f"<{ord(char):04X}>" in used.upper(), char


def test_a_long_invoice_runs_over_pages(session, keys):
    from exports.invoice_pdf import render_invoice_pdf
    from pyhanko.pdf_utils.reader import PdfFileReader
    from store.issuer.invoicing import invoice_document
    from store.models import FuelTransaction, Product

    world = build_world(session)
    for day in range(1, 31):
        for hour in range(8, 13):
            session.add(FuelTransaction(issuer_transaction_id=f"X-{day}-{hour}", card_id=world.card_b.id, rank=1,
                                        occurred_at=datetime(2026, 10, day, hour, tzinfo=timezone.utc),
                                        station="Total Liège", city="Liège", country="BE", product=Product.DIESEL,
                                        quantity=Decimal("40"), unit_price=Decimal("1.6"),
                                        amount_excl_vat=Decimal("64.00"), vat_rate=Decimal("21"),
                                        amount_incl_vat=Decimal("77.44")))
    session.commit()
    issue_month(session, OCTOBER, ISSUE_AT, load_signer(keys.signer_p12, PASSPHRASE.encode()),
                customer_numbers=["4020002"])
    invoice = session.exec(select(Invoice).where(Invoice.period_start == OCTOBER)).one()
    assert invoice.total_incl_vat == Decimal("77.44") * 150 + Decimal("60.50") + Decimal("1.82")
    pages = PdfFileReader(BytesIO(render_invoice_pdf(invoice_document(session, invoice.id)))).root["/Pages"]
    assert pages["/Count"] >= 3
    assert verify_pair(invoice.pdf, invoice.signature_p7s, load_trust_roots(keys.ca_cert)).valid


def test_the_demo_invoices_get_signed_pdfs(demo_db, tmp_path):
    from exports.invoice_signing import SigningConfig

    config = SigningConfig(p12=tmp_path / "keys" / "issuer-signing.p12", passphrase=None,
                           ca_cert=tmp_path / "keys" / "issuer-ca.pem")
    report = render_missing(demo_db, config)
    assert report.keys_made is not None and report.signed > 0
    roots = load_trust_roots(config.ca_cert)
    with demo_db.session() as session:
        invoices = session.exec(select(Invoice)).all()
        assert len(invoices) == report.signed
        for invoice in invoices[:3]:
            result = verify_pair(invoice.pdf, invoice.signature_p7s, roots)
            assert result.valid, result.problems
    again = render_missing(demo_db, config)
    assert (again.signed, again.keys_made) == (0, None)


def test_the_commands(session, database_url, key_env, tmp_path):
    build_world(session)
    runner = CliRunner()
    # keys init: needs the passphrase, never overwrites.
    made = runner.invoke(main, ["issuer", "keys", "init", "--out", str(tmp_path / "new-keys")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "new-keys" / "issuer-signing.p12").exists()
    again = runner.invoke(main, ["issuer", "keys", "init", "--out", str(tmp_path / "new-keys")])
    assert again.exit_code == 1 and "never overwritten" in again.output
    no_pass = runner.invoke(main, ["issuer", "keys", "init", "--out", str(tmp_path / "x")],
                            env={"CARDSONLINE_SIGNING_PASSPHRASE": ""})
    assert no_pass.exit_code == 1 and "CARDSONLINE_SIGNING_PASSPHRASE" in no_pass.output

    out = tmp_path / "out"
    out.mkdir()
    args = ["issuer", "invoice", "--database-url", database_url, "--month", "2026-10", "--now",
            "2026-11-03T06:00:00+00:00"]
    wrong = runner.invoke(main, args, env={"CARDSONLINE_SIGNING_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    result = runner.invoke(main, args + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Invoices for 10/2026: 2 issued" in result.output and "2026-000008" in result.output
    rerun = runner.invoke(main, args)
    assert rerun.exit_code == 1 and "already invoiced" in rerun.output
    early = runner.invoke(main, ["issuer", "invoice", "--database-url", database_url, "--month", "2026-11",
                                 "--now", "2026-11-20T06:00:00"])
    assert early.exit_code == 1 and "not over yet" in early.output

    pdf, p7s = out / "2026-000008.pdf", out / "2026-000008.pdf.p7s"
    ok = runner.invoke(main, ["invoices", "verify", str(pdf), str(p7s)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("Valid: the PDF signature and the detached signature 2026-000008.pdf.p7s")
    assert "Cards Online Invoicing" in ok.output and "03/11/2026 06:00 UTC" in ok.output
    alone = runner.invoke(main, ["invoices", "verify", str(pdf)])
    assert alone.exit_code == 0 and "only the signature inside the PDF" in alone.output
    other = runner.invoke(main, ["invoices", "verify", str(pdf), str(out / "2026-000009.pdf.p7s")])
    assert other.exit_code == 1 and "NOT VALID" in other.output and "belongs to another file" in other.output
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    bad = runner.invoke(main, ["invoices", "verify", str(tampered), str(p7s)])
    assert bad.exit_code == 1
    assert "PDF signature: FAILED" in bad.output and "detached signature (.p7s): FAILED" in bad.output
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"not a pdf at all")
    junk = runner.invoke(main, ["invoices", "verify", str(garbage)])
    assert junk.exit_code == 1 and "not a readable PDF" in junk.output
    stranger = init_keys(tmp_path / "stranger", b"x", datetime(2026, 1, 1, tzinfo=timezone.utc))
    untrusted = runner.invoke(main, ["invoices", "verify", str(pdf), str(p7s), "--ca", str(stranger.ca_cert)])
    assert untrusted.exit_code == 1 and "not trusted" in untrusted.output
