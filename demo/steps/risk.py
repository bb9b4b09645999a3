"""The risk side of the demo county: warning rules, training, scoring, the cases they open, and a few
cases taken through review by the demo users, so that every risk page shows real work.

Everything goes through the same services as the pages and commands; nothing here writes a table directly.
"""

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from households.models import Household, Person
from households.validation import HOUSEHOLD_LIFTED
from povertycloud.accounts.models import User
from povertycloud.regions.models import Region
from risk.models import RiskCase, WarningRule
from risk.partitions import county_partitions
from risk.registry import activate_model
from risk.rules import run_warning_rules
from risk.scoring import score_region
from risk.services import assign_for_verification, decide_monitoring, exclude, open_cases_from_run, record_home_visit
from risk.sources import Sources
from risk.training import train_risk_models

# The reviews the demo acts out in each demo township: of its cases, highest p_return first (p_poor where
# the run had no return model), these many
# are assigned to the township's official, visited, and decided one way or the other.
ASSIGNED, VISITED, MONITORED, EXCLUDED = 10, 7, 3, 2

# What the home visit finds, read from the household file for the demo's decisions (the people deciding
# choose risk types themselves on the page): illness, disability, no labour, or an income source at risk.
ILLNESS, DISABILITY, STUDY, DISASTER, BUSINESS, WORK_AWAY, NO_LABOUR = "01", "02", "03", "04", "06", "07", "08"
ABLE_LABOUR = {"1", "2"}


@dataclass
class RiskDemo:
    warnings: int = 0
    models: list[str] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    scored: int = 0
    explained: int = 0
    cases_opened: int = 0
    region_rules: int = 0
    reviewed: dict[str, int] = field(default_factory=dict)


def run_risk_demo(
    *, county: str, admin: User, reviewer: User, officials: list[User], say: Callable[[str], None]
) -> RiskDemo:
    """Rules and scores as of today, models trained on the county's history (out of time with several years
    of income; with one year only the poor-now model, and the run scores p_poor alone)."""
    today = timezone.localdate()
    result = RiskDemo()
    rules = run_warning_rules(as_of=today, region_code=county, by=reviewer)
    result.warnings = rules.created
    say(f"部门预警规则：触发 {rules.fired} 条，新增预警 {rules.created} 条。")
    result.region_rules = run_region_rules(county=county, as_of=today, by=reviewer, say=say)
    sources = Sources.load(region_code=county)
    training = train_risk_models(region_code=county, seed=0, by=admin, sources=sources)
    result.metrics = training.table()
    for row in result.metrics:
        say(
            f"  {row['target']:<8} {row['kind']:<9} ROC-AUC {row['roc_auc']:.3f}  PR-AUC {row['pr_auc']:.3f}  "
            f"Brier {row['brier']:.3f}"
        )
    # Per target, XGBoost where it beat its baselines on the test year; otherwise the run's best model by
    # PR-AUC (a baseline that beats the other baselines needs no override).
    for target in dict.fromkeys(model.target for model in training.models):
        models = [model for model in training.models if model.target == target]
        chosen = next((m for m in models if m.kind == "xgboost" and m.beats_baseline is not False), None)
        chosen = chosen or max(models, key=lambda m: m.metrics.get("pr_auc") or 0)
        activate_model(by=admin, model=chosen)
        result.models.append(chosen.version)
    say(f"已训练并启用模型：{'、'.join(result.models)}（检验年度 {training.test_year}）。")
    run = score_region(region_code=county, as_of=today, by=reviewer, sources=sources)
    result.scored, result.explained = run.households_scored, run.explained
    opened = open_cases_from_run(run=run, by=reviewer)
    result.cases_opened = opened.opened
    say(f"评分 {run.households_scored} 户（附解释 {run.explained} 户），新开待核实 {opened.opened} 户。")
    for official in officials:
        result.reviewed[official.username] = review_sample_cases(reviewer=reviewer, official=official, on=today)
    return result


def run_region_rules(*, county: str, as_of: dt.date, by: User, say: Callable[[str], None]) -> int:
    """The same rules over the county's prefecture, as a prefecture's staff would run them: one county a task on
    a Dask LocalCluster of this machine (risk.partitions). The demo's prefecture holds the one county, so the run
    finds what the county's own found and adds nothing; it shows the cluster road working end to end."""
    prefecture = Region.objects.get(code=county).parent_id
    if prefecture is None:
        return 0
    started = time.monotonic()
    rules = run_warning_rules(as_of=as_of, region_code=prefecture, by=by)
    say(
        f"州级部门预警（Dask LocalCluster，{len(county_partitions(prefecture))} 个县各一个任务）："
        f"触发 {rules.fired} 条，新增 {rules.created} 条，用时 {time.monotonic() - started:.1f} 秒。"
    )
    return rules.fired


def review_sample_cases(*, reviewer: User, official: User, on: dt.date) -> int:
    """County staff assign the township's top cases, the official visits, county staff decide some."""
    cases = list(
        RiskCase.objects.filter(status=RiskCase.Status.WARNED, region_code__startswith=official.region.prefix)
        .select_related("score")
        .order_by(F("score__p_return").desc(nulls_last=True), F("score__p_poor").desc(nulls_last=True), "id")[
            :ASSIGNED
        ]
    )
    for index, case in enumerate(cases):
        case = assign_for_verification(by=reviewer, case=case, official=official)
        if index >= VISITED:
            continue
        case = record_home_visit(
            by=official,
            case=case,
            visit_date=on,
            notes="入户了解家庭收入、支出和成员健康、就学、就业情况，与部门数据比对。",
            consent_signed=True,
        )
        if index < MONITORED:
            household = Household.objects.get(pk=case.household_id)
            decide_monitoring(
                by=reviewer,
                case=case,
                monitoring_type="1" if household.household_type == HOUSEHOLD_LIFTED else "2",
                risk_types=risk_types_of(case),
                reason="入户核实：收入在监测范围内，存在返贫致贫风险，经乡镇审核、县级审定纳入监测。",
            )
        elif index < MONITORED + EXCLUDED:
            exclude(by=reviewer, case=case, reason="入户核实：家庭收入稳定，刚性支出可承受，无返贫致贫风险。")
    return len(cases)


def risk_types_of(case: RiskCase) -> list[str]:
    """Risk types from the case's warning rules and from the household's members."""
    rules = WarningRule.objects.filter(code__in=case.warning_rules).exclude(risk_type="")
    codes = list(rules.values_list("risk_type", flat=True))
    members = list(Person.objects.filter(household_id=case.household_id))
    if any(",2," in m.health or ",3," in m.health for m in members):
        codes.append(ILLNESS)
    if any(m.disability_grade for m in members):
        codes.append(DISABILITY)
    if not any(m.labour_skill in ABLE_LABOUR for m in members):
        codes.append(NO_LABOUR)
    codes.append(WORK_AWAY if any(m.months_worked_away for m in members) else BUSINESS)
    # 因自然灾害 needs the disaster recorded on the household file first; the demo leaves that to officials.
    return [code for code in dict.fromkeys(codes) if code != DISASTER][:5]
