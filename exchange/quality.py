"""Data-quality issues: where a department's current records contradict the household file.

Each rule is one queryset of people (set-based SQL, no loop over people), annotated with the department
record it cites. Counts per township are one grouped query per rule; the items of one township are one
query per rule. The people and the records both come through the user's region scope.

Rules that say "the department does not list this person" (e.g. 户档案有低保 but no 民政 record says so) are
only checked where the department has sent a file that covers the person's village; the item then cites
the latest such batch.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.declarations import get_department
from exchange.models import ImportBatch
from households.models import Person
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user

TOWNSHIP_DIGITS = 9
ITEM_LIMIT = 200
COMPULSORY_AGES = (6, 15)


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
    people, on = ctx.people, ctx.on
    civil, health, education = ctx.of("civil_affairs"), ctx.of("health"), ctx.of("education")
    active = civil.filter(_dibao_active(on))
    tekun = civil.filter(tekun=True)
    resident_only = Q(resident_medical_insurance=True, employee_medical_insurance=False)
    employee_only = Q(resident_medical_insurance=False, employee_medical_insurance=True)
    insured_as = health.filter(insured=True)
    children = people.filter(_compulsory_age(on))

    def covered(slug: str, queryset: QuerySet[Person]) -> QuerySet[Person] | None:
        condition = ctx.covered(slug)
        return None if condition is None else queryset.filter(condition)

    return {
        "dibao_department_only": lambda: _cite(people.filter(dibao="").filter(Exists(active)), active),
        "dibao_file_only": lambda: covered(
            "civil_affairs", _cite(people.exclude(dibao="").filter(~Exists(active)), civil)
        ),
        "tekun_department_only": lambda: _cite(people.filter(tekun=False).filter(Exists(tekun)), tekun),
        "tekun_file_only": lambda: covered(
            "civil_affairs", _cite(people.filter(tekun=True).filter(~Exists(tekun)), civil)
        ),
        "insurance_two_in_file": lambda: _cite(
            people.filter(resident_medical_insurance=True, employee_medical_insurance=True), health
        ),
        "insurance_none_in_file": lambda: _cite(
            people.filter(resident_medical_insurance=False, employee_medical_insurance=False), health
        ),
        "insurance_type_differs": lambda: _cite(
            people.filter(
                (resident_only & Exists(insured_as.filter(insurance_type="2")))
                | (employee_only & Exists(insured_as.filter(insurance_type="1")))
            ),
            insured_as,
        ),
        "insurance_not_insured": lambda: _cite(
            people.filter(Exists(health.filter(insured=False))), health.filter(insured=False)
        ),
        "education_missing": lambda: covered(
            "education", _cite(children.filter(~Exists(education)), education)
        ),
        "education_dropout": lambda: _cite(
            children.filter(Exists(education.filter(dropout=True))), education.filter(dropout=True)
        ),
    }


def build_context(*, user: Any, region: Region, on: dt.date | None = None) -> Context:
    """The people of a region and the departments' current records, both narrowed to the user's scope."""
    on = on or timezone.localdate()
    first, last = region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")
    people = scope_for_user(Person.objects.filter(household__village__pk__range=(first, last)), user)
    current = {}
    for slug in {rule.department for rule in RULES.values()}:
        model = get_department(slug).model
        linked = model.objects.filter(valid_to__isnull=True, person__isnull=False)
        current[slug] = scope_for_user(linked, user)
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
    return Context(user=user, on=on, people=people, current=current, coverage=coverage, prefixes=prefixes)


def applicable_rules(ctx: Context) -> list[Rule]:
    return [rule for rule in RULES.values() if not rule.needs_coverage or ctx.coverage.get(rule.department)]


def township_code(village_code: str) -> str:
    return village_code[:TOWNSHIP_DIGITS].ljust(12, "0")


def counts_by_township(ctx: Context) -> dict[str, dict[str, int]]:
    """{township code: {rule code: people}}, one grouped query per rule."""
    counts: dict[str, dict[str, int]] = {}
    queries = _rule_querysets(ctx)
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


@dataclass
class Item:
    rule: Rule
    person: Person
    record: Any  # the department record cited, or None
    batch: ImportBatch | None  # the record's batch, or the covering batch that does not list the person


def issues_in(ctx: Context, township: Region, *, limit: int = ITEM_LIMIT) -> dict[str, list[Item]]:
    """The items of every rule in one township (at most `limit` per rule), with records and batches."""
    first, last = township.prefix.ljust(12, "0"), township.prefix.ljust(12, "9")
    queries = _rule_querysets(ctx)
    found: dict[str, list[Person]] = {}
    for rule in applicable_rules(ctx):
        queryset = queries[rule.code]()
        if queryset is None:
            continue
        found[rule.code] = list(
            queryset.filter(household__village__pk__range=(first, last))
            .select_related("household__village")
            .order_by("household__village_id", "household__number", "pk")[:limit]
        )
    wanted: dict[str, set[int]] = {}
    for code, people in found.items():
        wanted.setdefault(RULES[code].department, set()).update(p.record_id for p in people if p.record_id)
    records = {
        slug: get_department(slug).model.objects.in_bulk(list(ids)) for slug, ids in wanted.items() if ids
    }
    batch_ids = {p.record_batch_id for people in found.values() for p in people if p.record_batch_id}
    batches = ImportBatch.objects.in_bulk(list(batch_ids)) if batch_ids else {}
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
