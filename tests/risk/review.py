"""Builders for the risk review tests: models, runs, scores, warnings and cases, written through the ORM
(the modelling side produces them in production)."""

import datetime as dt
import hashlib
import itertools
from typing import Any

from django.utils import timezone

from exchange.models import ImportBatch
from risk.models import RiskCase, RiskModel, RiskScore, ScoringRun, Warning, WarningRule
from risk.services import due_date
from tests.factories import COUNTY, make_household, make_person

_sequence = itertools.count(1)


def today() -> dt.date:
    return timezone.localdate()


def make_model(*, target: str = RiskModel.Target.RETURN, kind: str = RiskModel.Kind.XGBOOST, **overrides: Any):
    values = {
        "version": f"{kind}-{target}-{next(_sequence)}",
        "target": target,
        "kind": kind,
        "data_cutoff": dt.date(2024, 12, 31),
        "train_years": [2021, 2022, 2023],
        "test_year": 2024,
        "features": ["pc_income", "income_ratio", "chronic_illness"],
        "parameters": {"max_depth": 4, "n_estimators": 300},
        "seed": 20240601,
        "metrics": {"roc_auc": 0.8123, "pr_auc": 0.4567, "brier": 0.0789, "ee": 0.3012, "ie": 0.5543},
        "artifact": b"model-bytes",
    }
    values.update(overrides)
    return RiskModel.objects.create(**values)


def make_run(
    *, as_of: dt.date | None = None, region_code: str = COUNTY, finished: bool = True, with_return: bool = True
) -> ScoringRun:
    """A run; with_return=False makes one of a county with one year of income (no return model)."""
    return ScoringRun.objects.create(
        as_of=as_of or today(),
        poor_model=make_model(target=RiskModel.Target.POOR_NOW),
        return_model=make_model() if with_return else None,
        region_code=region_code,
        finished_at=timezone.now() if finished else None,
    )


def make_score(
    run: ScoringRun,
    household,
    p_return: float | None,
    *,
    p_poor: float | None = None,
    level: str | None = None,
    factors: list | None = None,
) -> RiskScore:
    """A score; p_return=None (a run without a return model) needs p_poor, and the level follows it."""
    ranked = p_return if p_return is not None else p_poor
    if level is None:
        level = "high" if ranked >= 0.5 else "medium" if ranked >= 0.2 else "low"
    return RiskScore.objects.create(
        run=run,
        household=household,
        region_code=household.village_id,
        p_poor=p_return / 2 if p_poor is None else p_poor,
        p_return=p_return,
        level=level,
        factors=factors
        if factors is not None
        else [
            {"phrase": "人均纯收入低于监测线", "contribution": 0.31},
            {"phrase": "家中有长期慢性病患者", "contribution": 0.12},
        ],
    )


def household(village: str, *, head: str = "户主", **overrides: Any):
    made = make_household(with_head=False, village_id=village, **overrides)
    make_person(made, name=head)
    return made


def make_case(household, *, status: str = RiskCase.Status.WARNED, opened_on: dt.date | None = None, **extra):
    opened_on = opened_on or today()
    return RiskCase.objects.create(
        household=household,
        region_code=household.village_id,
        status=status,
        opened_on=opened_on,
        due_on=due_date(opened_on),
        **extra,
    )


def make_rule(code: str = "health-self-pay", *, risk_type: str = "01", name: str = "医疗自付费用高") -> WarningRule:
    rule, _ = WarningRule.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "department": "health",
            "field": "out_of_pocket_ytd",
            "operator": WarningRule.Operator.GTE,
            "default_threshold": 5000,
            "risk_type": risk_type,
            "phrase": "年度累计自付医疗费用超过阈值",
        },
    )
    return rule


def make_batch(department: str = "health", region_code: str = COUNTY) -> ImportBatch:
    n = next(_sequence)
    return ImportBatch.objects.create(
        department=department,
        file_name=f"医保-{n}.csv",
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        file_format="csv",
        region_code=region_code,
    )


def make_warning(rule: WarningRule, household, *, as_of: dt.date | None = None, batch=None, value: str = "8000"):
    return Warning.objects.create(
        rule=rule,
        household=household,
        value=value,
        threshold=5000,
        department=rule.department,
        source_record_id=next(_sequence),
        batch=batch or make_batch(rule.department),
        as_of=as_of or today(),
        region_code=household.village_id,
    )


def counts_over_the_run(sql: str) -> bool:
    """Whether any statement COUNTs the run's rows (scores or their list tags): the risk list never does. The
    per-township summary's grouped count of open cases is allowed (a county has some 20,000)."""
    return any(
        "COUNT(" in statement and ("RISK_RISKSCORE" in statement or "RISK_RISKLISTTAG" in statement)
        for statement in sql.upper().split("\n")
    )
