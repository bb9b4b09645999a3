"""A model that did not beat its best baseline on held-out data is stored but activated only by an
administrator's explicit override, with a reason, audited and shown on the model page."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from povertycloud.audit.models import AuditEvent
from risk.models import RiskModel
from risk.registry import activate_model
from risk.training import baseline_comparison
from tests.conftest import PASSWORD
from tests.risk.review import make_model

pytestmark = pytest.mark.django_db
BELOW = {"metric": "pr_auc", "value": 0.044, "best_baseline": "logistic", "best_value": 0.054, "beats": False}


@pytest.fixture
def below(regions):
    return make_model(beats_baseline=False, baseline_comparison=BELOW)


def test_a_model_below_its_best_baseline_is_refused_without_an_override(below, admin_user):
    with pytest.raises(ValidationError, match=r"未超过最佳基线.*逻辑回归.*0\.054"):
        activate_model(by=admin_user, model=below)
    below.refresh_from_db()
    assert not below.active and not below.override_reason


def test_an_administrator_overrides_with_a_reason_and_the_override_is_audited(below, admin_user):
    activate_model(by=admin_user, model=below, override_reason="基线模型特征缺失，先用 XGBoost")
    below.refresh_from_db()
    assert below.active and below.override_by == admin_user and below.override_at is not None
    assert below.override_reason == "基线模型特征缺失，先用 XGBoost"
    event = AuditEvent.objects.filter(entity="risk.riskmodel", object_pk=str(below.pk)).get()
    assert event.actor == admin_user and "强制启用" in event.note and "基线模型特征缺失" in event.note
    assert event.changes["override"]["reason"] == "基线模型特征缺失，先用 XGBoost"


@pytest.mark.parametrize("who", ["county_staff", "official_a", "auditor"])
def test_no_one_but_an_administrator_may_override(below, request, who):
    with pytest.raises(PermissionDenied):
        activate_model(by=request.getfixturevalue(who), model=below, override_reason="我认为可以")
    assert not RiskModel.objects.filter(active=True).exists()
    assert not AuditEvent.objects.filter(entity="risk.riskmodel").exists()


def test_a_model_that_beat_its_baselines_needs_no_override_and_records_none(regions, admin_user):
    model = make_model(beats_baseline=True, baseline_comparison={**BELOW, "value": 0.06, "beats": True})
    activate_model(by=admin_user, model=model, override_reason="不需要")
    model.refresh_from_db()
    assert model.active and model.override_by is None and model.override_reason == ""


def test_baselines_are_compared_by_pr_auc_xgboost_against_all_a_baseline_against_the_others():
    group = [("xgboost", {"pr_auc": 0.30}), ("logistic", {"pr_auc": 0.35}), ("rules", {"pr_auc": 0.10})]
    assert baseline_comparison("xgboost", group[0][1], group) == {
        "metric": "pr_auc",
        "value": 0.30,
        "best_baseline": "logistic",
        "best_value": 0.35,
        "beats": False,
    }
    assert baseline_comparison("logistic", group[1][1], group)["beats"] is True  # against the rules only
    assert baseline_comparison("rules", group[2][1], group)["beats"] is False


# --- The model page -----------------------------------------------------------------------------------


def test_the_page_offers_an_override_not_activation_for_a_model_below_its_baseline(client, below, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    html = client.get(reverse("risk:models")).content.decode()
    assert f'data-testid="override-form-{below.pk}"' in html
    assert f'data-testid="activate-{below.pk}"' not in html
    assert 'data-testid="below-baseline"' in html


def test_an_administrator_overrides_on_the_page_and_it_is_shown(client, below, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    response = client.post(reverse("risk:override", args=[below.pk]), {"reason": "测试县样本少"}, follow=True)
    html = response.content.decode()
    assert 'data-testid="override"' in html and "测试县样本少" in html
    below.refresh_from_db()
    assert below.active and below.override_by == admin_user


def test_an_override_without_a_reason_changes_nothing(client, below, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    response = client.post(reverse("risk:override", args=[below.pk]), {"reason": "  "}, follow=True)
    assert "强制启用须填写理由" in response.content.decode()
    below.refresh_from_db()
    assert not below.active


def test_plain_activation_of_a_model_below_its_baseline_is_refused_on_the_page(client, below, admin_user):
    client.login(username=admin_user.username, password=PASSWORD)
    response = client.post(reverse("risk:activate", args=[below.pk]), follow=True)
    assert "未超过最佳基线" in response.content.decode()
    below.refresh_from_db()
    assert not below.active


@pytest.mark.parametrize("who", ["county_staff", "auditor"])
def test_county_staff_and_auditors_cannot_override_on_the_page(client, below, request, who):
    user = request.getfixturevalue(who)
    client.login(username=user.username, password=PASSWORD)
    assert client.post(reverse("risk:override", args=[below.pk]), {"reason": "试试"}).status_code == 403
    below.refresh_from_db()
    assert not below.active
