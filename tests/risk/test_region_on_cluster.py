"""A region above county level runs one county a partition: the same features, warnings, scores and cases whether
its tasks ran one after the other in this process or on a Dask LocalCluster (issue #18, point 3)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from django.db import transaction

from households.models import Household
from povertycloud.cluster import IN_PROCESS, LOCAL
from risk.feature_files import write_region_features
from risk.features import build_features
from risk.models import RiskCase, RiskScore, Warning
from risk.partitions import above_county, county_partitions
from risk.rules import run_warning_rules
from risk.scoring import score_region
from risk.services import open_cases_from_run
from tests.risk.counties import PREFECTURE, build_counties
from tests.risk.modelling import train_and_activate

AS_OF = dt.date(2026, 1, 15)


def _warnings(as_of: dt.date) -> list[tuple]:
    return sorted(
        Warning.objects.filter(as_of=as_of).values_list("rule__code", "household_id", "person_id", "source_record_id")
    )


def _rules(cluster: str) -> list[tuple]:
    """The warnings a run raises, then deleted (each way must find them from nothing)."""
    run_warning_rules(as_of=AS_OF, region_code=PREFECTURE, cluster=cluster)
    raised = _warnings(AS_OF)
    Warning.objects.filter(as_of=AS_OF).delete()
    return raised


def _score(cluster: str, admin) -> tuple[dict, list[tuple]]:
    run = score_region(region_code=PREFECTURE, as_of=AS_OF, by=admin, cluster=cluster)
    scores = {
        household: (p_poor, p_return, level, [(f["model"], f["phrase"]) for f in factors], region)
        for household, p_poor, p_return, level, factors, region in RiskScore.objects.filter(run=run).values_list(
            "household_id", "p_poor", "p_return", "level", "factors", "region_code"
        )
    }
    with transaction.atomic():
        open_cases_from_run(run=run, by=admin)
        rows = RiskCase.objects.values_list("household_id", "status", "warning_rules")
        cases = sorted((household, status, tuple(rules)) for household, status, rules in rows)
        transaction.set_rollback(True)
    return scores, cases


@pytest.mark.django_db(transaction=True)
def test_a_two_county_region_gives_the_same_results_in_one_process_and_on_a_local_cluster(tmp_path):
    counties = build_counties(tmp_path, counties=2, persons=700)
    assert county_partitions(PREFECTURE) == counties and above_county(PREFECTURE)
    admin = train_and_activate(seed=3, admin_username="cluster-admin")

    _features_on_cluster_match(tmp_path, counties)

    in_process = _rules(IN_PROCESS)
    on_cluster = _rules(LOCAL)
    assert in_process == on_cluster and len(in_process) > 0
    warned = Household.objects.filter(pk__in={h for _, h, _, _ in in_process}).values_list("village_id", flat=True)
    assert {village[:6] for village in warned} == {code[:6] for code in counties}
    run_warning_rules(as_of=AS_OF, region_code=PREFECTURE, cluster=LOCAL)  # the scoring reads them

    one, one_cases = _score(IN_PROCESS, admin)
    many, many_cases = _score(LOCAL, admin)
    assert one.keys() == many.keys() and len(one) > 0
    assert {region[:6] for *_, region in one.values()} == {code[:6] for code in counties}
    households = sorted(one)
    p_one = np.array([one[h][:2] for h in households], dtype=float)
    p_many = np.array([many[h][:2] for h in households], dtype=float)
    np.testing.assert_allclose(p_one, p_many, rtol=1e-6, atol=1e-9)
    assert [one[h][2:4] for h in households] == [many[h][2:4] for h in households]  # levels and factors
    assert one_cases == many_cases and len(one_cases) > 0
    opened = Household.objects.filter(pk__in=[household for household, _, _ in one_cases])
    assert {village[:6] for village in opened.values_list("village_id", flat=True)} <= {c[:6] for c in counties}


def _features_on_cluster_match(tmp_path, counties: list[str]) -> None:
    written = write_region_features(region_code=PREFECTURE, as_of=AS_OF, folder=tmp_path / "features", cluster=LOCAL)
    assert sorted(written) == counties
    for county in counties:
        path, households = written[county]
        on_file = pd.read_parquet(path)
        expected = build_features(region_code=county, as_of=AS_OF)
        assert households == len(expected) > 0 and on_file.index.name == "household_id"
        pd.testing.assert_frame_equal(on_file, expected, check_names=False)
