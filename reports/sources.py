"""What a performance report reads: one set-based query per table, for one region and up to the end of the
period, narrowed to the requesting user's scope. The rows come back in a canonical order with canonical
values, so that their SHA-256 (the report's data hash) depends on the data and nothing else: not on the
time, the database, or the order the database happened to return them in."""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from eligibility.models import CrossCheck, CrossCheckHit
from households.codes import codebook
from households.models import Household, IncomeRecord, Person, StatusChange
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user
from reports.indicators import Expected, income_year
from resources.catalogue import catalogue
from resources.checks import households_with_labour
from resources.matching import households_with_severe_disability
from resources.models import AssistanceMeasure, EliminationCase, MonitoringReturn
from resources.outcomes import thresholds_by_village
from risk.models import RiskCase

TOWNSHIP_DIGITS = 9
CENT = Decimal("0.01")


def canonical(value: Any) -> Any:
    """A value as it enters the data hash: dates as ISO text, amounts with two decimals, the rest as is."""
    if isinstance(value, Decimal):
        return format(value.quantize(CENT), "f")
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _plain(value: Any) -> Any:
    """A value as the indicators compute with it: amounts as floats, dates as timestamps."""
    if isinstance(value, Decimal):
        return float(value)
    return value


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple]

    def frame(self, dates: Sequence[str] = ()) -> pd.DataFrame:
        frame = pd.DataFrame([tuple(_plain(v) for v in row) for row in self.rows], columns=list(self.columns))
        for column in dates:
            frame[column] = pd.to_datetime(frame[column])
        return frame


@dataclass
class Sources:
    region: Region
    start: dt.date
    end: dt.date
    year: int | None
    tables: dict[str, Table]
    labour: set[int]
    severe_disability: set[int]
    expectations: list[Expected]
    development_categories: set[str]
    category_names: dict[str, str]
    township_names: dict[str, str]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        counts = {name: len(table.rows) for name, table in self.tables.items()}
        counts["labour_households"] = len(self.labour)
        counts["severe_disability_households"] = len(self.severe_disability)
        counts["expectations"] = len(self.expectations)
        return counts

    def data_hash(self) -> str:
        """SHA-256 over every row read, table by table, each row as canonical JSON, rows in sorted order."""
        digest = hashlib.sha256()

        def feed(name: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
            digest.update(json.dumps({"table": name, "columns": list(columns)}, ensure_ascii=False).encode())
            digest.update(b"\n")
            # Sorted by their own text, so that the order rows were read in never changes the hash.
            for line in sorted(json.dumps([canonical(v) for v in row], ensure_ascii=False) for row in rows):
                digest.update(line.encode())
                digest.update(b"\n")

        for name in sorted(self.tables):
            table = self.tables[name]
            feed(name, table.columns, table.rows)
        feed("labour", ["household_id"], [[pk] for pk in sorted(self.labour)])
        feed("severe_disability", ["household_id"], [[pk] for pk in sorted(self.severe_disability)])
        feed(
            "expectations",
            ["risk_type", "name", "categories", "subtypes", "mandatory", "condition"],
            sorted(
                [e.risk_type, e.name, ",".join(e.categories), ",".join(e.subtypes), e.mandatory, e.condition]
                for e in self.expectations
            ),
        )
        feed("parameters", ["region", "start", "end", "year"], [[self.region.code, self.start, self.end, self.year]])
        return digest.hexdigest()


def _range(region: Region) -> tuple[str, str]:
    return region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")


def _table(name: str, columns: Sequence[str], queryset: QuerySet, order: Sequence[str]) -> Table:
    rows = list(queryset.order_by(*order).values_list(*columns))
    canonical_rows = [tuple(canonical(v) if isinstance(v, dt.datetime) else v for v in row) for row in rows]
    return Table(name=name, columns=tuple(columns), rows=canonical_rows)


def _rename(table: Table, names: dict[str, str]) -> Table:
    return Table(table.name, tuple(names.get(c, c) for c in table.columns), table.rows)


LATEST = "latest"  # read_sources' year: the region's latest income year up to the end of the period


def income_year_for(*, region: Region, end: dt.date, user: Any) -> int | None:
    """The report's income year (indicators.income_year) of the region's surveys in the user's scope: a region's
    counties read their parts with the region's year, which a county without that year's surveys would not pick."""
    first, last = _range(region)
    in_region = {"household__village_id__gte": first, "household__village_id__lte": last}
    return _income_year(scope_for_user(IncomeRecord.objects.filter(**in_region, year__lte=end.year), user), end)


def _income_year(incomes_in_scope: QuerySet, end: dt.date) -> int | None:
    years = incomes_in_scope.values("year").annotate(n=Max("pk")).order_by().values_list("year", flat=True)
    return income_year(pd.DataFrame({"year": list(years)}), end)


def read_sources(
    *, region: Region, start: dt.date, end: dt.date, user: Any, year: int | str | None = LATEST
) -> Sources:
    """The region's tables; `year` the income year (default the region's latest, see income_year_for)."""
    first, last = _range(region)
    households = scope_for_user(Household.objects.filter(village_id__gte=first, village_id__lte=last), user)
    in_region = {"household__village_id__gte": first, "household__village_id__lte": last}

    household_table = _table(
        "households",
        ("pk", "number", "village_id", "household_type", "monitoring_type", "risk_types"),
        households,
        ("pk",),
    )
    people = dict(
        scope_for_user(Person.objects.filter(**in_region), user)
        .values("household_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("household_id", "n")
    )
    household_table = Table(
        "households",
        (
            "household_id",
            "number",
            "village_id",
            "township",
            "household_type",
            "monitoring_type",
            "risk_types",
            "people",
        ),
        [
            (pk, number, village, village[:TOWNSHIP_DIGITS].ljust(12, "0"), kind, monitoring, risks, people.get(pk, 0))
            for pk, number, village, kind, monitoring, risks in household_table.rows
        ],
    )
    status = _rename(
        _table(
            "status",
            ("pk", "household_id", "effective_date", "event", "monitoring_type", "risk_types"),
            scope_for_user(StatusChange.objects.filter(**in_region, effective_date__lte=end), user),
            ("household_id", "effective_date", "pk"),
        ),
        {"pk": "status_id"},
    )
    case_rows = list(
        scope_for_user(RiskCase.objects.filter(**in_region, opened_on__lte=end), user)
        .order_by("pk")
        .values_list("pk", "household_id", "status", "opened_on", "due_on", "decided_at")
    )
    cases = Table(
        "cases",
        ("case_id", "household_id", "status", "opened_on", "due_on", "decided_on"),
        [
            (pk, household, state, opened, due, timezone.localtime(decided).date() if decided else None)
            for pk, household, state, opened, due, decided in case_rows
        ],
    )
    measures = _rename(
        _table(
            "measures",
            (
                "pk",
                "household_id",
                "category_id",
                "subtype_id",
                "status",
                "amount",
                "funding_source",
                "start_date",
                "end_date",
            ),
            scope_for_user(AssistanceMeasure.objects.filter(**in_region, start_date__lte=end), user),
            ("pk",),
        ),
        {"pk": "measure_id", "category_id": "category", "subtype_id": "subtype"},
    )
    measures.rows = [(*row[:3], row[3] or "", *row[4:]) for row in measures.rows]
    incomes_in_scope = scope_for_user(IncomeRecord.objects.filter(**in_region, year__lte=end.year), user)
    if year == LATEST:
        year = _income_year(incomes_in_scope, end)
    incomes = _table(
        "incomes",
        ("household_id", "year", "household_size", "per_capita_net_income"),
        incomes_in_scope.filter(year__in=[year - 1, year] if year else []),
        ("household_id", "year"),
    )
    villages = {row[2] for row in household_table.rows}
    thresholds = Table(
        "thresholds",
        ("village_id", "year", "threshold"),
        sorted(
            (village, y, amount)
            for village, by_year in thresholds_by_village(villages).items()
            for y, amount in by_year.items()
            if year is not None and y in (year - 1, year)
        ),
    )
    elimination_rows = list(
        scope_for_user(
            EliminationCase.objects.filter(
                **in_region,
                status=EliminationCase.Status.APPROVED,
                status_change__isnull=False,
                status_change__effective_date__lte=end,
            ),
            user,
        )
        .order_by("pk")
        .values_list("pk", "household_id", "method", "status_change__effective_date")
    )
    eliminations = Table(
        "eliminations", ("elimination_id", "household_id", "method", "eliminated_on"), elimination_rows
    )
    returns = _table(
        "returns",
        ("household_id", "elimination_id", "eliminated_on", "returned_on"),
        scope_for_user(MonitoringReturn.objects.filter(**in_region, returned_on__lte=end), user),
        ("elimination_id",),
    )
    checks, cross_checks = read_cross_checks(region=region, start=start, end=end, user=user)
    book = catalogue()
    codes = codebook()
    townships = Region.objects.filter(level=Region.Level.TOWNSHIP, code__gte=first, code__lte=last).values_list(
        "code", "name"
    )
    sources = Sources(
        region=region,
        start=start,
        end=end,
        year=year,
        tables={
            t.name: t
            for t in (
                household_table,
                status,
                cases,
                measures,
                incomes,
                thresholds,
                eliminations,
                returns,
                checks,
                cross_checks,
            )
        },
        labour=households_with_labour(households, end),
        severe_disability=households_with_severe_disability(households),
        expectations=[
            Expected(e.risk_type, e.name, tuple(e.categories), tuple(e.subtypes), e.mandatory, e.condition)
            for e in book.expectations
        ],
        development_categories=set(book.development_categories),
        category_names={code: c.name for code, c in book.categories.items()},
        township_names=dict(townships),
        labels={
            "monitoring_type": dict(codes.labels.get("monitoring_type", {})),
            "risk_type": dict(codes.labels.get("risk_type", {})),
            "method": {value: str(label) for value, label in EliminationCase.Method.choices},
        },
    )
    sources.frames = frames_of(sources.tables)
    return sources


PAYMENT_SUBJECTS = (CrossCheck.Subject.MEASURES, CrossCheck.Subject.PAYMENT_LIST)


def _local_date(value: dt.datetime | None) -> dt.date | None:
    if value is None:
        return None
    return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()


def hits_first_found(*, region: Region, start: dt.date, end: dt.date, user: Any) -> QuerySet:
    """The cross-check hits of the region first found in the period (their first run started within it), in the
    user's scope: what the report counts and the cross-check export lists."""
    first, last = _range(region)
    return scope_for_user(
        CrossCheckHit.objects.filter(
            region_code__gte=first,
            region_code__lte=last,
            first_run__started_at__date__gte=start,
            first_run__started_at__date__lte=end,
        ),
        user,
    )


def read_cross_checks(
    *, region: Region, start: dt.date, end: dt.date, user: Any, outside: Iterable[Region] = ()
) -> tuple[Table, Table]:
    """The eligibility cross-checks (the active ones and any with a hit read) and the hits of the region first found
    in the period (their first run started within it), narrowed to the user's scope, in canonical order; without
    the hits under any of the `outside` regions (a region's counties read their own)."""
    found = hits_first_found(region=region, start=start, end=end, user=user)
    for other in outside:
        low, high = _range(other)
        found = found.exclude(region_code__gte=low, region_code__lte=high)
    hit_rows = list(
        found.order_by("pk").values_list(
            "pk",
            "cross_check__code",
            "township_code",
            "region_code",
            "status",
            "outcome",
            "payment_id",
            "payment_date",
            "amount",
            "first_run__started_at",
            "decided_at",
        )
    )
    hits = Table(
        "cross_checks",
        (
            "hit_id",
            "check",
            "township",
            "region_code",
            "status",
            "outcome",
            "payment",
            "payment_date",
            "amount",
            "found_on",
            "decided_on",
        ),
        [
            (pk, check, township, code, state, outcome, bool(paid), paid_on, amount, _local_date(at), _local_date(on))
            for pk, check, township, code, state, outcome, paid, paid_on, amount, at, on in hit_rows
        ],
    )
    used = {row[1] for row in hits.rows}
    checks = Table(
        "checks",
        ("check", "name", "outcome", "payment"),
        [
            (code, name, outcome, subject in PAYMENT_SUBJECTS)
            for code, name, outcome, subject in CrossCheck.objects.filter(Q(active=True) | Q(code__in=used))
            .order_by("code")
            .values_list("code", "name", "outcome", "subject")
        ],
    )
    return checks, hits


DATE_COLUMNS = {
    "status": ("effective_date",),
    "cases": ("opened_on", "due_on", "decided_on"),
    "measures": ("start_date", "end_date"),
    "eliminations": ("eliminated_on",),
    "returns": ("eliminated_on", "returned_on"),
    "cross_checks": ("payment_date", "found_on", "decided_on"),
}


def frames_of(tables: dict[str, Table]) -> dict[str, pd.DataFrame]:
    return {name: table.frame(DATE_COLUMNS.get(name, ())) for name, table in tables.items()}
