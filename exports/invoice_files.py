"""Writing a downloaded invoice: the signed PDF and its detached signature (`.p7s`) together, or neither.

`write_invoice_pair(folder, invoice)` writes `<number>.pdf` and `<number>.pdf.p7s` into `folder`: each to a
temporary name in that folder first (so the final rename stays on one file system), flushed and fsynced, then
both renamed into place. If anything fails before both are in place, neither final file is left (one already
renamed is removed again, or the file it replaced is put back) and no temporary file is left. An existing file
with other content is not overwritten unless `overwrite=True` (the screen asks first); an existing file with
exactly the same bytes is fine (downloading a duplicate again).

The default download folder (`default_download_folder()`): `$CARDSONLINE_DOWNLOAD_DIR` when set, else
`~/Downloads` when it exists, else the home folder.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from exports.output_files import temp_beside
from store.i18n import _

DOWNLOAD_DIR_ENV = "CARDSONLINE_DOWNLOAD_DIR"


class FilesExist(Exception):
    """One or both files already exist with other content; nothing was written. `paths`: those files."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(", ".join(str(p) for p in paths))
        self.paths = paths


@dataclass(frozen=True)
class PairNames:
    pdf: str
    p7s: str


def pair_names(number: str) -> PairNames:
    return PairNames(pdf=f"{number}.pdf", p7s=f"{number}.pdf.p7s")


def default_download_folder() -> Path:
    """$CARDSONLINE_DOWNLOAD_DIR, else ~/Downloads if it exists, else the home folder."""
    configured = os.environ.get(DOWNLOAD_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.home()


def existing_conflicts(folder: Path, number: str, pdf: bytes, p7s: bytes) -> list[Path]:
    """The target files that exist with other content (the ones a download would replace)."""
    names = pair_names(number)
    conflicts = []
    for name, content in ((names.pdf, pdf), (names.p7s, p7s)):
        path = folder / name
        if path.exists() and (not path.is_file() or path.read_bytes() != content):
            conflicts.append(path)
    return conflicts


def _write_temp(folder: Path, final_name: str, content: bytes) -> Path:
    path = temp_beside(folder / final_name)  # owner-only: an invoice is customer data
    try:
        with open(path, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_pair(folder: Path, number: str, pdf: bytes, p7s: bytes, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write `<number>.pdf` and `<number>.pdf.p7s` into `folder`, both or neither; returns their paths."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(_("The folder {folder} does not exist.").format(folder=folder))
    if not pdf or not p7s:
        raise ValueError(_("An invoice is downloaded with its signature: both files are needed."))
    names = pair_names(number)
    targets = (folder / names.pdf, folder / names.p7s)
    if not overwrite:
        conflicts = existing_conflicts(folder, number, pdf, p7s)
        if conflicts:
            raise FilesExist(conflicts)
    temps: list[Path] = []
    backups: list[tuple[Path, Path]] = []  # (target, its previous content moved aside)
    placed: list[Path] = []
    try:
        for target, content in zip(targets, (pdf, p7s)):
            temps.append(_write_temp(folder, target.name, content))
        for target in targets:
            if target.exists():
                handle, aside_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".old", dir=folder)
                os.close(handle)
                aside = Path(aside_name)
                try:
                    os.replace(target, aside)
                except BaseException:
                    aside.unlink(missing_ok=True)  # the target could not be moved aside (e.g. a folder)
                    raise
                backups.append((target, aside))
        for temp, target in zip(temps, targets):
            os.replace(temp, target)
            placed.append(target)
        _fsync_folder(folder)
    except BaseException:
        for target in placed:
            target.unlink(missing_ok=True)
        for target, aside in backups:
            try:
                os.replace(aside, target)
            except OSError:
                pass
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    for _target, aside in backups:
        aside.unlink(missing_ok=True)
    return targets


def write_invoice_pair(folder: Path, invoice, *, overwrite: bool = False) -> tuple[Path, Path]:
    """The signed PDF and `.p7s` of `invoice` (a store Invoice: number, pdf, signature_p7s) into `folder`."""
    return write_pair(folder, invoice.number, invoice.pdf or b"", invoice.signature_p7s or b"", overwrite=overwrite)
