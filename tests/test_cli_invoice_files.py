"""`cardsonline issuer invoice --out DIR` when the files cannot be written: a folder that cannot be written is
refused before anything is invoiced; a write that fails after an invoice's commit says the invoice exists and
gives the command that writes its files; running that command writes the missing files of the invoices made
before (instead of only refusing the month) and completes the month."""
from __future__ import annotations

import errno
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent / "store"))
from test_invoicing import OCTOBER, build_world  # noqa: E402

from exports.invoice_signing import init_keys  # noqa: E402
from exports.invoicing import invoice_file_names  # noqa: E402
from store.models import Invoice  # noqa: E402
from tui.cli import main  # noqa: E402

PASSPHRASE = "correct horse battery staple"
FIRST, SECOND = "2026-000008", "2026-000009"  # October's invoices of 4020001 and 4020002, in that order


@pytest.fixture
def key_env(tmp_path, monkeypatch):
    keys = init_keys(tmp_path / "keys", PASSPHRASE.encode(), datetime(2026, 1, 1, tzinfo=timezone.utc))
    monkeypatch.setenv("CARDSONLINE_SIGNING_P12", str(keys.signer_p12))
    monkeypatch.setenv("CARDSONLINE_ISSUER_CA", str(keys.ca_cert))
    monkeypatch.setenv("CARDSONLINE_SIGNING_PASSPHRASE", PASSPHRASE)
    return keys


@pytest.fixture
def run(session, database_url, key_env):
    build_world(session)
    runner = CliRunner()

    def invoke(out: Path, *extra: str):
        return runner.invoke(main, ["issuer", "invoice", "--database-url", database_url, "--month", "2026-10",
                                    "--now", "2026-11-03T06:00:00+00:00", "--out", str(out), *extra])

    return invoke


def october(session) -> dict[str, Invoice]:
    session.expire_all()
    return {i.number: i for i in session.exec(select(Invoice).where(Invoice.period_start == OCTOBER)).all()}


def files_of(folder: Path, number: str) -> list[str]:
    return [name for name in invoice_file_names(number) if (folder / name).is_file()]


def no_traceback(result) -> None:
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a raw exception
    assert "Traceback" not in result.output


def test_a_folder_that_cannot_be_written_invoices_nothing(session, run, tmp_path, monkeypatch):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    result = run(a_file)
    assert result.exit_code == 1
    assert f"Error: {a_file} is a file, not a folder: nothing was invoiced." in result.output
    no_traceback(result)
    under_a_file = a_file / "invoices"
    result = run(under_a_file)
    assert result.exit_code == 1
    assert f"The folder {under_a_file} does not exist: nothing was invoiced." in result.output
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        if not os.access(read_only, os.W_OK):  # not as root, for whom the mode does not stop writes
            result = run(read_only)
            assert result.exit_code == 1 and "Cannot write in the folder" in result.output, result.output
    finally:
        read_only.chmod(0o755)
    # The same check when the system refuses the file (as root a read-only mode would not): the write is tried.
    import exports.invoicing as invoicing

    def refused(path, suffix=".part"):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(invoicing, "temp_beside", refused)
    result = run(read_only)
    assert result.exit_code == 1
    assert (f"Cannot write in the folder {read_only} ({os.strerror(errno.EACCES)}): nothing was invoiced."
            in result.output)
    assert october(session) == {}
    assert list(read_only.iterdir()) == []


def test_a_write_failing_after_the_last_commit_then_a_rerun_writes_the_missing_files(session, run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / f"{SECOND}.pdf"
    blocker.mkdir()  # a folder where the second invoice's PDF goes: its files cannot be written, even as root
    result = run(out)
    assert result.exit_code == 1
    no_traceback(result)
    assert (f"Invoice {SECOND} was made and is kept, but its files could not be written to {out}:"
            in result.output)
    assert f"To write the missing files: cardsonline issuer invoice --month 2026-10 --out {out}" in result.output
    assert "Invoices for 10/2026: 2 issued" in result.output  # what was made, printed before the error
    assert set(october(session)) == {FIRST, SECOND}
    assert files_of(out, FIRST) == list(invoice_file_names(FIRST))
    assert files_of(out, SECOND) == []  # the pair is written both or neither; the TID files come after it
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    still = run(out)  # still blocked: the same clear message, about the invoice made before
    assert still.exit_code == 1
    assert (f"The files of invoice {SECOND}, made by an earlier run, could not be written to {out}:"
            in still.output)
    no_traceback(still)

    blocker.rmdir()
    again = run(out)
    assert again.exit_code == 0, again.output
    assert "0 issued" in again.output and "2 already invoiced" in again.output
    assert f"Missing files written for 1 invoice made before: {SECOND}." in again.output
    invoices = october(session)
    assert set(invoices) == {FIRST, SECOND}  # nothing invoiced twice
    assert files_of(out, SECOND) == list(invoice_file_names(SECOND))
    assert (out / f"{SECOND}.pdf").read_bytes() == invoices[SECOND].pdf
    assert (out / f"{SECOND}.pdf.p7s").read_bytes() == invoices[SECOND].signature_p7s
    assert (out / f"TID-{SECOND}.csv").read_text(encoding="utf-8").count(SECOND) >= 1

    # Every file there: the month is refused as before, saying so.
    done = run(out)
    assert done.exit_code == 1 and "10/2026 is already invoiced" in done.output
    assert f"The files of the month's invoices are all in {out}." in done.output
    # A file deleted meanwhile: written again (only that invoice's).
    (out / f"TID-{FIRST}.xlsx").unlink()
    before = (out / f"{SECOND}.pdf").stat().st_mtime_ns
    restored = run(out)
    assert restored.exit_code == 0 and f"Missing files written for 1 invoice made before: {FIRST}." in restored.output
    assert files_of(out, FIRST) == list(invoice_file_names(FIRST))
    assert (out / f"{SECOND}.pdf").stat().st_mtime_ns == before


def test_a_full_disk_on_the_first_invoice_stops_the_run_and_the_rerun_completes_the_month(session, run, tmp_path,
                                                                                         monkeypatch):
    import exports.invoicing as invoicing

    out = tmp_path / "out"
    out.mkdir()
    real = invoicing.write_document_billing_data

    def disk_full(document, folder):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(invoicing, "write_document_billing_data", disk_full)
    result = run(out, "--customer-number", "4020001", "--customer-number", "4020002")
    assert result.exit_code == 1
    no_traceback(result)
    assert (f"Invoice {FIRST} was made and is kept, but its files could not be written to {out}: "
            f"{os.strerror(errno.ENOSPC)}. The run stopped there." in result.output)
    assert ("To write the missing files: cardsonline issuer invoice --month 2026-10 --customer-number 4020001 "
            f"--customer-number 4020002 --out {out}") in result.output
    assert set(october(session)) == {FIRST}  # the run stopped after the invoice it could not write

    monkeypatch.setattr(invoicing, "write_document_billing_data", real)
    again = run(out, "--customer-number", "4020001", "--customer-number", "4020002")
    assert again.exit_code == 0, again.output
    assert "1 issued" in again.output and "1 already invoiced" in again.output
    assert f"Missing files written for 1 invoice made before: {FIRST}." in again.output
    assert set(october(session)) == {FIRST, SECOND}
    for number in (FIRST, SECOND):
        assert files_of(out, number) == list(invoice_file_names(number))
