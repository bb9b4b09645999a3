"""The rejected rows of a batch as an XLSX file, for the department to correct and send again."""

import io
from typing import Any

from django.utils.translation import gettext as _
from openpyxl import Workbook

from exchange.declarations import Department, get_department
from exchange.models import ImportBatch, RejectedRow
from exchange.readers import header_key
from exchange.selectors import health_details, id_masker
from households.sensitive import HIDDEN
from households.spreadsheets import neutralise_formula
from povertycloud.accounts.permissions import can_reveal_sensitive, can_see_health
from povertycloud.audit.services import record_event
from povertycloud.regions.scoping import scope_for_user

STREAM_ROWS = 5000


def batch_department(slug: str) -> Department:
    """The department of a batch: as declared now, or, for a department declared as data that has since been
    deactivated, as its last declaration says (its batches, rejected rows and records stay readable)."""
    try:
        return get_department(slug)
    except LookupError:
        from exchange.feeds.declare import department_from_feed
        from exchange.feeds.models import DepartmentFeed

        feed = DepartmentFeed.objects.filter(slug=slug).prefetch_related("columns").first()
        if feed is None:
            raise
        return department_from_feed(feed)


def hidden_headers(department: Department, user: Any) -> set[str]:
    """The header keys of a department's health details (for a declared department: its sensitive columns),
    when the user may not see health details: a rejected row shows them as hidden, on the page and in the file."""
    if can_see_health(user):
        return set()
    names = health_details(department)
    return {header_key(spec.column) for spec in department.fields if spec.name in names}


def hide_health(values: list[tuple[str, Any]], hidden: set[str]) -> list[tuple[str, Any]]:
    return [(h, str(HIDDEN) if header_key(h) in hidden and v not in (None, "") else v) for h, v in values]


def rejected_workbook(*, user: Any, batch: ImportBatch, full_ids: bool = False) -> bytes:
    """Row number, the row's original values (as the file had them), the reasons. Written to the audit trail.

    ID numbers are masked unless full_ids is asked for by a role that may reveal them. Every text cell that
    a spreadsheet would run as a formula (= + - @) gets a leading apostrophe.
    """
    full_ids = full_ids and can_reveal_sensitive(user)
    rows = scope_for_user(RejectedRow.objects.filter(batch=batch), user).order_by("row_number")
    department = batch_department(batch.department)
    masked = (lambda header, value: value) if full_ids else id_masker(department)
    hidden = hidden_headers(department, user)

    def mask(header: str, value: Any) -> Any:
        if value not in (None, "") and header_key(header) in hidden:
            return str(HIDDEN)
        return masked(header, value)

    headers = list(department.columns)
    known = {header_key(h) for h in headers}
    extra: list[str] = []
    # Columns the file had beyond the declaration come after the declared ones, in first-seen order.
    for values in rows.values_list("values", flat=True).iterator(chunk_size=STREAM_ROWS):
        for header in values or {}:
            if header_key(header) not in known and header not in extra:
                extra.append(header)
    by_key = {header_key(h): h for h in headers}
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("拒收行"))
    sheet.append([neutralise_formula(h) for h in [_("行号"), *headers, *extra, _("拒收原因")]])
    count = 0
    for row in rows.iterator(chunk_size=STREAM_ROWS):
        original = {by_key.get(header_key(h), h): v for h, v in (row.values or {}).items()}
        cells = [row.row_number]
        for header in [*headers, *extra]:
            cells.append(neutralise_formula(mask(header, original.get(header, ""))))
        cells.append(neutralise_formula("；".join(str(r) for r in row.reasons or [])))
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    book.save(out)
    kind = _("含完整证件号码") if full_ids else _("证件号码已脱敏")
    record_event(
        actor=user,
        action="export",
        entity=RejectedRow._meta.label_lower,
        object_pk=batch.pk,
        object_repr=_("批次 #%(pk)s 拒收行") % {"pk": batch.pk},
        region_code=batch.region_code,
        changes={"batch": batch.pk, "rows": count, "full_ids": full_ids},
        note=_("导出拒收行 %(rows)s 行（%(kind)s）") % {"rows": count, "kind": kind},
    )
    return out.getvalue()
