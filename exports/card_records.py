"""Cards as plain records for scripts: the JSON and CSV of `cardsonline cards list/show`.

The field names are a public interface (documented in the README): add fields, never rename them.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from store.queries.fleet_export import FleetExportRow

LIST_FIELDS = ("number", "rank", "type", "plate", "name", "driver", "division", "customer_number", "status",
               "renewal_status", "expiry", "last_use")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def card_record(row: FleetExportRow, *, details: bool = False) -> dict[str, Any]:
    """One card/OBU as a JSON-able dict; enum values in lower-case words ("in production")."""
    record: dict[str, Any] = {
        "number": row.number,
        "rank": row.rank,
        "type": row.product_type.value,
        "plate": row.license_plate,
        "name": row.embossed_name,
        "driver": row.driver_name,
        "division": row.division,
        "customer_number": row.customer_number,
        "status": row.status.value,
        "renewal_status": row.renewal_status.value,
        "expiry": _iso(row.expiry_date),
        "last_use": _iso(row.last_used_at),
    }
    if details:
        record.update({
            "code_type": row.code_type.value,
            "created": _iso(row.created_at),
            "category": row.category,
            "vehicle_type": row.vehicle_type,
            "linked_product": row.linked_number or row.linked_plate,
            "limits": [
                {"product": limit.product.value, "allowed": limit.allowed,
                 "amount_eur": None if limit.amount is None else str(limit.amount),
                 "volume": None if limit.volume is None else str(limit.volume),
                 "period": limit.period.value, "action": limit.action.value}
                for limit in row.limits.values()
            ],
            "controls": {
                "allowed_countries": list(row.allowed_countries),
                "allowed_weekdays": list(row.allowed_weekdays),
                "hours_from": row.hours_from,
                "hours_to": row.hours_to,
                "forbidden_days": [_iso(day) for day in row.forbidden_days],
                "odometer_prompt": row.odometer_prompt,
                "tank_capacity_l": None if row.tank_capacity_l is None else str(row.tank_capacity_l),
                "max_transactions_per_day": row.max_transactions_per_day,
            },
            "toll_operators": [toll.operator.value for toll in row.tolls],
        })
    return record


def write_json(records: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """A JSON list, written record by record so a 100,000-card fleet never sits in memory."""
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(records: Iterable[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=LIST_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow({k: "" if record[k] is None else record[k] for k in LIST_FIELDS})
        count += 1
    return count


def table_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Fixed-width lines for a terminal; streamed, so columns have fixed widths."""
    widths = (("number", 19), ("rank", 4), ("type", 12), ("plate", 11), ("driver", 18), ("division", 14),
              ("status", 13), ("expiry", 10))
    yield "  ".join(name.upper().ljust(width) for name, width in widths).rstrip()
    for record in records:
        cells = []
        for name, width in widths:
            value = record[name] if name != "plate" else (record["plate"] or record["name"])
            cells.append(("" if value is None else str(value))[:width].ljust(width))
        yield "  ".join(cells).rstrip()
