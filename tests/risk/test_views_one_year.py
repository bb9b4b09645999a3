"""Pages of a county whose runs have no return model (one year of income): p_return is NULL, the list sorts
by p_poor, the pages show "—" and say why, the regions stay scoped, and auditors still only read."""

import datetime as dt

import pytest
from django.urls import reverse

from risk import jobs, list_selectors
from risk.models import Job, ReviewCapacity, ReviewQuota, RiskCase, RiskModel
from risk.services import open_cases_from_run
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import household, make_case, make_model, make_run, make_score, today

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")
CASES = reverse("risk:cases")
MODELS = reverse("risk:models")
NO_RETURN = "无返贫模型（需两年收支）"


def numbers(response) -> list[str]:
    return [row.household.number for row in response.context["page"].rows]


@pytest.fixture
def one_year(regions):
    run = make_run(with_return=False)
    made = {
        "a1": household(VILLAGE_A, head="王大山", number="A-1"),
        "a2": household(VILLAGE_A2, head="李小红", number="A-2"),
        "a3": household(VILLAGE_A, head="张有田", number="A-3"),
        "b1": household(VILLAGE_B, head="杨其他", number="B-1"),
    }
    scores = {
        "a1": make_score(run, made["a1"], None, p_poor=0.35),
        "a2": make_score(run, made["a2"], None, p_poor=0.80),
        "a3": make_score(run, made["a3"], None, p_poor=0.05, factors=[]),
        "b1": make_score(run, made["b1"], None, p_poor=0.60),
    }
    case = make_case(made["a2"], score=scores["a2"], opened_on=today() - dt.timedelta(days=3))
    return {"run": run, "households": made, "scores": scores, "case": case}


def test_the_list_of_a_run_without_return_model_sorts_by_p_poor_and_says_why(client, county_staff, one_year):
    client.force_login(county_staff)
    response = client.get(LIST)
    assert response.status_code == 200
    assert response.context["sort"] == "p_poor"
    assert numbers(response) == ["A-2", "B-1", "A-1", "A-3"]
    html = response.content.decode()
    assert NO_RETURN in html and "80.0%" in html
    assert 'data-testid="no-return-model"' in html
    assert "返贫模型 " not in html.split('data-testid="run-info"')[1].split("</p>")[0]  # names only the poor model
    cells = [row.split(">", 1)[1].split("</td>")[0] for row in html.split('data-testid="p-return"')[1:]]
    assert len(cells) == 4 and all("—" in cell and "%" not in cell for cell in cells)


def test_asking_for_the_return_order_falls_back_to_p_poor(client, county_staff, one_year):
    client.force_login(county_staff)
    response = client.get(LIST, {"sort": "p_return"})
    assert response.status_code == 200
    assert numbers(response) == ["A-2", "B-1", "A-1", "A-3"]


def test_keyset_pages_of_p_poor_follow_on(client, county_staff, one_year):
    client.force_login(county_staff)
    page = list_selectors.risk_page(
        list_selectors.scores_for(county_staff, one_year["run"]), sort="p_poor", size=2
    )
    assert [row.household.number for row in page.rows] == ["A-2", "B-1"]
    after = list_selectors.risk_page(
        list_selectors.scores_for(county_staff, one_year["run"]), sort="p_poor", size=2, after=page.next_key
    )
    assert [row.household.number for row in after.rows] == ["A-1", "A-3"]


def test_township_official_sees_only_their_township(client, official_a, official_b, one_year):
    client.force_login(official_a)
    assert numbers(client.get(LIST)) == ["A-2", "A-1", "A-3"]
    client.force_login(official_b)
    assert numbers(client.get(LIST)) == ["B-1"]


def test_a_case_of_another_township_is_not_found(client, official_b, one_year):
    client.force_login(official_b)
    assert client.get(reverse("risk:case", args=[one_year["case"].pk])).status_code == 404


def test_auditor_reads_the_list_but_cannot_refresh(client, auditor, one_year):
    client.force_login(auditor)
    assert client.get(LIST).status_code == 200
    assert client.post(reverse("risk:refresh")).status_code == 403


def test_case_list_and_case_page_show_p_poor_and_no_return_probability(client, county_staff, one_year):
    client.force_login(county_staff)
    html = client.get(CASES).content.decode()
    assert "80.0%" in html and NO_RETURN in html
    page = client.get(reverse("risk:case", args=[one_year["case"].pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "80.0%" in text and NO_RETURN in text


def test_refresh_needs_only_the_poor_now_model(client, county_staff, one_year, monkeypatch):
    started = []
    finished = Job(kind=Job.Kind.REFRESH, status=Job.Status.SUCCEEDED)
    monkeypatch.setattr(jobs, "start_job", lambda **kwargs: started.append(kwargs) or finished)
    client.force_login(county_staff)
    make_model(target=RiskModel.Target.POOR_NOW, active=True)
    response = client.post(reverse("risk:refresh"), {"confirm": "yes"}, follow=True)
    assert started and "尚未启用" not in response.content.decode()


def test_refresh_without_a_poor_now_model_says_which_is_missing(client, county_staff, one_year):
    client.force_login(county_staff)
    make_model(active=True)  # a return model alone does not score
    html = client.post(reverse("risk:refresh"), follow=True).content.decode()
    assert "尚未启用当前致贫模型" in html


def test_model_page_says_there_is_no_return_model(client, admin_user, one_year):
    make_model(target=RiskModel.Target.POOR_NOW, active=True)
    client.force_login(admin_user)
    html = client.get(MODELS).content.decode()
    assert "没有启用中的返贫模型" in html and "两年" in html


def test_township_summary_shows_the_county_quota_not_a_constant(client, county_staff, one_year):
    ReviewQuota.objects.create(region_id=COUNTY, households=7)
    ReviewCapacity.objects.create(region_id=TOWNSHIP_B, households=12)
    client.force_login(county_staff)
    summary = {row.township.code: row for row in client.get(LIST).context["summary"]}
    assert summary[TOWNSHIP_A].capacity == 7 and summary[TOWNSHIP_B].capacity == 12


def test_township_summary_counts_a_share_on_the_run(client, county_staff, one_year):
    ReviewQuota.objects.create(region_id=COUNTY, share="0.5")
    client.force_login(county_staff)
    summary = {row.township.code: row for row in client.get(LIST).context["summary"]}
    assert summary[TOWNSHIP_A].capacity == 2  # ceil(0.5 × 3 households scored in A)
    assert summary[TOWNSHIP_B].capacity == 1


def test_township_summary_without_settings_keeps_the_default(client, county_staff, one_year):
    client.force_login(county_staff)
    summary = {row.township.code: row for row in client.get(LIST).context["summary"]}
    assert summary[TOWNSHIP_A].capacity == 30


def test_cases_open_by_p_poor_in_a_run_without_return_model(regions, one_year):
    ReviewQuota.objects.create(region_id=COUNTY, households=1)
    RiskCase.objects.all().delete()
    opened = open_cases_from_run(run=one_year["run"])
    cases = {c.household.number: c for c in RiskCase.objects.select_related("household")}
    assert opened.opened == 2 and set(cases) == {"A-2", "B-1"}
    assert "当前致贫概率位于本乡镇前列" in cases["A-2"].events.get().note

