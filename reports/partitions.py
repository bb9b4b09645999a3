"""A report of a region above county level (a prefecture 市/州, a province), one county a partition (issue #18).

Each county's task (county_part, run by risk.partitions.runner_for: in this process, or on Dask) reads that
county's Sources and hands back its part of each section, compact: counts and unrounded sums where the region's
number is their sum (a household, a measure, a hit is in one county), the day counts and income pairs where it is
a median or a mean, the weighted sums of the FGT indices, its townships' rows, its ledgers' rows with the keys they
are ordered by. The job's process (combine) adds the parts up into the same reports.performance.Results, section
by section, that one process computing over the whole region's Sources gets, and lays them out the same way.
No county's Sources leave its task.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation

from povertycloud.regions.models import Region
from reports import cross_checks as xc
from reports import indicators as ind
from reports.performance import (
    Ledger,
    PerformanceReport,
    Results,
    basis_of,
    common_sections,
    ledgers,
    report_of,
    township_arguments,
)
from reports.sources import Sources, canonical, frames_of, income_year_for, read_cross_checks, read_sources
from risk.partitions import CountyProgress, county_partitions, runner_for

# Tables every county reads whole (not the county's rows): the region has them once, not once per county.
SHARED_ROW_COUNTS = ("expectations",)


@dataclass
class CountyPart:
    """A county's part of a region's report: what the region's sections are combined from (see the module)."""

    county: str
    data_hash: str
    row_counts: dict[str, int]
    by_type: pd.DataFrame  # index monitoring_type code: households, people
    by_risk: pd.DataFrame  # index risk type code: households, people
    flow: dict[str, Any]
    months: pd.DataFrame  # index "YYYY-MM": identified, eliminated, amount (unrounded)
    days_to_decision: pd.Series
    days_to_assistance: pd.Series  # of the decided cases that had assistance
    overdue_open: int
    decided_late: int
    cover: dict[str, Any]
    expected: dict[str, Any]
    amount_sums: dict[str, pd.DataFrame]  # by category / source / township code: measures, amount (unrounded)
    labels: dict[str, dict[str, str]]  # Sources.labels, category_names and township_names: names of codes
    category_names: dict[str, str]
    township_names: dict[str, str]
    amount_measures: int
    amount_total: float
    checks: pd.DataFrame  # the cross-checks the county's sources list (active, or with a hit of the county)
    check_pieces: pd.DataFrame  # cross_checks.summary_pieces
    assisted: int
    income_pairs: pd.DataFrame | None
    back: dict[str, Any]
    fgt: dict[str, Any]  # indicators.fgt_parts
    aim: dict[str, Any]
    township_rows: list[dict]
    ledgers: list[tuple[Ledger, list[tuple]]]  # each ledger of the county with its rows' sort keys


def user_of(user_pk: int | None) -> Any:
    return get_user_model().objects.filter(pk=user_pk).first() if user_pk is not None else None


def county_part(county: str, start: dt.date, end: dt.date, year: int | None, user_pk: int | None) -> CountyPart:
    """A task of the region's report: one county's part, read in the requesting user's scope (it only reads)."""
    with translation.override(settings.LANGUAGE_CODE):  # labels in the source language, as the job's own
        sources = read_sources(
            region=Region.objects.get(code=county), start=start, end=end, user=user_of(user_pk), year=year
        )
        return part_of(sources)


def part_of(sources: Sources) -> CountyPart:
    f, b = sources.frames, basis_of(sources)
    households, status, measures, incomes = f["households"], f["status"], f["measures"], f["incomes"]
    start, end, year = sources.start, sources.end, sources.year
    found = ind.amounts_found(measures, households, start, end)
    assisted, pairs = ind.income_pairs(incomes, measures, start, end, year)
    return CountyPart(
        county=sources.region.code,
        data_hash=sources.data_hash(),
        row_counts=sources.row_counts,
        by_type=ind.type_counts(b.state_end),
        by_risk=ind.risk_counts(b.state_end),
        months=ind.month_counts(status=status, eliminations=f["eliminations"], measures=measures, start=start, end=end),
        days_to_decision=b.timely.cases["days_to_decision"],
        days_to_assistance=b.timely.cases["days_to_assistance"].dropna(),
        overdue_open=int(b.timely.summary["overdue_open"]),
        decided_late=int(b.timely.summary["decided_late"]),
        amount_sums={column: ind.group_sums(found, column) for column in ("category", "source", "township")},
        labels=sources.labels,
        category_names=sources.category_names,
        township_names=sources.township_names,
        amount_measures=len(found),
        amount_total=float(found["amount"].sum()),
        checks=f["checks"],
        check_pieces=xc.summary_pieces(f["cross_checks"], start, end),
        assisted=assisted,
        income_pairs=pairs,
        fgt=ind.fgt_parts(incomes, households, f["thresholds"], year),
        township_rows=ind.township_rows(**township_arguments(b)),
        ledgers=list(
            zip(ledgers(sources, b.timely.cases, sources.labels), ledger_keys(sources, b.timely.cases), strict=True)
        ),
        **common_sections(b),
    )


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    return [tuple(row) for row in frame[list(columns)].itertuples(index=False)]


def ledger_keys(sources: Sources, decided: pd.DataFrame) -> list[list[tuple]]:
    """The keys the ledgers' rows are ordered by (reports.performance.ledgers), row for row."""
    f = sources.frames
    start, end = sources.start, sources.end
    return [
        _keys(ind.measures_started_in(f["measures"], start, end), ("start_date", "measure_id")),
        _keys(ind.identifications(f["status"], start, end), ("effective_date", "status_id")),
        _keys(ind.eliminations_in(f["eliminations"], start, end), ("eliminated_on", "elimination_id")),
        _keys(decided, ("decided_on", "case_id")),
    ]


# --- Combining the parts ---------------------------------------------------------------------------------


def _added(dicts: Sequence[Mapping[str, Any]], shares: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The counts added up, in the first's key order; each share (numerator, denominator) recomputed from them."""
    added = {key: sum(d[key] for d in dicts) for key in dicts[0] if key not in shares}
    return {
        key: ind.ratio(added[shares[key][0]], added[shares[key][1]]) if key in shares else added[key]
        for key in dicts[0]
    }


def _joined(series: Sequence[pd.Series]) -> pd.Series:
    """The parts' values one after the other (a county without any keeps the dtype of those with some)."""
    present = [values for values in series if len(values)]
    return pd.concat(present, ignore_index=True) if present else series[0]


def _grouped(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Counts by key (the index) added over the parts."""
    present = [frame for frame in frames if len(frame)]
    if not present:
        return frames[0]
    return pd.concat(present).groupby(level=0).sum()


def _ledgers(parts: Sequence[CountyPart]) -> list[Ledger]:
    """Each ledger's rows of all counties, in the order one process gives them (by date, then record id)."""
    combined = []
    for position, (first, _) in enumerate(parts[0].ledgers):
        keyed = [
            (key, row)
            for part in parts
            for key, row in zip(part.ledgers[position][1], part.ledgers[position][0].rows, strict=True)
        ]
        keyed.sort(key=lambda pair: pair[0])
        combined.append(Ledger(first.name, first.title, first.columns, [row for _, row in keyed]))
    return combined


@dataclass
class Outside:
    """The region's cross-check hits under no county of the partition (a batch of the prefecture itself)."""

    checks: pd.DataFrame
    pieces: pd.DataFrame
    rows: int
    data_hash: str


def _checks(parts: Sequence[CountyPart], outside: Outside | None) -> pd.DataFrame:
    """The checks the region's report lists: those any county's sources list (active, or with a hit there)."""
    lists = [p.checks for p in parts] + ([outside.checks] if outside is not None else [])
    return pd.concat(lists, ignore_index=True).drop_duplicates("check").sort_values("check", ignore_index=True)


def combine(
    parts: Sequence[CountyPart],
    *,
    region: Region,
    region_name: str,
    start: dt.date,
    end: dt.date,
    year: int | None,
    outside: Outside | None = None,
) -> Results:
    """The region's Results from its counties' parts, in county code order."""
    labels = parts[0].labels  # code labels do not depend on the county
    flow = _added([p.flow for p in parts], {"elimination_share": ("eliminated", "monitored_at_start")})
    flow["elimination_share"] = ind.ratio(flow["eliminated"], flow["monitored_at_start"] + flow["identified"])
    to_decision = _joined([p.days_to_decision for p in parts])
    to_help = _joined([p.days_to_assistance for p in parts])
    category_names = {code: name for p in parts for code, name in p.category_names.items()}
    township_names = {code: name for p in parts for code, name in p.township_names.items()}
    money = {name: _grouped([p.amount_sums[name] for p in parts]) for name in ("category", "source", "township")}
    measures = sum(p.amount_measures for p in parts)
    amount = sum(p.amount_total for p in parts)
    checks = _checks(parts, outside)
    pieces = [p.check_pieces for p in parts] + ([outside.pieces] if outside is not None else [])
    present = [piece for piece in pieces if len(piece)]
    check_pieces = pd.concat(present, ignore_index=True) if present else pieces[0]
    pairs = [p.income_pairs for p in parts if p.income_pairs is not None]
    fgt_parts = {
        "year": year,
        **{key: sum(p.fgt[key] for p in parts) for key in ind.FGT_COUNTS},
        "sums": {key: sum(p.fgt["sums"][key] for p in parts) for key in parts[0].fgt["sums"]},
    }
    return Results(
        region_code=region.code,
        region_name=region_name or region.name,
        start=start,
        end=end,
        year=year,
        by_type=ind.type_table(_grouped([p.by_type for p in parts]), labels["monitoring_type"]),
        by_risk=ind.risk_table(_grouped([p.by_risk for p in parts]), labels["risk_type"]),
        flow=flow,
        month_table=ind.month_table(_grouped([p.months for p in parts]), start, end),
        timely=ind.timeliness_summary(
            to_decision=to_decision,
            to_help=to_help,
            overdue_open=sum(p.overdue_open for p in parts),
            decided_late=sum(p.decided_late for p in parts),
        ),
        days_to_decision=to_decision,
        cover=_added(
            [p.cover for p in parts],
            {
                "with_measure_share": ("with_measure", "monitored"),
                "with_labour_and_development_share": ("with_labour_and_development", "with_labour"),
            },
        ),
        expected=_added([p.expected for p in parts], {"expected_in_place_share": ("expected_in_place", "expected")}),
        money={
            "category": ind.sum_table(money["category"], "category", measures, amount, category_names),
            "source": ind.sum_table(money["source"], "source", measures, amount),
            "township": ind.sum_table(money["township"], "township", measures, amount, township_names),
        },
        checked=xc.summary_of(checks, check_pieces, township_names),
        change=ind.income_change_of(sum(p.assisted for p in parts), year, pd.concat(pairs) if pairs else None),
        back=_added([p.back for p in parts], {"return_rate": ("returned", "eliminated_by_end")}),
        index=ind.fgt_of_parts(fgt_parts),
        aim=ind.targeting_of_counts({key: sum(p.aim[key] for p in parts) for key in ind.TARGETING_COUNTS}),
        townships=ind.township_table([row for p in parts for row in p.township_rows]),
        ledgers=_ledgers(parts),
    )


def data_hash_of(
    parts: Sequence[CountyPart],
    *,
    region: Region,
    start: dt.date,
    end: dt.date,
    year: int | None,
    outside: Outside | None = None,
) -> str:
    """A region's data hash above county level: SHA-256 over its counties' data hashes (each the county's
    Sources.data_hash, in code order) and the parameters; the same whichever way the tasks ran, and the same
    again when each county's data is."""
    digest = hashlib.sha256()
    lines = [[part.county, part.data_hash] for part in parts]
    if outside is not None:
        lines.append(["outside", outside.data_hash])
    lines.append(["parameters", region.code, start.isoformat(), end.isoformat(), year])
    for line in lines:
        digest.update(json.dumps(line, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def row_counts_of(parts: Sequence[CountyPart], checks: int, outside: Outside | None = None) -> dict[str, int]:
    counts = {key: sum(part.row_counts[key] for part in parts) for key in parts[0].row_counts}
    for key in SHARED_ROW_COUNTS:
        counts[key] = parts[0].row_counts[key]
    counts["checks"] = checks
    if outside is not None:
        counts["cross_checks"] += outside.rows
    return counts


def outside_counties(*, region: Region, counties: Sequence[str], start: dt.date, end: dt.date, user: Any) -> Outside:
    """The hits the counties' tasks do not read: of the region, under none of its counties with households."""
    checks, hits = read_cross_checks(
        region=region, start=start, end=end, user=user, outside=Region.objects.filter(code__in=counties)
    )
    frames = frames_of({"checks": checks, "cross_checks": hits})
    digest = hashlib.sha256()
    for line in sorted(json.dumps([canonical(v) for v in row], ensure_ascii=False) for row in hits.rows):
        digest.update(line.encode() + b"\n")
    return Outside(
        checks=frames["checks"],
        pieces=xc.summary_pieces(frames["cross_checks"], start, end),
        rows=len(hits.rows),
        data_hash=digest.hexdigest(),
    )


@dataclass
class ReportContent:
    """What the report job keeps of a computed report: the content, its data hash, row counts and income year."""

    report: PerformanceReport
    data_hash: str
    row_counts: dict[str, int]
    year: int | None


def compute_region(
    *,
    region: Region,
    start: dt.date,
    end: dt.date,
    user: Any,
    region_name: str = "",
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
) -> ReportContent | None:
    """The report of a region above county level, one county a task on risk.partitions.runner_for(region,
    cluster); None for a county or below, or a region without households (one process computes those)."""
    counties = county_partitions(region.code)
    if counties == [region.code] or not counties:
        return None
    tell = on_county or (lambda county, state: None)
    year = income_year_for(region=region, end=end, user=user)
    user_pk = getattr(user, "pk", None)
    with runner_for(region.code, cluster) as runner:
        tasks = {
            county: runner.submit(county_part, county, start, end, year, user_pk, key=f"report-{county}")
            for county in counties
        }
        parts: dict[str, CountyPart] = {}
        for county, task, part in runner.completed(tasks):
            parts[county] = part
            runner.release([task])
            tell(county, "computed")
    ordered = [parts[county] for county in counties]
    outside = outside_counties(region=region, counties=counties, start=start, end=end, user=user)
    results = combine(ordered, region=region, region_name=region_name, start=start, end=end, year=year, outside=outside)
    return ReportContent(
        report=report_of(results),
        data_hash=data_hash_of(ordered, region=region, start=start, end=end, year=year, outside=outside),
        row_counts=row_counts_of(ordered, len(_checks(ordered, outside)), outside),
        year=year,
    )
