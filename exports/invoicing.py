"""The invoice files wired to the invoicing batch: PDF (exports.invoice_pdf) + both signatures
(exports.invoice_signing), for `cardsonline issuer invoice` and for the demo.

- `make_renderer(signer)`: the `render` callback of store.issuer.invoicing.invoice_month (PDF, PAdES, .p7s).
- `issue_month(session, month, now, signer, out_dir=None)`: invoice the month; with `out_dir`, also write each
  new invoice's `<number>.pdf`, `<number>.pdf.p7s` and billing data files `TID-<number>.csv/.xlsx` there (the
  issuer's archive copy; the database keeps the PDF and the signature either way). The folder is checked
  first (`check_output_folder`: it exists and a file can be made in it), so a folder that cannot be written
  invoices nothing (`OutputFolderError`). The month's invoices made by an earlier run whose files are missing
  from the folder get them written first (`write_missing_files`: a run that stopped on a full disk, or the
  files deleted), and a month already invoiced is then no refusal when files were written. An invoice whose
  files cannot be written after its commit stops the run with `InvoiceFilesNotWritten`: the invoice is kept,
  and running the same command again writes its files and completes the month.
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

from exports.billing_data import billing_file_names, write_billing_data, write_document_billing_data
from exports.invoice_files import pair_names, write_pair
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
from exports.output_files import temp_beside
from store.i18n import _
from store.issuer.invoicing import (
    DEFAULT_PORTAL_LINK,
    InvoiceDocument,
    InvoicingFailed,
    InvoicingReport,
    MonthAlreadyInvoiced,
    invoice_document,
    invoice_month,
    invoices_without_files,
    store_signed_files,
)
from store.models import CustomerNumber, Invoice

__all__ = ["InvoiceFilesNotWritten", "OutputFolderError", "RenderReport", "check_output_folder",
           "demo_signing_config", "ensure_demo_keys", "invoice_file_names", "issue_month", "make_renderer",
           "render_missing", "write_invoice_files", "write_missing_files"]

log = logging.getLogger(__name__)
DEMO_KEYS_BACKDATE = timedelta(days=2 * 366)  # the demo's invoices go back months: the keys must predate them


def make_renderer(signer, now: datetime | None = None) -> Callable[[InvoiceDocument], tuple[bytes, bytes]]:
    """render(document) -> (signed PDF, .p7s). Signed at `now`, or at the document's issue moment when None."""

    def render(document: InvoiceDocument) -> tuple[bytes, bytes]:
        moment = now or datetime.combine(document.issue_date, datetime.min.time(), timezone.utc)
        return sign_invoice(render_invoice_pdf(document), signer, moment, reason=f"Invoice {document.number}")

    return render


class OutputFolderError(Exception):
    """The output folder is missing or cannot be written; raised before anything is invoiced."""


class InvoiceFilesNotWritten(Exception):
    """Invoice `number` is in the database (committed, signed) but its files could not be written to `folder`.
    `made_before`: it was made by an earlier run (its missing files were being written); otherwise this run made
    it and stopped after it. `report`: the run so far (the invoices made before it are complete)."""

    def __init__(self, report: InvoicingReport, number: str, folder: Path, cause: OSError, *,
                 made_before: bool = False):
        error = cause.strerror or str(cause)
        if made_before:
            message = _("The files of invoice {number}, made by an earlier run, could not be written to {folder}: "
                        "{error}. Nothing new was invoiced. When the folder can be written again, run the command "
                        "again with the same --out: it writes the missing files and completes the month.")
        else:
            message = _("Invoice {number} was made and is kept, but its files could not be written to {folder}: "
                        "{error}. The run stopped there. When the folder can be written again, run the command "
                        "again with the same --out: it writes the missing files of the invoices already made and "
                        "completes the month.")
        super().__init__(message.format(number=number, folder=folder, error=error))
        self.report, self.number, self.folder, self.cause = report, number, folder, cause
        self.made_before = made_before


def check_output_folder(folder: Path) -> Path:
    """`folder` (expanded) when it is a folder a file can be made in; OutputFolderError otherwise. Tried by
    making (and removing) a file: permissions alone say nothing for root or on a read-only file system."""
    folder = Path(folder).expanduser()
    if not folder.exists():  # also a path under a file
        raise OutputFolderError(_("The folder {folder} does not exist: nothing was invoiced. Create it, or choose "
                                  "another folder for the invoice files.").format(folder=folder))
    if not folder.is_dir():
        raise OutputFolderError(_("{folder} is a file, not a folder: nothing was invoiced. Choose a folder for the "
                                  "invoice files.").format(folder=folder))
    try:
        temp_beside(folder / ".cardsonline-write-check").unlink()
    except OSError as exc:
        raise OutputFolderError(_("Cannot write in the folder {folder} ({error}): nothing was invoiced. Choose a "
                                  "folder you may write in, with free space, and run the command again.").format(
            folder=folder, error=exc.strerror or exc)) from exc
    return folder


def invoice_file_names(number: str) -> tuple[str, ...]:
    """The four files `--out` writes for an invoice: PDF, .p7s, TID CSV and xlsx."""
    pair = pair_names(number)
    return (pair.pdf, pair.p7s, *billing_file_names(number))


def write_missing_files(session: Session, month: date, folder: Path, customer_numbers=None) -> list[str]:
    """The month's invoices (of `customer_numbers`, default all) that have their signed PDF but miss one of
    their files in `folder` get all four written again (from the database); returns their numbers. Raises
    InvoiceFilesNotWritten (made_before) at the first that cannot be written."""
    query = (select(Invoice.id, Invoice.number).join(CustomerNumber, CustomerNumber.id == Invoice.customer_number_id)
             .where(Invoice.period_start == month.replace(day=1), Invoice.pdf.is_not(None),
                    Invoice.signature_p7s.is_not(None)).order_by(Invoice.number))
    if customer_numbers is not None:
        query = query.where(CustomerNumber.number.in_([n.strip() for n in customer_numbers]))
    invoices = session.exec(query).all()
    written: list[str] = []
    try:
        for invoice_id, number in invoices:
            if all((folder / name).is_file() for name in invoice_file_names(number)):
                continue
            try:
                write_invoice_files(session, invoice_id, folder)
            except OSError as exc:
                report = InvoicingReport(month.replace(day=1), files_rewritten=written)
                raise InvoiceFilesNotWritten(report, number, folder, exc, made_before=True) from exc
            written.append(number)
    finally:
        session.rollback()  # only read: end the transaction before the invoices' own
    return written


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
    rendered, the PDF and .p7s just signed: nothing is read back). With `out_dir`, first the folder is checked
    (OutputFolderError: nothing invoiced) and the missing files of the month's invoices made before are
    written (`report.files_rewritten`; then a month already invoiced is not refused). A file that cannot be
    written stops the run with InvoiceFilesNotWritten, the invoice kept (see the module's docstring)."""
    folder = check_output_folder(out_dir) if out_dir is not None else None
    rewritten = (write_missing_files(session, month, folder, customer_numbers) if folder is not None else [])
    sign = make_renderer(signer, now)
    made: dict[str, tuple[InvoiceDocument, bytes, bytes]] = {}  # number -> what render made, until written

    def render(document: InvoiceDocument) -> tuple[bytes, bytes]:
        pdf, p7s = sign(document)
        if out_dir is not None:
            made.clear()  # an invoice rolled back leaves its entry; only the last one is committed
            made[document.number] = (document, pdf, p7s)
        return pdf, p7s

    def after_each(report: InvoicingReport) -> None:
        if folder is not None:
            document, pdf, p7s = made.pop(report.issued[-1].number)
            try:
                write_pair(folder, document.number, pdf, p7s, overwrite=True)
                write_document_billing_data(document, folder)
            except OSError as exc:  # the invoice is committed: say so, and how to get its files
                report.files_rewritten = rewritten
                raise InvoiceFilesNotWritten(report, document.number, folder, exc) from exc
        if progress is not None:
            progress(report)

    try:
        report = invoice_month(session, month, now, render, customer_numbers=customer_numbers,
                               portal_link=portal_link, progress=after_each)
    except MonthAlreadyInvoiced as refusal:
        if not rewritten or refusal.report is None:
            raise
        report = refusal.report  # the run wrote missing files: that was its work, not a refusal
    except InvoicingFailed as failure:
        failure.report.files_rewritten = rewritten
        raise
    report.files_rewritten = rewritten
    return report


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
