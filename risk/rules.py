"""The department warning-rule engine (部门筛查预警, domain.md §3): rules are data (WarningRule),
thresholds per region (WarningThreshold, the nearest ancestor's value wins, else the rule's default).

``run_warning_rules(*, as_of, region_code=None, by=None)`` evaluates every active rule at once over the
department records valid on that date (one query per department, joined to persons and households), with
pandas, and writes a Warning per rule and source record: rule, person, household, value, threshold, source
record and batch. Running it again on the same day adds nothing (one warning per rule, record and day).

How each operator reads a record (thresholds for the day-based ones are a number of days):

- ``gte``/``gt``/``at_least_count``: the field's number against the threshold;
- ``is_true``/``is_false``: the field's flag;
- ``within_days``: the field's date in the last *threshold* days up to the date of the run;
- ``stopped``: a stop date (低保停止日期) in the last *threshold* days, or a flag (特困供养) that an earlier
  version had and the current one has not, the change made in the last *threshold* days — and in both cases
  the household still below the monitoring threshold (its last surveyed per-capita net income under the
  threshold of that year): 低保 or 特困 stopped for a household still in difficulty.

- ``in_values``: the field's value is one of the rule's values (comma-separated codes, e.g. "C,D").

A rule may name a department declared as data (exchange.feeds): its ``field`` is then a declared key, read
from DeclaredRecord.data and typed by the declaration (risk.features.read_declared), and checked against
it: an unknown key, or an operator that does not suit the column's kind, skips the rule with the reason. A
rule whose department is not declared (yet) waits: it is skipped with its reason in RulesRun.skipped, and
the other rules run.

Populations are judged on the date of the run: 脱贫人口 by the household type, 监测对象 by the monitoring
type (both from the status history, else the household file), compulsory age 6–15 by the birth date.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.declarations import Department, Kind, get_department
from exchange.feeds.declare import field_label
from households.models import Household, IncomeRecord, StatusChange
from households.monitoring import ancestor_codes
from povertycloud.audit.services import record_event
from povertycloud.db import analyze
from risk.features import (
    COMPULSORY_AGES,
    DECLARED_PREFIX,
    LIFTED,
    age_on,
    household_state_at,
    known_incomes,
    read_declared,
    with_thresholds,
)
from risk.frames import read_frame
from risk.list_tags import refresh_households
from risk.models import ScoringRun, Warning, WarningRule, WarningThreshold
from risk.partitions import CountyProgress, county_partitions, runner_for
from risk.sources import in_region, monitoring_thresholds, region_prefix

Op = WarningRule.Operator
Pop = WarningRule.Population
NUMERIC = {Op.GTE, Op.GT, Op.AT_LEAST_COUNT}
DAY_BASED = {Op.WITHIN_DAYS, Op.STOPPED}
# Which kinds of declared column each operator reads.
OPERATOR_KINDS = {
    **{op: {Kind.AMOUNT, Kind.INTEGER} for op in NUMERIC},
    Op.IS_TRUE: {Kind.FLAG},
    Op.IS_FALSE: {Kind.FLAG},
    Op.WITHIN_DAYS: {Kind.DATE},
    Op.STOPPED: {Kind.DATE, Kind.FLAG},
    Op.IN_VALUES: {Kind.CODE, Kind.TEXT, Kind.INTEGER},
}


class RuleError(ValueError):
    """A rule that cannot be evaluated as declared (unknown department or field, missing threshold)."""


class DepartmentNotDeclared(RuleError):
    """A rule whose department is not declared (yet): it waits, and the other rules run."""


@dataclass
class RulesRun:
    as_of: dt.date
    fired: int = 0
    created: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


# --- Thresholds -----------------------------------------------------------------------------------


def threshold_table(rules: list[WarningRule]) -> dict[int, dict[str, Decimal]]:
    table: dict[int, dict[str, Decimal]] = {rule.pk: {} for rule in rules}
    for rule_id, region_id, value in WarningThreshold.objects.filter(rule__in=rules).values_list(
        "rule_id", "region_id", "value"
    ):
        table[rule_id][region_id] = value
    return table


def threshold_for(rule: WarningRule, region_code: str, table: dict[int, dict[str, Decimal]]) -> Decimal | None:
    """The rule's threshold for a region: the nearest ancestor's (the region itself first), else the
    default."""
    own = table.get(rule.pk, {})
    for code in ancestor_codes(region_code):
        if code in own:
            return own[code]
    return rule.default_threshold


def thresholds_by_village(rule: WarningRule, villages: pd.Series, table: dict) -> np.ndarray:
    """Per row, the rule's threshold for the row's village (NaN when the rule has none)."""
    unique = villages.unique()
    values = {code: threshold_for(rule, code, table) for code in unique}
    mapped = villages.map({code: (np.nan if v is None else float(v)) for code, v in values.items()})
    return mapped.to_numpy(dtype=float)


# --- Reading what the rules need ------------------------------------------------------------------


def _record_fields(rules: list[WarningRule], department: str) -> list[str]:
    return sorted({rule.field for rule in rules if rule.department == department})


def rule_values(rule: WarningRule) -> list[str]:
    """The rule's values for ``in_values``: "C, D" → ["C", "D"]."""
    return [value.strip() for value in (rule.values or "").split(",") if value.strip()]


def _department_of(rule: WarningRule, known: dict[str, Department | None]) -> Department:
    if rule.department not in known:
        try:
            known[rule.department] = get_department(rule.department)
        except LookupError:
            known[rule.department] = None
    department = known[rule.department]
    if department is None:
        raise DepartmentNotDeclared(
            _("规则 %(rule)s：未声明的部门“%(department)s”。") % {"rule": rule.code, "department": rule.department}
        )
    return department


def check_rule_field(rule: WarningRule, known: dict[str, Department | None] | None = None) -> Department:
    """The rule's department, once its field suits the declaration: a typed record's field, or a declared
    column's key whose kind the operator reads; ``in_values`` with its values. RuleError says why not
    (DepartmentNotDeclared when the department is not declared)."""
    department = _department_of(rule, {} if known is None else known)
    if department.declared_as_data:
        _check_declared(rule, department)
    else:
        model = department.model
        try:
            model._meta.get_field(rule.field)
        except Exception as exc:
            raise RuleError(
                _("规则 %(rule)s：%(model)s没有字段“%(field)s”。")
                % {"rule": rule.code, "model": model._meta.verbose_name, "field": rule.field}
            ) from exc
    if rule.operator == Op.IN_VALUES and not rule_values(rule):
        raise RuleError(
            _("规则 %(rule)s：比较“%(operator)s”需要填写取值（逗号分隔，例如 C,D）。")
            % {"rule": rule.code, "operator": rule.get_operator_display()}
        )
    return department


def _check(rule: WarningRule, known: dict[str, Department | None] | None = None) -> Department:
    """The rule's department, once the rule is found evaluable (else RuleError with the reason)."""
    department = check_rule_field(rule, known)
    if rule.operator in NUMERIC | DAY_BASED and rule.default_threshold is None and not rule.thresholds.exists():
        raise RuleError(
            _("规则 %(rule)s：比较“%(operator)s”需要阈值。")
            % {"rule": rule.code, "operator": rule.get_operator_display()}
        )
    return department


def _check_declared(rule: WarningRule, department: Department) -> None:
    specs = {spec.name: spec for spec in department.data_fields}
    spec = specs.get(rule.field)
    if spec is None:
        known = "、".join(f"{name}（{field_label(department, name)}）" for name in specs)
        raise RuleError(
            _("规则 %(rule)s：部门“%(department)s”没有声明字段“%(field)s”。已声明的字段：%(known)s")
            % {"rule": rule.code, "department": department.name, "field": rule.field, "known": known or _("无")}
        )
    if spec.kind not in OPERATOR_KINDS.get(rule.operator, set()):
        raise RuleError(
            _("规则 %(rule)s：字段“%(field)s”（%(column)s）不能用比较“%(operator)s”。")
            % {
                "rule": rule.code,
                "field": rule.field,
                "column": field_label(department, rule.field),
                "operator": rule.get_operator_display(),
            }
        )


def _records(
    department: Department, fields: list[str], prefix: str, as_of: dt.date, lookback: int
) -> pd.DataFrame:
    """Versions valid on as_of, and versions that ended in the last `lookback` days (for "stopped"); for a
    department declared as data, its declared columns expanded from the records' data."""
    since = as_of - dt.timedelta(days=lookback)
    queryset = in_region(
        department.records()
        .filter(person__isnull=False, valid_from__lte=as_of)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=since)),
        "person__household__village__pk",
        prefix,
    )
    paths = [
        "id",
        "batch_id",
        "person_id",
        "person__household_id",
        "person__household__village_id",
        "person__birth_date",
        "valid_from",
        "valid_to",
    ]
    names = ["id", "batch_id", "person_id", "household_id", "village_id", "birth_date", "valid_from", "valid_to"]
    sort = ["person_id", "valid_from", "id"]
    if department.declared_as_data:
        return read_declared(queryset, paths, names, department, keys=fields, sort=sort)
    return read_frame(queryset, [*paths, *fields], [*names, *fields], sort=sort)


@dataclass
class _Context:
    lifted: pd.Series
    monitored: pd.Series
    below_threshold: pd.Series


def _context(prefix: str, as_of: dt.date) -> _Context:
    c = pd.Timestamp(as_of)
    households = read_frame(
        in_region(Household.objects.all(), "village__pk", prefix),
        ["id", "village_id", "household_type", "poverty_attribute", "monitoring_type", "risk_types"],
        sort=["id"],
    ).set_index("id")
    status = read_frame(
        in_region(StatusChange.objects.filter(effective_date__lte=as_of), "household__village__pk", prefix),
        [
            "id",
            "household_id",
            "effective_date",
            "household_type",
            "poverty_attribute",
            "monitoring_type",
            "risk_types",
        ],
        sort=["household_id", "effective_date", "id"],
    )
    incomes = read_frame(
        in_region(IncomeRecord.objects.filter(year__lte=as_of.year), "household__village__pk", prefix),
        ["household_id", "year", "per_capita_net_income", "survey_date"],
        sort=["household_id", "year"],
    )
    state = household_state_at(households, status, c)
    thresholds = monitoring_thresholds(sorted(households["village_id"].unique()))
    last = with_thresholds(known_incomes(incomes, c), households, thresholds).groupby("household_id").tail(1)
    below = pd.Series(False, index=households.index)
    below.loc[last.loc[last["ratio"] < 1, "household_id"]] = True
    return _Context(
        lifted=state["household_type"] == LIFTED,
        monitored=state["monitoring_type"] != "",
        below_threshold=below,
    )


# --- Evaluation -----------------------------------------------------------------------------------


def _population(rule: WarningRule, records: pd.DataFrame, context: _Context, as_of: dt.date) -> np.ndarray:
    households = records["household_id"]
    lifted = households.map(context.lifted).fillna(False).to_numpy(dtype=bool)
    monitored = households.map(context.monitored).fillna(False).to_numpy(dtype=bool)
    if rule.population == Pop.LIFTED:
        return lifted
    if rule.population in {Pop.NOT_LIFTED, Pop.OTHERS}:
        return ~lifted
    if rule.population == Pop.MONITORED:
        return monitored
    if rule.population == Pop.NOT_MONITORED:
        return ~monitored
    if rule.population == Pop.COMPULSORY_AGE:
        age = age_on(records["birth_date"], pd.Timestamp(as_of)).to_numpy()
        return (age >= COMPULSORY_AGES[0]) & (age <= COMPULSORY_AGES[1])
    return np.ones(len(records), dtype=bool)


def _within(dates: pd.Series, as_of: dt.date, days: np.ndarray) -> np.ndarray:
    c = pd.Timestamp(as_of)
    age_days = (c - dates).dt.days.to_numpy(dtype=float)
    return (age_days >= 0) & (age_days < days)


def _fires(rule: WarningRule, records: pd.DataFrame, threshold: np.ndarray, context: _Context, as_of: dt.date):
    """(row mask over `records`, values) for one rule; `records` holds every version the rule may read."""
    c = pd.Timestamp(as_of)
    current = ((records["valid_to"].isna()) | (records["valid_to"] > c)).to_numpy()
    value = records[rule.field]
    op = rule.operator
    if op in NUMERIC:
        number = value.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            hit = number > threshold if op == Op.GT else number >= threshold
        return current & hit, value
    if op == Op.IS_TRUE:
        return current & value.to_numpy(dtype=bool), value
    if op == Op.IS_FALSE:
        return current & ~value.to_numpy(dtype=bool), value
    if op == Op.WITHIN_DAYS:
        return current & _within(value, as_of, threshold), value
    if op == Op.STOPPED:
        below = records["household_id"].map(context.below_threshold).fillna(False).to_numpy(dtype=bool)
        if pd.api.types.is_datetime64_any_dtype(value):
            return current & below & _within(value, as_of, threshold), value
        # A flag: set in a version that ended recently, and not set in the person's current version.
        flag = value.to_numpy(dtype=bool)
        now_set = set(records.loc[current & flag, "person_id"])
        ended = (~current) & flag & _within(records["valid_to"] - pd.Timedelta(days=1), as_of, threshold)
        ended &= ~records["person_id"].isin(now_set).to_numpy()
        stop_dates = records["valid_to"].dt.strftime("%Y-%m-%d")
        return ended & below, stop_dates
    if op == Op.IN_VALUES:
        wanted = rule_values(rule)
        if pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value):
            numbers = pd.to_numeric(pd.Series(wanted), errors="coerce").dropna()
            hit = value.isin(numbers.to_numpy()).to_numpy()
        else:
            hit = value.astype(str).str.strip().isin(wanted).to_numpy()
        return current & hit, value
    raise RuleError(_("规则 %(rule)s：未知的比较“%(operator)s”。") % {"rule": rule.code, "operator": op})


def _as_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return _("是") if value else _("否")
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else (f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}")
    return str(value)[:60]


def evaluate_rules(
    *,
    as_of: dt.date,
    region_code: str | None = None,
    rules: list[WarningRule] | None = None,
    waiting: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every firing of the active rules on as_of: one row per rule and source record; nothing written.

    Returns (firings, skipped) where skipped names the rules that could not be evaluated, with why. Rules
    whose department is not declared (yet) are not errors of the rule: their reasons go into ``waiting``
    when the caller passes a dict for it (run_warning_rules reports both)."""
    rules = list(WarningRule.objects.filter(active=True)) if rules is None else rules
    skipped: dict[str, str] = {}
    usable = []
    departments: dict[str, Department | None] = {}
    for rule in rules:
        try:
            _check(rule, departments)
            usable.append(rule)
        except DepartmentNotDeclared as exc:
            if waiting is not None:
                waiting[rule.code] = str(exc)
        except RuleError as exc:
            skipped[rule.code] = str(exc)
    prefix = region_prefix(region_code)
    table = threshold_table(usable)
    context = _context(prefix, as_of)
    lookback = max(
        (
            int(v)
            for rule in usable
            if rule.operator == Op.STOPPED
            for v in [rule.default_threshold or 0, *table[rule.pk].values()]
        ),
        default=0,
    )
    frames = []
    for department in sorted({rule.department for rule in usable}):
        records = _records(
            departments[department], _record_fields(usable, department), prefix, as_of, lookback
        )
        for rule in (r for r in usable if r.department == department):
            threshold = thresholds_by_village(rule, records["village_id"], table)
            hit, values = _fires(rule, records, threshold, context, as_of)
            hit &= _population(rule, records, context, as_of)
            if not hit.any():
                continue
            fired = records.loc[hit, ["id", "batch_id", "person_id", "household_id", "village_id"]].copy()
            fired["value"] = [_as_text(v) for v in values[hit]]
            fired["threshold"] = threshold[hit]
            fired["rule_id"], fired["rule_code"], fired["department"] = rule.pk, rule.code, department
            frames.append(fired)
    columns = [
        "id",
        "batch_id",
        "person_id",
        "household_id",
        "village_id",
        "value",
        "threshold",
        "rule_id",
        "rule_code",
        "department",
    ]
    firings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return firings.rename(columns={"id": "source_record_id"}), skipped


def evaluate_county(county: str | None, as_of: dt.date) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """A county's firings (a task of a region-wide run: it reads, nothing is written)."""
    waiting: dict[str, str] = {}
    firings, skipped = evaluate_rules(as_of=as_of, region_code=county, waiting=waiting)
    return firings, skipped, waiting


def evaluate_region(
    *, as_of: dt.date, region_code: str | None, cluster: str | None = None, on_county: CountyProgress | None = None
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Every firing in the region: above county level one task per county (on Dask unless cluster is "none"),
    the counties' firings in county order; else in this process."""
    if not region_code:
        return evaluate_county(None, as_of)
    counties = county_partitions(region_code)
    tell = on_county or (lambda county, state: None)
    skipped: dict[str, str] = {}
    waiting: dict[str, str] = {}
    parts: dict[str, pd.DataFrame] = {}
    with runner_for(region_code, cluster) as runner:
        tasks = {county: runner.submit(evaluate_county, county, as_of, key=f"rules-{county}") for county in counties}
        for county, _task, (firings, county_skipped, county_waiting) in runner.completed(tasks):
            parts[county] = firings
            skipped.update(county_skipped)
            waiting.update(county_waiting)
            tell(county, "rules")
    frames = [parts[county] for county in counties if not parts[county].empty]
    firings = pd.concat(frames, ignore_index=True) if frames else next(iter(parts.values()), pd.DataFrame())
    return firings, skipped, waiting


def run_warning_rules(
    *,
    as_of: dt.date | None = None,
    region_code: str | None = None,
    by: Any = None,
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
) -> RulesRun:
    """Evaluate the active rules over the region (its counties as tasks above county level), then write the
    firings in one transaction: nothing is written if anything fails, and no write is held open while the
    counties compute."""
    as_of = as_of or timezone.localdate()
    firings, skipped, waiting = evaluate_region(
        as_of=as_of, region_code=region_code, cluster=cluster, on_county=on_county
    )
    with transaction.atomic():
        return _write_firings(firings, {**skipped, **waiting}, as_of=as_of, region_code=region_code, by=by)


def _write_firings(
    firings: pd.DataFrame, skipped: dict[str, str], *, as_of: dt.date, region_code: str | None, by: Any
) -> RulesRun:
    result = RulesRun(as_of=as_of, fired=len(firings), skipped=skipped)
    if firings.empty:
        result.by_rule = {}
    else:
        result.by_rule = firings.groupby("rule_code").size().astype(int).to_dict()
    before = Warning.objects.filter(as_of=as_of).count()
    Warning.objects.bulk_create(
        (
            Warning(
                rule_id=int(row.rule_id),
                household_id=int(row.household_id),
                person_id=int(row.person_id),
                value=row.value,
                threshold=None if np.isnan(row.threshold) else Decimal(str(row.threshold)),
                department=row.department,
                source_record_id=int(row.source_record_id),
                batch_id=int(row.batch_id),
                as_of=as_of,
                region_code=row.village_id,
            )
            for row in firings.itertuples(index=False)
        ),
        batch_size=5000,
        ignore_conflicts=True,
    )
    analyze(Warning)
    result.created = Warning.objects.filter(as_of=as_of).count() - before
    if result.created and ScoringRun.objects.filter(as_of__gte=as_of, finished_at__isnull=False).exists():
        # A run already scored on or after this date lists its households by risk type: the new warnings' types
        # join their tags (risk.list_tags). Usually the rules run before scoring, and this finds no such run.
        refresh_households(firings["household_id"].unique().tolist(), case=False)
    counts = _("，").join(f"{code} {n}" for code, n in sorted(result.by_rule.items())) or _("无")
    note = _("部门筛查预警（%(as_of)s）：触发 %(fired)s 条，新增 %(created)s 条；按规则：%(counts)s") % {
        "as_of": as_of, "fired": result.fired, "created": result.created, "counts": counts,
    }
    if skipped:
        note += _("；未能执行：%(skipped)s") % {"skipped": _("；").join(skipped.values())}
    record_event(actor=by, action="create", entity="risk.warning", region_code=region_code or "", note=note)
    return result


# --- The rules as a baseline model ----------------------------------------------------------------

# Which household feature (features.py) carries each rule's field at a cut-off: the department's own record
# where the department had sent one by then, else the same quantity from the household's last income survey
# (self-pay, net study cost and 低保金 are recorded there too). A rule with neither does not fire. Amounts in
# features are in monitoring thresholds: "now" ones (department) of the cut-off's year, "income" ones of the
# survey's year; they are turned back into yuan before the rule's threshold applies.
BASELINE_SIGNALS: dict[str, tuple[str | None, str | None, bool]] = {
    "out_of_pocket_ytd": ("dept_self_pay_max", "medical_spending", True),
    "max_stay_self_pay": ("dept_stay_max", None, True),
    "monthly_outpatient_cost": ("dept_outpatient_max", None, True),
    "insured": ("dept_uninsured", "uninsured_members", False),
    "serious_diagnosis_date": ("dept_serious_new", None, False),
    "dibao_stop": ("dept_dibao_stopped", "dibao_income_stopped", False),
    "tekun": (None, None, False),
    "relief_count": ("dept_relief_count", None, False),
    "dropout": ("dept_dropout", "out_of_school_children", False),
    "net_study_cost": ("dept_study_cost_max", "education_spending", True),
}


def _declared_signal(features: pd.DataFrame, rule: WarningRule) -> np.ndarray:
    """A rule on a department declared as data, read from its features (risk.features, "dept:<slug>:<key>"):
    members with one of the rule's codes, members with the flag, or the household's largest value (amounts
    back in yuan); NaN where the features do not carry it (a code set with many codes, a date, a flag unset
    or stopped)."""
    missing = np.full(len(features), np.nan)
    base = f"{DECLARED_PREFIX}{rule.department}:{rule.field}"
    if rule.operator == Op.IN_VALUES:
        names = [f"{base}={value}" for value in rule_values(rule) if f"{base}={value}" in features.columns]
        return features[names].sum(axis=1, min_count=1).to_numpy(dtype=float) if names else missing
    if base not in features.columns or rule.operator in {Op.IS_FALSE, Op.WITHIN_DAYS, Op.STOPPED}:
        return missing
    value = features[base].to_numpy(dtype=float)
    try:
        kind = get_department(rule.department).spec(rule.field).kind
    except (LookupError, StopIteration):
        return missing
    return value * features["threshold_now"].to_numpy(dtype=float) if kind == Kind.AMOUNT else value


def baseline_flags(features: pd.DataFrame, rules: list[WarningRule]) -> pd.DataFrame:
    """Per household and rule, whether the rule fires at the features' cut-off (household-level version of
    the engine above: the signals are the features' department columns or their survey equivalents)."""
    table = threshold_table(rules)
    flags = {}
    lifted = features["lifted"].to_numpy() > 0
    monitored = features["monitored_now"].to_numpy() > 0
    below = features["below_threshold"].to_numpy() > 0
    for rule in rules:
        department_column, survey_column, money = BASELINE_SIGNALS.get(rule.field, (None, None, False))
        value = np.full(len(features), np.nan)
        if survey_column is not None:
            value = features[survey_column].to_numpy(dtype=float)
            if money:
                value = value * features["threshold_income"].to_numpy(dtype=float)
        if department_column is not None:
            own = features[department_column].to_numpy(dtype=float)
            if money:
                own = own * features["threshold_now"].to_numpy(dtype=float)
            value = np.where(np.isnan(own), value, own)
        if department_column is None and survey_column is None:
            value = _declared_signal(features, rule)
        threshold = thresholds_by_village(rule, features["village_id"], table)
        with np.errstate(invalid="ignore"):
            if rule.operator in NUMERIC:
                hit = value > threshold if rule.operator == Op.GT else value >= threshold
            elif rule.operator == Op.STOPPED:
                hit = (value > 0) & below
            else:  # flags and dates arrive as counts of members concerned
                hit = value > 0
        if rule.population == Pop.LIFTED:
            hit &= lifted
        elif rule.population in {Pop.NOT_LIFTED, Pop.OTHERS}:
            hit &= ~lifted
        elif rule.population == Pop.MONITORED:
            hit &= monitored
        elif rule.population == Pop.NOT_MONITORED:
            hit &= ~monitored
        flags[rule.code] = np.nan_to_num(hit).astype(bool)
    return pd.DataFrame(flags, index=features.index)
