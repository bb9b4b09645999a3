"""The cross-sectional (one-year) poor-now models on a generated county: XGBoost, logistic regression and
the OLS proxy-means test, with and without the place features (run on purpose, not by the suite):

    DJANGO_ENV=test CS_PERSONS=60000 .venv/bin/pytest -o addopts="" -s -p no:cacheprovider \\
        tests/benchmarks/test_cross_sectional.py

The county (demo generator, departments imported) keeps only its 2025 income surveys. Prints, for each
model, ROC-AUC and PR-AUC on the held-out villages, and the same on the held-out households whose poverty
is a matter of income alone (no 三保障/饮水 failure observed, which every model finds trivially).
"""

import os
import platform

import numpy as np
import pytest

from households.models import Household, IncomeRecord, Person
from risk.evaluation import targeting_metrics
from risk.registry import load_model
from risk.sources import Sources
from risk.training import BASIC_NEEDS_COLUMNS, build_cross_sectional, split_villages, train_risk_models
from tests.risk.modelling import build_small_county

pytestmark = pytest.mark.django_db
PERSONS = int(os.environ.get("CS_PERSONS", "60000"))
SEED = int(os.environ.get("CS_SEED", "0"))


def test_cross_sectional_figures(tmp_path):
    build_small_county(tmp_path, persons=PERSONS, seed=11, departments=True)
    IncomeRecord.objects.exclude(year=2025).delete()
    print(
        f"\nmachine: {platform.node()} {os.cpu_count()} cores; households {Household.objects.count():,}, "
        f"people {Person.objects.count():,}, seed {SEED}"
    )
    sources = Sources.load()
    for place in (False, True):
        result = train_risk_models(seed=SEED, place_features=place, sources=sources)
        data = build_cross_sectional(sources, result.test_year, place=place)
        is_test, train_villages, test_villages = split_villages(data, SEED)
        test = data.take(is_test)
        failed = np.zeros(len(test.y), dtype=bool)
        for name in BASIC_NEEDS_COLUMNS:
            failed |= np.nan_to_num(test.frame[name].to_numpy(dtype=float)) > 0
        print(
            f"place features {'on' if place else 'off'}: mode {result.mode}; train villages {train_villages}, "
            f"test villages {test_villages}; test households {len(test.y):,}, poor {int(test.y.sum()):,} "
            f"(of whom {int(test.y[failed].sum()):,} with a 三保障/饮水 failure on record)"
        )
        for model in result.models:
            fitted = load_model(model)
            p = fitted.predict(fitted.matrix(test.frame))
            income_only = targeting_metrics(test.y[~failed], p[~failed], np.zeros((~failed).sum(), dtype=bool))
            print(
                f"  {model.kind:<9} ROC-AUC {model.metrics['roc_auc']:.4f} PR-AUC {model.metrics['pr_auc']:.4f} "
                f"EE {model.metrics['ee']:.3f} IE {model.metrics['ie']:.3f} | income-only ROC-AUC "
                f"{income_only['roc_auc']:.4f} PR-AUC {income_only['pr_auc']:.4f} "
                f"(n {income_only['n']:,}, poor {income_only['positives']:,}) beats {model.beats_baseline}"
            )
