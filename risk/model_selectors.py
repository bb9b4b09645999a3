"""Reads for the model pages: a stored model's figures, its calibration chart, per-township table,
comparisons with the baselines, and the recent training and scoring jobs.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code
from risk.models import RiskModel

# --- Model evaluation --------------------------------------------------------------------------------

# The figures of a stored model, by the names that risk.evaluation may use for them.
METRICS = (
    ("roc_auc", "ROC-AUC", ("roc_auc", "auc", "rocauc")),
    ("pr_auc", "PR-AUC", ("pr_auc", "average_precision", "ap", "prauc")),
    ("brier", "Brier", ("brier", "brier_score")),
    ("ee", "EE", ("ee", "exclusion_error", "ee_at_capacity")),
    ("ie", "IE", ("ie", "inclusion_error", "ie_at_capacity")),
)
FLAGGED_KEYS = ("flagged", "k", "top_n")
# Labels of the other figures risk.evaluation stores, overall and per township.
FIGURE_LABELS = {
    "n": "检验户数",
    "positives": "实际发生户数",
    "base_rate": "发生率",
    "flagged": "进入名单户数",
    "capacity": "名单长度依据",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "ee": "EE",
    "ie": "IE",
}
LOWER_IS_BETTER = {"brier", "ee", "ie"}
TOWNSHIP_KEYS = ("townships", "by_township", "per_township", "township")
CODE_KEYS = ("region_code", "township_code", "code", "township")
NAME_KEYS = ("name", "township_name", "region_name")


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(mapping, Mapping) and mapping.get(key) is not None:
            return mapping[key]
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def model_metrics(model: Any) -> dict[str, float | None]:
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    values = {key: _number(_first(metrics, names)) for key, _label, names in METRICS}
    values["flagged"] = _number(_first(metrics, FLAGGED_KEYS))
    return values


def extra_metrics(model: Any) -> list[tuple[str, Any]]:
    """Figures in model.metrics beyond the standard ones (with their Chinese names where known)."""
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    known = {name for _key, _label, names in METRICS for name in names} | set(FLAGGED_KEYS)
    return [
        (FIGURE_LABELS.get(key, key), value)
        for key, value in metrics.items()
        if key not in known and not isinstance(value, dict | list)
    ]


@dataclass
class CalibrationPoint:
    predicted: float
    observed: float
    count: int | None
    x: float
    y: float


@dataclass
class CalibrationChart:
    size: int
    left: int
    top: int
    plot: int
    points: list[CalibrationPoint]
    polyline: str
    ticks: list[tuple[float, float, float]]  # (value, y of the value on the y axis, x on the x axis)


def _calibration_pairs(evaluation: Mapping[str, Any]) -> list[tuple[float, float, int | None]]:
    data = _first(evaluation, ("calibration", "calibration_curve", "reliability"))
    pairs: list[tuple[float, float, int | None]] = []
    if isinstance(data, Mapping):
        predicted = _first(data, ("predicted", "mean_predicted", "prob_pred", "x"))
        observed = _first(data, ("observed", "fraction_positive", "prob_true", "y"))
        counts = _first(data, ("count", "counts", "n")) or []
        if isinstance(predicted, list) and isinstance(observed, list):
            for index, (p, o) in enumerate(zip(predicted, observed, strict=False)):
                count = counts[index] if isinstance(counts, list) and index < len(counts) else None
                pairs.append((_number(p), _number(o), count))
        data = _first(data, ("bins", "points"))
    if isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping):
                pairs.append(
                    (
                        _number(_first(item, ("predicted", "mean_predicted", "prob_pred", "x"))),
                        _number(_first(item, ("observed", "fraction_positive", "prob_true", "y"))),
                        _first(item, ("count", "n")),
                    )
                )
            elif isinstance(item, list | tuple) and len(item) >= 2:
                pairs.append((_number(item[0]), _number(item[1]), item[2] if len(item) > 2 else None))
    return [(p, o, c) for p, o, c in pairs if p is not None and o is not None and 0 <= p <= 1 and 0 <= o <= 1]


def calibration_chart(model: Any, *, size: int = 260) -> CalibrationChart | None:
    """Predicted against observed frequency per probability bin, as coordinates for an inline SVG."""
    pairs = _calibration_pairs(model.evaluation if isinstance(model.evaluation, Mapping) else {})
    if not pairs:
        return None
    left, top = 40, 10
    plot = size - left - 30

    def at(px: float, py: float) -> tuple[float, float]:
        return round(left + px * plot, 1), round(top + plot - py * plot, 1)

    points = []
    for predicted, observed, count in sorted(pairs):
        x, y = at(predicted, observed)
        points.append(CalibrationPoint(predicted, observed, count, x, y))
    ticks = [(tick, at(0, tick)[1], at(tick, 0)[0]) for tick in (0, 0.25, 0.5, 0.75, 1)]
    return CalibrationChart(
        size=size,
        left=left,
        top=top,
        plot=plot,
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        ticks=ticks,
    )


@dataclass
class TownshipTable:
    columns: list[str]
    rows: list[dict[str, Any]]


def township_table(model: Any, user: Any) -> TownshipTable | None:
    """The model's figures per township (from its evaluation), only for townships the user may see."""
    evaluation = model.evaluation if isinstance(model.evaluation, Mapping) else {}
    data = _first(evaluation, TOWNSHIP_KEYS)
    if isinstance(data, Mapping):
        data = [
            {"region_code": code, **(values if isinstance(values, Mapping) else {})} for code, values in data.items()
        ]
    if not isinstance(data, list):
        return None
    names = dict(Region.objects.filter(level=Region.Level.TOWNSHIP).values_list("code", "name"))
    rows, columns = [], []
    for item in data:
        if not isinstance(item, Mapping):
            continue
        code = str(_first(item, CODE_KEYS) or "")
        full_code = code.ljust(12, "0") if code.isdigit() else code
        if code and not user_may_see_code(user, full_code):
            continue
        name = _first(item, NAME_KEYS) or names.get(full_code, code)
        values = {k: v for k, v in item.items() if k not in CODE_KEYS and k not in NAME_KEYS}
        for key in values:
            if key not in columns:
                columns.append(key)
        rows.append({"name": name, "code": code, "values": values})
    for row in rows:
        row["cells"] = [(FIGURE_LABELS.get(column, column), row["values"].get(column)) for column in columns]
    columns = [FIGURE_LABELS.get(column, column) for column in columns]
    return TownshipTable(columns=columns, rows=rows)


@dataclass
class ModelCard:
    model: Any
    metrics: dict[str, float | None]
    extra: list[tuple[str, Any]]
    calibration: CalibrationChart | None
    townships: TownshipTable | None
    baseline_label: str = ""  # the kind of the best baseline it was compared with, in words


@dataclass
class Comparison:
    target_label: str
    test_year: int | None
    models: list[Any]
    rows: list[dict[str, Any]]


def model_cards(models: list[Any], user: Any) -> list[ModelCard]:
    return [
        ModelCard(
            model=model,
            metrics=model_metrics(model),
            extra=extra_metrics(model),
            calibration=calibration_chart(model),
            townships=township_table(model, user),
            baseline_label=_baseline_label(model),
        )
        for model in models
    ]


def _baseline_label(model: Any) -> str:
    comparison = model.baseline_comparison if isinstance(getattr(model, "baseline_comparison", None), Mapping) else {}
    kind = comparison.get("best_baseline")
    return str(dict(RiskModel.Kind.choices).get(kind, kind or ""))


def comparisons(cards: list[ModelCard]) -> list[Comparison]:
    """XGBoost beside its baselines, per target and test year: one column per model, best figure marked."""
    groups: dict[tuple[str, int | None], list[ModelCard]] = defaultdict(list)
    for card in cards:
        groups[(card.model.target, card.model.test_year)].append(card)
    order = {"xgboost": 0, "logistic": 1, "pmt": 2, "rules": 3}
    result = []
    for (_target, year), members in sorted(groups.items(), key=lambda item: (item[0][0], -(item[0][1] or 0))):
        members.sort(key=lambda card: (order.get(card.model.kind, 9), -card.model.pk))
        rows = []
        for key, label, _names in (*METRICS, ("flagged", "进入名单户数", ())):
            values = [card.metrics.get(key) for card in members]
            present = [v for v in values if v is not None]
            best = None
            if key != "flagged" and len(set(present)) > 1:
                best = min(present) if key in LOWER_IS_BETTER else max(present)
            rows.append(
                {
                    "key": key,
                    "label": label,
                    "cells": [{"value": v, "best": v is not None and v == best} for v in values],
                }
            )
        result.append(
            Comparison(
                target_label=members[0].model.get_target_display(),
                test_year=year,
                models=[card.model for card in members],
                rows=rows,
            )
        )
    return result


JOB_TASKS = {
    "risk.tasks.train_risk_task": gettext_lazy("训练模型"),
    "risk.tasks.refresh_risk_list_task": gettext_lazy("更新风险名单"),
    "risk.tasks.score_risk_task": gettext_lazy("评分"),
    "risk.tasks.run_warning_rules_task": gettext_lazy("部门预警规则"),
}
JOB_STATUSES = {
    "READY": gettext_lazy("排队中"),
    "RUNNING": gettext_lazy("运行中"),
    "SUCCEEDED": gettext_lazy("已完成"),
    "SUCCESSFUL": gettext_lazy("已完成"),
    "FAILED": gettext_lazy("失败"),
}


@dataclass
class JobRow:
    name: str
    status: str
    status_label: str
    enqueued_at: Any
    finished_at: Any
    summary: str


def recent_jobs(limit: int = 10) -> list[JobRow]:
    """The newest modelling jobs kept by the database task backend (none when jobs run immediately)."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(task_path__in=list(JOB_TASKS)).order_by("-enqueued_at")[:limit]
    return [
        JobRow(
            name=str(JOB_TASKS[row.task_path]),
            status=row.status,
            status_label=str(JOB_STATUSES.get(row.status, row.status)),
            enqueued_at=row.enqueued_at,
            finished_at=row.finished_at,
            summary=(
                _job_summary(row.return_value) if row.status in ("SUCCEEDED", "SUCCESSFUL")
                else row.exception_class_path
            ),
        )
        for row in rows
    ]


def _job_summary(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if "models" in value:
        summary = _("检验年度 %(year)s，新模型 %(n)s 个") % {"year": value.get("test_year"), "n": len(value["models"])}
        if value.get("mode_label"):
            summary = f"{value['mode_label']}；{summary}"
        skipped = value.get("skipped") or {}
        return summary + "".join(_("；未训练：%(why)s") % {"why": why} for why in skipped.values())
    parts = []
    if "households" in value:
        parts.append(_("评分 %(n)s 户") % {"n": value["households"]})
    if "cases_opened" in value:
        parts.append(_("新开核实 %(n)s 户") % {"n": value["cases_opened"]})
    if "warnings" in value:
        parts.append(_("新增预警 %(n)s 条") % {"n": value["warnings"]})
    return "，".join(parts)


def missing_active_models() -> str:
    """The required targets without an active model, as words for a message ("" when scoring can run).
    Only the poor-now model is required: a county with one year of income has no return model, and its
    runs score p_poor alone (risk.scoring)."""
    active = set(RiskModel.objects.filter(active=True).values_list("target", flat=True))
    labels = {RiskModel.Target.POOR_NOW: _("当前致贫")}
    return "、".join(str(label) for target, label in labels.items() if target not in active)


def return_model_note() -> str:
    """Words for the model page when no return model is active ("" when one is)."""
    if RiskModel.objects.filter(active=True, target=RiskModel.Target.RETURN).exists():
        return ""
    return _(
        "没有启用中的返贫模型：评分只给出当前致贫概率，风险等级和待核实名单按当前致贫概率排列。"
        "返贫模型需要至少两年的收支调查（及当年的监测标准）。"
    )
