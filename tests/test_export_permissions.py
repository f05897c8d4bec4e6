"""Export files hold customer data: created readable by their owner only (0o600, or stricter with a stricter
umask), also when they replace a file the user chose, through the one helper in exports/output_files.py."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from exports.bulk_results import write_bulk_csv
from exports.fleet_xlsx import COLUMNS, write_rows_xlsx
from exports.invoice_files import write_pair
from exports.output_files import replaced_when_complete


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[callable]:
    """Set the process umask for the test (the usual 0o022 first), put back afterwards."""
    previous = os.umask(0o022)

    def set_to(value: int) -> None:
        os.umask(value)

    try:
        yield set_to
    finally:
        os.umask(previous)


def test_a_new_file_is_for_its_owner_only(tmp_path, umask):
    target = tmp_path / "fleet.csv"
    with replaced_when_complete(target) as temp:
        temp.write_text("a;b\n")
    assert target.read_text() == "a;b\n"
    assert mode(target) == 0o600


def test_an_existing_file_the_user_chose_is_replaced_and_becomes_owner_only(tmp_path, umask):
    target = tmp_path / "chosen.csv"
    target.write_text("old content\n")
    target.chmod(0o644)
    with replaced_when_complete(target) as temp:
        temp.write_text("new content\n")
    assert target.read_text() == "new content\n"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["chosen.csv"]  # no temporary file left


def test_a_failed_write_leaves_the_existing_file_as_it_was(tmp_path, umask):
    target = tmp_path / "chosen.csv"
    target.write_text("old content\n")
    with pytest.raises(RuntimeError):
        with replaced_when_complete(target) as temp:
            temp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["chosen.csv"]


@pytest.mark.parametrize("user_umask, expected", [(0o000, 0o600), (0o077, 0o600), (0o277, 0o400)])
def test_a_stricter_umask_wins_a_looser_one_does_not(tmp_path, umask, user_umask, expected):
    umask(user_umask)
    target = tmp_path / "fleet.xlsx"
    write_rows_xlsx(iter([["700614020001000018"] + [None] * (len(COLUMNS) - 1)]), target)
    assert mode(target) == expected


def test_each_exporter_writes_owner_only_files(tmp_path, umask):
    fleet = tmp_path / "fleet.xlsx"
    fleet.write_bytes(b"an older export")
    fleet.chmod(0o644)
    write_rows_xlsx(iter([["700614020001000018"] + [None] * (len(COLUMNS) - 1)]), fleet)
    bulk = tmp_path / "bulk.csv"
    write_bulk_csv([SimpleNamespace(card_id=1, label="1-ABC-123", outcome="done", message="")], bulk)
    pdf, p7s = write_pair(tmp_path, "2026-000008", b"%PDF-1.7 ...", b"signature")
    written = {path.name: mode(path) for path in (fleet, bulk, pdf, p7s)}
    assert written == {"fleet.xlsx": 0o600, "bulk.csv": 0o600, "2026-000008.pdf": 0o600,
                       "2026-000008.pdf.p7s": 0o600}
