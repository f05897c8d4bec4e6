"""The invoice files wired to the invoicing batch: PDF (exports.invoice_pdf) + both signatures
(exports.invoice_signing), for `cardsonline issuer invoice` and for the demo.

- `make_renderer(signer)`: the `render` callback of store.issuer.invoicing.invoice_month (PDF, PAdES, .p7s).
- `issue_month(session, month, now, signer, out_dir=None)`: invoice the month; with `out_dir`, also write each
  new invoice's `<number>.pdf`, `<number>.pdf.p7s` and billing data files `TID-<number>.csv/.xlsx` there (the
  issuer's archive copy; the database keeps the PDF and the signature either way).
- `ensure_demo_keys(config, now)`: the demo's issuer keys in the data dir when there are none.
- `render_missing(database, config)`: sign the invoices that have no PDF yet (the demo's), one commit each.

The demo passphrase: when CARDSONLINE_SIGNING_PASSPHRASE is unset, the demo keys are protected with "demo" —
for the demo only; a real installation sets the variable and points CARDSONLINE_SIGNING_P12 to its PKCS#12.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from sqlmodel import Session, select

from exports.billing_data import write_billing_data, write_document_billing_data
from exports.invoice_files import write_pair
from exports.invoice_pdf import render_invoice_pdf
from exports.invoice_signing import (
    DEMO_PASSPHRASE,
    KeyFiles,
    SigningConfig,
    SigningKeyError,
    init_keys,
    load_signer,
    sign_invoice,
    signing_config,
)
from store.i18n import _
from store.issuer.invoicing import (
    DEFAULT_PORTAL_LINK,
    InvoiceDocument,
    InvoicingReport,
    invoice_document,
    invoice_month,
    invoices_without_files,
    store_signed_files,
)
from store.models import Invoice

__all__ = ["RenderReport", "demo_signing_config", "ensure_demo_keys", "issue_month", "make_renderer",
           "render_missing", "write_invoice_files"]

log = logging.getLogger(__name__)
DEMO_KEYS_BACKDATE = timedelta(days=2 * 366)  # the demo's invoices go back months: the keys must predate them


def make_renderer(signer, now: datetime | None = None) -> Callable[[InvoiceDocument], tuple[bytes, bytes]]:
    """render(document) -> (signed PDF, .p7s). Signed at `now`, or at the document's issue moment when None."""

    def render(document: InvoiceDocument) -> tuple[bytes, bytes]:
        moment = now or datetime.combine(document.issue_date, datetime.min.time(), timezone.utc)
        return sign_invoice(render_invoice_pdf(document), signer, moment, reason=f"Invoice {document.number}")

    return render


def write_invoice_files(session: Session, invoice_id: int, folder: Path) -> list[Path]:
    """`<number>.pdf`, `<number>.pdf.p7s` and `TID-<number>.csv/.xlsx` of one invoice into `folder`."""
    invoice = session.get(Invoice, invoice_id)
    pdf_path, p7s_path = write_pair(folder, invoice.number, invoice.pdf or b"", invoice.signature_p7s or b"",
                                    overwrite=True)
    csv_path, xlsx_path = write_billing_data(session, invoice_id, folder)
    return [pdf_path, p7s_path, csv_path, xlsx_path]


def issue_month(session: Session, month: date, now: datetime, signer, *, out_dir: Path | None = None,
                customer_numbers=None, portal_link: str = DEFAULT_PORTAL_LINK,
                progress: Callable[[InvoicingReport], None] | None = None) -> InvoicingReport:
    """Invoice `month` with real PDFs and signatures (store.issuer.invoicing.invoice_month); with `out_dir`,
    each invoice's files are written there right after its commit (the TID files from the document just
    rendered, the PDF and .p7s just signed: nothing is read back)."""
    if out_dir is not None and not Path(out_dir).is_dir():
        raise FileNotFoundError(_("The folder {folder} does not exist.").format(folder=out_dir))
    sign = make_renderer(signer, now)
    made: dict[str, tuple[InvoiceDocument, bytes, bytes]] = {}  # number -> what render made, until written

    def render(document: InvoiceDocument) -> tuple[bytes, bytes]:
        pdf, p7s = sign(document)
        if out_dir is not None:
            made.clear()  # an invoice rolled back leaves its entry; only the last one is committed
            made[document.number] = (document, pdf, p7s)
        return pdf, p7s

    def after_each(report: InvoicingReport) -> None:
        if out_dir is not None:
            document, pdf, p7s = made.pop(report.issued[-1].number)
            write_pair(Path(out_dir), document.number, pdf, p7s, overwrite=True)
            write_document_billing_data(document, Path(out_dir))
        if progress is not None:
            progress(report)

    return invoice_month(session, month, now, render, customer_numbers=customer_numbers,
                         portal_link=portal_link, progress=after_each)


# --- the demo ----------------------------------------------------------------------------------------------------

def demo_signing_config(config: SigningConfig | None = None) -> SigningConfig:
    """The configuration with the demo passphrase when none is set (demo only)."""
    config = config or signing_config()
    return config if config.passphrase else replace(config, passphrase=DEMO_PASSPHRASE)


def ensure_demo_keys(config: SigningConfig, now: datetime) -> KeyFiles | None:
    """Make demo keys at the configured places when neither file exists (None when both exist). The keys are
    valid from two years before `now`, so the demo's older invoices can be signed at their issue date."""
    p12, ca = config.p12.exists(), config.ca_cert.exists()
    if p12 and ca:
        return None
    if p12 or ca:
        present, missing = (config.p12, config.ca_cert) if p12 else (config.ca_cert, config.p12)
        raise SigningKeyError(_("{present} exists but {missing} does not: restore it, or move {present} away to "
                                "make new demo keys.").format(present=present, missing=missing))
    if config.p12.parent != config.ca_cert.parent or config.p12.name != "issuer-signing.p12" \
            or config.ca_cert.name != "issuer-ca.pem":
        raise SigningKeyError(_("No signing key at {file}: make one with `cardsonline issuer keys init --out DIR` "
                                "and set CARDSONLINE_SIGNING_P12 and CARDSONLINE_ISSUER_CA to its files.").format(
            file=config.p12))
    if not config.passphrase:
        raise SigningKeyError(_("A passphrase is needed for the demo keys."))
    return init_keys(config.p12.parent, config.passphrase, now - DEMO_KEYS_BACKDATE)


@dataclass
class RenderReport:
    signed: int = 0
    keys_made: KeyFiles | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        keys = f" Demo signing keys made in {self.keys_made.signer_p12.parent}." if self.keys_made else ""
        return f"Invoices signed: {self.signed} ({self.seconds:.1f} s).{keys}"


def render_missing(database, config: SigningConfig | None = None, *, limit: int | None = None,
                   make_keys: bool = True, progress: Callable[[int, int], None] | None = None) -> RenderReport:
    """Give every invoice without files (the demo's) its signed PDF and `.p7s`, signed at its issue moment
    (created_at), one commit per invoice. With `make_keys`, demo keys are made first when there are none.
    About 60 ms per invoice on one core (the demo's dozen in under a second); `limit` bounds a big demo."""
    import time

    started = time.perf_counter()
    config = demo_signing_config(config)
    report = RenderReport()
    now = database.clock.now()
    with database.session() as session:
        ids = invoices_without_files(session, limit)
        session.rollback()
        if not ids:
            return report
        if make_keys:
            report.keys_made = ensure_demo_keys(config, now)
        signer = load_signer(config.p12, config.passphrase)
        not_before = signer.signing_cert.not_valid_before
        for done, invoice_id in enumerate(ids, 1):
            invoice = session.get(Invoice, invoice_id)
            if invoice.pdf is not None and invoice.signature_p7s is not None:
                continue
            moment = invoice.created_at or datetime.combine(invoice.issue_date, datetime.min.time(), timezone.utc)
            moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
            moment = max(min(moment, now), not_before)  # never before the signing certificate existed
            pdf, p7s = make_renderer(signer, moment)(invoice_document(session, invoice_id))
            store_signed_files(invoice, pdf, p7s)
            session.add(invoice)
            session.commit()
            report.signed += 1
            if progress is not None:
                progress(done, len(ids))
    report.seconds = time.perf_counter() - started
    return report
