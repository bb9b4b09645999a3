"""Scoring a county with the active models: both probabilities, the models that made them, a level, and the
top factors in plain Chinese from the model's own contributions."""

import datetime as dt
import math

import numpy as np
import pytest
import xgboost as xgb
from django.core.management import call_command

from povertycloud.audit.models import AuditEvent
from risk.explain import BANDS, PHRASES
from risk.models import RiskCase, RiskModel, RiskScore, ScoringRun, Warning
from risk.registry import load_model
from risk.rules import run_warning_rules
from risk.scoring import EXPLAIN_SHARE, NoActiveModel, score_region
from risk.sources import Sources
from risk.tasks import score_risk_task
from tests.risk.modelling import build_small_county, module_data, train_and_activate

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 1, 15)
KNOWN_PHRASES = {phrase for phrase, _ in PHRASES.values()} | {band for bands in BANDS.values() for _, band in bands}


@pytest.fixture(scope="module")
def run(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"))
        admin = train_and_activate(seed=1, admin_username="model-admin")
        run_warning_rules(as_of=AS_OF)
        yield score_region(as_of=AS_OF, by=admin)


def test_every_household_gets_both_probabilities_from_the_models_the_run_names(run):
    assert run.poor_model == RiskModel.objects.get(target="poor_now", active=True)
    assert run.return_model == RiskModel.objects.get(target="return", active=True)
    assert run.region_code == "522634000000" and run.as_of == AS_OF and run.finished_at is not None
    scores = RiskScore.objects.filter(run=run)
    assert scores.count() == run.households_scored == len(Sources.load().at(AS_OF))
    values = np.array(scores.values_list("p_poor", "p_return"))
    assert ((values >= 0) & (values <= 1)).all()
    assert values[:, 0].std() > 0 and values[:, 1].std() > 0
    assert AuditEvent.objects.filter(entity="risk.scoringrun", object_pk=str(run.pk)).exists()


def test_levels_are_the_top_five_and_next_ten_percent(run):
    n = run.households_scored
    levels = list(RiskScore.objects.filter(run=run).values_list("level", flat=True))
    assert levels.count("high") == math.ceil(0.05 * n)
    assert levels.count("medium") == math.ceil(0.15 * n) - math.ceil(0.05 * n)
    top = RiskScore.objects.filter(run=run, level="high").order_by("p_return")
    low = RiskScore.objects.filter(run=run, level="low")
    highest_low = max(max(s.p_poor, s.p_return) for s in low)
    assert min(max(s.p_poor, s.p_return) for s in top) >= highest_low


def test_the_risk_list_is_explained_in_plain_chinese(run):
    scores = list(RiskScore.objects.filter(run=run))
    n = len(scores)
    top_return = sorted(scores, key=lambda s: (-s.p_return, s.household_id))[: math.ceil(EXPLAIN_SHARE * n)]
    warned = set(Warning.objects.filter(as_of=AS_OF).values_list("household_id", flat=True))
    assert warned
    must = {s.household_id for s in top_return} | warned
    explained = {s.household_id for s in scores if s.factors}
    assert len(must - explained) <= 0.02 * len(must)  # a household whose every contribution is negative has none
    assert run.explained >= len(must)
    for score in scores:
        assert len(score.factors) <= 3
        contributions = [f["contribution"] for f in score.factors]
        assert all(c > 0 for c in contributions) and contributions == sorted(contributions, reverse=True)
        assert {f["phrase"] for f in score.factors} <= KNOWN_PHRASES


def test_factors_come_from_the_boosters_own_positive_contributions(run):
    model = load_model(run.return_model)
    frame = Sources.load().at(AS_OF)
    score = (
        RiskScore.objects.filter(run=run, factors__isnull=False)
        .exclude(factors=[])
        .filter(household__in=frame.index[frame["monitored_now"] == 0].tolist())
        .order_by("-p_return")
        .first()
    )
    row = frame.loc[[score.household_id], model.features].to_numpy(dtype=np.float32)
    contribs = model.booster.predict(xgb.DMatrix(row, feature_names=model.features), pred_contribs=True)[0, :-1]
    top = score.factors[0]
    assert top["model"] == "return"
    members = [
        j
        for j, name in enumerate(model.features)
        if PHRASES.get(name, ("",))[0] == top["phrase"] or any(band == top["phrase"] for _, band in BANDS.get(name, []))
    ]
    risky = [j for j in members if contribs[j] > 0]
    assert risky
    assert top["contribution"] <= sum(contribs[j] for j in risky) + 1e-3
    assert top["contribution"] == pytest.approx(max(contribs[j] for j in risky), abs=1e-3) or len(risky) > 1


def test_scoring_needs_an_active_model_for_each_target(run):
    RiskModel.objects.filter(target="poor_now").update(active=False)
    with pytest.raises(NoActiveModel, match="当前致贫"):
        score_region(as_of=AS_OF)


def test_the_command_scores_as_of_a_date(run, capsys):
    call_command("score_risk", "--as-of", "2026-01-15", verbosity=0)
    out = capsys.readouterr().out
    assert "评分批次" in out and "待核实：新开" in out
    newest = ScoringRun.objects.order_by("-id").first()
    assert newest.pk != run.pk and newest.households_scored == run.households_scored
    same = dict(RiskScore.objects.filter(run=run).values_list("household_id", "p_return"))
    again = dict(RiskScore.objects.filter(run=newest).values_list("household_id", "p_return"))
    assert same == again


def test_the_background_task_scores_like_the_command(run):
    result = score_risk_task.enqueue(as_of=AS_OF.isoformat(), open_cases=False)
    assert result.return_value["households"] == run.households_scored
    assert "cases_opened" not in result.return_value


def test_scoring_from_the_command_opens_cases_for_review(run):
    before = RiskCase.objects.count()
    call_command("score_risk", "--as-of", "2026-01-20", verbosity=0)
    newest = ScoringRun.objects.order_by("-id").first()
    cases = RiskCase.objects.filter(score__run=newest)
    assert RiskCase.objects.count() > before
    assert cases.exists() and set(cases.values_list("status", flat=True)) == {RiskCase.Status.WARNED}
