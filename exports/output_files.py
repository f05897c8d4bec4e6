"""Where every export file is written: beside its target, readable by its owner only, renamed into place whole.

Export files (fleet, reports, audit trail, invoices, billing data, bulk results) hold customer data, so they
are created with mode 0o600 less the user's umask (a stricter umask, 0o077 or 0o277, still wins), whether
the target is new or an existing file the user chose to replace: the content is written to a temporary file
in the target's folder and renamed onto the target only when complete, so an existing file keeps its old
content until then and ends up with the new content and owner-only permissions.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OWNER_ONLY", "replaced_when_complete", "temp_beside"]

OWNER_ONLY = 0o600


def temp_beside(path: Path, suffix: str = ".part") -> Path:
    """A new, empty, hidden temporary file in `path`'s folder, mode 0o600 less the umask."""
    # mkstemp opens with O_CREAT | O_EXCL and mode 0o600, and the kernel applies the umask to it: exactly
    # "owner only, unless the umask is stricter", without reading the process-wide umask (threads export).
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    return Path(name)


@contextmanager
def replaced_when_complete(path: Path, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary file (see `temp_beside`) to write; when the block ends without error it replaces
    `path`, otherwise it is removed and `path` is left as it was."""
    temp = temp_beside(Path(path), suffix)
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
