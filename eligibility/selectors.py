"""Reads of the cross-checks for pages: the hits a user may see (keyset pages, no COUNT over the table), the
counts per township and check (one GROUP BY), the latest run over the user's county, and the evidence a hit
cites (its department record's key facts and its batch).

Every queryset that reaches a user goes through povertycloud.regions.scoping.scope_for_user."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from exchange.declarations import get_department
from exchange.feeds.declare import LocalizedName
from exchange.selectors import Fact, department_name, record_facts
from households.sensitive import mask_id_number
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import (
    get_for_user_or_404,
    region_prefix_of,
    scope_for_user,
    sees_everything,
    user_may_see_code,
)

PAGE_SIZE = 50
TOWNSHIP_DIGITS = PREFIX_LENGTH[Region.Level.TOWNSHIP]
# The list's order: township, then id. The (township_code, status) index gives the townships in order (and
# a township official's rows alone, with the status asked for); the id breaks ties and is the page key.
ORDER = ("township_code", "id")
Status = CrossCheckHit.Status


def check_name(check: CrossCheck) -> str:
    """The check's name in the page's language (its English name on an English page, when one was given)."""
    return LocalizedName(check.name, check.name_en)


def checks() -> list[CrossCheck]:
    return list(CrossCheck.objects.order_by("code"))


def user_name(user: Any) -> str:
    """How a page names who started a run or decided a hit ("—" for nobody)."""
    if user is None:
        return "—"
    return user.get_full_name() or user.username


# --- The hits -----------------------------------------------------------------------------------------


def hits_for(
    user: Any, *, check: CrossCheck | int | None = None, township: str | None = None, status: str | None = None
) -> QuerySet[CrossCheckHit]:
    """The hits the user may see, narrowed to a check, a township (its 12-digit code) and a status, ordered
    for keyset paging by (township_code, id)."""
    hits = scope_for_user(CrossCheckHit.objects.all(), user)
    own = _own_township(user)
    if own:
        # The same rows as the scope's range; said as the township itself, the (township, status) index seeks.
        hits = hits.filter(township_code=own)
    if check:
        hits = hits.filter(cross_check=check)
    if township:
        hits = hits.filter(township_code=township)
    if status:
        hits = hits.filter(status=status)
    return hits.order_by(*ORDER)


def _own_township(user: Any) -> str | None:
    """A township official's township code (None for anyone whose region is wider)."""
    if sees_everything(user):
        return None
    region = getattr(user, "region", None)
    if region is None or region.level < Region.Level.TOWNSHIP:
        return None
    return region.code[:TOWNSHIP_DIGITS].ljust(12, "0")


def parse_key(key: str | None) -> tuple[str, int] | None:
    if not key or ":" not in key:
        return None
    township, _, pk = key.rpartition(":")
    if not township.isdigit() or len(township) != 12:
        return None
    try:
        return township, int(pk)
    except ValueError:
        return None


def hit_page(
    queryset: QuerySet[CrossCheckHit],
    *,
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
) -> Page:
    """One page of hits by key (township, id): size + 1 rows read, no OFFSET, no COUNT."""
    return keyset_page(
        queryset.select_related("cross_check", "evidence_batch", "decided_by"),
        columns=ORDER,
        descending=False,
        parse=parse_key,
        key_of=lambda hit: f"{hit.township_code}:{hit.pk}",
        after=after,
        before=before,
        size=size or PAGE_SIZE,
    )


def get_hit(user: Any, pk: int) -> CrossCheckHit:
    """One hit in the user's region; outside it (or no such hit): 404."""
    return get_for_user_or_404(
        CrossCheckHit.objects.select_related("cross_check", "evidence_batch", "decided_by", "first_run", "last_run"),
        user,
        pk=pk,
    )


# --- The evidence -----------------------------------------------------------------------------------------


@dataclass
class HitRow:
    """A hit as the list and the detail page show it."""

    hit: CrossCheckHit
    check_name: str
    masked_id: str
    village: str
    department: str
    facts: list[Fact] = field(default_factory=list)
    record_found: bool = False
    batch_visible: bool = False

    @property
    def is_payment(self) -> bool:
        return bool(self.hit.payment_kind)


def hit_rows(hits: list[CrossCheckHit], user: Any) -> list[HitRow]:
    """The hits with their evidence: one query for the villages' names and one per evidence department."""
    names = dict(
        Region.objects.filter(code__in={hit.region_code for hit in hits}).values_list("code", "name")
    )
    wanted: dict[str, set[int]] = defaultdict(set)
    for hit in hits:
        wanted[hit.evidence_department].add(hit.evidence_record_id)
    records: dict[tuple[str, int], Any] = {}
    departments = {}
    for slug, ids in wanted.items():
        try:
            department = get_department(slug)
        except LookupError:
            continue
        departments[slug] = department
        # The evidence as it was found (a version closed since is still the evidence). The hit is in the user's
        # region, and so is what it cites about this person (an unlinked payee's record carries its batch's region,
        # often the county's: read by the hit, not by the record's own scope).
        for record in department.all_records().filter(pk__in=ids):
            records[(slug, record.pk)] = record
    rows = []
    for hit in hits:
        record = records.get((hit.evidence_department, hit.evidence_record_id))
        department = departments.get(hit.evidence_department)
        rows.append(
            HitRow(
                hit=hit,
                check_name=check_name(hit.cross_check),
                masked_id=mask_id_number(hit.id_number),
                village=names.get(hit.region_code, ""),
                department=str(department.name) if department else department_name(hit.evidence_department),
                facts=record_facts(department, record, user) if record is not None and department else [],
                record_found=record is not None,
                batch_visible=user_may_see_code(user, hit.evidence_batch.region_code),
            )
        )
    return rows


# --- Counts and runs --------------------------------------------------------------------------------------


@dataclass
class CheckCounts:
    pending: int = 0
    confirmed: int = 0
    dismissed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.confirmed + self.dismissed


def township_summary(user: Any) -> dict[tuple[str, int], CheckCounts]:
    """Pending, confirmed and dismissed hits per (township code, check id) in the user's region: one GROUP BY."""
    rows = (
        scope_for_user(CrossCheckHit.objects.all(), user)
        .values("township_code", "cross_check_id")
        .annotate(
            pending=Count("id", filter=Q(status=Status.PENDING)),
            confirmed=Count("id", filter=Q(status=Status.CONFIRMED)),
            dismissed=Count("id", filter=Q(status=Status.DISMISSED)),
        )
        .order_by()
    )
    return {
        (row["township_code"], row["cross_check_id"]): CheckCounts(row["pending"], row["confirmed"], row["dismissed"])
        for row in rows
    }


@dataclass
class SummaryCell:
    check: CrossCheck
    name: str
    counts: CheckCounts


@dataclass
class SummaryRow:
    township: Region | None
    code: str
    cells: list[SummaryCell]

    @property
    def name(self) -> str:
        return self.township.name if self.township is not None else self.code


def summary_table(user: Any, checks_shown: list[CrossCheck]) -> list[SummaryRow]:
    """The overview's table: each township of the user's region with hits (or every township of a township
    official's own), a cell per check."""
    counts = township_summary(user)
    codes = {township for township, _check in counts}
    own = _own_township(user)
    if own:
        codes.add(own)
    townships = Region.objects.in_bulk(sorted(codes))
    return [
        SummaryRow(
            township=townships.get(code),
            code=code,
            cells=[
                SummaryCell(check, check_name(check), counts.get((code, check.pk), CheckCounts()))
                for check in checks_shown
            ],
        )
        for code in sorted(codes)
    ]


def _covering_codes(user: Any) -> tuple[list[str], str]:
    """The codes of the user's region and its ancestors (a run is recorded against its county), and the
    user's prefix (runs within the region)."""
    region = user.region
    covering = {
        region.code[:length].ljust(12, "0") for length in PREFIX_LENGTH.values() if length <= len(region.prefix)
    }
    return sorted(covering), region.prefix


def runs_for(user: Any) -> QuerySet[CrossCheckRun]:
    """The runs over the user's county (or within their region); everything for an administrator."""
    runs = CrossCheckRun.objects.select_related("started_by").order_by("-started_at", "-id")
    if sees_everything(user):
        return runs
    if region_prefix_of(user) is None or not getattr(user, "is_active", False):
        return runs.none()
    covering, prefix = _covering_codes(user)
    return runs.filter(Q(county_code__in=covering) | Q(county_code__startswith=prefix))


def latest_run(user: Any) -> CrossCheckRun | None:
    """The newest run (finished or still running) that covers the user's region."""
    return runs_for(user).first()


def county_of(user: Any) -> str | None:
    """The county a user's run button runs: their own county's code (None for a user above or without one)."""
    region = getattr(user, "region", None)
    if region is None or region.level < Region.Level.COUNTY:
        return None
    return region.code[: PREFIX_LENGTH[Region.Level.COUNTY]].ljust(12, "0")


def counties() -> QuerySet[Region]:
    return Region.objects.filter(level=Region.Level.COUNTY).order_by("code")


def run_started_since(user: Any, since: dt.datetime) -> bool:
    return runs_for(user).filter(started_at__gte=since).exists()
