"""The full per-card result of a bulk action (or its preview) as a CSV file.

A bulk action on "all that match" can touch 100,000 cards; the screen shows only a bounded part, and this file
holds every card. Written to a temporary file beside the target and renamed into place only when complete.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exports.output_files import replaced_when_complete

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
    count = 0
    with replaced_when_complete(path) as temp, open(temp, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(bulk_record(row))
            count += 1
    return count
