"""Reads for the model pages: a stored model's figures, its calibration chart, per-township table,
comparisons with the baselines, and the recent training and scoring jobs.
"""

import hashlib
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from povertycloud.regions.models import Region
from povertycloud.regions.scoping import region_prefix_of, scope_for_user, sees_everything, user_may_see_code
from risk.explain import PHRASES, phrase_label
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
    "n": gettext_lazy("检验户数"),
    "positives": gettext_lazy("实际发生户数"),
    "base_rate": gettext_lazy("发生率"),
    "flagged": gettext_lazy("进入名单户数"),
    "capacity": gettext_lazy("名单长度依据"),
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "ee": "EE",
    "ie": "IE",
}
LOWER_IS_BETTER = {"brier", "ee", "ie"}
# The training record's keys (risk.training._parameters) in words; the library's own settings (max_depth, eta...)
# keep their names, which is how the analyst finds them in the XGBoost and scikit-learn documentation.
PARAMETER_LABELS = {
    "mode": gettext_lazy("检验方式"),
    "train_rows": gettext_lazy("训练行数"),
    "fit_rows": gettext_lazy("拟合行数"),
    "max_negatives": gettext_lazy("负例上限"),
    "train_positives": gettext_lazy("训练正例数"),
    "test_rows": gettext_lazy("检验行数"),
    "test_positives": gettext_lazy("检验正例数"),
    "examples": gettext_lazy("样本构成"),
    "split": gettext_lazy("划分方式"),
    "train_villages": gettext_lazy("训练村数"),
    "test_villages": gettext_lazy("检验村数"),
    "features": gettext_lazy("特征时点"),
    "place_features": gettext_lazy("村级特征"),
    "rounds": gettext_lazy("迭代轮数"),
    "calibration": gettext_lazy("概率校准"),
    "platt": gettext_lazy("Platt 校准系数"),
    "outcome": gettext_lazy("因变量"),
    "estimator": gettext_lazy("估计方法"),
    "probability": gettext_lazy("概率换算"),
    "sigma": gettext_lazy("残差标准差 σ"),
    "r2_train": gettext_lazy("训练集 R²"),
    "surveyed_rows": gettext_lazy("有收支调查的行数"),
    "C": gettext_lazy("正则化参数 C"),
    "solver": gettext_lazy("求解器"),
    "log_scale": gettext_lazy("取对数的特征"),
    "winsorise": gettext_lazy("缩尾百分位"),
    "missing": gettext_lazy("缺失值填补"),
    "standardised": gettext_lazy("标准化"),
    "weights": gettext_lazy("规则权重"),
    "partitions": gettext_lazy("分区方式"),
}
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


PERCENT_KEYS = {"ee", "ie", "base_rate"}
COUNT_KEYS = {"n", "positives", "flagged"}
TWO_DECIMALS = {"roc_auc", "pr_auc"}


def figure_text(key: str, value: Any) -> str:
    """A figure as the page shows it: AUCs to 2 decimals, Brier to 3, rates as percentages, counts whole."""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    number = _number(value)
    if number is None:
        return "—" if value is None else str(value)
    if key in COUNT_KEYS:
        return f"{number:,.0f}"
    if key in PERCENT_KEYS:
        percent = 100 * number
        return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.1f}%"
    if key in TWO_DECIMALS:
        return f"{number:.2f}"
    return f"{number:.3f}" if abs(number) < 10 else f"{number:,.1f}"


def figure_title(value: Any) -> str:
    """The full value, for the title attribute of a rounded figure."""
    return "" if value is None or isinstance(value, bool) else str(value)


def feature_label(name: str) -> str:
    entry = PHRASES.get(name)
    return phrase_label(entry[0]) if entry else name


def short_id(value: Any, *, head: int = 15, tail: int = 6, longest: int = 24) -> str:
    """A long identifier shortened for the eye (the full value goes in a title attribute)."""
    text = str(value or "")
    if len(text) <= longest:
        return text
    return f"{text[:head]}…{text[-tail:]}" if tail else f"{text[:head]}…"


def model_metrics(model: Any) -> dict[str, float | None]:
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    values = {key: _number(_first(metrics, names)) for key, _label, names in METRICS}
    values["flagged"] = _number(_first(metrics, FLAGGED_KEYS))
    return values


def extra_metrics(model: Any, user: Any = None) -> list[tuple[str, str, str]]:
    """Figures in model.metrics beyond the standard ones (with their Chinese names where known); the
    capacity risk.evaluation recorded in words, naming only the counties the user may see."""
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    known = {name for _key, _label, names in METRICS for name in names} | set(FLAGGED_KEYS)
    rows = []
    for key, value in metrics.items():
        if key in known or isinstance(value, dict | list):
            continue
        if key == "capacity" and isinstance(value, str):
            rows.append((FIGURE_LABELS[key], capacity_words(value, user), ""))
        else:
            rows.append((FIGURE_LABELS.get(key, key), figure_text(key, value), figure_title(value)))
    return rows


def capacity_words(source: str, user: Any = None) -> str:
    """risk.capacity.Quota.source() as stored with a model ("ReviewCapacity; ReviewQuota 522634000000: 30 per
    township; otherwise 10% per township") in the active language; a county the user may not see is left out."""
    parts = []
    for part in (p.strip() for p in source.split(";")):
        if part == "ReviewCapacity":
            parts.append(_("各乡镇单独设置的核实户数"))
        elif match := re.fullmatch(r"ReviewQuota (\d{12}): ([\d.]+)(%?) per township", part):
            code, amount, percent = match.groups()
            if user is not None and not user_may_see_code(user, code):
                continue
            name = Region.objects.filter(code=code).values_list("name", flat=True).first() or code
            words = _("%(county)s每个乡镇 %(n)s%%") if percent else _("%(county)s每个乡镇 %(n)s 户")
            parts.append(words % {"county": name, "n": amount})
        elif match := re.fullmatch(r"(?:otherwise )?([\d.]+)% per township", part):
            words = (
                _("其余乡镇取评分户数的 %(n)s%%") if part.startswith("otherwise") else _("每个乡镇取评分户数的 %(n)s%%")
            )
            parts.append(words % {"n": match.group(1)})
        else:
            parts.append(part)
    return _("；").join(parts) or "—"


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


def township_table(model: Any, user: Any, names: Mapping[str, str] | None = None) -> TownshipTable | None:
    """The model's figures per township (from its evaluation), only for townships the user may see.

    names: the township names by code (at least those the user may see), when the caller has read them."""
    evaluation = model.evaluation if isinstance(model.evaluation, Mapping) else {}
    data = _first(evaluation, TOWNSHIP_KEYS)
    if isinstance(data, Mapping):
        data = [
            {"region_code": code, **(values if isinstance(values, Mapping) else {})} for code, values in data.items()
        ]
    if not isinstance(data, list):
        return None
    if names is None:
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
        row["cells"] = [
            (
                FIGURE_LABELS.get(column, column),
                figure_text(column, row["values"].get(column)),
                figure_title(row["values"].get(column)),
            )
            for column in columns
        ]
    columns = [FIGURE_LABELS.get(column, column) for column in columns]
    return TownshipTable(columns=columns, rows=rows)


COUNTY_COLUMNS = ("n", "positives", "pr_auc", "roc_auc")


def county_table(model: Any, user: Any, names: Mapping[str, str] | None = None) -> TownshipTable | None:
    """The held-out figures per county of a model trained above county level (metrics["counties"], risk.evaluation),
    only for counties the user may see: households tested, positives, PR-AUC, ROC-AUC."""
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    data = metrics.get("counties")
    if not isinstance(data, Mapping) or not data:
        return None
    if names is None:
        names = dict(Region.objects.filter(level=Region.Level.COUNTY).values_list("code", "name"))
    rows = []
    for code, values in sorted(data.items()):
        if not isinstance(values, Mapping) or not user_may_see_code(user, str(code)):
            continue
        cells = [
            (FIGURE_LABELS.get(key, key), figure_text(key, values.get(key)), figure_title(values.get(key)))
            for key in COUNTY_COLUMNS
        ]
        rows.append({"name": names.get(str(code), code), "code": code, "values": dict(values), "cells": cells})
    return TownshipTable(columns=[FIGURE_LABELS.get(key, key) for key in COUNTY_COLUMNS], rows=rows)


@dataclass
class ModelCard:
    """One model on the model page. The figures, chart, township table, parameters and features below the
    card's heading are rendered once per cache_key (the template caches them, see model_cards): the parts
    they are made of are computed only when the template asks for them."""

    model: Any
    metrics: dict[str, float | None]
    user: Any = None
    names: Mapping[str, str] | None = None  # township names by code, as read once for the page
    county_names: Mapping[str, str] | None = None  # county names by code, likewise
    baseline_label: str = ""  # the kind of the best baseline it was compared with, in words
    cache_key: str = ""

    @cached_property
    def extra(self) -> list[tuple[str, str, str]]:
        """(label, shown, full value) of the figures beyond the standard ones."""
        return extra_metrics(self.model, self.user)

    @cached_property
    def calibration(self) -> CalibrationChart | None:
        return calibration_chart(self.model)

    @cached_property
    def townships(self) -> TownshipTable | None:
        return township_table(self.model, self.user, self.names)

    @cached_property
    def counties(self) -> TownshipTable | None:
        return county_table(self.model, self.user, self.county_names)

    @property
    def figures(self) -> dict[str, str]:
        return {key: figure_text(key, value) for key, value in self.metrics.items()}

    @property
    def feature_labels(self) -> list[tuple[str, str]]:
        """(name, words) of each feature, the words translated when shown (the name where none is known)."""
        features = [str(name) for name in self.model.features] if isinstance(self.model.features, list) else []
        # Features of departments declared as data read as the department's name and column header.
        from django.utils.translation import get_language

        from risk.features import declared_phrase_english, declared_phrases

        declared = {name: phrase for name, (phrase, _when) in declared_phrases(features).items()}
        if declared and (get_language() or "").startswith("en"):
            declared = {name: declared_phrase_english(phrase) or phrase for name, phrase in declared.items()}
        return [(name, declared.get(name) or feature_label(name)) for name in features]

    @property
    def parameter_rows(self) -> list[tuple[str, str, str]]:
        """(label, key, value) of the training record: known keys named in words; values stay as recorded
        (library settings and the training's own notes), a yes/no in words."""
        parameters = self.model.parameters if isinstance(self.model.parameters, Mapping) else {}
        rows = []
        for key, value in parameters.items():
            label = PARAMETER_LABELS.get(key)
            shown = (_("是") if value else _("否")) if isinstance(value, bool) else str(value)
            rows.append((str(label) if label else "", str(key), shown))
        return rows

    @property
    def short_version(self) -> str:
        return short_id(self.model.version)

    @property
    def short_hash(self) -> str:
        return short_id(self.model.data_hash, head=12, tail=0, longest=12)


@dataclass
class Comparison:
    target_label: str
    test_year: int | None
    models: list[Any]
    rows: list[dict[str, Any]]

    @property
    def headers(self) -> list[tuple[Any, str]]:
        return [(model, short_id(model.version)) for model in self.models]


def model_cards(models: list[Any], user: Any) -> list[ModelCard]:
    """The cards of the model page. A stored model's figures, evaluation, parameters and features never change
    after training, so the part of its card made from them is rendered once and kept in the cache (about half
    of the page's time was rendering the same 6 cards again: features, parameters, township tables). The key
    holds all the rendered part depends on besides the model: the user's region (the townships and counties
    shown), the language, and the names of the townships and counties the user may see (one small query).
    The key holds the stored figures themselves (_stored_figures): a few kilobytes per model, hashed."""
    regions = scope_for_user(
        Region.objects.filter(level__in=(Region.Level.COUNTY, Region.Level.TOWNSHIP)), user
    ).order_by("code")
    region_names = list(regions.values_list("code", "name", "level"))
    names = {code: name for code, name, level in region_names if level == Region.Level.TOWNSHIP}
    county_names = {code: name for code, name, level in region_names if level == Region.Level.COUNTY}
    scope = "*" if sees_everything(user) else (region_prefix_of(user) or "")
    shared = f"{scope}|{get_language()}|{region_names!r}"
    return [
        ModelCard(
            model=model,
            metrics=model_metrics(model),
            user=user,
            names=names,
            county_names=county_names,
            baseline_label=_baseline_label(model),
            cache_key=hashlib.sha256(f"{_stored_figures(model)!r}|{shared}".encode()).hexdigest(),
        )
        for model in models
    ]


def _stored_figures(model: Any) -> tuple:
    """What a card's cached part is made of, for its cache key: the model is known by its id and version, and
    its stored figures are part of the key too, so that one edited by hand (or a test's) is never shown stale."""
    return (model.pk, model.version, model.metrics, model.evaluation, model.parameters, model.features)


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
        for key, label, _names in (*METRICS, ("flagged", FIGURE_LABELS["flagged"], ())):
            values = [card.metrics.get(key) for card in members]
            present = [v for v in values if v is not None]
            best = None
            if key != "flagged" and len(set(present)) > 1:
                best = min(present) if key in LOWER_IS_BETTER else max(present)
            rows.append(
                {
                    "key": key,
                    "label": label,
                    "cells": [
                        {"value": v, "text": figure_text(key, v), "best": v is not None and v == best} for v in values
                    ],
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
                _job_summary(row.return_value)
                if row.status in ("SUCCEEDED", "SUCCESSFUL")
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
            summary = str(value["mode_label"]) + _("；") + summary
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


# --- The model in plain words ---------------------------------------------------------------------------

# What a model's positives are, in words a county official uses (the sentence's "每 100 户" are these).
POSITIVES_IN_WORDS = {
    RiskModel.Target.RETURN: gettext_lazy("明年将致贫或返贫的"),
    RiskModel.Target.POOR_NOW: gettext_lazy("处于贫困（人均纯收入低于监测标准，或“三保障”和饮水安全未达标）的"),
}


@dataclass
class PlainSummary:
    """One active model's catch at the review quota, from its held-out evaluation, for the user's townships.

    positives: households of the held-out data that did become poor (return) in the townships counted;
    found: those of them on their township's list (positives × (1 − EE) per township); flagged: the length
    of the lists together; sizes: the shortest and longest list of one township.
    """

    model: Any
    townships: int
    positives: int
    found: int
    flagged: int
    sizes: tuple[int, int]
    whole: bool  # all the evaluation's townships are counted (the user sees everything)

    @property
    def per_100(self) -> int | None:
        return round(100 * self.found / self.positives) if self.positives else None

    @property
    def visits_per_catch(self) -> float | None:
        return round(self.flagged / self.found, 1) if self.found else None

    @property
    def missed(self) -> int:
        return self.positives - self.found

    @property
    def headline(self) -> str:
        words = POSITIVES_IN_WORDS.get(self.model.target, "")
        if not self.positives:
            return _("检验数据中，%(scope)s没有%(words)s户，无法据此说明名单能找到多少。") % {
                "scope": self.scope,
                "words": words,
            }
        low, high = self.sizes
        values = {"words": words, "n": low, "low": low, "high": high, "k": self.per_100}
        if self.townships == 1 and not self.whole:
            return _("在%(words)s每 100 户中，本乡镇列出 %(n)s 户的名单能找到 %(k)s 户。") % values
        if low == high:
            return _("在%(words)s每 100 户中，每个乡镇列出 %(n)s 户的名单能找到 %(k)s 户。") % values
        return _("在%(words)s每 100 户中，每个乡镇按核实名额列出 %(low)s–%(high)s 户的名单能找到 %(k)s 户。") % values

    @property
    def field_checks(self) -> str:
        if not self.positives:
            return ""
        values = {
            "flagged": self.flagged,
            "found": self.found,
            "visits": f"{self.visits_per_catch:g}" if self.visits_per_catch is not None else "—",
            "missed": self.missed,
        }
        if not self.found:
            return (
                _(
                    "名单上的 %(flagged)s 户中没有一户是实际发生的；"
                    "实际发生的 %(missed)s 户都要靠部门预警和日常走访发现。"
                )
                % values
            )
        text = (
            _("对入户核实来说：名单上的 %(flagged)s 户中约有 %(found)s 户属实，平均每入户核实 %(visits)s 户找到 1 户。")
            % values
        )
        if self.missed:
            text += _("其余 %(missed)s 户不在名单上，要靠部门预警和日常走访发现。") % values
        return text

    @property
    def basis(self) -> str:
        return _(
            "依据：%(year)s 年检验数据，%(scope)s实际发生 %(positives)s 户，名单共 %(flagged)s 户，找到 %(found)s 户"
            "（漏识率 EE %(ee)s）。"
        ) % {
            "year": self.model.test_year or "—",
            "scope": self.scope,
            "positives": self.positives,
            "flagged": self.flagged,
            "found": self.found,
            "ee": f"{round(100 * self.missed / self.positives)}%" if self.positives else "—",
        }

    @property
    def scope(self) -> str:
        if self.whole and not self.townships:
            return _("全部检验户")
        if self.whole:
            return _("全部 %(n)s 个乡镇") % {"n": self.townships}
        if self.townships == 1:
            return _("本乡镇")
        return _("您所辖的 %(n)s 个乡镇") % {"n": self.townships}


@dataclass
class PlainWords:
    """The top of the model page: one PlainSummary per active model, or why there is none to read."""

    summaries: list[PlainSummary]
    no_model: str = ""  # no active poor-now model: what to do
    no_return_model: str = ""  # no active return model: said plainly
    # active models whose held-out data has no household of the user's region
    not_in_evaluation: list[str] = field(default_factory=list)


def _township_rows(model: Any) -> list[tuple[str, Mapping[str, Any]]]:
    evaluation = model.evaluation if isinstance(model.evaluation, Mapping) else {}
    data = _first(evaluation, TOWNSHIP_KEYS)
    if isinstance(data, Mapping):
        return [(str(code), values) for code, values in data.items() if isinstance(values, Mapping)]
    if isinstance(data, list):
        return [(str(_first(item, CODE_KEYS) or ""), item) for item in data if isinstance(item, Mapping)]
    return []


def _found(positives: int, ee: float | None) -> int:
    return round(positives * (1 - ee)) if ee is not None else 0


def plain_summary(model: Any, user: Any) -> PlainSummary | None:
    """The model's catch summed over the townships the user may see (all of them for administrators, whose
    sum is the model's overall EE); None when its evaluation holds none of them."""
    rows = _township_rows(model)
    whole = sees_everything(user)
    if not rows and whole:
        metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
        positives = int(_number(metrics.get("positives")) or 0)
        flagged = int(_number(_first(metrics, FLAGGED_KEYS)) or 0)
        if not flagged and not positives:
            return None
        found = _found(positives, _number(_first(metrics, METRICS[3][2])))
        return PlainSummary(model, 0, positives, found, flagged, (flagged, flagged), whole=True)
    counted = []
    for code, values in rows:
        full_code = code.ljust(12, "0") if code.isdigit() else code
        if user_may_see_code(user, full_code):
            counted.append(values)
    if not counted:
        return None
    positives = sum(int(_number(v.get("positives")) or 0) for v in counted)
    found = sum(_found(int(_number(v.get("positives")) or 0), _number(_first(v, METRICS[3][2]))) for v in counted)
    sizes = [int(_number(_first(v, FLAGGED_KEYS)) or 0) for v in counted]
    return PlainSummary(
        model,
        len(counted),
        positives,
        found,
        sum(sizes),
        (min(sizes), max(sizes)),
        whole=whole and len(counted) == len(rows),
    )


def plain_words(user: Any, *, administrator: bool, models: list[Any] | None = None) -> PlainWords:
    """For each active model (poor now first), how many of 100 households that do become poor the
    township lists find, for the user's townships; or, with no active model, what to do.

    models: every stored model, when the caller has read them already (the active ones are taken from it)."""
    if models is None:
        models = RiskModel.objects.filter(active=True).defer("artifact")
    active = {model.target: model for model in models if model.active}
    words = PlainWords(summaries=[])
    if RiskModel.Target.POOR_NOW not in active:
        if administrator:
            words.no_model = _(
                "还没有启用中的当前致贫模型，风险名单无法更新。请在下方“训练新模型”开始训练，训练完成后在模型卡片上点“启用此模型”。"
            )
        else:
            words.no_model = _(
                "还没有启用中的当前致贫模型，风险名单无法更新。请联系系统管理员训练并启用模型；启用后，这里会说明名单能找到多少户。"
            )
    if RiskModel.Target.RETURN not in active:
        words.no_return_model = _(
            "没有启用中的返贫模型：评分只给出当前致贫概率，不预测明年谁会返贫，风险等级和待核实名单按当前致贫概率排列。"
            "返贫模型需要至少相邻两年的收支调查（及当年的监测标准）。"
        )
    for target in (RiskModel.Target.POOR_NOW, RiskModel.Target.RETURN):
        model = active.get(target)
        if model is None:
            continue
        summary = plain_summary(model, user)
        if summary is None:
            words.not_in_evaluation.append(
                _("%(target)s模型的检验数据中没有您所辖地区的户，无法说明它在本地的效果。")
                % {"target": model.get_target_display()}
            )
        else:
            words.summaries.append(summary)
    return words
