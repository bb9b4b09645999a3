"""build_demo runs every capability on a small generated county, and running it again keeps what is there."""

import re

import pytest
from django.core.management import call_command

from exchange.api.models import ApiToken, Share
from exchange.api.services import digest_of
from exchange.models import ImportBatch
from exchange.registry.models import RegistryConflict
from households.models import Household, Person
from povertycloud.accounts.models import User
from reports.models import Report
from resources.models import AssistanceMeasure, OutcomeObservation
from risk.models import RiskCase, RiskModel, ScoringRun, Warning

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_output(tmp_path, settings, capsys):
    settings.VAR_DIR = tmp_path
    call_command("build_demo", persons=1500, seed=7)
    return capsys.readouterr().out


def test_the_demo_county_is_imported_scored_and_partly_reviewed(demo_output):
    assert Household.objects.exists()
    succeeded = ImportBatch.objects.filter(status=ImportBatch.Status.SUCCEEDED)
    # The county came in through the registry import, then the three department files; half a year on, its
    # next export closed the members who left and listed the one an official had edited as a conflict.
    registry, follow_up = succeeded.filter(department="registry").order_by("pk")
    assert registry.rejected_rows == 0 and registry.accepted_rows == registry.total_rows
    assert follow_up.rejected_rows == 0 and follow_up.period_start.isoformat() == "2026-06-30"
    closed = follow_up.table_counts["members"]["closed"]
    left = Person.everyone.filter(left_on__isnull=False)
    assert closed >= 1 and left.count() == closed
    assert all(batch == follow_up.pk for batch in left.values_list("source_batch", flat=True))
    conflict = RegistryConflict.objects.get(batch=follow_up)
    assert conflict.field == "left_on" and conflict.status == RegistryConflict.Status.OPEN
    assert Person.objects.filter(pk=conflict.object_id).exists(), "the edited member stays until the township decides"
    # The three department files came in from the browser's road; then the demo's department systems used the API.
    files = succeeded.exclude(department="registry").filter(api_client__isnull=True)
    typed = ["civil_affairs", "health", "education", "disability"]
    assert files.filter(department__in=typed).count() == 4
    # The departments declared as data (fixtures/departments) came in as files too, one batch each.
    declared = files.exclude(department__in=typed)
    assert declared.count() == 10
    assert all(b.accepted_rows + b.rejected_rows == b.total_rows and b.accepted_rows > 0 for b in declared)
    pushed = succeeded.get(api_client__name="县医保局")
    assert pushed.full_snapshot is False and pushed.accepted_rows == pushed.total_rows > 0
    shares = Share.objects.order_by("client__name")
    assert [share.client.name for share in shares] == ["县教育局", "县民政局"]
    assert all(share.person_count == share.persons.count() > 0 for share in shares)
    tokens = set(re.findall(r"pc_[0-9a-f]{8}_[A-Za-z0-9_\-]+", demo_output))
    assert len(tokens) == 4 and "curl -H 'Authorization: Bearer " in demo_output
    assert {ApiToken.objects.get(digest=digest_of(token)).client.name for token in tokens} == {
        "县民政局", "县医保局", "县教育局", "县残联"
    }
    assert Warning.objects.exists()
    active = RiskModel.objects.filter(active=True)
    assert sorted(active.values_list("target", flat=True)) == ["poor_now", "return"]
    assert set(active.values_list("kind", flat=True)) == {"xgboost"}
    run = ScoringRun.objects.get()
    assert run.households_scored == Household.objects.count()
    statuses = set(RiskCase.objects.values_list("status", flat=True))
    assert {RiskCase.Status.WARNED, RiskCase.Status.VERIFYING, RiskCase.Status.MONITORED} <= statuses
    decided = RiskCase.objects.filter(status=RiskCase.Status.MONITORED)
    assert all(case.risk_types.strip(",") for case in decided)
    assert Household.objects.filter(pk__in=decided.values("household_id")).exclude(monitoring_type="").count() == (
        decided.count()
    )
    monitored = Household.objects.exclude(monitoring_type="")
    assert AssistanceMeasure.objects.filter(household__in=monitored).exists()
    assert OutcomeObservation.objects.exists()
    report = Report.objects.get()
    assert report.status == Report.Status.SUCCEEDED and report.data_hash and report.region_id == "522634000000"
    assert "xijiang-demo-2026" in demo_output and "帮扶措施" in demo_output
    assert User.objects.filter(username="county", role="county_staff").exists()


def test_running_the_demo_again_keeps_the_county_and_its_reviews(demo_output, capsys):
    households, cases, measures = Household.objects.count(), RiskCase.objects.count(), AssistanceMeasure.objects.count()
    call_command("build_demo", persons=1500, seed=7)
    out = capsys.readouterr().out
    assert "沿用现有演示数据" in out and "已有风险模型" in out
    assert Household.objects.count() == households and RiskCase.objects.count() == cases
    assert AssistanceMeasure.objects.count() == measures
    assert Report.objects.count() == 1
    assert ScoringRun.objects.count() == 1
    assert ImportBatch.objects.filter(department="registry").count() == 2
    # Tokens are issued again (the old ones revoked); the API's first exchanges are not made twice.
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 4 and ApiToken.objects.count() == 8
    assert ImportBatch.objects.filter(api_client__isnull=False).count() == 1 and Share.objects.count() == 2
