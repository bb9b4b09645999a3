"""Scoring a region with the active models (design.md, data flow 6).

``score_region(*, region_code=None, as_of=None, by=None)`` builds the features of every household of the
region as of the date (features.py), takes the probabilities from the active models — p_poor (poor in the
current year, judged before its income survey) and p_return (returning to or falling into poverty within
12 months) — and writes one RiskScore per household in one ScoringRun that names the models it used.
Nothing is written if anything fails. PostgreSQL gets COPY, SQLite bulk_create.

The poor-now model is required. The return model is optional: a county with one year of income has none
(risk.training refuses it with the reason), and its runs score p_poor only — p_return is NULL, the run's
return_model is NULL, and levels, explanations and the risk list go by p_poor alone.

**Level** by rank of the larger of the two probabilities within the run (p_poor alone without a return
model): the top 5% ``high``, the next 10% (down to 15%) ``medium``, the rest ``low``. Ranks, not fixed
probabilities, because the list is worked down from the top at the pace of the townships' review
capacity; ties go to the lower household id.

**Factors** (explain.py) for every household on the risk list: the top 10% by p_return, the top 10% by
p_poor, and every household with a warning raised in the 31 days up to the date. They explain p_return for
households not monitored on that date and p_poor for monitored ones (each model's own population); without
a return model, p_poor for everyone.

**Counties as tasks.** Above county level each county is a task (risk.partitions; on Dask, or one after the
other in this process): ``score_county`` reads the county and computes its features and probabilities, which stay
where they were computed; the job's process gathers the probabilities alone, ranks the whole region (levels and
the households to explain are the region's, exactly as one frame would give), asks each county's task for the
explanations of its chosen households (``explain_county``, where its matrices already are) and writes every
county's rows as they arrive, in the run's one transaction. A county is one such task, in this process.
"""

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from households.models import Household
from povertycloud.audit.services import record_event
from povertycloud.db import analyze
from povertycloud.regions.models import PREFIX_LENGTH, Region
from risk import list_tags
from risk.explain import top_factors
from risk.labels import Target
from risk.models import RiskModel, RiskScore, ScoringRun
from risk.partitions import CountyProgress, county_partitions, runner_for
from risk.registry import active_model, load_model
from risk.sources import Sources

HIGH_SHARE, MEDIUM_SHARE = 0.05, 0.15
EXPLAIN_SHARE = 0.10
WARNING_WINDOW_DAYS = 31
Level = RiskScore.Level
Progress = Callable[[str], None]


class NoActiveModel(Exception):
    """The poor-now model is not active: an administrator must activate one first."""


def levels(risk: np.ndarray) -> np.ndarray:
    n = len(risk)
    order = np.lexsort((np.arange(n), -risk))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    out = np.full(n, Level.LOW.value, dtype=object)
    out[rank < math.ceil(MEDIUM_SHARE * n)] = Level.MEDIUM.value
    out[rank < math.ceil(HIGH_SHARE * n)] = Level.HIGH.value
    return out


def top_share(values: np.ndarray, share: float) -> np.ndarray:
    n = len(values)
    order = np.lexsort((np.arange(n), -values))
    chosen = np.zeros(n, dtype=bool)
    chosen[order[: math.ceil(share * n)]] = True
    return chosen


def covering_region() -> str:
    """The deepest region whose code prefix covers every household (the county, for the demo)."""
    first = Household.objects.order_by("village_id").values_list("village_id", flat=True).first()
    last = Household.objects.order_by("-village_id").values_list("village_id", flat=True).first()
    if first is None:
        raise ValueError(_("没有户档案。"))
    for level in sorted(PREFIX_LENGTH, reverse=True):
        width = PREFIX_LENGTH[level]
        if first[:width] == last[:width]:
            code = first[:width].ljust(12, "0")
            if Region.objects.filter(code=code).exists():
                return code
    raise ValueError(_("户档案跨越多个省份，请指定区划。"))


def _models() -> tuple[RiskModel, RiskModel | None]:
    """The active poor-now model (required) and the active return model (None when there is none)."""
    poor, returning = active_model(Target.POOR_NOW), active_model(Target.RETURN)
    if poor is None:
        also = "" if returning is not None else _(
            "（返贫模型也未启用；只有一年收支调查的县没有返贫模型，可以不启用）"
        )
        raise NoActiveModel(
            _("尚未启用当前致贫模型：评分至少需要一个启用中的当前致贫模型，请系统管理员先训练并启用%(also)s。")
            % {"also": also}
        )
    return poor, returning


def _explain(model, matrix: np.ndarray, rows: np.ndarray) -> list[list[dict]]:
    if not rows.any():
        return []
    values = matrix[rows]
    return top_factors(
        model.contributions(values),
        values.astype(float),
        model.features,
        model.reference,
        phrases=model.phrase_table,
    )


@dataclass
class CountyScores:
    """A county's part of a scoring run, computed where its data was read (a Dask worker or this process) and
    kept there until the run knows which households to explain: the ranks are the whole region's."""

    county: str
    frame: pd.DataFrame  # index household id; village_id, p_poor, p_return, monitored, warned
    poor_matrix: np.ndarray
    return_matrix: np.ndarray | None
    poor: Any  # the fitted models, loaded once by the task and kept for the county's explanations
    returning: Any | None


def score_county(
    county: str, as_of: dt.date, poor_pk: int, return_pk: int | None, sources: Sources | None = None
) -> CountyScores:
    """A county's features and probabilities (a task of the run: it reads, nothing is written)."""
    poor = load_model(RiskModel.objects.get(pk=poor_pk))
    returning = load_model(RiskModel.objects.get(pk=return_pk)) if return_pk is not None else None
    sources = sources or Sources.load(region_code=county)
    features = sources.at(as_of)
    poor_matrix = poor.matrix(features)
    return_matrix = returning.matrix(features) if returning is not None else None
    warned = sources.warnings[
        (sources.warnings["as_of"] <= pd.Timestamp(as_of))
        & (sources.warnings["as_of"] > pd.Timestamp(as_of - dt.timedelta(days=WARNING_WINDOW_DAYS)))
    ]
    frame = pd.DataFrame(
        {
            "village_id": features["village_id"].to_numpy(),
            "p_poor": poor.predict(poor_matrix).astype(float),
            "p_return": returning.predict(return_matrix).astype(float) if returning is not None else np.nan,
            "monitored": features["monitored_now"].to_numpy() > 0,
            "warned": features.index.isin(warned["household_id"]),
        },
        index=features.index,
    )
    return CountyScores(
        county=county,
        frame=frame,
        poor_matrix=poor_matrix,
        return_matrix=return_matrix,
        poor=poor,
        returning=returning,
    )


def county_probabilities(scores: CountyScores) -> pd.DataFrame:
    """What the run gathers of every county before ranking: the scores frame, without the feature matrices."""
    return scores.frame


def explain_county(scores: CountyScores, explained: np.ndarray) -> dict[int, list[dict]]:
    """Plain-words factors of the county's households the run chose (household id → factors), with the models and
    matrices its scoring task kept."""
    poor, returning = scores.poor, scores.returning
    rows = scores.frame.index.isin(explained)
    monitored = scores.frame["monitored"].to_numpy()
    if returning is not None:
        explainers = [
            (returning, scores.return_matrix, rows & ~monitored, Target.RETURN),
            (poor, scores.poor_matrix, rows & monitored, Target.POOR_NOW),
        ]
    else:
        explainers = [(poor, scores.poor_matrix, rows, Target.POOR_NOW)]
    households = scores.frame.index.to_numpy()
    factors: dict[int, list[dict]] = {}
    for model, matrix, chosen, name in explainers:
        for i, row_factors in zip(np.flatnonzero(chosen), _explain(model, matrix, chosen), strict=True):
            factors[int(households[i])] = [{**factor, "model": name} for factor in row_factors]
    return factors


def score_region(
    *,
    region_code: str | None = None,
    as_of: dt.date | None = None,
    by: Any = None,
    progress: Progress | None = None,
    sources: Sources | None = None,
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
) -> ScoringRun:
    """Score the region's households. Above county level each county is a task on Dask (``cluster``: a
    scheduler's address, "local" or "none"; see povertycloud.cluster); a county runs in this process."""
    say = progress or (lambda message: None)
    tell = on_county or (lambda county, state: None)
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    region_code = region_code or covering_region()
    counties = [region_code] if sources is not None else county_partitions(region_code)
    if not counties:
        raise ValueError(_("区划 %(code)s 没有户档案。") % {"code": region_code})
    poor_row, return_row = _models()
    poor_pk, return_pk = poor_row.pk, return_row.pk if return_row is not None else None
    with runner_for(region_code, cluster) as runner:
        say(_("读取数据"))
        parts = {
            county: runner.submit(
                score_county, county, as_of, poor_pk, return_pk, sources, key=f"score-{county}"
            )
            for county in counties
        }
        say(_("计算特征"))
        frames = {c: runner.submit(county_probabilities, parts[c], key=f"probabilities-{c}") for c in counties}
        gathered: dict[str, pd.DataFrame] = {}
        for county, _task, frame in runner.completed(frames):
            gathered[county] = frame
            tell(county, "scored")
        say(_("计算概率"))
        # Ranks are the region's: all counties in household order, as one frame read in one process would be.
        scores = pd.concat([gathered[county] for county in counties]).sort_index(kind="stable")
        p_poor = scores["p_poor"].to_numpy(dtype=float)
        p_return = scores["p_return"].to_numpy(dtype=float) if return_row is not None else None
        level = levels(np.maximum(p_poor, p_return) if p_return is not None else p_poor)
        explained = top_share(p_poor, EXPLAIN_SHARE) | scores["warned"].to_numpy()
        if p_return is not None:
            explained |= top_share(p_return, EXPLAIN_SHARE)
        scores["level"] = level
        chosen = scores.index.to_numpy()[explained]
        say(_("生成解释"))
        explanations = {
            county: runner.submit(
                explain_county, parts[county], chosen[np.isin(chosen, gathered[county].index.to_numpy())],
                key=f"explain-{county}",
            )
            for county in counties
        }
        say(_("写入评分"))
        with transaction.atomic():
            run = ScoringRun.objects.create(
                as_of=as_of,
                poor_model=poor_row,
                return_model=return_row,
                region_code=region_code,
                started_by=by if getattr(by, "is_authenticated", False) else None,
            )
            for county, task, factors in runner.completed(explanations):
                part = scores.loc[gathered[county].index]
                _write_scores(run, part, factors)
                runner.release([parts[county], frames[county], task])
                tell(county, "written")
            analyze(RiskScore)
            list_tags.build_run(run)  # what the list filters on, stored (COPY and bulk_create send no signals)
            run.households_scored = len(scores)
            run.explained = int(explained.sum())
            run.finished_at = timezone.now()
            run.save(update_fields=["households_scored", "explained", "finished_at"])
            record_event(
                actor=by,
                action="create",
                entity="risk.scoringrun",
                object_pk=run.pk,
                object_repr=_("评分批次 %(run)s") % {"run": run.pk},
                region_code=region_code,
                note=_(
                    "风险评分（截至 %(as_of)s）：%(households)s 户，附解释 %(explained)s 户；"
                    "%(models)s；用时 %(seconds)s 秒"
                )
                % {
                    "as_of": as_of, "households": run.households_scored, "explained": run.explained,
                    "models": models_used(poor_row, return_row), "seconds": f"{time.monotonic() - started:.1f}",
                },
            )
    return run


def models_used(poor_row: RiskModel, return_row: RiskModel | None) -> str:
    """Words for the models a run used (the audit note and the command name only those)."""
    if return_row is None:
        return _("致贫模型 %(poor)s（无返贫模型，只评当前致贫概率）") % {"poor": poor_row.version}
    return _("致贫模型 %(poor)s，返贫模型 %(returning)s") % {"poor": poor_row.version, "returning": return_row.version}


COPY_BLOCK_ROWS = 20_000
SCORE_COLUMNS = ("run_id", "household_id", "region_code", "p_poor", "p_return", "level", "factors")


def _write_scores(run: ScoringRun, part: pd.DataFrame, factors: dict[int, list[dict]]) -> None:
    """One county's rows of the run (part: index household; village_id, p_poor, p_return, level)."""
    households = part.index.to_numpy(dtype=np.int64).tolist()
    villages = part["village_id"].tolist()
    returns = [None if math.isnan(p) else p for p in part["p_return"].tolist()]
    explained = [factors.get(household, []) for household in households]
    rows = zip(households, villages, part["p_poor"].tolist(), returns, part["level"].tolist(), explained, strict=True)
    if connection.vendor == "postgresql":
        # COPY's text format, built here in blocks: psycopg's write_row per row cost more than the COPY.
        table = RiskScore._meta.db_table
        sql = f"COPY {table} ({', '.join(SCORE_COLUMNS)}) FROM STDIN"
        lines = (
            f"{run.pk}\t{household}\t{village}\t{pp!r}\t{_copy_float(pr)}\t{lv}\t{_copy_json(fs)}"
            for household, village, pp, pr, lv, fs in rows
        )
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            block: list[str] = []
            for line in lines:
                block.append(line)
                if len(block) == COPY_BLOCK_ROWS:
                    copy.write("\n".join(block) + "\n")
                    block = []
            if block:
                copy.write("\n".join(block) + "\n")
        return
    RiskScore.objects.bulk_create(
        (
            RiskScore(
                run=run, household_id=household, region_code=village, p_poor=pp, p_return=pr, level=lv, factors=fs
            )
            for household, village, pp, pr, lv, fs in rows
        ),
        batch_size=2000,
    )


def _copy_float(value: float | None) -> str:
    return "\\N" if value is None else repr(value)


def _copy_json(value: list) -> str:
    if not value:
        return "[]"
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
