"""Starting the modelling jobs from the pages: training (administrators) and refreshing the risk list
(county staff). Jobs run immediately under the test settings; the jobs table reads the database backend."""

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse

from risk.models import RiskCase, RiskModel, ScoringRun
from tests.factories import COUNTY
from tests.risk.modelling import build_small_county, module_data, train_and_activate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"))
        train_and_activate(seed=0, admin_username="jobs-admin")
        yield


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_administrator_trains_new_models_with_the_seed_given(client, admin_user, trained):
    before = RiskModel.objects.count()
    client.force_login(admin_user)
    response = client.post(reverse("risk:train"), {"seed": "5"})
    assert response.status_code == 302
    new = RiskModel.objects.exclude(pk__in=list(RiskModel.objects.order_by("pk").values_list("pk", flat=True)[:before]))
    assert new.count() == 6
    assert set(new.values_list("seed", flat=True)) == {5}
    assert set(new.values_list("trained_by", flat=True)) == {admin_user.pk}
    assert not new.filter(active=True).exists()
    assert "训练任务已完成。" in _messages(response)


def test_a_bad_seed_is_refused_and_nothing_is_trained(client, admin_user, trained):
    before = RiskModel.objects.count()
    client.force_login(admin_user)
    response = client.post(reverse("risk:train"), {"seed": "-1"})
    assert "随机种子须是非负整数。" in _messages(response)
    assert RiskModel.objects.count() == before


@pytest.mark.parametrize("role", ["county_staff", "official_a", "auditor"])
def test_only_administrators_may_train(request, client, role, trained):
    before = RiskModel.objects.count()
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("risk:train"), {"seed": "1"}).status_code == 403
    assert RiskModel.objects.count() == before


def test_county_staff_refresh_the_risk_list_of_their_county(client, county_staff, trained):
    client.force_login(county_staff)
    response = client.post(reverse("risk:refresh"), {"confirm": "yes"})
    assert response.status_code == 302
    run = ScoringRun.objects.get()
    assert run.region_code == COUNTY and run.started_by == county_staff
    assert RiskCase.objects.filter(score__run=run).exists()
    assert "风险名单更新任务已完成。" in _messages(response)
    page = client.get(reverse("risk:list"))
    assert 'data-testid="refresh-risk-list"' in page.content.decode()


def test_refreshing_without_a_poor_now_model_says_so_and_scores_nothing(client, county_staff, trained):
    RiskModel.objects.filter(target="poor_now").update(active=False)
    client.force_login(county_staff)
    response = client.post(reverse("risk:refresh"))
    assert "尚未启用当前致贫模型，请系统管理员先训练并启用。" in _messages(response)
    assert not ScoringRun.objects.exists()


def test_refreshing_without_a_return_model_scores_p_poor_alone(client, county_staff, trained):
    # A county with one year of income has no return model: the list is refreshed from p_poor.
    RiskModel.objects.filter(target="return").update(active=False)
    client.force_login(county_staff)
    client.post(reverse("risk:refresh"), {"confirm": "yes"})
    run = ScoringRun.objects.get()
    assert run.return_model is None and not run.scores.filter(p_return__isnull=False).exists()


@pytest.mark.parametrize("role", ["official_a", "auditor"])
def test_officials_and_auditors_may_not_refresh_the_risk_list(request, client, role, trained):
    user = request.getfixturevalue(role)
    client.force_login(user)
    assert client.post(reverse("risk:refresh"), {"confirm": "yes"}).status_code == 403
    assert not ScoringRun.objects.exists()
    assert 'data-testid="refresh-risk-list"' not in client.get(reverse("risk:list")).content.decode()


def test_the_models_page_lists_queued_jobs_for_administrators(client, admin_user, county_staff, trained):
    database_tasks = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with override_settings(TASKS=database_tasks):
        client.force_login(admin_user)
        client.post(reverse("risk:train"), {"seed": "2"})
        page = client.get(reverse("risk:models")).content.decode()
        assert 'data-testid="job-row" data-status="READY"' in page and "训练模型" in page
        client.force_login(county_staff)
        assert 'data-testid="jobs"' not in client.get(reverse("risk:models")).content.decode()
