"""The full per-card result of a bulk action (or its preview) as a CSV file.

A bulk action on "all that match" can touch 100,000 cards; the screen shows only a bounded part, and this file
holds every card. Written to a temporary file beside the target and renamed into place only when complete.
"""
from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FIELDS = ("card_id", "card", "outcome", "message")


def bulk_record(row: Any) -> dict[str, Any]:
    """A BulkPreview (outcome: refused/immediate/reproduction) or a CardActionResult (outcome: done/refused)."""
    outcome = getattr(row, "outcome", None)
    if outcome is None:
        outcome = "done" if row.ok else "refused"
    return {"card_id": row.card_id, "card": row.label, "outcome": outcome, "message": row.message}


def write_bulk_csv(rows: Iterable[Any], path: Path) -> int:
    """Write one line per card to `path` (replaced only once complete); returns the number of cards."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    count = 0
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow(bulk_record(row))
                count += 1
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count
