"""Linkage review: department records that did not link to a person by ID number, and who they may be.

The import links a record to the person with the same ID number. A record that links to nobody is kept
(never dropped) and offered here with candidate persons of the county, found set-based for all unlinked
records at once:

- a registered ID one character apart (one substitution), or with two adjacent characters swapped;
- the same name and birth date (the birth date read from the record's ID, characters 7–14, when valid).

IDs are compared as integers (17-digit body × 11 + check character), so the variants of every record are
a few numpy arrays searched in the sorted keys of the county's people: no query per record.

An official of the candidate's township, or county staff, confirms a candidate (all current versions of
that ID number in that department are linked to the person) or dismisses it with a reason. Decisions are
conditional updates (… WHERE status = 'pending'), so two people cannot both decide, and audited.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import quality
from exchange.declarations import Department, all_departments, get_department
from exchange.models import ImportBatch, LinkCandidate
from households.models import Household, Person
from households.sensitive import mask_id_number
from povertycloud.accounts.permissions import can_decide_links
from povertycloud.audit.services import record_event
from povertycloud.db import analyze
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code

Status = LinkCandidate.Status
Match = LinkCandidate.Match
COUNTY_DIGITS = 6
_POWERS = 10 ** np.arange(16, -1, -1, dtype=np.int64)


class AlreadyDecided(ValidationError):
    def __init__(self) -> None:
        super().__init__(_("该候选已由他人处理（或已失效），本次操作未生效。请刷新页面查看最新状态。"), code="decided")


# --- ID numbers as integers ------------------------------------------------------------------------------


def id_keys(numbers: Iterable[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(key, body digits, check index, well-formed) of 18-character IDs; key -1 where not well formed.

    key = 17-digit body × 11 + check index (0–9, X = 10): equal IDs have equal keys and nothing else does.
    """
    # One character wider than an ID, so that a longer value is seen as too long rather than cut to 18.
    values = pd.Series(list(numbers) if not isinstance(numbers, pd.Series) else numbers, dtype=object)
    values = values.fillna("").to_numpy(dtype="U19")
    n = len(values)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros((0, 17), dtype=np.int64), empty, np.zeros(0, dtype=bool)
    codes = values.view(np.uint32).reshape(n, 19)[:, :18].astype(np.int32)
    digits = codes - 48
    is_digit = (digits >= 0) & (digits <= 9)
    last_x = (codes[:, 17] == ord("X")) | (codes[:, 17] == ord("x"))
    formed = (np.char.str_len(values) == 18) & is_digit[:, :17].all(axis=1) & (is_digit[:, 17] | last_x)
    body_digits = np.where(is_digit[:, :17], digits[:, :17], 0).astype(np.int64)
    check = np.where(last_x, 10, np.clip(digits[:, 17], 0, 9))
    key = np.where(formed, (body_digits @ _POWERS) * 11 + check, -1)
    return key, body_digits, check, formed


# Match kinds by index; a pair's matches are kept as a bit mask (1 << index) until they are written.
KINDS = (Match.SUBSTITUTION, Match.TRANSPOSITION, Match.NAME_BIRTH)
SUBSTITUTION, TRANSPOSITION, NAME_BIRTH = range(3)
MASK_TEXT = np.array(
    [",".join(kind for i, kind in enumerate(KINDS) if mask >> i & 1) for mask in range(8)], dtype=object
)


def id_variants(numbers: Iterable[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ID one substitution or one adjacent transposition away: (record index, variant key, kind)."""
    _, digits, check, formed = id_keys(numbers)
    rows = np.flatnonzero(formed)
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8)
    digits, check = digits[rows], check[rows]
    body = digits @ _POWERS
    out_rows, out_keys, out_kinds = [], [], []

    def add(mask: np.ndarray, keys: np.ndarray, kind: int) -> None:
        index, position = np.nonzero(mask)
        out_rows.append(rows[index])
        out_keys.append(keys[index, position])
        out_kinds.append(np.full(len(index), kind, dtype=np.int8))

    # One body digit replaced: 17 positions × 10 digits, less the digit already there.
    new_digit = np.arange(10, dtype=np.int64)
    delta = (new_digit[None, None, :] - digits[:, :, None]) * _POWERS[None, :, None]
    keys = ((body[:, None, None] + delta) * 11 + check[:, None, None]).reshape(len(rows), -1)
    add((delta != 0).reshape(len(rows), -1), keys, SUBSTITUTION)
    # The check character replaced (0–9 or X).
    new_check = np.arange(11, dtype=np.int64)
    add(new_check[None, :] != check[:, None], body[:, None] * 11 + new_check[None, :], SUBSTITUTION)
    # Two adjacent body digits swapped.
    left, right = digits[:, :-1], digits[:, 1:]
    swapped = body[:, None] + (right - left) * _POWERS[None, :-1] + (left - right) * _POWERS[None, 1:]
    add(left != right, swapped * 11 + check[:, None], TRANSPOSITION)
    # The last body digit swapped with a digit check character.
    last = digits[:, 16]
    can_swap = (check <= 9) & (check != last)
    swapped_last = (body - last + np.minimum(check, 9)) * 11 + last
    add(can_swap[:, None], swapped_last[:, None], TRANSPOSITION)
    return np.concatenate(out_rows), np.concatenate(out_keys), np.concatenate(out_kinds)


NO_DATE = np.iinfo(np.int64).min


def _days(values: pd.Series, date_format: str | None) -> np.ndarray:
    """Dates (or their text) as days since 1970, NO_DATE where not a date."""
    parsed = pd.to_datetime(values, format=date_format, errors="coerce")
    days = parsed.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(parsed.isna().to_numpy(), NO_DATE, days)


# --- Finding candidates ----------------------------------------------------------------------------------


@dataclass
class FindResult:
    unlinked: int = 0  # current records linked to nobody when the finder ran
    linked_exactly: int = 0  # linked now because a person with that exact ID exists (added since the import)
    relinked: int = 0  # linked again by an earlier confirmed decision (a later version of the same record)
    created: int = 0  # new candidates
    superseded: int = 0  # pending candidates whose record is linked or no longer current


def _people_of_county(county: str) -> pd.DataFrame:
    """The county's people: id, ID number, name, birth date (as the database gives it), village. One query."""
    person, household = Person._meta.db_table, Household._meta.db_table
    quote = connection.ops.quote_name
    sql = (
        f"SELECT p.id, p.id_number, p.name, p.birth_date, h.village_id FROM {quote(person)} p "
        f"JOIN {quote(household)} h ON h.id = p.household_id WHERE h.village_id >= %s AND h.village_id <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [county.ljust(12, "0"), county.ljust(12, "9")])
        rows = cursor.fetchall()
    return pd.DataFrame(rows, columns=["person_id", "id_number", "name", "birth_date", "village_id"])


def _link_exact_and_confirmed(department: Department, records: QuerySet) -> tuple[int, int]:
    """Unlinked current versions whose ID is now registered, or was confirmed for a person earlier.

    Set-based UPDATE … FROM joins (one hash join each), not a correlated subquery per record: linking a
    county's million records from scratch is seconds, not minutes."""
    quote = connection.ops.quote_name
    table = quote(department.model._meta.db_table)
    person, household = quote(Person._meta.db_table), quote(Household._meta.db_table)
    candidate = quote(LinkCandidate._meta.db_table)
    chosen, chosen_params = records.values("pk").query.sql_with_params()
    # A record is linked only to a person of its own county: a county's records never move to another one.
    unlinked = (
        f"{table}.valid_to IS NULL AND {table}.person_id IS NULL AND {table}.id IN ({chosen}) "
        f"AND SUBSTR(h.village_id, 1, 6) = SUBSTR({table}.region_code, 1, 6)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET person_id = p.id, region_code = h.village_id "
            f"FROM {person} p JOIN {household} h ON h.id = p.household_id "
            f"WHERE p.id_number = {table}.id_number AND {unlinked}",
            chosen_params,
        )
        exact = cursor.rowcount
        cursor.execute(
            f"UPDATE {table} SET person_id = p.id, region_code = h.village_id "
            f"FROM {candidate} c JOIN {person} p ON p.id = c.person_id JOIN {household} h ON h.id = p.household_id "
            f"WHERE c.department = %s AND c.status = %s AND c.id_number = {table}.id_number AND {unlinked}",
            [department.slug, Status.CONFIRMED, *chosen_params],
        )
        relinked = cursor.rowcount
    if exact or relinked:
        # Statistics describe the table after the change: analysed before these UPDATEs, the planner kept
        # the share of unlinked records of before them, and the data-quality queries (linked records per
        # person) planned a nested loop over every education record per child. The bulk changes before
        # this one (an import's merge, a rollback clearing links) analyse after themselves.
        analyze(department.model)
    return exact, relinked


def _supersede_resolved(department: Department) -> int:
    """Pending candidates whose record is linked now or no longer current (the department dropped it), or
    whose person has left the household file."""
    unlinked = department.records().filter(
        id_number=OuterRef("id_number"), valid_to__isnull=True, person__isnull=True
    )
    pending = LinkCandidate.objects.filter(department=department.slug, status=Status.PENDING)
    return pending.filter(~Exists(unlinked) | Q(person__isnull=True)).update(status=Status.SUPERSEDED)


def candidate_pairs(records: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """(record row, person row, matches) for unlinked records against people. Pure pandas/numpy."""
    found = []
    if len(records) and len(people):
        person_keys, *_ = id_keys(people["id_number"])
        order = np.argsort(person_keys, kind="stable")
        sorted_keys = person_keys[order]
        rows, keys, kinds = id_variants(records["id_number"])
        at = np.searchsorted(sorted_keys, keys)
        hit = at < len(sorted_keys)
        hit[hit] = sorted_keys[at[hit]] == keys[hit]
        found.append(pd.DataFrame({"record": rows[hit], "person": order[at[hit]], "bit": 1 << kinds[hit]}))
        # Name and birth date as one integer per row (name code, days since 1970), so the join is on int64.
        record_birth = _days(pd.Series([str(n or "")[6:14] for n in records["id_number"]]), "%Y%m%d")
        record_names = records["name"].to_numpy(dtype=object)
        # Only people who share a record's name need their birth dates read (SQLite gives them as text).
        shares_name = people["name"].isin(set(record_names)).to_numpy()
        person_index = np.flatnonzero(shares_name)
        person_birth = _days(pd.Series(people["birth_date"].to_numpy()[shares_name]), None)
        names = np.concatenate([record_names, people["name"].to_numpy(dtype=object)[shares_name]])
        codes = pd.factorize(names)[0].astype(np.int64) * 1_000_000  # days stay within ±500,000
        record_key = codes[: len(records)] + record_birth
        births = pd.DataFrame({"record": np.arange(len(records)), "key": record_key})
        named = pd.DataFrame({"person": person_index, "key": codes[len(records) :] + person_birth})
        same = births[record_birth != NO_DATE].merge(named[person_birth != NO_DATE], on="key")
        own = records["id_number"].to_numpy()[same["record"].to_numpy()]
        same = same[people["id_number"].to_numpy()[same["person"].to_numpy()] != own]
        found.append(pd.DataFrame({"record": same["record"], "person": same["person"], "bit": 1 << NAME_BIRTH}))
    if not found:
        return pd.DataFrame(columns=["record", "person", "matches"])
    pairs = pd.concat(found, ignore_index=True).drop_duplicates()
    masks = pairs.groupby(["record", "person"], sort=True)["bit"].sum()  # distinct bits: the sum is the OR
    result = masks.reset_index()
    result["matches"] = MASK_TEXT[masks.to_numpy()]
    return result[["record", "person", "matches"]]


def _find_for_department(department: Department, records: QuerySet, people: pd.DataFrame) -> int:
    rows = list(records.values_list("pk", "id_number", "name", "batch_id"))
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["record_id", "id_number", "name", "batch_id"])
    pairs = candidate_pairs(frame, people)
    if pairs.empty:
        return 0
    record = frame.iloc[pairs["record"].to_numpy()].reset_index(drop=True)
    person = people.iloc[pairs["person"].to_numpy()].reset_index(drop=True)
    candidates = [
        LinkCandidate(
            department=department.slug,
            id_number=id_number,
            record_name=name[:50],
            record_id=record_id,
            batch_id=batch_id,
            person_id=person_id,
            matches=matches,
            region_code=village,
        )
        for id_number, name, record_id, batch_id, person_id, village, matches in zip(
            record["id_number"],
            record["name"],
            record["record_id"],
            record["batch_id"],
            person["person_id"],
            person["village_id"],
            pairs["matches"],
            strict=True,
        )
    ]
    before = LinkCandidate.objects.filter(department=department.slug).count()
    LinkCandidate.objects.bulk_create(candidates, ignore_conflicts=True, batch_size=2000)
    return LinkCandidate.objects.filter(department=department.slug).count() - before


def _prefix(region_code: str) -> str:
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise ValidationError(_("区划代码 %(code)s 不存在。") % {"code": region_code})
    return region.prefix


def _county_of(region_code: str) -> str:
    return region_code[:COUNTY_DIGITS]


@transaction.atomic
def find_candidates(
    *, region_code: str, batch: ImportBatch | None = None, departments: Iterable[str] | None = None
) -> FindResult:
    """Candidates for the unlinked current records of a batch, or of every batch under a region.

    Records are those whose region_code is under region_code (unlinked records carry their batch's region);
    people are those of the region's county. Safe to run again: existing candidates (and dismissals) stay.
    """
    if batch is not None:
        region_code, departments = batch.region_code, [batch.department]
    slugs = list(departments) if departments is not None else [d.slug for d in all_departments()]
    result = FindResult()
    people: pd.DataFrame | None = None
    for slug in slugs:
        department = get_department(slug)
        records = department.records().filter(valid_to__isnull=True, person__isnull=True)
        if batch is not None:
            records = records.filter(batch=batch)
        else:
            records = records.filter(region_code__startswith=_prefix(region_code))
        exact, relinked = _link_exact_and_confirmed(department, records)
        result.linked_exactly += exact
        result.relinked += relinked
        result.superseded += _supersede_resolved(department)
        unlinked = records.filter(person__isnull=True)
        count = unlinked.count()
        if not count:
            continue
        result.unlinked += count
        if people is None:
            people = _people_of_county(_county_of(region_code))
        result.created += _find_for_department(department, unlinked, people)
    if result.linked_exactly or result.relinked:
        record_event(
            actor=None,
            action="update",
            entity="exchange.linkcandidate",
            object_repr=_("部门记录关联"),
            region_code=region_code,
            changes={"linked_exactly": result.linked_exactly, "relinked": result.relinked},
            note=(
                _("按证件号码关联了 %(exact)s 条此前未关联的当前记录；按已确认的关联决定关联了 %(relinked)s 条。")
                % {"exact": result.linked_exactly, "relinked": result.relinked}
            ),
        )
        quality.request_refresh_for(region_code)
    return result


# --- Decisions -------------------------------------------------------------------------------------------


def _require_decider(by: Any, candidate: LinkCandidate) -> None:
    if not can_decide_links(by):
        raise PermissionDenied(_("只有乡镇干部、县级工作人员和系统管理员可以确认或排除关联候选。"))
    if not user_may_see_code(by, candidate.region_code):
        raise PermissionDenied(_("只能处理本辖区人员的关联候选。"))


def _audit(
    *, by: Any, candidate: LinkCandidate, person: Person | None, after: str, note: str, extra: dict | None = None
) -> None:
    department = get_department(candidate.department)
    record_event(
        actor=by,
        action="review",
        entity="exchange.linkcandidate",
        object_pk=candidate.pk,
        object_repr=(
            _("%(department)s记录 %(id)s %(name)s → %(person)s")
            % {
                "department": department.name,
                "id": mask_id_number(candidate.id_number),
                "name": candidate.record_name,
                "person": person.name if person else "—",
            }
        ),
        region_code=candidate.region_code,
        household_id=person.household_id if person else None,
        changes={"status": {"before": str(Status.PENDING.label), "after": after}, **(extra or {})},
        note=note,
    )


@transaction.atomic
def confirm_link(*, by: Any, candidate: LinkCandidate) -> int:
    """Link the record's current versions to the candidate person. Returns how many versions were linked."""
    _require_decider(by, candidate)
    person = Person.objects.select_related("household").filter(pk=candidate.person_id).first()
    if person is None:
        raise ValidationError(_("候选人员已不在户档案中，不能确认。"), code="gone")
    decided = LinkCandidate.objects.filter(pk=candidate.pk, status=Status.PENDING).update(
        status=Status.CONFIRMED, decided_by=by, decided_at=timezone.now()
    )
    if not decided:
        raise AlreadyDecided()
    records = get_department(candidate.department).records()
    village = person.household.village_id
    linked = records.filter(
        id_number=candidate.id_number,
        valid_to__isnull=True,
        person__isnull=True,
        region_code__startswith=village[:COUNTY_DIGITS],  # the person's county's records only
    ).update(person_id=person.pk, region_code=village)
    if not linked:
        # Someone linked the record meanwhile (another candidate, or a new import): roll everything back.
        transaction.set_rollback(True)
        raise AlreadyDecided()
    others = (
        LinkCandidate.objects.filter(
            department=candidate.department, id_number=candidate.id_number, status=Status.PENDING
        )
        .exclude(pk=candidate.pk)
        .update(status=Status.SUPERSEDED)
    )
    candidate.refresh_from_db()
    _audit(
        by=by,
        candidate=candidate,
        person=person,
        after=str(Status.CONFIRMED.label),
        note=_("确认为同一人：关联 %(linked)s 条当前记录；同一记录的其他 %(others)s 个候选失效。")
        % {"linked": linked, "others": others},
        extra={"person": {"before": None, "after": person.name}, "records": {"before": 0, "after": linked}},
    )
    quality.request_refresh_for(village)
    return linked


@transaction.atomic
def dismiss_link(*, by: Any, candidate: LinkCandidate, reason: str) -> LinkCandidate:
    """Keep the candidate as dismissed, with who, when and why. The finder never proposes it again."""
    _require_decider(by, candidate)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("排除候选须填写原因。")})
    decided = LinkCandidate.objects.filter(pk=candidate.pk, status=Status.PENDING).update(
        status=Status.DISMISSED, decided_by=by, decided_at=timezone.now(), reason=reason[:1000]
    )
    if not decided:
        raise AlreadyDecided()
    candidate.refresh_from_db()
    person = Person.objects.filter(pk=candidate.person_id).first()
    _audit(by=by, candidate=candidate, person=person, after=str(Status.DISMISSED.label), note=reason)
    return candidate


def birth_from_id(number: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(number[6:14], "%Y%m%d").date()
    except (ValueError, TypeError):
        return None


__all__ = [
    "AlreadyDecided",
    "FindResult",
    "birth_from_id",
    "candidate_pairs",
    "confirm_link",
    "dismiss_link",
    "find_candidates",
    "id_keys",
    "id_variants",
]
