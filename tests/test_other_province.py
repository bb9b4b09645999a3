"""A county of another province, from its files alone (issue #13, point 7).

A small county of Hubei (巴东县 422823, other township codes, one year of income) is generated as files —
the national registry export, a department file, its region list and its threshold table (fixtures/) — and
then taken through the roads a real county takes, with no code of its own: load_regions, load_thresholds,
import_registry, import_feed, train_risk (one year: the poor-now model cross-sectionally, the return model
refused with the reason), activation on the model page (the administrator's override with a reason where
XGBoost did not beat its baselines), score_risk, the risk list of the county's own staff, and the county
report the auditor asks for. The demo county's region tree and thresholds are loaded beside it, so that a
fall-back to them would show.

The township codes follow the national pattern for 巴东县; the village codes and names of the fixture are
illustrative, to be replaced by the county's official code list.
"""

import csv
import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from openpyxl import load_workbook

from demo.county.department_files import HEALTH
from demo.county.generator import generate_county
from demo.county.registry_files import FILE_NAMES
from households.models import Household, IncomeRecord
from households.monitoring import DEMO_THRESHOLDS, thresholds_for
from povertycloud.accounts.models import Role, User
from povertycloud.regions.models import Region
from reports import services as report_services
from reports.models import Report
from risk import list_selectors
from risk.models import RiskCase, RiskModel, RiskScore, ScoringRun

pytestmark = pytest.mark.django_db

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
REGIONS = FIXTURES / "regions_badong.csv"
THRESHOLDS = FIXTURES / "monitoring_thresholds_badong.csv"
COUNTY = "422823000000"
TOWNSHIP = "422823107000"  # 野三关镇
PERSONS, SEED, YEAR = 2400, 21, 2025
AS_OF = dt.date(2026, 1, 15)
DEMO_MARKS = ("雷山", "522634")
OVERRIDE = "巴东县只有一年收支调查、样本少，XGBoost 未超过基线；先启用以生成风险名单，待积累数据后重训。"


def _user(username: str, role: str, region: str | None, **extra) -> User:
    return User.objects.create(username=username, role=role, region_id=region, first_name=username, **extra)


def _text_of_csvs(folder: Path) -> str:
    return "".join(
        path.read_bytes().decode("gb18030" if "civil_affairs" in path.name else "utf-8-sig")
        for path in sorted(folder.glob("*.csv"))
    )


def _workbook_text(path: Path) -> str:
    book = load_workbook(path, read_only=True)
    return "".join(
        str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for value in row
        if value is not None
    )


@pytest.fixture
def files(tmp_path):
    out = tmp_path / "badong"
    summary = generate_county(
        persons=PERSONS, seed=SEED, out_dir=out, regions_file=REGIONS, income_years=[YEAR]
    )
    return out, summary


def test_the_generated_files_are_the_other_county_only(files):
    out, summary = files
    assert summary.county_code == COUNTY and summary.income_years == (YEAR,)
    assert not Region.objects.exists()  # writing files needs no region in the database
    text = _text_of_csvs(out) + _workbook_text(out / "education_2025-12.xlsx")
    assert not [mark for mark in DEMO_MARKS if mark in text]
    with (out / FILE_NAMES["incomes"]).open(encoding="utf-8-sig") as handle:
        years = {row["年度"] for row in csv.DictReader(handle)}
    assert years == {str(YEAR)}
    with (out / FILE_NAMES["households"]).open(encoding="utf-8-sig") as handle:
        villages = {row["行政区划代码"] for row in csv.DictReader(handle)}
    assert villages and all(code.startswith("422823") for code in villages)


def test_a_county_of_another_province_gets_a_model_a_risk_list_and_a_report(
    files, client, tmp_path, django_capture_on_commit_callbacks, capsys
):
    out, summary = files
    # The demo county's tree and thresholds are there too: nothing of the other county may fall back to them.
    call_command("load_regions", str(FIXTURES / "regions_leishan.csv"), verbosity=0)
    call_command("load_thresholds", str(DEMO_THRESHOLDS), verbosity=0)

    call_command("load_regions", str(REGIONS), verbosity=0)
    assert Region.objects.get(code=COUNTY).name == "巴东县"
    call_command(
        "import_registry", "--region", COUNTY, "--as-of", "2025-12-31",
        *[str(out / name) for name in FILE_NAMES.values()], verbosity=0,
    )
    households = Household.objects.filter(village__code__startswith="422823")
    assert households.count() == Household.objects.count() == summary.households
    assert set(IncomeRecord.objects.values_list("year", flat=True)) == {YEAR}
    call_command(
        "import_feed", HEALTH.key, str(out / HEALTH.filename), "--region", COUNTY,
        "--rejected-out", str(tmp_path / "health-rejected.csv"), verbosity=0,
    )

    # Without its own thresholds the county cannot train, and the refusal says which year lacks one.
    assert thresholds_for(COUNTY) == {}
    with pytest.raises(CommandError) as refused:
        call_command("train_risk", "--region", COUNTY, verbosity=0)
    assert "2025 年没有监测标准" in str(refused.value) and "巴东县" in str(refused.value)
    assert not [mark for mark in DEMO_MARKS if mark in str(refused.value)]

    call_command("load_thresholds", str(THRESHOLDS), verbosity=0)
    assert thresholds_for(COUNTY)[YEAR] == 8300
    capsys.readouterr()
    call_command("train_risk", "--region", COUNTY, "--seed", "1", verbosity=0)
    trained = capsys.readouterr().out
    assert "cross_sectional" in trained
    assert "未训练：收支调查只有 2025 年一年；返贫模型至少需要两年" in trained
    assert not RiskModel.objects.filter(target=RiskModel.Target.RETURN).exists()
    xgboost = RiskModel.objects.get(target=RiskModel.Target.POOR_NOW, kind=RiskModel.Kind.XGBOOST)
    assert xgboost.train_years == [YEAR] and xgboost.parameters["mode"] == "cross_sectional"

    # Activation on the model page, by an administrator; an override with a reason where it fell short.
    admin = _user("badong-admin", Role.ADMIN, None, is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.post(reverse("risk:activate", args=[xgboost.pk]))
    xgboost.refresh_from_db()
    if xgboost.beats_baseline is False:
        assert not xgboost.active
        client.post(reverse("risk:override", args=[xgboost.pk]), {"reason": OVERRIDE})
        xgboost.refresh_from_db()
        assert xgboost.override_reason == OVERRIDE
    assert xgboost.active
    models_page = client.get(reverse("risk:models")).content.decode()
    assert "没有启用中的返贫模型" in models_page

    capsys.readouterr()
    call_command("score_risk", "--region", COUNTY, "--as-of", AS_OF.isoformat(), verbosity=0)
    scored = capsys.readouterr().out
    assert "无返贫模型" in scored
    run = ScoringRun.objects.get()
    assert run.region_code == COUNTY and run.poor_model == xgboost and run.return_model is None
    scores = RiskScore.objects.filter(run=run)
    assert scores.count() == summary.households
    assert set(scores.values_list("household_id", flat=True)) == set(households.values_list("pk", flat=True))
    assert not scores.filter(p_return__isnull=False).exists()
    assert scores.values("p_poor").distinct().count() > 1 and run.explained > 0
    assert RiskCase.objects.filter(region_code__startswith="422823").exists()
    assert not RiskCase.objects.exclude(region_code__startswith="422823").exists()

    # The risk list of the county's own staff: rows of their county, by p_poor.
    staff = _user("badong-staff", Role.COUNTY_STAFF, COUNTY)
    assert list_selectors.latest_run_for(staff) == run
    sort = list_selectors.sort_for(run, "p_return")
    page = list_selectors.risk_page(list_selectors.scores_for(staff, run), sort=sort)
    assert page.rows and all(row.score.region_code.startswith("422823") for row in page.rows)
    poor = [row.score.p_poor for row in page.rows]
    assert poor == sorted(poor, reverse=True)
    official = _user("yesanguan", Role.TOWNSHIP_OFFICIAL, TOWNSHIP)
    township_page = list_selectors.risk_page(list_selectors.scores_for(official, run))
    assert township_page.rows and all(row.score.region_code.startswith("422823107") for row in township_page.rows)
    leishan = _user("leishan-staff", Role.COUNTY_STAFF, "522634000000")
    assert list_selectors.latest_run_for(leishan) is None
    client.force_login(staff)
    html = client.get(reverse("risk:list")).content.decode()
    assert "无返贫模型（需两年收支）" in html and "野三关镇" in html
    assert not [mark for mark in DEMO_MARKS if mark in html]

    # The county report the auditor asks for.
    auditor = _user("badong-auditor", Role.AUDITOR, COUNTY)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_services.request_report(
            by=auditor, region_code=COUNTY, start=dt.date(YEAR, 1, 1), end=dt.date(YEAR, 12, 31)
        )
    report.refresh_from_db()
    assert report.status == Report.Status.SUCCEEDED, report.error
    manifest = report.manifest
    assert manifest["parameters"]["region"] == COUNTY
    assert manifest["parameters"]["region_name"] == "湖北省恩施土家族苗族自治州巴东县"
    assert manifest["parameters"]["income_year"] == YEAR
    assert manifest["row_counts"]["households"] == summary.households
    numbers = manifest["numbers"]
    surveyed = IncomeRecord.objects.filter(year=YEAR)
    assert numbers["fgt_households"] == surveyed.count() == summary.households
    assert numbers["fgt_poor_households"] == surveyed.filter(per_capita_net_income__lt=8300).count()
    assert numbers["monitored_households"] == households.exclude(monitoring_type="").count()
    directory = report_services.report_dir(report)
    workbook = _workbook_text(directory / "performance.xlsx")
    assert "巴东县" in workbook and COUNTY in workbook
    ledgers = "".join(
        (directory / name).read_bytes().decode("utf-8-sig") for name in manifest["files"] if name.endswith(".csv")
    )
    for text in (workbook, ledgers, str(manifest)):
        assert not [mark for mark in DEMO_MARKS if mark in text]
