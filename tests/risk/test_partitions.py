"""How a region-wide job splits into counties, where it runs, and the progress per county its page shows."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from povertycloud.cluster import ClusterUnavailable, InProcess, open_runner
from povertycloud.regions.services import load_regions_csv
from risk.jobs import CountyTracker
from risk.models import Job, ScoringRun
from risk.partitions import above_county, county_partitions, runner_for
from tests.factories import COUNTY, VILLAGE_A, make_household
from tests.risk.counties import PREFECTURE, county_code, regions_file_of

pytestmark = pytest.mark.django_db
OTHER_COUNTY = county_code(0)  # 522690000000, a second county of the prefecture


@pytest.fixture
def two_counties(regions, tmp_path):
    load_regions_csv(regions_file_of(0, tmp_path))
    make_household(village_id=VILLAGE_A)
    make_household(village_id=OTHER_COUNTY[:6] + VILLAGE_A[6:])


def test_a_prefecture_splits_into_its_counties_with_households(two_counties):
    assert county_partitions(PREFECTURE) == [COUNTY, OTHER_COUNTY]
    assert county_partitions("520000000000") == [COUNTY, OTHER_COUNTY]
    assert above_county(PREFECTURE) and not above_county(COUNTY)
    assert county_partitions(COUNTY) == [COUNTY]  # a county is one partition
    assert county_partitions("522634101000") == ["522634101000"]


def test_a_county_without_households_is_no_partition(regions, tmp_path):
    load_regions_csv(regions_file_of(0, tmp_path))
    make_household(village_id=VILLAGE_A)
    assert county_partitions(PREFECTURE) == [COUNTY]


def test_an_unknown_region_is_refused_with_a_message(db):
    with pytest.raises(ValueError, match="区划代码 529999000000 不存在"):
        county_partitions("529999000000")


def test_a_county_and_cluster_none_run_in_this_process(two_counties):
    with runner_for(COUNTY, None) as runner:
        assert isinstance(runner, InProcess)
    with runner_for(PREFECTURE, "none") as runner:
        assert isinstance(runner, InProcess)
        first = runner.submit(lambda x: x + 1, 1, key="a")
        second = runner.submit(lambda x: x * 10, first, key="b")  # a task takes another's result
        assert [value for _, value in runner.as_completed([first, second])] == [2, 20]


def test_a_job_inside_a_callers_transaction_stays_in_this_process(two_counties):
    """Workers read committed data only: the caller's uncommitted writes would be invisible to them (the test
    database's transaction is such a caller), so without a cluster named the job runs here."""
    with runner_for(PREFECTURE, None) as runner:
        assert isinstance(runner, InProcess)


@override_settings(DASK_CONNECT_SECONDS=2)
def test_a_cluster_that_does_not_answer_is_a_message_not_a_traceback(two_counties):
    with pytest.raises(ClusterUnavailable, match=r"无法连接 Dask 集群 tcp://127\.0\.0\.1:9"), open_runner("tcp://127.0.0.1:9"):
        pass
    with pytest.raises(CommandError, match="无法连接 Dask 集群"):
        call_command("run_warning_rules", region=PREFECTURE, cluster="tcp://127.0.0.1:9", verbosity=0)


def test_the_job_records_each_countys_steps(two_counties):
    job = Job.objects.create(kind=Job.Kind.REFRESH, region_code=PREFECTURE, status=Job.Status.RUNNING)
    tracker = CountyTracker(job.pk, PREFECTURE)
    tracker(OTHER_COUNTY, "rules")
    tracker(OTHER_COUNTY, "scored")
    tracker(OTHER_COUNTY, "scored")  # told twice, recorded once
    job.refresh_from_db()
    assert [(c["code"], c["steps"]) for c in job.county_progress] == [
        (COUNTY, []),
        (OTHER_COUNTY, ["预警规则", "特征与概率"]),
    ]
    single = Job.objects.create(kind=Job.Kind.TRAIN, region_code=COUNTY, status=Job.Status.RUNNING)
    CountyTracker(single.pk, COUNTY)
    single.refresh_from_db()
    assert single.county_progress == []  # one county: the job's own state says it all


def test_the_risk_list_shows_an_active_jobs_counties_to_its_region_only(client, two_counties, admin_user, county_staff):
    job = Job.objects.create(kind=Job.Kind.REFRESH, region_code="", status=Job.Status.RUNNING)
    CountyTracker(job.pk, PREFECTURE)(COUNTY, "scored")
    client.force_login(admin_user)
    page = client.get(reverse("risk:list")).content.decode()
    assert 'data-testid="job-counties"' in page and "雷山县" in page and "特征与概率" in page and "等待中" in page
    client.force_login(county_staff)  # the prefecture's job is not the county's: neither it nor its counties show
    page = client.get(reverse("risk:list")).content.decode()
    assert 'data-testid="job-counties"' not in page and "雷山县1" not in page


def test_the_features_command_refuses_an_unknown_region_with_a_message(db, tmp_path):
    with pytest.raises(CommandError, match="区划代码 529999000000 不存在"):
        call_command("build_features", region="529999000000", out=str(tmp_path), verbosity=0)
    assert not list(tmp_path.iterdir())


def test_the_features_command_writes_one_file_per_county(two_counties, tmp_path):
    out = StringIO()
    call_command("build_features", region=PREFECTURE, out=str(tmp_path), cluster="none", stdout=out)
    today = timezone.localdate().isoformat()
    files = sorted(path.name for path in tmp_path.glob("*.parquet"))
    assert files == [f"features_{COUNTY}_{today}.parquet", f"features_{OTHER_COUNTY}_{today}.parquet"]
    assert "共 2 个县，2 户" in out.getvalue()


def test_the_model_pages_county_table_shows_only_the_users_counties(two_counties, county_staff, admin_user):
    from types import SimpleNamespace

    from risk.model_selectors import county_table

    figures = {"n": 100, "positives": 7, "pr_auc": 0.5, "roc_auc": 0.8}
    model = SimpleNamespace(metrics={"counties": {COUNTY: figures, OTHER_COUNTY: {**figures, "n": 90}}})
    assert [row["code"] for row in county_table(model, admin_user).rows] == [COUNTY, OTHER_COUNTY]
    assert [row["code"] for row in county_table(model, county_staff).rows] == [COUNTY]
    assert county_table(SimpleNamespace(metrics={"pr_auc": 0.5}), admin_user) is None  # a county's own model


def test_scoring_a_region_without_households_is_refused_with_a_message(regions, tmp_path):
    load_regions_csv(regions_file_of(0, tmp_path))  # the prefecture's two counties, neither with households
    with pytest.raises(CommandError, match="区划 522600000000 没有户档案"):
        call_command("score_risk", region=PREFECTURE, cluster="none", verbosity=0)
    assert not ScoringRun.objects.exists()
