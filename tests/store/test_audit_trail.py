"""The audit trail read model (My account → Audit trail) and its Excel export."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from exports.audit_xlsx import COLUMNS, write_audit_xlsx
from exports.fleet_xlsx import ExportCancelled
from store.models import AuditEvent, Customer, User
from store.queries.audit import (
    AuditFilter,
    audit_choices,
    change_lines,
    count_audit,
    customer_zone,
    iter_audit,
    search_audit,
)
from store.services import audit
from store.services.context import ISSUER, actor_for
from store.services.errors import PermissionDenied


@pytest.fixture
def trail(demo_db):
    """The demo plus a few events: fleetadmin's and depot's changes, the issuer's, another customer's."""
    with demo_db.session() as session:
        users = {u.username: u for u in session.exec(select(User)).all()}
        admin, depot = actor_for(session, users["fleetadmin"]), actor_for(session, users["depot"])
        base = datetime(2026, 11, 20, 22, 30, tzinfo=timezone.utc)  # 23:30 in Brussels, 20/11
        audit.record(session, admin, base, "card", 1, "changed", before={"license_plate": "1-ABC-234"},
                     after={"license_plate": "1-XYZ-999"})
        audit.record(session, depot, base + timedelta(hours=1), "card", 2, "blocked",  # 21/11 00:30 local
                     before={"status": "active"}, after={"status": "blocked", "block_reason": "loss"})
        audit.record(session, ISSUER, base + timedelta(days=2), "request", 7, "shipped",
                     before={"status": "in production"}, after={"status": "shipped"}, customer_id=admin.customer_id)
        other = Customer(name="Other NV", driver_code_prefix="9999")
        session.add(other)
        session.flush()
        audit.record(session, ISSUER, base, "card", 99, "changed", customer_id=other.id)
        session.commit()
        yield session, admin, depot


def test_newest_first_scoped_to_the_customer_with_keyset_pages(trail):
    session, admin, _depot = trail
    rows = search_audit(session, admin, limit=500)
    assert [r.action for r in rows[:3]] == ["shipped", "blocked", "changed"]
    assert all(r.object_id != "99" for r in rows)  # the other customer's event is not shown
    assert count_audit(session, admin) == len(rows)
    first = search_audit(session, admin, limit=2)
    second = search_audit(session, admin, after_id=first[-1].id, limit=2)
    assert [r.id for r in first + second] == [r.id for r in rows[:4]]
    assert [r.id for r in iter_audit(session, admin, batch=2)] == [r.id for r in rows]
    assert count_audit(session, ISSUER) == count_audit(session, admin) + 1


def test_only_with_the_audit_right(trail):
    session, _admin, depot = trail
    with pytest.raises(PermissionDenied):
        search_audit(session, depot)
    with pytest.raises(PermissionDenied):
        count_audit(session, depot)


def test_filters_user_object_action_and_days_in_the_customers_zone(trail):
    session, admin, _depot = trail
    assert customer_zone(session, admin).key == "Europe/Brussels"

    def actions(**kwargs):
        return [r.action for r in search_audit(session, admin, AuditFilter(**kwargs))]

    assert actions(user="depot") == ["blocked"]
    assert actions(user="issuer") == ["shipped"]
    assert actions(object_type="request") == ["shipped"]
    assert actions(action="changed", object_type="card") == ["changed"]
    # 22:30 UTC on the 20th is the 20th in Brussels; 23:30 UTC is already the 21st there.
    assert actions(date_from=date(2026, 11, 20), date_to=date(2026, 11, 20)) == ["changed"]
    assert actions(date_from=date(2026, 11, 21), date_to=date(2026, 11, 21)) == ["blocked"]
    assert actions(date_from=date(2026, 11, 22)) == ["shipped"]
    assert count_audit(session, admin, AuditFilter(date_to=date(2026, 11, 21))) == 2
    users, objects, kinds = audit_choices(session, admin)
    assert {"depot", "fleetadmin", "issuer"} <= set(users) and "Other NV" not in users
    assert {"card", "request"} <= set(objects) and {"blocked", "changed", "shipped"} <= set(kinds)


def test_before_and_after_side_by_side(trail):
    session, admin, _depot = trail
    blocked = search_audit(session, admin, AuditFilter(action="blocked"))[0]
    assert change_lines(blocked) == [("status", "active", "blocked"), ("block_reason", "", "loss")]


def test_the_trail_cannot_be_changed_from_the_store_api():
    import store.queries.audit as queries
    import store.services.audit as services

    names = [n for module in (queries, services) for n in dir(module)]
    assert not [n for n in names if any(word in n.lower() for word in ("delete", "update", "edit", "purge"))]


def test_export_to_excel(trail, tmp_path):
    session, admin, _depot = trail
    path = tmp_path / "audit.xlsx"
    zone = customer_zone(session, admin)
    total = count_audit(session, admin)
    result = write_audit_xlsx(iter_audit(session, admin), path, zone, total=total)
    assert result.rows == total and path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # the temporary file is gone
    sheet = load_workbook(path, read_only=False)["Audit trail"]
    assert [c.value for c in sheet[1]] == [c.header for c in COLUMNS]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:G{total + 1}"
    assert sheet["A1"].font.bold
    shipped = [c.value for c in sheet[2]]
    assert shipped[:5] == [datetime(2026, 11, 22, 23, 30), "issuer", "request", "7", "shipped"]
    assert shipped[5:] == ["status: in production", "status: shipped"]
    assert sheet["A2"].number_format == "dd/mm/yyyy hh:mm"
    blocked = [c.value for c in sheet[3]]
    assert blocked[6] == "status: blocked\nblock_reason: loss"


def test_a_cancelled_export_leaves_no_file(trail, tmp_path):
    session, admin, _depot = trail
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ExportCancelled):
        write_audit_xlsx(iter_audit(session, admin), folder / "audit.xlsx", customer_zone(session, admin),
                         cancelled=lambda: True)
    assert list(folder.iterdir()) == []
