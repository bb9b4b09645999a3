"""Data-quality issues: where a department's current records contradict the household file.

Each rule is one queryset of people (set-based SQL, no loop over people), annotated with the department
record it cites. A background job (refresh_counts), queued after each import, rollback or linkage change in
the county and run on a schedule, reads each rule once over the whole county: the people per township and
the first ITEM_LIMIT of each township in the page's order (ROW_NUMBER per township), with the records they
cite. It stores both (QualityRun, QualityCount, QualityItem): the page reads them and never scans the county
or a township per request; it loads the stored people and records by primary key through the user's region
scope. The auditors' export reads the stored counts and computes its longer lists itself (issues_in).

Rules that say "the department does not list this person" (e.g. 户档案有低保 but no 民政 record says so) are
only checked where the department has sent a file that covers the person's village; the item then cites
the latest such batch.
"""

import contextlib
import copy
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.declarations import get_department
from exchange.models import ImportBatch, LinkCandidate, QualityCount, QualityItem, QualityRun
from households.models import Person
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user

TOWNSHIP_DIGITS = 9
COUNTY_DIGITS = 6
ITEM_LIMIT = 200  # items stored per township and rule (the page lists one rule's up to this many)
PAGE_ITEMS = 20  # items per rule on a township's page of every rule: its rendering is most of the page's time
# What the page shows of an item's person (stored_items reads only these).
ITEM_PERSON_FIELDS = (
    "id", "name", "id_number", "household_id", "household__number", "household__village_id",
    "household__village__name",
)
COMPULSORY_AGES = (6, 15)
# A requested run not started within this time (its job was lost) may be requested again.
REQUEST_PENDING = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    department: str  # the department whose records the rule reads
    needs_coverage: bool = False  # "not listed by the department": only where its files cover the village


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("dibao_department_only", _("民政有低保，户档案无"), "civil_affairs"),
        Rule("dibao_file_only", _("户档案有低保，民政无"), "civil_affairs", needs_coverage=True),
        Rule("tekun_department_only", _("民政有特困供养，户档案无"), "civil_affairs"),
        Rule("tekun_file_only", _("户档案有特困供养，民政无"), "civil_affairs", needs_coverage=True),
        Rule("insurance_two_in_file", _("户档案登记了两种基本医保"), "health"),
        Rule("insurance_none_in_file", _("户档案未登记基本医保"), "health"),
        Rule("insurance_type_differs", _("医保参保类型与户档案不同"), "health"),
        Rule("insurance_not_insured", _("医保部门：未参保"), "health"),
        Rule("education_missing", _("义务教育年龄儿童无在校记录"), "education", needs_coverage=True),
        Rule("education_dropout", _("义务教育年龄儿童辍学（控辍保学）"), "education"),
    )
}


def years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February in a common year
        return on.replace(year=on.year - years, day=28)


@dataclass
class Context:
    user: Any
    on: dt.date
    people: QuerySet[Person]
    current: dict[str, QuerySet]  # per department: current linked records in scope
    coverage: dict[str, list[ImportBatch]] = field(default_factory=dict)  # succeeded batches, newest first
    prefixes: dict[str, str] = field(default_factory=dict)  # batch region code → its prefix
    region: Region | None = None  # the region the context was built for
    counts: dict[str, dict[str, int]] | None = None  # per township and rule, once known (counts_by_township)
    asked: dict[int, set[str]] = field(default_factory=dict)  # townships whose items were asked, per limit
    items: dict[int, dict[str, dict[str, list]]] = field(default_factory=dict)  # every township's, per limit

    def of(self, slug: str) -> QuerySet:
        return self.current[slug].filter(person_id=OuterRef("pk"))

    def covered(self, slug: str) -> Q | None:
        batches = self.coverage.get(slug) or []
        if not batches:
            return None
        condition = Q()
        for prefix in sorted({self.prefixes[b.region_code] for b in batches}):
            condition |= Q(household__village__pk__startswith=prefix)
        return condition


def _cite(queryset: QuerySet[Person], records: QuerySet) -> QuerySet[Person]:
    newest = records.order_by("-valid_from", "-pk")
    return queryset.annotate(
        record_id=Subquery(newest.values("pk")[:1]), record_batch_id=Subquery(newest.values("batch_id")[:1])
    )


def _dibao_active(on: dt.date) -> Q:
    return ~Q(dibao_type="") & (Q(dibao_stop__isnull=True) | Q(dibao_stop__gt=on))


def _compulsory_age(on: dt.date) -> Q:
    youngest, oldest = COMPULSORY_AGES
    return Q(birth_date__lte=years_before(on, youngest), birth_date__gt=years_before(on, oldest + 1))


def _rule_querysets(ctx: Context) -> dict[str, Callable[[], QuerySet[Person] | None]]:
    """Per rule: the people it finds, each annotated with the record it cites (record_id, record_batch_id)."""

    def cited(part: Callable[[], tuple[QuerySet[Person], QuerySet] | None]) -> Callable[[], QuerySet[Person] | None]:
        def queryset() -> QuerySet[Person] | None:
            found = part()
            return None if found is None else _cite(*found)

        return queryset

    return {code: cited(part) for code, part in _rule_parts(ctx).items()}


def _rule_parts(ctx: Context) -> dict[str, Callable[[], tuple[QuerySet[Person], QuerySet] | None]]:
    """Per rule: (the people it finds, the records of theirs it cites: the newest one is cited), or None
    where the rule needs a department file that does not cover the region."""
    people, on = ctx.people, ctx.on
    civil, health, education = ctx.of("civil_affairs"), ctx.of("health"), ctx.of("education")
    active = civil.filter(_dibao_active(on))
    tekun = civil.filter(tekun=True)
    resident_only = Q(resident_medical_insurance=True, employee_medical_insurance=False)
    employee_only = Q(resident_medical_insurance=False, employee_medical_insurance=True)
    insured_as = health.filter(insured=True)
    children = people.filter(_compulsory_age(on))

    def covered(slug: str, queryset: QuerySet[Person], records: QuerySet) -> tuple[QuerySet, QuerySet] | None:
        condition = ctx.covered(slug)
        return None if condition is None else (queryset.filter(condition), records)

    return {
        "dibao_department_only": lambda: (people.filter(dibao="").filter(Exists(active)), active),
        "dibao_file_only": lambda: covered("civil_affairs", people.exclude(dibao="").filter(~Exists(active)), civil),
        "tekun_department_only": lambda: (people.filter(tekun=False).filter(Exists(tekun)), tekun),
        "tekun_file_only": lambda: covered("civil_affairs", people.filter(tekun=True).filter(~Exists(tekun)), civil),
        "insurance_two_in_file": lambda: (
            people.filter(resident_medical_insurance=True, employee_medical_insurance=True), health
        ),
        "insurance_none_in_file": lambda: (
            people.filter(resident_medical_insurance=False, employee_medical_insurance=False), health
        ),
        "insurance_type_differs": lambda: (
            people.filter(
                (resident_only & Exists(insured_as.filter(insurance_type="2")))
                | (employee_only & Exists(insured_as.filter(insurance_type="1")))
            ),
            insured_as,
        ),
        "insurance_not_insured": lambda: (
            people.filter(Exists(health.filter(insured=False))), health.filter(insured=False)
        ),
        "education_missing": lambda: covered("education", children.filter(~Exists(education)), education),
        "education_dropout": lambda: (
            children.filter(Exists(education.filter(dropout=True))), education.filter(dropout=True)
        ),
    }


def build_context(*, user: Any, region: Region, on: dt.date | None = None) -> Context:
    """The people of a region and the departments' current records, both narrowed to the user's scope.

    Cheap: the querysets are not run here (one query reads the department batches for the coverage)."""
    return _context(region=region, on=on, user=user, scope=lambda queryset: scope_for_user(queryset, user))


def _context(*, region: Region, on: dt.date | None, user: Any, scope: Callable[[QuerySet], QuerySet]) -> Context:
    on = on or timezone.localdate()
    first, last = region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")
    people = scope(Person.objects.filter(household__village__pk__range=(first, last)))
    current = {}
    for slug in {rule.department for rule in RULES.values()}:
        model = get_department(slug).model
        linked = model.objects.filter(valid_to__isnull=True, person__isnull=False)
        current[slug] = scope(linked)
    batches = list(
        ImportBatch.objects.filter(
            status=ImportBatch.Status.SUCCEEDED, department__in=[r.department for r in RULES.values()]
        ).order_by("-period_start", "-pk")
    )
    prefixes = {
        code: r.prefix for code, r in Region.objects.in_bulk({b.region_code for b in batches}).items()
    }
    coverage: dict[str, list[ImportBatch]] = {}
    for batch in batches:
        prefix = prefixes.get(batch.region_code)
        # A batch covers the region's villages if either region contains the other.
        if prefix and (prefix.startswith(region.prefix) or region.prefix.startswith(prefix)):
            coverage.setdefault(batch.department, []).append(batch)
    return Context(
        user=user, on=on, people=people, current=current, coverage=coverage, prefixes=prefixes, region=region
    )


def county_context(county: Region, on: dt.date) -> Context:
    """The whole county as the background job sees it: no user, the county's people and its records.

    A county's linked records carry their person's village as region_code (linkage sets it), so narrowing
    the records to the county is what any user's scope does for the people of their region: the counts of a
    township in this context are the counts that township's official would get."""
    prefix = county.prefix
    return _context(
        region=county,
        on=on,
        user=None,
        scope=lambda queryset: queryset
        if queryset.model is Person
        else queryset.filter(region_code__startswith=prefix),
    )


def applicable_rules(ctx: Context) -> list[Rule]:
    return [rule for rule in RULES.values() if not rule.needs_coverage or ctx.coverage.get(rule.department)]


def township_code(village_code: str) -> str:
    return village_code[:TOWNSHIP_DIGITS].ljust(12, "0")


@contextlib.contextmanager
def planned_for_oltp() -> Iterator[None]:
    """A transaction whose queries are not JIT-compiled (PostgreSQL).

    These are a few dozen short queries; with the planner's default jit_above_cost each of them was compiled
    first, which was half of the quality export's time at 300,000 people."""
    if connection.vendor != "postgresql":
        yield
        return
    # Inside a transaction already (a job, a test): SET LOCAL holds until it ends; no savepoint needed.
    with contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def compute_counts(ctx: Context) -> dict[str, dict[str, int]]:
    """{township code: {rule code: people}} from the database: one grouped query per rule (GROUP BY the
    township part of the village code), never one per township."""
    counts: dict[str, dict[str, int]] = {}
    queries = _rule_querysets(ctx)
    with planned_for_oltp():
        for rule in applicable_rules(ctx):
            queryset = queries[rule.code]()
            if queryset is None:
                continue
            grouped = (
                queryset.annotate(township=Substr(F("household__village_id"), 1, TOWNSHIP_DIGITS))
                .values("township")
                .annotate(people=Count("pk", distinct=True))
                .order_by()
            )
            for row in grouped:
                code = row["township"].ljust(12, "0")
                counts.setdefault(code, {})[rule.code] = row["people"]
    return counts


# The order a township's items are listed in: by village, household, person.
ITEM_ORDER = ("household__village_id", "household__number", "pk")


@dataclass(frozen=True)
class Found:
    """A stored item as the job finds it: the person and the record cited (with its batch), if any."""

    person_id: int
    record_id: int | None
    record_batch_id: int | None


def compute_counts_and_items(
    ctx: Context, limit: int | None = None
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, list[Found]]]]:
    """({township: {rule: people}}, {township: {rule: the first `limit` people, in the page's order}}).

    Per rule, one query over the context's region numbers each township's people (ROW_NUMBER) and counts
    them (COUNT over the township) and keeps the first `limit`; a second query cites a record for the kept
    people only, so the citation subqueries never run for the whole county."""
    limit = ITEM_LIMIT if limit is None else limit
    township = Substr(F("household__village_id"), 1, TOWNSHIP_DIGITS)
    counts: dict[str, dict[str, int]] = {}
    items: dict[str, dict[str, list[Found]]] = {}
    parts = _rule_parts(ctx)
    with planned_for_oltp():
        for rule in applicable_rules(ctx):
            part = parts[rule.code]()
            if part is None:
                continue
            matches, records = part
            ranked = (
                matches.annotate(
                    township=township,
                    item_rank=Window(RowNumber(), partition_by=[township], order_by=[F(f) for f in ITEM_ORDER]),
                    township_people=Window(Count("pk"), partition_by=[township]),
                )
                .filter(item_rank__lte=limit)
                .values_list("pk", "township", "item_rank", "township_people")
                .order_by()
            )
            kept: dict[str, list[tuple[int, int]]] = {}
            for pk, code, rank, people in ranked:
                code = code.ljust(12, "0")
                counts.setdefault(code, {})[rule.code] = people
                kept.setdefault(code, []).append((rank, pk))
            cited = _citations(matches.model, records, [pk for ranked_ in kept.values() for _rank, pk in ranked_])
            for code, ranked_ in kept.items():
                items.setdefault(code, {})[rule.code] = [
                    Found(pk, *cited.get(pk, (None, None))) for _rank, pk in sorted(ranked_)
                ]
    return counts, items


def _citations(model: type[Person], records: QuerySet, ids: list[int]) -> dict[int, tuple[int | None, int | None]]:
    """{person id: (record id, batch id)} of the newest of `records` of each person (as _cite annotates)."""
    cited: dict[int, tuple[int | None, int | None]] = {}
    for start in range(0, len(ids), 5000):  # SQLite's bound on a statement's parameters
        rows = _cite(model.objects.filter(pk__in=ids[start : start + 5000]), records).values_list(
            "pk", "record_id", "record_batch_id"
        )
        cited.update((pk, (record, batch)) for pk, record, batch in rows)
    return cited


def counts_by_township(ctx: Context) -> dict[str, dict[str, int]]:
    """{township code: {rule code: people}}: the stored counts of the context's county when they are fresh
    (the background job ran after the last change), else computed now in one grouped query per rule. Used by
    the auditors' export, itself a background job; the page reads the stored counts only (stored_counts)."""
    region = ctx.region
    if region is not None and region.level >= Region.Level.COUNTY:
        county = county_of(region.code)
        run = QualityRun.objects.filter(county_code=county, as_of=ctx.on, computed_at__isnull=False).first()
        if run is not None and is_fresh(run):
            ctx.counts = _read_counts([run], region.prefix, user=ctx.user)
            return ctx.counts
    ctx.counts = compute_counts(ctx)
    return ctx.counts


# --- Stored counts ---------------------------------------------------------------------------------------


def county_of(code: str) -> str:
    return code[:COUNTY_DIGITS].ljust(12, "0")


def month_start(on: dt.date) -> dt.date:
    return on.replace(day=1)


def last_change(county_code: str) -> dt.datetime | None:
    """When something that moves the counts last happened in the county: a batch (department or registry)
    finished or was undone, or a linkage decision was taken. Three small aggregate queries."""
    prefix = county_code[:COUNTY_DIGITS]
    batches = ImportBatch.objects.filter(region_code__startswith=prefix).aggregate(
        finished=Max("finished_at"), undone=Max("rolled_back_at")
    )
    decided = LinkCandidate.objects.filter(region_code__startswith=prefix).aggregate(at=Max("decided_at"))["at"]
    moments = [m for m in (batches["finished"], batches["undone"], decided) if m is not None]
    return max(moments) if moments else None


def is_fresh(run: QualityRun, changed: dt.datetime | None = None) -> bool:
    if run.computed_at is None or run.started_at is None:
        return False
    changed = changed if changed is not None else last_change(run.county_code)
    return changed is None or changed <= run.started_at


def refresh_counts(county_code: str, on: dt.date) -> QualityRun:
    """Compute and store the counts and items of one county as of `on` (the background job and the schedule)."""
    county = Region.objects.get(code=county_of(county_code))
    started = timezone.now()
    clock = time.perf_counter()
    counts, items = compute_counts_and_items(county_context(county, on))
    with transaction.atomic():
        run, _created = QualityRun.objects.select_for_update().get_or_create(county_code=county.code, as_of=on)
        QualityCount.objects.filter(run=run).delete()
        QualityItem.objects.filter(run=run).delete()
        QualityCount.objects.bulk_create(
            QualityCount(run=run, township_code=township, rule=rule, people=people)
            for township, by_rule in counts.items()
            for rule, people in by_rule.items()
            if people
        )
        QualityItem.objects.bulk_create(
            (
                QualityItem(
                    run=run,
                    township_code=township,
                    rule=rule,
                    position=position,
                    person_id=found.person_id,
                    record_id=found.record_id,
                    record_batch_id=found.record_batch_id,
                )
                for township, by_rule in items.items()
                for rule, kept in by_rule.items()
                for position, found in enumerate(kept, start=1)
            ),
            batch_size=2000,
        )
        run.started_at, run.computed_at = started, timezone.now()
        run.seconds = time.perf_counter() - clock
        run.save(update_fields=["started_at", "computed_at", "seconds"])
    return run


def request_refresh(county_code: str, on: dt.date | None = None, *, after_commit: bool = True) -> bool:
    """Queue the job that recomputes a county's counts (as of the first of this month unless given).

    Returns False when a run for it was requested recently and has not started yet (it will see this
    change too). After a bulk change the job is queued once the change commits (after_commit)."""
    county, on = county_of(county_code), on or month_start(timezone.localdate())
    now = timezone.now()
    run, created = QualityRun.objects.get_or_create(county_code=county, as_of=on, defaults={"requested_at": now})
    if not created:
        waiting = run.requested_at is not None and (run.started_at is None or run.requested_at > run.started_at)
        if waiting and now - run.requested_at < REQUEST_PENDING:
            return False
        QualityRun.objects.filter(pk=run.pk).update(requested_at=now)

    if after_commit:
        transaction.on_commit(lambda: enqueue_job(county, on))
    else:
        enqueue_job(county, on)
    return True


def enqueue_job(county_code: str, on: dt.date) -> None:
    from exchange.tasks import refresh_quality_counts_task  # the tasks module imports the import pipeline

    refresh_quality_counts_task.enqueue(county_code, on.isoformat())


def request_refresh_for(region_code: str) -> None:
    """After a change under a region (a batch, a rollback, a linkage run): its county's counts of this month."""
    if len(region_code) == 12 and region_code[:COUNTY_DIGITS].isdigit():
        request_refresh(region_code)


@dataclass
class Stored:
    counts: dict[str, dict[str, int]]  # {township code: {rule code: people}}, within the region only
    computed_at: dt.datetime | None  # the oldest of the runs shown
    stale: bool  # something changed since (a recomputation is queued)
    missing: bool  # some county of the region has no counts for the date yet (queued)
    runs: dict[str, QualityRun] = field(default_factory=dict)  # the computed runs shown, by county code


def stored_counts(region: Region, on: dt.date, *, user: Any, queue: bool = True) -> Stored:
    """The stored counts of a region's townships as of `on`, for the page: no scan of people or records.

    Missing or stale counts are requested from the background job (queue)."""
    if region.level >= Region.Level.COUNTY:
        counties = [county_of(region.code)]
    else:
        counties = list(
            Region.objects.filter(level=Region.Level.COUNTY, code__startswith=region.prefix).values_list(
                "code", flat=True
            )
        )
    runs = {r.county_code: r for r in QualityRun.objects.filter(county_code__in=counties, as_of=on)}
    shown, stale, missing = [], False, False
    for county in counties:
        run = runs.get(county)
        done = run is not None and run.computed_at is not None
        fresh = done and is_fresh(run)
        if not fresh and queue:
            request_refresh(county, on, after_commit=False)
            # An immediate backend (tests, a single process) has computed them already.
            run = QualityRun.objects.filter(county_code=county, as_of=on).first()
            done = run is not None and run.computed_at is not None
            fresh = done and is_fresh(run)
        if done:
            shown.append(run)
        missing |= not done
        stale |= done and not fresh
    computed_at = min((r.computed_at for r in shown), default=None)
    counts = _read_counts(shown, region.prefix, user=user)
    return Stored(
        counts=counts, computed_at=computed_at, stale=stale, missing=missing, runs={r.county_code: r for r in shown}
    )


def _read_counts(runs: list[QualityRun], prefix: str, *, user: Any = None) -> dict[str, dict[str, int]]:
    """The runs' counts of the townships under `prefix`, narrowed to the user's scope when one is given."""
    counts: dict[str, dict[str, int]] = {}
    if not runs:
        return counts
    stored = QualityCount.objects.filter(run__in=runs, township_code__startswith=prefix)
    if user is not None:
        stored = scope_for_user(stored, user)
    rows = stored.values_list("township_code", "rule", "people")
    for township, rule, people in rows:
        counts.setdefault(township, {})[rule] = people
    return counts


@dataclass
class Item:
    rule: Rule
    person: Person
    record: Any  # the department record cited, or None
    batch: ImportBatch | None  # the record's batch, or the covering batch that does not list the person


def stored_items(
    ctx: Context, township: Region, stored: Stored, *, rules: list[Rule] | None = None, limit: int | None = None
) -> dict[str, list[Item]] | None:
    """The items of one township as the job stored them with the counts shown (None: not computed yet): of
    the given rules (default: every applicable one), the first `limit` of each (default: all stored).

    A handful of indexed reads, whatever the size of the township: the stored rows, then the people, their
    households, the records and the batches by primary key. Each is read again through the user's scope, and
    a person no longer present in the township (moved or left since the run), or whose cited record the user
    may not see, is left out: the stored ids never show anyone outside the user's region."""
    run = stored.runs.get(county_of(township.code))
    if run is None:
        return None
    rules = applicable_rules(ctx) if rules is None else rules
    rows = QualityItem.objects.filter(run=run, township_code=township.code, rule__in=[r.code for r in rules])
    if limit is not None:
        rows = rows.filter(position__lte=limit)
    rows = list(
        scope_for_user(rows, ctx.user)
        .order_by("rule", "position")
        .values_list("rule", "person_id", "record_id", "record_batch_id")
    )
    first, last = township.prefix.ljust(12, "0"), township.prefix.ljust(12, "9")
    # Only the columns the page shows: a person, their household and village have some 60 columns, and
    # building the full objects was a third of this function's time.
    people = (
        scope_for_user(
            Person.objects.filter(pk__in={row[1] for row in rows}, household__village__pk__range=(first, last)),
            ctx.user,
        )
        .select_related("household__village")
        .only(*ITEM_PERSON_FIELDS)
        .in_bulk()
    )
    found: dict[str, list[Person]] = {rule.code: [] for rule in rules}
    cited: dict[str, set[int]] = {}
    for code, person_id, record_id, record_batch_id in rows:
        person = people.get(person_id)
        if person is None:
            continue
        # A copy per row: one person may be an item of several rules, each citing its own record.
        person = copy.copy(person)
        person.record_id, person.record_batch_id = record_id, record_batch_id
        found[code].append(person)
        if record_id is not None:
            cited.setdefault(RULES[code].department, set()).add(record_id)
    # The cited records read once, through the user's scope: those it leaves out are not shown, the others
    # are the records the items cite.
    visible = {
        slug: scope_for_user(get_department(slug).model.objects.filter(pk__in=ids), ctx.user).in_bulk()
        for slug, ids in cited.items()
    }
    for code, kept in found.items():
        department = RULES[code].department
        found[code] = [p for p in kept if p.record_id is None or p.record_id in visible.get(department, {})]
    return _attach(ctx, found, records=visible)


def issues_in(ctx: Context, township: Region, *, limit: int = ITEM_LIMIT) -> dict[str, list[Item]]:
    """The items of every rule in one township (at most `limit` per rule), with records and batches.

    One query per rule limited to the township; a rule the context's counts (counts_by_township, or the
    page's stored counts) show no one for in the township is not asked. Asked for a second township of the
    same context (the export walks them all), the items of every township of the context's region are read
    at once, one query per rule, instead of one query per township and rule."""
    asked = ctx.asked.setdefault(limit, set())
    asked.add(township.code)
    if limit in ctx.items or (len(asked) > 1 and ctx.region is not None and ctx.region.prefix != township.prefix):
        if limit not in ctx.items:
            ctx.items[limit] = _issues_by_township(ctx, limit)
        found = ctx.items[limit].get(township.code, {})
        return {rule.code: found.get(rule.code, []) for rule in applicable_rules(ctx)}
    first, last = township.prefix.ljust(12, "0"), township.prefix.ljust(12, "9")
    queries = _rule_querysets(ctx)
    found: dict[str, list[Person]] = {}
    with planned_for_oltp():
        for rule in applicable_rules(ctx):
            if not _may_have(ctx, township.code, rule):
                found[rule.code] = []
                continue
            queryset = queries[rule.code]()
            if queryset is None:
                continue
            found[rule.code] = list(
                queryset.filter(household__village__pk__range=(first, last))
                .select_related("household__village")
                .order_by(*ITEM_ORDER)[:limit]
            )
    return _attach(ctx, found)


def _may_have(ctx: Context, township_code: str, rule: Rule) -> bool:
    return ctx.counts is None or bool(ctx.counts.get(township_code, {}).get(rule.code))


def _issues_by_township(ctx: Context, limit: int) -> dict[str, dict[str, list[Item]]]:
    """{township code: {rule code: items}} of the context's whole region: one query per rule, the first
    `limit` people of each township (ROW_NUMBER per township, in the township's item order)."""
    queries = _rule_querysets(ctx)
    township = Substr(F("household__village_id"), 1, TOWNSHIP_DIGITS)
    by_township: dict[str, dict[str, list[Person]]] = {}
    with planned_for_oltp():
        for rule in applicable_rules(ctx):
            queryset = queries[rule.code]()
            if queryset is None:
                continue
            if ctx.counts is not None and not any(c.get(rule.code) for c in ctx.counts.values()):
                continue
            ranked = (
                queryset.annotate(
                    item_rank=Window(
                        RowNumber(),
                        partition_by=[township],
                        order_by=[F(f) for f in ITEM_ORDER],
                    )
                )
                .filter(item_rank__lte=limit)
                .select_related("household__village")
                .order_by(*ITEM_ORDER)
            )
            for person in ranked:
                code = township_code(person.household.village_id)
                by_township.setdefault(code, {}).setdefault(rule.code, []).append(person)
    return {code: _attach(ctx, found) for code, found in by_township.items()}


def _attach(
    ctx: Context, found: dict[str, list[Person]], *, records: dict[str, dict[int, Any]] | None = None
) -> dict[str, list[Item]]:
    """Items with the records they cite and their batches: one query per department (none when the caller
    read the records: records, per department by primary key) and one for the batches the context has not
    read already."""
    if records is None:
        wanted: dict[str, set[int]] = {}
        for code, people in found.items():
            wanted.setdefault(RULES[code].department, set()).update(p.record_id for p in people if p.record_id)
        records = {
            slug: get_department(slug).model.objects.in_bulk(list(ids)) for slug, ids in wanted.items() if ids
        }
    batch_ids = {p.record_batch_id for people in found.values() for p in people if p.record_batch_id}
    # The context read the departments' succeeded batches (its coverage); records cite those as a rule.
    batches = {b.pk: b for listed in ctx.coverage.values() for b in listed if b.pk in batch_ids}
    if batch_ids - batches.keys():
        batches.update(ImportBatch.objects.in_bulk(list(batch_ids - batches.keys())))
    items: dict[str, list[Item]] = {}
    for code, people in found.items():
        rule = RULES[code]
        items[code] = []
        for person in people:
            record = records.get(rule.department, {}).get(person.record_id) if person.record_id else None
            batch = batches.get(person.record_batch_id) if person.record_batch_id else None
            if batch is None and rule.needs_coverage:
                batch = _covering_batch(ctx, rule.department, person.household.village_id)
            items[code].append(Item(rule=rule, person=person, record=record, batch=batch))
    return items


def _covering_batch(ctx: Context, slug: str, village_code: str) -> ImportBatch | None:
    for batch in ctx.coverage.get(slug, []):
        if village_code.startswith(ctx.prefixes[batch.region_code]):
            return batch
    return None
