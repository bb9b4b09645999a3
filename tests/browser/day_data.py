"""One working day's data for the full-day browser walks (tests/browser/test_full_day.py).

Built once per module through the services (the review chains as the officials would have left them),
kept in memory as model instances, and written back before each walk: the live server's tests are
transactional, and the database is flushed after each of them. Building happens inside a transaction
that is rolled back, so it leaves the database as it found it.

The state a day starts from:

- official_a (西江镇) keeps a monitored household in 西江村 (head 王建国, wife 李秀英), with no income recorded;
- a high-risk household (王大山) whose risk case county staff assigned to official_a, who recorded the home
  visit with the signed consent: county staff decide on it;
- an eligible monitored household (杨安居) whose risk elimination official_a2 applied for and official_a (not
  the applicant) passed in the township review: county staff approve it;
- a county performance report for last year, generated, with its files under VAR_DIR.
"""

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    VILLAGE_A,
    VILLAGE_A2,
    fill_data_dictionary,
    make_household,
    make_person,
)

# The apps whose rows the snapshot keeps; the code tables are refilled before every transactional test by
# tests/conftest.py (_data_dictionary), so they are left out.
DAY_APPS = ("regions", "accounts", "audit", "households", "exchange", "risk", "resources", "reports")
LEFT_OUT = {"households.code", "households.codeset"}
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class DayData:
    """Primary keys and names the walks look for (the objects themselves are rewritten before each walk)."""

    official: str
    applicant: str
    county_staff: str
    auditor: str
    home: int  # the official's household
    home_number: str
    head_name: str
    risk_household: int
    risk_case: int
    elimination_household: int
    elimination_case: int
    report: int
    var_dir: Path


@dataclass
class Snapshot:
    data: DayData
    rows: list[tuple[type, list]]


def _day_models() -> list[type]:
    models = []
    for config in apps.get_app_configs():
        if config.label not in DAY_APPS:
            continue
        for model in config.get_models(include_auto_created=True):
            meta = model._meta
            if meta.proxy or not meta.managed or meta.label_lower in LEFT_OUT:
                continue
            models.append(model)
    return models


def _user(username: str, role: str, region: str):
    from povertycloud.accounts.models import User

    user = User(username=username, role=role, region_id=region, first_name=username)
    user.set_password(PASSWORD)
    user.save()
    return user


def _build(var_dir: Path) -> DayData:
    from povertycloud.accounts.models import Role
    from povertycloud.regions.services import load_regions_csv
    from reports import services as report_services
    from resources import elimination
    from resources.catalogue import load_catalogue
    from risk import services as risk_services
    from risk.models import RiskCase
    from tests.resources.builders import monitored
    from tests.resources.eligible import eligible_household
    from tests.risk.review import household as risk_household
    from tests.risk.review import make_run, make_score

    fill_data_dictionary()
    load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")
    load_catalogue()
    official = _user("official_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)
    applicant = _user("official_a2", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)
    county_staff = _user("county_staff", Role.COUNTY_STAFF, COUNTY)
    auditor = _user("auditor", Role.AUDITOR, COUNTY)
    today = timezone.localdate()

    # The official's household, and a neighbour so that the search has something to leave out.
    home = monitored(risk_types=",07,09,", head="王建国", number="522634101200000101")
    make_person(home, name="李秀英", sex="2", birth_date=dt.date(1978, 11, 2), relation="02")
    neighbour = make_household(number="522634101201000202", village_id=VILLAGE_A2, with_head=False)
    make_person(neighbour, name="张三", sex="1", birth_date=dt.date(1968, 1, 20), relation="01")

    # A risk case waiting for the county's decision: assigned, visited, consent signed.
    at_risk = risk_household(VILLAGE_A, head="王大山", number="522634101200000303")
    run = make_run()
    make_score(run, at_risk, 0.82, p_poor=0.31)
    risk_services.open_cases_from_run(run=run)
    case = RiskCase.objects.get(household=at_risk)
    case = risk_services.assign_for_verification(by=county_staff, case=case, official=official)
    case = risk_services.record_home_visit(
        by=official, case=case, visit_date=today, notes="户主患大病，年自付医疗费用约 8000 元。", consent_signed=True
    )

    # A risk elimination the applicant's colleague passed in the township review: the county approves it.
    eligible = eligible_household(head="杨安居", number="522634101200000404")
    applied = elimination.apply_for_elimination(
        by=applicant,
        household=eligible,
        method="assisted",
        visit_date=today - dt.timedelta(days=10),
        reason="收入稳定超过监测线，帮扶措施已落实。",
    )
    reviewed = elimination.township_review(
        by=official,
        case=applied,
        approve=True,
        reason="公示无异议。",
        notice_from=today - dt.timedelta(days=8),
        notice_to=today - dt.timedelta(days=2),
    )

    # Last year's county performance report, generated (the request's own enqueue waits for a commit that
    # never comes: the build is rolled back).
    report = report_services.request_report(
        by=auditor, region_code=COUNTY, start=dt.date(today.year - 1, 1, 1), end=dt.date(today.year - 1, 12, 31)
    )
    report = report_services.generate_report(report=report)
    assert report.status == "succeeded", report.error

    return DayData(
        official=official.username,
        applicant=applicant.username,
        county_staff=county_staff.username,
        auditor=auditor.username,
        home=home.pk,
        home_number=home.number,
        head_name="王建国",
        risk_household=at_risk.pk,
        risk_case=case.pk,
        elimination_household=eligible.pk,
        elimination_case=reviewed.pk,
        report=report.pk,
        var_dir=var_dir,
    )


class _RolledBack(Exception):
    pass


def build_snapshot(var_dir: Path) -> Snapshot:
    """Builds the day in a transaction, copies every row of the day's tables, and rolls the build back."""
    result: list[Snapshot] = []
    with override_settings(VAR_DIR=var_dir, PASSWORD_HASHERS=FAST_HASHERS):
        try:
            with transaction.atomic():
                data = _build(var_dir)
                rows = [(model, list(model._base_manager.order_by("pk"))) for model in _day_models()]
                result.append(Snapshot(data=data, rows=[(model, objs) for model, objs in rows if objs]))
                raise _RolledBack
        except _RolledBack:
            pass
    return result[0]


def restore(snapshot: Snapshot) -> None:
    """Writes the snapshot's rows back, with their primary keys, in place of what the tables hold: nothing
    after a flush, the rows the migrations wrote before the first flush."""
    models = [model for model, _ in snapshot.rows]
    with transaction.atomic():
        for model, objs in snapshot.rows:
            if model._base_manager.exists():
                model._base_manager.all()._raw_delete(connection.alias)
            model._base_manager.bulk_create(copy.deepcopy(objs))
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            with connection.cursor() as cursor:
                cursor.execute(sql)
