"""Reads of the department data for pages and downloads. Every queryset goes through the region scope."""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exchange.declarations import Department, Kind, all_departments, get_department
from exchange.linkage import birth_from_id
from exchange.models import ImportBatch, LinkCandidate, RejectedRow
from exchange.readers import header_key
from exchange.registry.tables import REGISTRY as REGISTRY_IMPORT
from households.codes import codebook
from households.models import Person
from households.sensitive import HIDDEN, can_see_health, mask_id_number
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user, user_may_see_code

PAGE_SIZE = 50

# Health details (domain: hidden from auditors without sensitive data access) by department.
HEALTH_DETAILS = {
    "health": {"chronic_diagnosis", "serious_diagnosis", "serious_diagnosis_date"},
    "disability": {"certificate", "disability_category", "disability_grade", "certificate_status"},
}
# Not repeated among a record's facts: the page shows them elsewhere (or masks them).
NOT_FACTS = {"id_number", "name", "period", "township_name", "village_name", "sex_label"}


def departments() -> list[Department]:
    return all_departments()


def health_details(department: Department) -> set[str]:
    """The fields of a department that are health details (hidden unless the role sees health)."""
    if department.declared_as_data:
        return set(department.extra.get("sensitive", ()))
    return HEALTH_DETAILS.get(department.slug, set())


def department_name(slug: str) -> str:
    if slug == REGISTRY_IMPORT:
        return str(gettext_lazy("户档案（国家系统导出）"))
    from exchange.exports import batch_department  # exports imports this module

    try:  # a deactivated declared department by its last declared name
        return str(batch_department(slug).name)
    except LookupError:
        return slug


# --- Batches ---------------------------------------------------------------------------------------------


def batches_for(user: Any) -> QuerySet[ImportBatch]:
    return scope_for_user(ImportBatch.objects.select_related("uploaded_by", "api_client"), user)


@dataclass
class Page:
    rows: list
    next_key: int | None = None
    is_first: bool = True


def batch_page(queryset: QuerySet[ImportBatch], *, before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Newest first, by id (ids grow with upload time); size + 1 rows read, no COUNT."""
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    found = list(queryset.order_by("-pk")[: size + 1])
    rows = found[:size]
    return Page(rows=rows, next_key=rows[-1].pk if len(found) > size else None, is_first=before is None)


def rejected_page(batch: ImportBatch, user: Any, *, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Rejected rows of a batch in file order, by row number (its index), without counting them all."""
    queryset = scope_for_user(RejectedRow.objects.filter(batch=batch), user)
    if after is not None:
        queryset = queryset.filter(row_number__gt=after)
    found = list(queryset.order_by("row_number")[: size + 1])
    rows = found[:size]
    return Page(
        rows=rows, next_key=rows[-1].row_number if len(found) > size else None, is_first=after is None
    )


def id_columns(department: Department) -> set[str]:
    """Headers of a department's columns that hold an ID number (a disability certificate contains one)."""
    return {
        spec.column for spec in department.fields
        if spec.kind in (Kind.ID_NUMBER, Kind.DISABILITY_CERTIFICATE)
    }


# A value in any column that carries an ID-like run of digits is masked too: a department may put the ID
# number under a header we do not know, or in a free-text column.
ID_LIKE = re.compile(r"\d{14,}[\dXx]*")


def id_masker(department: Department):
    """mask(header, value): ID numbers in a rejected row's original values masked."""
    keys = {header_key(column) for column in id_columns(department)}

    def mask(header: str, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        if header_key(header) in keys:
            return mask_id_number(value)
        return ID_LIKE.sub(lambda m: mask_id_number(m.group(0)), value)

    return mask


@dataclass
class RejectedShown:
    row: RejectedRow
    values: list[tuple[str, Any]]


def rejected_shown(department: Department, rows: list[RejectedRow]) -> list[RejectedShown]:
    """Rejected rows as a page shows them: ID numbers always masked (the download may reveal them)."""
    mask = id_masker(department)
    return [
        RejectedShown(row, [(h, mask(h, v)) for h, v in (row.values or {}).items() if v not in (None, "")])
        for row in rows
    ]


# --- A record's key facts --------------------------------------------------------------------------------


@dataclass
class Fact:
    label: str
    value: Any


def _plain(spec, value: Any, book) -> Any:
    if spec.kind == Kind.CODE:
        return book.label(spec.codeset, value)
    if spec.kind == Kind.FLAG:
        return _("是") if value else _("否")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal) or (spec.kind == Kind.AMOUNT and isinstance(value, int | float)):
        return f"{value:,.2f}"  # a declared department's amounts are JSON numbers
    return value


def _labelled(spec: Any, record: Model, department: Department) -> Any:
    """The field with the record model's name for it (translated) as its label; the department's column header
    where the model has no such field. The header stays what files are matched on. A department declared as
    data names its fields as declared (its English name on an English page, when one was declared)."""
    if department.declared_as_data:
        return replace(spec, column=str(department.extra["labels"].get(spec.name, spec.column)))
    try:
        label = record._meta.get_field(spec.name).verbose_name
    except FieldDoesNotExist:
        return spec
    return replace(spec, column=str(label))


def record_facts(department: Department, record: Model, user: Any) -> list[Fact]:
    """The filled-in declared fields of a record as (label, value), codes as labels, health details hidden."""
    book = codebook()
    hidden = set() if can_see_health(user) else health_details(department)
    facts = []
    for declared in department.fields:
        if declared.name in NOT_FACTS:
            continue
        spec = _labelled(declared, record, department)
        value = department.value(record, spec.name)
        if value in (None, "", False) or (spec.kind == Kind.INTEGER and value == 0):
            continue
        if spec.name in hidden:
            facts.append(Fact(spec.column, HIDDEN))
        elif spec.kind == Kind.DISABILITY_CERTIFICATE:
            facts.append(Fact(spec.column, mask_id_number(value)))
        elif spec.kind == Kind.FLAG:
            facts.append(Fact(spec.column, _("是")))
        else:
            facts.append(Fact(spec.column, _plain(spec, value, book)))
    return facts


@dataclass
class RecordRow:
    department: Department
    record: Model
    facts: list[Fact]
    batch: ImportBatch
    batch_visible: bool


def current_records_of(members: Iterable[Person], user: Any) -> dict[int, list[RecordRow]]:
    """Each member's current record in every declared department: one query per department for all."""
    ids = [person.pk for person in members]
    rows: dict[int, list[RecordRow]] = {pk: [] for pk in ids}
    if not ids:
        return rows
    for department in departments():
        current = department.records().filter(person_id__in=ids, valid_to__isnull=True)
        for record in scope_for_user(current, user).select_related("batch").order_by("pk"):
            rows[record.person_id].append(
                RecordRow(
                    department=department,
                    record=record,
                    facts=record_facts(department, record, user),
                    batch=record.batch,
                    batch_visible=user_may_see_code(user, record.batch.region_code),
                )
            )
    return rows


def department_rows_of(members: list[Person], user: Any) -> list[tuple[Person, list[RecordRow]]]:
    """(member, their current department records) for the household page, members without records left out."""
    records = current_records_of(members, user)
    return [(person, records[person.pk]) for person in members if records.get(person.pk)]


# --- Linkage review --------------------------------------------------------------------------------------


def unlinked_records(department: Department, user: Any, *, batch: ImportBatch | None = None) -> QuerySet:
    """Current records linked to nobody that the user may review: those in their region, and those with a
    candidate person in their region (an unlinked record carries its batch's region, often the county)."""
    unlinked = department.records().filter(valid_to__isnull=True, person__isnull=True)
    if batch is not None:
        unlinked = unlinked.filter(batch=batch)
    candidates = scope_for_user(LinkCandidate.objects.filter(department=department.slug), user)
    return scope_for_user(unlinked, user) | unlinked.filter(id_number__in=candidates.values("id_number"))


@dataclass
class ReviewRow:
    record: Model
    masked_id: str
    birth_date: dt.date | None
    candidates: list[LinkCandidate] = field(default_factory=list)


def review_page(
    department: Department, user: Any, *, batch: ImportBatch | None = None, after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """A page of unlinked records (by id) with their candidates in the user's region: two queries."""
    queryset = unlinked_records(department, user, batch=batch).select_related("batch")
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    found = list(queryset.order_by("pk")[: size + 1])
    records = found[:size]
    rows = {
        r.id_number: ReviewRow(r, mask_id_number(r.id_number), birth_from_id(r.id_number)) for r in records
    }
    if rows:
        candidates = scope_for_user(
            LinkCandidate.objects.filter(department=department.slug, id_number__in=list(rows)), user
        ).select_related("person__household__village", "decided_by")
        order = {LinkCandidate.Status.PENDING: 0, LinkCandidate.Status.CONFIRMED: 1}
        for candidate in sorted(candidates, key=lambda c: (order.get(c.status, 2), c.pk)):
            person = candidate.person
            candidate.person_masked_id = mask_id_number(person.id_number) if person else ""
            rows[candidate.id_number].candidates.append(candidate)
    next_key = records[-1].pk if len(found) > size else None
    return Page(rows=list(rows.values()), next_key=next_key, is_first=after is None)


def pending_candidates(user: Any) -> QuerySet[LinkCandidate]:
    return scope_for_user(LinkCandidate.objects.filter(status=LinkCandidate.Status.PENDING), user)


def candidate_for(user: Any, pk: int) -> LinkCandidate:
    return get_for_user_or_404(LinkCandidate.objects.all(), user, pk=pk)


def get_department_or_none(slug: str | None) -> Department | None:
    try:
        return get_department(slug or "")
    except LookupError:
        return None


# --- Closure review --------------------------------------------------------------------------------------


@dataclass
class WouldClose:
    masked_id: str
    name: str
    region_code: str
    valid_from: dt.date
    batch_id: int


def would_close_page(batch: ImportBatch, user: Any, *, offset: int = 0, size: int | None = None) -> Page:
    """A page of the stored sample of records a batch waiting for review would close, ID numbers masked.

    The sample holds record ids (ordered by ID number); they are read through the region scope."""
    size = size or PAGE_SIZE
    ids = [int(pk) for pk in (batch.review_sample or [])]
    offset = max(offset, 0)
    chosen = ids[offset : offset + size]
    from exchange.exports import batch_department  # exports reads selectors' neighbours; imported when used

    model = batch_department(batch.department).model
    found = {
        record.pk: record
        for record in scope_for_user(model.objects.filter(pk__in=chosen), user).only(
            "pk", "id_number", "name", "region_code", "valid_from", "batch_id"
        )
    }
    rows = [
        WouldClose(mask_id_number(r.id_number), r.name, r.region_code, r.valid_from, r.batch_id)
        for r in (found[pk] for pk in chosen if pk in found)
    ]
    next_offset = offset + size if offset + size < len(ids) else None
    return Page(rows=rows, next_key=next_offset, is_first=offset == 0)
