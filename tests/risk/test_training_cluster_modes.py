"""The partitioned training (risk.training_cluster) keeps the modes risk.training chooses from the years: two years
on held-out villages (the same village split), one year as a cross-sectional proxy-means test (return refused with
the same reason). Run here over a county, one partition in this process, against today's in-process training."""

import numpy as np
import pytest

from households.models import IncomeRecord
from povertycloud.cluster import InProcess
from risk.models import RiskModel
from risk.sources import Sources
from risk.training import Mode, load_artifact, train_risk_models
from risk.training_cluster import train_partitioned
from tests.factories import COUNTY
from tests.risk.modelling import build_small_county

pytestmark = pytest.mark.django_db
SEED = 5


def _compare(region: str) -> tuple:
    today = train_risk_models(seed=SEED, region_code=region)
    partitioned = train_partitioned(InProcess(), region_code=region, seed=SEED)
    assert (partitioned.mode, partitioned.test_year, partitioned.skipped) == (
        today.mode,
        today.test_year,
        today.skipped,
    )
    one = {(m.target, m.kind): m for m in today.models}
    many = {(m.target, m.kind): m for m in partitioned.models}
    assert one.keys() == many.keys()
    frame = Sources.load(region_code=region).at(np.datetime64("2025-12-31").astype(object))
    for key, model in many.items():
        for name in ("train_rows", "test_rows", "test_positives", "train_villages", "test_villages"):
            assert model.parameters.get(name) == one[key].parameters.get(name), (key, name)
        assert model.features == one[key].features
        if model.kind in (RiskModel.Kind.LOGISTIC, RiskModel.Kind.PMT, RiskModel.Kind.RULES):
            a, b = load_artifact(model.artifact), load_artifact(one[key].artifact)
            difference = np.abs(a.predict(a.matrix(frame)) - b.predict(b.matrix(frame)))
            print(key, f"max |Δp| {difference.max():.2e}")
            assert difference.max() < 1e-2  # sklearn stops at tol 1e-4; the sums-based fits converge further
    return today, partitioned


def test_two_years_and_one_year_train_the_same_way_partitioned(tmp_path):
    build_small_county(tmp_path, departments=False)
    IncomeRecord.objects.filter(year__lt=2024).delete()
    today, _partitioned = _compare(COUNTY)
    assert today.mode == Mode.HELD_OUT_VILLAGES
    IncomeRecord.objects.filter(year__lt=2025).delete()
    today, partitioned = _compare(COUNTY)
    assert today.mode == Mode.CROSS_SECTIONAL and "return" in partitioned.skipped
