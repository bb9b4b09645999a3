"""Reads for the risk list: the households a user may see with their scores, filters, keyset pages, and the
per-township summary.

Every queryset that reaches a user is narrowed by povertycloud.regions.scoping. Lists are keyset
paginated (no OFFSET, no COUNT over the table): a page reads size + 1 rows, the extra one only says
whether another page follows.
"""

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat, Substr
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from households.codes import codebook
from households.models import Code, Household
from households.selectors import head_names
from povertycloud.paging import Page, keyset_page, query_without_keys, read_page
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import code_range, region_prefix_of, scope_for_user, sees_everything
from risk import list_tags
from risk.capacity import county_of, review_quota
from risk.explain import family_of, phrase_label
from risk.models import RiskCase, RiskListTag, RiskScore, ScoringRun, WarningRule
from risk.services import (
    DECIDED_STATUSES,
    DEFAULT_CAPACITY,
    OPEN_STATUSES,
    TOWNSHIP_DIGITS,
    ranking_column,
    township_code,
)

PAGE_SIZE = 50
TOP_FACTORS = 3
SORTS = {"p_return": "p_return", "p_poor": "p_poor"}
# Every order the list offers (an unknown key is the default order): the key in the address, its column and
# whether it runs from high to low unless asked otherwise. Probabilities seek on the run's indexes (run,
# -p_return) and (run, -p_poor); the others sort the run's rows, then by risk (highest first) and id.
SORT_COLUMNS = {
    "p_return": ("p_return", True),
    "p_poor": ("p_poor", True),
    "household": ("household__number", False),
    "village": ("region_code", False),  # the village code: townships and their villages in code order
    "category": ("household__monitoring_type", True),  # the monitored first, 非监测对象 last
}
ASCENDING, DESCENDING = "asc", "desc"
# The count above the list reads at most this many rows' ids (never a COUNT over the run).
COUNT_CAP = 1000
# Shown where a run has no return model (a county with one year of income: p_return is NULL).
NO_RETURN_MODEL = _("无返贫模型（需两年收支）")
Status = RiskCase.Status

# Case status filter values beyond the model's statuses.
NO_CASE, OPEN, OVERDUE = "none", "open", "overdue"
# Monitoring category filter values beyond the data dictionary's codes.
MONITORED_ANY, NOT_MONITORED = "any", "none"
NOT_MONITORED_LABEL = _("非监测对象")


def code_prefix(code: str) -> str:
    """A region's prefix read from its code alone (no query): the shortest level prefix after which the
    code is all zeros (统计用区划代码 pad each level's part with zeros)."""
    for length in sorted(set(PREFIX_LENGTH.values())):
        if not code[length:].strip("0"):
            return code[:length]
    return code


def townships_for(user: Any) -> QuerySet[Region]:
    townships = Region.objects.filter(level=Region.Level.TOWNSHIP)
    if sees_everything(user):
        return townships.order_by("code")
    prefix = region_prefix_of(user)
    if prefix is None:
        return townships.none()
    # A village official's township holds their village; anyone else sees the townships under them.
    region = user.region
    if region.level > Region.Level.TOWNSHIP:
        return townships.filter(code=township_code(region.code))
    return townships.filter(code__startswith=prefix).order_by("code")


def latest_run_for(user: Any) -> ScoringRun | None:
    """The newest finished scoring run that covers the user's region (or lies within it)."""
    runs = (
        ScoringRun.objects.filter(finished_at__isnull=False)
        .select_related("poor_model", "return_model")
        .only(
            "as_of",
            "region_code",
            "finished_at",
            "households_scored",
            "poor_model__version",
            "return_model__version",
        )
        .order_by("-as_of", "-finished_at", "-id")
    )
    if sees_everything(user):
        return runs.first()
    region = getattr(user, "region", None)
    if region is None:
        return None
    # The codes of the region and its ancestors, from the code itself (统计用区划代码 nest by prefix).
    covering = {
        region.code[:length].ljust(12, "0") for length in PREFIX_LENGTH.values() if length <= len(region.prefix)
    }
    return runs.filter(Q(region_code__in=sorted(covering)) | Q(region_code__startswith=region.prefix)).first()


def default_sort(run: ScoringRun | None) -> str:
    """The list's default order: by p_return, or by p_poor for a run without a return model."""
    return ranking_column(run) if run is not None else "p_return"


def sort_for(run: ScoringRun | None, sort: str) -> str:
    """The sort asked for, unless it is by p_return on a run without a return model (every p_return is
    NULL there): then by p_poor. An unknown key is the default order."""
    sort = sort if sort in SORT_COLUMNS else default_sort(run)
    if sort == "p_return" and run is not None and run.return_model_id is None:
        return "p_poor"
    return sort


def scores_for(user: Any, run: ScoringRun | None) -> QuerySet[RiskScore]:
    if run is None:
        return RiskScore.objects.none()
    return scope_for_user(RiskScore.objects.filter(run=run), user)


def in_monitoring(prefix: str = "") -> Q:
    """Households in monitoring now: a 监测对象类别 is set. A risk elimination (风险消除) clears it
    (resources.elimination, and a registry export without it), so a set category is one not eliminated.
    ``prefix`` is the path to the score ("score__" from a list tag)."""
    return ~Q(**{f"{prefix}household__monitoring_type": ""})


def tag_bounds(run: ScoringRun, user: Any = None, township: str | None = None) -> tuple[str, str]:
    """The code range a tag lookup reads: the user's region (the run's region for one who sees everything,
    or when no user is given), narrowed to the township asked for."""
    prefix = None
    if user is not None and not sees_everything(user):
        prefix = region_prefix_of(user) or "-"  # no region: a range that holds nothing
    if prefix is None:
        prefix = code_prefix(run.region_code)
    if township:
        narrower = township[:TOWNSHIP_DIGITS]
        if narrower.startswith(prefix):
            prefix = narrower
        elif not prefix.startswith(narrower):
            prefix = "-"
    return code_range(prefix)


def tagged(run: ScoringRun, tag: str | list[str], bounds: tuple[str, str], **extra: Any) -> QuerySet[RiskListTag]:
    """The score ids of the run carrying a tag, read from the user's region only (run, tag, region index)."""
    tags = RiskListTag.objects.filter(run=run, region_code__gte=bounds[0], region_code__lte=bounds[1], **extra)
    tags = tags.filter(tag__in=tag) if isinstance(tag, list) else tags.filter(tag=tag)
    return tags.values("score_id")


@dataclass(frozen=True)
class TagFilter:
    """One filter the stored tags answer: the rows carrying ``tag`` (with ``extra`` lookups on the tag row),
    or, when ``present`` is False, the rows without it."""

    tag: str
    extra: tuple[tuple[str, Any], ...] = ()
    present: bool = True


def tag_filters(filters: Mapping[str, Any], today: dt.date) -> list[TagFilter]:
    """The risk type, warning rule and case status asked for, as stored tags (risk.list_tags)."""
    found = []
    if filters.get("risk_type"):
        found.append(TagFilter(list_tags.risk_tag(filters["risk_type"])))
    if filters.get("rule"):
        found.append(TagFilter(list_tags.rule_tag(filters["rule"])))
    status = filters.get("status")
    if status == NO_CASE:
        found.append(TagFilter(list_tags.CASE, present=False))
    elif status == OPEN:
        found.append(TagFilter(list_tags.OPEN_TAG))
    elif status == OVERDUE:
        found.append(TagFilter(list_tags.OPEN_TAG, (("due_on__lt", today),)))
    elif status in OPEN_STATUSES or status in DECIDED_STATUSES:
        # A decided status counts only without an open case: list_tags stores it only then.
        found.append(TagFilter(list_tags.status_tag(status)))
    return found


def score_conditions(filters: Mapping[str, Any], prefix: str = "") -> Q:
    """The filters read from the score and its household: level and monitoring category (the household's own
    column through the join, so it is current the moment a category is set or eliminated). ``prefix`` is the
    path to the score ("" on a RiskScore, "score__" on a RiskListTag)."""
    conditions = Q()
    if filters.get("level"):
        conditions &= Q(**{f"{prefix}level": filters["level"]})
    monitoring = filters.get("monitoring")
    if monitoring == MONITORED_ANY:
        conditions &= in_monitoring(prefix)
    elif monitoring == NOT_MONITORED:
        conditions &= ~in_monitoring(prefix)
    elif monitoring:
        conditions &= Q(**{f"{prefix}household__monitoring_type": monitoring})
    if filters.get("hide_monitored"):
        conditions &= ~in_monitoring(prefix)
    return conditions


def _with_tags(queryset: QuerySet, wanted: list[TagFilter], bounds: tuple[str, str], run: ScoringRun, key: str):
    for wanted_tag in wanted:
        ids = tagged(run, wanted_tag.tag, bounds, **dict(wanted_tag.extra))
        if wanted_tag.present:
            queryset = queryset.filter(**{f"{key}__in": ids})
        else:
            # NOT EXISTS, not NOT IN: PostgreSQL plans NOT IN as a hashed list of every tagged score (21,000
            # cases), built before the first row, where NOT EXISTS is an anti-join that can probe the tags of
            # the rows a page walks (high-risk households without a case by household number: 124 -> 8 ms).
            queryset = queryset.exclude(Exists(ids.filter(score_id=OuterRef(key))))
    return queryset


def filter_scores(
    queryset: QuerySet[RiskScore],
    filters: Mapping[str, Any],
    *,
    run: ScoringRun,
    today: dt.date | None = None,
    user: Any = None,
) -> QuerySet[RiskScore]:
    """The list's filters. Risk type, warning rule and case status read the run's stored tags
    (risk.list_tags) within the user's region (given user; else the run's region) and the township asked
    for; level and monitoring category read the score and its household (score_conditions)."""
    today = today or timezone.localdate()
    township = filters.get("township")
    if township:
        first, last = code_range(township[:TOWNSHIP_DIGITS])
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    queryset = queryset.filter(score_conditions(filters))
    wanted = tag_filters(filters, today)
    if not wanted:
        return queryset
    return _with_tags(queryset, wanted, tag_bounds(run, user, township), run, "pk")


def reads_part_of_run(user: Any, run: ScoringRun, filters: Mapping[str, Any]) -> bool:
    """Whether the list reads part of the run's region only: a township asked for, or a user whose region
    is smaller than the run's."""
    if filters.get("township"):
        return True
    if sees_everything(user):
        return False
    prefix = region_prefix_of(user) or ""
    return len(prefix) > len(code_prefix(run.region_code))


def tagged_rows(
    user: Any, run: ScoringRun, filters: Mapping[str, Any], *, today: dt.date | None = None
) -> QuerySet[RiskListTag] | None:
    """The list's rows read from the stored tags, for a filter by a tag (None without one): the rows of the
    first tag asked for in the user's region, with every other filter applied through the score.

    A page in probability order is read from these rows' own (run, tag, probability, score) index and stops
    after one page. Asked of the scores, the planner walked the whole run in probability order probing each
    score for the tag: a rare risk type whose households were all in monitoring read every score of the
    county (600 ms at 1,000,000 people) to find none."""
    today = today or timezone.localdate()
    wanted = tag_filters(filters, today)
    driving = next((wanted_tag for wanted_tag in wanted if wanted_tag.present), None)
    if driving is None:
        return None
    rows = scope_for_user(RiskListTag.objects.filter(run=run, tag=driving.tag, **dict(driving.extra)), user)
    township = filters.get("township")
    if township:
        first, last = code_range(township[:TOWNSHIP_DIGITS])
        rows = rows.filter(region_code__gte=first, region_code__lte=last)
    rows = rows.filter(score_conditions(filters, "score__"))
    others = [wanted_tag for wanted_tag in wanted if wanted_tag is not driving]
    return _with_tags(rows, others, tag_bounds(run, user, township), run, "score_id")


# --- Keyset pages ------------------------------------------------------------------------------------


def parse_float_key(key: str | None) -> tuple[float, int] | None:
    if not key or ":" not in key:
        return None
    value, _, pk = key.rpartition(":")
    try:
        number = float(value)
        return (number, int(pk)) if math.isfinite(number) else None  # a NaN key would match no row at all
    except ValueError:
        return None


def parse_date_key(key: str | None) -> tuple[str, int] | None:
    if not key or ":" not in key:
        return None
    value, _, pk = key.rpartition(":")
    try:
        return dt.date.fromisoformat(value).isoformat(), int(pk)
    except ValueError:
        return None


# --- The risk list -----------------------------------------------------------------------------------


@dataclass
class CaseState:
    case: RiskCase | None
    label: str = ""
    days_left: int | None = None
    overdue: bool = False
    decided: bool = False

    @property
    def overdue_days(self) -> int:
        return -self.days_left if self.overdue and self.days_left is not None else 0


def case_state(case: RiskCase | None, today: dt.date) -> CaseState:
    if case is None:
        return CaseState(case=None)
    state = CaseState(case=case, label=case.get_status_display())
    if case.status in OPEN_STATUSES:
        state.days_left = (case.due_on - today).days
        state.overdue = today > case.due_on
    else:
        state.decided = True
    return state


def current_cases(household_ids: list[int]) -> dict[int, RiskCase]:
    """Each household's current case: its open one, else its latest decided one."""
    chosen: dict[int, RiskCase] = {}
    cases = RiskCase.objects.filter(household_id__in=household_ids).select_related("assigned_to")
    for case in cases.order_by("household_id", "id"):
        current = chosen.get(case.household_id)
        if current is None or current.status not in OPEN_STATUSES:
            chosen[case.household_id] = case
    return chosen


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@dataclass
class RiskRow:
    score: RiskScore
    household: Household
    head_name: str
    village_name: str
    level_label: str
    factors: list[str]
    rules: list[str]
    state: CaseState
    risk_labels: list[str] = field(default_factory=list)
    township_name: str = ""
    monitoring_label: str = ""

    @property
    def monitored(self) -> bool:
        return bool(self.household.monitoring_type)

    @property
    def p_return(self) -> str:
        return percent(self.score.p_return)

    @property
    def p_poor(self) -> str:
        return percent(self.score.p_poor)


def rule_names() -> dict[str, str]:
    return dict(WarningRule.objects.values_list("code", "name"))


def rule_labels(codes: list[str]) -> list[str]:
    if not codes:
        return []
    names = dict(WarningRule.objects.filter(code__in=codes).values_list("code", "name"))
    return [names.get(code, code) for code in codes]


def factor_phrases(factors: Any, limit: int = TOP_FACTORS) -> list[str]:
    """The stored factors' phrases in their order (the row's own contributions, largest first), one per
    family of phrases that say the same thing (risk.explain.FAMILIES): runs scored before the factors were
    picked that way stored e.g. three income phrases, of which the list shows the first."""
    if not isinstance(factors, list):
        return []
    phrases: list[str] = []
    families: set[str] = set()
    for factor in factors:
        phrase = factor.get("phrase") if isinstance(factor, dict) else factor
        if not phrase or not isinstance(phrase, str) or family_of(phrase) in families:
            continue
        families.add(family_of(phrase))
        phrases.append(phrase_label(phrase))
        if len(phrases) >= limit:
            break
    return phrases


def risk_rows(scores: list[RiskScore], *, today: dt.date, rules: dict[str, str]) -> list[RiskRow]:
    ids = [score.household_id for score in scores]
    heads = head_names(ids) if ids else {}
    cases = current_cases(ids) if ids else {}
    book = codebook()
    rows = []
    for score in scores:
        case = cases.get(score.household_id)
        household = score.household
        village = household.village
        rows.append(
            RiskRow(
                score=score,
                household=household,
                head_name=heads.get(score.household_id, ""),
                village_name=village.name,
                township_name=village.parent.name if village.parent_id else "",
                monitoring_label=(
                    book.label("monitoring_type", household.monitoring_type)
                    if household.monitoring_type
                    else str(NOT_MONITORED_LABEL)
                ),
                level_label=score.get_level_display(),
                factors=factor_phrases(score.factors),
                rules=[rules.get(code, code) for code in (case.warning_rules if case else [])],
                state=case_state(case, today),
                risk_labels=[book.label("risk_type", code) for code in household.risk_type_codes],
            )
        )
    return rows


def descending_for(sort: str, direction: str | None) -> bool:
    """The direction asked for (asc/desc), else the sort's own (probabilities high to low, text A to Z)."""
    if direction == ASCENDING:
        return False
    if direction == DESCENDING:
        return True
    return SORT_COLUMNS.get(sort, SORT_COLUMNS["p_return"])[1]


def sort_columns(sort: str, descending: bool, ranking: str) -> list[tuple[str, bool]]:
    """The ORDER BY of a sort: its column, then (for the non-probability sorts) the run's ranking column
    highest first, then id as a stable tiebreak. Every column is never NULL in the run (sort_for)."""
    column = SORT_COLUMNS.get(sort, SORT_COLUMNS["p_return"])[0]
    columns = [(column, descending)]
    if column not in SORTS and sort != "household":  # a household number is unique: no second key needed
        columns.append((ranking, True))
    columns.append(("id", descending if column in SORTS else True))
    return columns


def _value(score: RiskScore, lookup: str) -> Any:
    value: Any = score
    for part in lookup.split("__"):
        value = getattr(value, part)
    return value


def _parse_key(key: str | None, columns: list[tuple[str, bool]]) -> list[Any] | None:
    """A page key as a list of values, one per column and of the column's type; None if it is not one."""
    if not key:
        return None
    try:
        values = json.loads(key)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(columns):
        return None
    for (lookup, _descending), value in zip(columns, values, strict=True):
        if lookup == "id":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif lookup in SORTS:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return None
    return values


def _beyond(columns: list[tuple[str, bool]], values: list[Any], *, forward: bool) -> Q:
    """Rows after (forward) or before the key in the order of columns: (a > x) or (a = x and b > y) or …"""
    clauses = Q()
    for i, (lookup, descending) in enumerate(columns):
        equal = {columns[j][0]: values[j] for j in range(i)}
        operator = "lt" if descending == forward else "gt"
        clauses |= Q(**equal, **{f"{lookup}__{operator}": values[i]})
    return clauses


def ordered_page(
    queryset: QuerySet[RiskScore],
    *,
    columns: list[tuple[str, bool]],
    after: str | None,
    before: str | None,
    size: int,
) -> Page:
    """Keyset pages over any order of columns (a joined column too), the last one a unique tiebreak. Reads
    size + 1 rows; the extra row only says whether another page follows."""
    forward = [("-" if descending else "") + lookup for lookup, descending in columns]
    backward = [("" if descending else "-") + lookup for lookup, descending in columns]

    def key_of(score: RiskScore) -> str:
        return json.dumps([_value(score, lookup) for lookup, _descending in columns], ensure_ascii=False)

    before_key, after_key = _parse_key(before, columns), _parse_key(after, columns)
    return read_page(
        queryset,
        forward=forward,
        backward=backward,
        before=_beyond(columns, before_key, forward=False) if before_key is not None else None,
        after=_beyond(columns, after_key, forward=True) if after_key is not None else None,
        key_of=key_of,
        size=size,
    )


CATEGORY = "household__monitoring_type"


def category_values() -> list[str]:
    """Every 监测对象类别 a household can hold: the dictionary's codes (inactive ones too) and "" (none).
    Households hold only these: every write path validates the code against the dictionary."""
    return sorted({"", *Code.objects.filter(codeset_id="monitoring_type").values_list("code", flat=True)})


def category_page(
    queryset: QuerySet[RiskScore],
    *,
    columns: list[tuple[str, bool]],
    after: str | None,
    before: str | None,
    size: int,
) -> Page:
    """Keyset pages by 监测对象类别, read one category at a time: each read is the run's rows of one
    category in ranking order (an equality on the household's column and the run's own (ranking, id) order,
    which the planner reads from an index and stops early), where one ORDER BY over the joined column sorted
    every row of the region first (80–350 ms at 300,000 people). Same rows and keys as ordered_page."""
    (_category, descending), rest = columns[0], columns[1:]
    groups = sorted(category_values(), reverse=descending)

    def key_of(score: RiskScore) -> str:
        return json.dumps([_value(score, lookup) for lookup, _descending in columns], ensure_ascii=False)

    def read(forward: bool, key: list[Any] | None, wanted: int) -> list[RiskScore]:
        order = [("-" if d == forward else "") + lookup for lookup, d in rest]
        ordered = groups if forward else list(reversed(groups))
        if key is not None:
            ordered = ordered[ordered.index(key[0]) :] if key[0] in ordered else []
        found: list[RiskScore] = []
        for value in ordered:
            rows = queryset.filter(**{CATEGORY: value})
            if key is not None and value == key[0]:
                rows = rows.filter(_beyond(rest, key[1:], forward=forward))
            found += list(rows.order_by(*order)[: wanted - len(found)])
            if len(found) >= wanted:
                break
        return found

    before_key, after_key = _parse_key(before, columns), _parse_key(after, columns)
    if before_key is not None:
        found = read(False, before_key, size + 1)
        has_more = len(found) > size
        items = list(reversed(found[:size]))
        page = Page(rows=items, is_first=not has_more)
        page.previous_key = key_of(items[0]) if has_more and items else None
        page.next_key = key_of(items[-1]) if items else None
        return page
    found = read(True, after_key, size + 1)
    items = found[:size]
    page = Page(rows=items, is_first=after_key is None)
    page.next_key = key_of(items[-1]) if len(found) > size else None
    page.previous_key = key_of(items[0]) if after_key is not None and items else None
    return page


# What a row of the list shows and sorts by: a page builds 200 model instances, and a household's thirty
# columns were most of that time.
ROW_FIELDS = (
    *("id", "run_id", "household_id", "region_code", "p_poor", "p_return", "level", "factors"),
    *("household__id", "household__number", "household__village_id", "household__monitoring_type"),
    *("household__risk_types", "household__village__code", "household__village__name"),
    *("household__village__parent_id", "household__village__parent__code", "household__village__parent__name"),
)


def risk_page(
    queryset: QuerySet[RiskScore],
    *,
    sort: str = "p_return",
    descending: bool | None = None,
    ranking: str = "p_return",
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
    today: dt.date | None = None,
    rules: dict[str, str] | None = None,
    tags: QuerySet[RiskListTag] | None = None,
    part_of_run: bool = False,
) -> Page:
    """One page of the risk list in the order asked for (SORT_COLUMNS; by default highest probability
    first, found by key (probability, id) on the run's index). Sort by a column that is never NULL in the
    run (sort_for): keyset keys cannot hold a NULL. ranking is the run's ranking column (ranking_column),
    the second key of the sorts by household, village or category. ``tags``, the same rows as list tags
    (tagged_rows), are read instead in a probability order: the page is found on the tags' index.
    ``part_of_run``: the rows lie in part of the run's region only (reads_part_of_run)."""
    size = size or PAGE_SIZE
    sort = sort if sort in SORT_COLUMNS else "p_return"
    descending = descending_for(sort, None) if descending is None else descending
    queryset = queryset.select_related("household__village__parent").only(*ROW_FIELDS)
    column = SORT_COLUMNS[sort][0]
    if column in SORTS:
        # Probabilities: keys (probability, score id), read from the tags when a tag filters the list.
        by_tag = tags is not None
        page = keyset_page(
            tags.only("score_id", column) if by_tag else queryset,
            columns=(column, "score_id" if by_tag else "id"),
            descending=descending,
            parse=parse_float_key,
            key_of=lambda row: f"{getattr(row, column)!r}:{row.score_id if by_tag else row.pk}",
            after=after,
            before=before,
            size=size,
        )
        if by_tag:
            ids = [tag.score_id for tag in page.rows]
            found = queryset.in_bulk(ids) if ids else {}
            page.rows = [found[pk] for pk in ids if pk in found]
    elif column == "household__number" and part_of_run:
        # The households' number index walked in number order meets a township's households only where
        # their numbers lie (a township official's list by number, descending: 900 ms reading the whole
        # county's numbers to reach the township's). Ordered by an expression of the same values that no
        # index gives, the township's scores are read first and their page sorted; the whole run (county
        # staff) still walks the index. The sort carries only the ids and numbers; the page's rows are read
        # after it, by id.
        numbered = (
            queryset.select_related(None)
            .only("id")
            .annotate(number_in_order=Concat("household__number", Value(""), output_field=CharField()))
        )
        columns = [
            ("number_in_order", d) if c == column else (c, d) for c, d in sort_columns(sort, descending, ranking)
        ]
        page = ordered_page(numbered, columns=columns, after=after, before=before, size=size)
        ids = [score.pk for score in page.rows]
        found = queryset.in_bulk(ids) if ids else {}
        page.rows = [found[pk] for pk in ids if pk in found]
    elif column == CATEGORY:
        page = category_page(
            queryset, columns=sort_columns(sort, descending, ranking), after=after, before=before, size=size
        )
    else:
        page = ordered_page(
            queryset, columns=sort_columns(sort, descending, ranking), after=after, before=before, size=size
        )
    page.rows = risk_rows(
        page.rows, today=today or timezone.localdate(), rules=rules if rules is not None else rule_names()
    )
    return page


def capped_count(queryset: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """How many rows match, read as at most cap + 1 ids (no COUNT over the run): (n, True) means more than
    cap (COUNT_CAP unless given)."""
    cap = COUNT_CAP if cap is None else cap
    found = len(queryset.order_by().values_list("pk", flat=True)[: cap + 1])
    return min(found, cap), found > cap


def matching_count(queryset: QuerySet, page: Page, cap: int | None = None) -> tuple[int, bool]:
    """The count above the list: a page that is both the first and the last holds every match already."""
    if page.is_first and page.next_key is None:
        return len(page.rows), False
    return capped_count(queryset, cap)


@dataclass
class SortLink:
    """A column header's link: the same filters, this column's order (reversed if it is the order now),
    back to the first page."""

    query: str
    active: bool
    descending: bool

    @property
    def aria_sort(self) -> str:
        if not self.active:
            return "none"
        return "descending" if self.descending else "ascending"

    @property
    def arrow(self) -> str:
        return ("↓" if self.descending else "↑") if self.active else ""


def _kept(query: QueryDict) -> QueryDict:
    """The page's query without its page key and without empty values, for links that change one thing."""
    kept = QueryDict(query_without_keys(query), mutable=True)
    for name in [name for name, values in kept.lists() if not any(values)]:
        del kept[name]
    return kept


def hide_monitored_toggle(query: QueryDict) -> str:
    """The same list with the households in monitoring hidden, or shown again if they are hidden now."""
    kept = _kept(query)
    if kept.get("hide_monitored"):
        del kept["hide_monitored"]
    else:
        kept["hide_monitored"] = "on"
    return kept.urlencode()


def sort_links(query: QueryDict, *, sort: str, descending: bool) -> dict[str, SortLink]:
    links = {}
    for key in SORT_COLUMNS:
        kept = _kept(query)
        active = key == sort
        # A click on the order now reverses it; on another column starts that column's own way.
        wanted = not descending if active else descending_for(key, None)
        kept["sort"] = key
        kept["dir"] = DESCENDING if wanted else ASCENDING
        links[key] = SortLink(query=kept.urlencode(), active=active, descending=descending if active else wanted)
    return links


@dataclass
class TownshipSummary:
    township: Region
    capacity: int | None  # None: a share of a township's scored households, and no run to count them in
    open_cases: int = 0
    overdue: int = 0
    verifying: int = 0


def _scored_per_township(run: ScoringRun, townships: list[str]) -> dict[str, int]:
    """Households the run scored in each of the given townships (one grouped read of the run's rows
    there; only asked for townships whose quota is a share)."""
    if not townships:
        return {}
    first, last = code_range(min(townships)[:TOWNSHIP_DIGITS])[0], code_range(max(townships)[:TOWNSHIP_DIGITS])[1]
    rows = (
        RiskScore.objects.filter(run=run, region_code__gte=first, region_code__lte=last)
        .annotate(township=Substr("region_code", 1, TOWNSHIP_DIGITS))
        .values("township")
        .annotate(n=Count("id"))
        .values_list("township", "n")
    )
    wanted = set(townships)
    return {code: n for prefix, n in rows if (code := prefix.ljust(12, "0")) in wanted}


def township_capacities(townships: list[str], run: ScoringRun | None) -> dict[str, int | None]:
    """Each township's review quota as case opening applies it (risk.capacity): its ReviewCapacity, else
    the county's ReviewQuota (a number, or a share of the households the run scored there), else the
    built-in default. None where the quota is a share and there is no run to count households in."""
    quota = review_quota(townships)

    def by_share(township: str) -> bool:
        households, share = quota.counties.get(county_of(township), (None, None))
        return township not in quota.townships and households is None and share is not None

    shared = [t for t in townships if by_share(t)]
    sizes = _scored_per_township(run, shared) if run is not None else {}
    capacities: dict[str, int | None] = {}
    for township in townships:
        if township in shared and run is None:
            capacities[township] = None
            continue
        capacities[township] = quota.for_township(township, sizes.get(township, 0), default_households=DEFAULT_CAPACITY)
    return capacities


# How long the per-township case counts are kept at most. Every case write moves list_tags' cases version,
# which is part of the key, so this bounds only a lost race between two writes at the same moment.
CASE_COUNTS_SECONDS = 60


def open_case_counts(user: Any, today: dt.date) -> list[dict[str, Any]]:
    """Open, verifying and overdue cases per township of the user's region: one grouped count by the
    database (a county of a million people has some 20,000 open cases: 12 ms, a fifth of the list's time),
    kept in the shared cache under the user's region, the day and the cases version (list_tags)."""
    scope = "*" if sees_everything(user) else region_prefix_of(user) or "-"
    key = f"risk:open-case-counts:{list_tags.cases_version()}:{scope}:{today.isoformat()}"
    counts = cache.get(key)
    if counts is not None:
        return counts
    open_cases = scope_for_user(RiskCase.objects.filter(status__in=OPEN_STATUSES), user)
    counts = list(
        open_cases.annotate(township=Substr("region_code", 1, TOWNSHIP_DIGITS))
        .values("township")
        .annotate(
            open_cases=Count("id"),
            verifying=Count("id", filter=Q(status=Status.VERIFYING)),
            overdue=Count("id", filter=Q(due_on__lt=today)),
        )
        .order_by()
    )
    cache.set(key, counts, CASE_COUNTS_SECONDS)
    return counts


def township_summary(
    user: Any,
    *,
    today: dt.date | None = None,
    townships: list[Region] | None = None,
    run: ScoringRun | None = None,
) -> list[TownshipSummary]:
    """Per township of the user's region: review capacity (the county's quota settings, as case opening
    reads them), open cases, cases being verified and overdue cases."""
    today = today or timezone.localdate()
    townships = list(townships_for(user)) if townships is None else townships
    capacities = township_capacities([t.code for t in townships], run)
    rows = {t.code: TownshipSummary(township=t, capacity=capacities.get(t.code)) for t in townships}
    for counted in open_case_counts(user, today):
        row = rows.get(township_code(counted["township"]))
        if row is None:
            continue
        row.open_cases += counted["open_cases"]
        row.verifying += counted["verifying"]
        row.overdue += counted["overdue"]
    return list(rows.values())
