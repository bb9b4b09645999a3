"""The model page in plain words first: how many of 100 households that do become poor the township lists
find, from the active model's held-out evaluation, for the townships the reader may see; rounded figures
and short identifiers below; a case's factors in plain words."""

import pytest
from django.urls import reverse

from povertycloud.accounts.models import Role, User
from povertycloud.regions.models import Region
from risk import explain, model_selectors
from risk.models import RiskModel
from tests.factories import TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A
from tests.risk.review import household, make_case, make_model, make_run, make_score

pytestmark = pytest.mark.django_db
MODELS = reverse("risk:models")

# Held-out results per township as risk.evaluation stores them: found = positives × (1 − EE).
EVALUATION = {
    "townships": {
        TOWNSHIP_A: {"n": 120, "positives": 12, "flagged": 10, "ee": 0.25, "ie": 0.1, "roc_auc": 0.8123},
        TOWNSHIP_B: {"n": 80, "positives": 6, "flagged": 8, "ee": 0.5, "ie": 0.625, "roc_auc": 0.7},
    },
}
METRICS = {"roc_auc": 0.8312, "pr_auc": 0.45678, "brier": 0.07891, "ee": 1 / 3, "ie": 1 / 3, "flagged": 18}
HASH = "ab12cd34ef56" + "0" * 52


def plain_of(response):
    html = response.content.decode()
    return html.split('data-testid="plain-words"')[1].split("</section>")[0]


@pytest.fixture
def active_models(regions):
    return {
        "return": make_model(
            version="return-xgb-2024-251201093015-a1b2c3",
            active=True,
            evaluation=EVALUATION,
            metrics=METRICS,
            data_hash=HASH,
        ),
        "poor": make_model(
            target=RiskModel.Target.POOR_NOW,
            active=True,
            evaluation={
                "townships": {
                    TOWNSHIP_A: {"n": 120, "positives": 20, "flagged": 10, "ee": 0.6},
                    TOWNSHIP_B: {"n": 80, "positives": 0, "flagged": 8, "ee": None},
                }
            },
        ),
    }


@pytest.fixture
def other_county(regions):
    Region.objects.create(code="522635000000", name="麻江县", level=Region.Level.COUNTY, parent_id="522600000000")
    Region.objects.create(code="522635100000", name="杏山街道", level=Region.Level.TOWNSHIP, parent_id="522635000000")
    return "522635000000"


def user_in(code: str, role: str, name: str) -> User:
    return User.objects.create(username=name, role=role, region_id=code, first_name=name)


# --- The rule: the sentence's figures are the evaluation's --------------------------------------------------


def test_county_staff_read_the_catch_of_all_their_townships(client, county_staff, active_models):
    client.force_login(county_staff)
    response = client.get(MODELS)
    words = response.context["plain"]
    by_target = {summary.model.target: summary for summary in words.summaries}
    returning = by_target[RiskModel.Target.RETURN]
    # 12 × 0.75 + 6 × 0.5 = 12 found of 18; lists of 10 and 8 households
    assert (returning.positives, returning.found, returning.flagged, returning.sizes) == (18, 12, 18, (8, 10))
    assert returning.per_100 == round(
        100 * (1 - sum(t["positives"] * t["ee"] for t in EVALUATION["townships"].values()) / 18)
    )
    assert returning.per_100 == 67 and returning.visits_per_catch == 1.5
    plain = plain_of(response)
    assert "在明年将致贫或返贫的每 100 户中，每个乡镇按核实名额列出 8–10 户的名单能找到 67 户。" in plain
    assert "名单上的 18 户中约有 12 户属实，平均每入户核实 1.5 户找到 1 户。" in plain
    assert "其余 6 户不在名单上" in plain
    assert "2024 年检验数据，您所辖的 2 个乡镇实际发生 18 户" in plain
    # the poor-now model: 20 × 0.4 = 8 of 20 (the township without positives adds its list, not its catch)
    poor = by_target[RiskModel.Target.POOR_NOW]
    assert (poor.positives, poor.found, poor.per_100) == (20, 8, 40)
    assert plain.index("当前致贫") < plain.index("返贫")  # poor now first
    assert 'data-testid="no-return-model"' not in plain and 'data-testid="no-active-model"' not in plain


def test_an_administrator_reads_the_whole_evaluation_which_is_the_overall_ee(client, admin_user, active_models):
    client.force_login(admin_user)
    summary = next(
        s for s in client.get(MODELS).context["plain"].summaries if s.model.target == RiskModel.Target.RETURN
    )
    assert summary.whole and summary.missed / summary.positives == pytest.approx(METRICS["ee"])
    assert "全部 2 个乡镇" in summary.basis


def test_a_township_official_reads_their_own_township_only(client, official_a, active_models):
    client.force_login(official_a)
    plain = plain_of(client.get(MODELS))
    assert "在明年将致贫或返贫的每 100 户中，本乡镇列出 10 户的名单能找到 75 户。" in plain
    assert "平均每入户核实 1.1 户找到 1 户" in plain  # 10 visits, 9 found
    assert "18 户" not in plain and "67 户" not in plain  # nothing summed over 郎德镇


def test_the_paragraph_is_translated_when_shown(monkeypatch, county_staff, active_models):
    # built at display time through gettext (the English comes from the catalogue, rebuilt from /tmp/tr)
    monkeypatch.setattr(model_selectors, "_", lambda text: "EN[" + text + "]")
    words = model_selectors.plain_words(county_staff, administrator=False)
    summary = next(s for s in words.summaries if s.model.target == RiskModel.Target.RETURN)
    assert summary.headline.startswith("EN[") and "67" in summary.headline
    assert summary.field_checks.startswith("EN[") and summary.basis.startswith("EN[")


# --- Edge: no return model, no model, no positives ------------------------------------------------------


def test_without_a_return_model_the_page_says_so_plainly(client, county_staff, regions):
    make_model(target=RiskModel.Target.POOR_NOW, active=True, evaluation=EVALUATION)
    client.force_login(county_staff)
    plain = plain_of(client.get(MODELS))
    assert 'data-testid="no-return-model"' in plain
    assert "没有启用中的返贫模型" in plain and "不预测明年谁会返贫" in plain
    assert "处于贫困" in plain and "能找到 67 户" in plain  # the poor-now model is still explained
    assert "明年将致贫或返贫" not in plain


def test_without_any_active_model_the_page_says_what_to_do(client, county_staff, admin_user, regions):
    make_model(active=False, evaluation=EVALUATION)  # trained but not activated
    client.force_login(county_staff)
    plain = plain_of(client.get(MODELS))
    assert 'data-testid="no-active-model"' in plain and "请联系系统管理员训练并启用模型" in plain
    assert 'data-testid="plain-summary"' not in plain
    client.force_login(admin_user)
    plain = plain_of(client.get(MODELS))
    assert "训练新模型" in plain and "启用此模型" in plain


def test_a_township_without_positives_gives_no_ratio(county_staff, regions):
    model = make_model(active=True, evaluation={"townships": {TOWNSHIP_A: {"positives": 0, "flagged": 10, "ee": None}}})
    summary = model_selectors.plain_summary(model, county_staff)
    assert summary.per_100 is None and summary.field_checks == ""
    assert "无法据此说明" in summary.headline


def test_a_list_that_finds_nobody_says_so(county_staff, regions):
    model = make_model(active=True, evaluation={"townships": {TOWNSHIP_A: {"positives": 4, "flagged": 10, "ee": 1.0}}})
    summary = model_selectors.plain_summary(model, county_staff)
    assert summary.per_100 == 0 and summary.visits_per_catch is None
    assert "没有一户是实际发生的" in summary.field_checks


def test_a_model_with_no_township_figures_falls_back_to_its_overall_metrics_for_administrators(
    admin_user, county_staff, regions
):
    model = make_model(active=True, evaluation={}, metrics={"positives": 40, "flagged": 50, "ee": 0.25})
    summary = model_selectors.plain_summary(model, admin_user)
    assert (summary.positives, summary.found, summary.per_100) == (40, 30, 75)
    assert model_selectors.plain_summary(model, county_staff) is None  # no regional figures to narrow


# --- Permission: another region's users see nothing of these townships ---------------------------------


@pytest.mark.parametrize("role", [Role.COUNTY_STAFF, Role.AUDITOR])
def test_another_countys_users_see_no_figure_of_this_county(client, active_models, other_county, role):
    client.force_login(user_in(other_county, role, f"other-{role}"))
    response = client.get(MODELS)
    assert response.status_code == 200
    plain = plain_of(response)
    assert response.context["plain"].summaries == []
    assert 'data-testid="plain-not-here"' in plain and "检验数据中没有您所辖地区的户" in plain
    assert "每 100 户中" not in plain
    html = response.content.decode()
    assert "西江镇" not in html and "郎德镇" not in html  # nor the per-township table


def test_the_auditor_of_the_county_reads_the_county_and_cannot_train(client, auditor, active_models):
    client.force_login(auditor)
    response = client.get(MODELS)
    assert "能找到 67 户" in plain_of(response)
    assert response.context["train_form"] is None
    assert client.post(reverse("risk:train"), {"seed": 1}).status_code == 403


# --- The analyst's figures: rounded, identifiers short with the full value in a title ----------------------


def test_metrics_are_rounded_and_identifiers_shortened(client, county_staff, active_models):
    client.force_login(county_staff)
    html = client.get(MODELS).content.decode()
    card = html.split(f'data-model-id="{active_models["return"].pk}"')[1].split("</section>")[0]
    assert 'data-testid="roc_auc" title="0.8312">0.83<' in card
    assert ">0.46<" in card and ">0.079<" in card and ">33%<" in card
    assert "0.3333" not in card.replace('title="0.3333333333333333"', "")
    assert 'title="return-xgb-2024-251201093015-a1b2c3"' in card and ">return-xgb-2024…a1b2c3<" in card
    assert f'title="{HASH}"' in card and ">ab12cd34ef56…<" in card
    township_table = card.split('data-testid="township-table"')[1]
    assert ">25%<" in township_table and ">0.81<" in township_table and ">120<" in township_table


def test_figure_text_rounds_by_kind():
    assert model_selectors.figure_text("roc_auc", 0.83456) == "0.83"
    assert model_selectors.figure_text("ee", 0.30123) == "30%"
    assert model_selectors.figure_text("base_rate", 0.0734) == "7.3%"
    assert model_selectors.figure_text("n", 1234.0) == "1,234"
    assert model_selectors.figure_text("ee", None) == "—"
    assert model_selectors.figure_text("capacity", "ReviewCapacity") == "ReviewCapacity"
    assert model_selectors.short_id("short") == "short"


# --- A case's factors in plain words ------------------------------------------------------------------------


def test_factors_in_plain_words_largest_first_with_direction():
    factors = [
        {"phrase": "家庭劳动力不足", "contribution": 0.12},
        {"phrase": "人均纯收入低于监测标准", "contribution": 0.31},
        {"phrase": "有患大病成员", "contribution": 0.05},
        {"phrase": "外出务工人数少", "contribution": -0.2},
    ]
    assert explain.plain_sentences(factors) == [
        "「人均纯收入低于监测标准」是抬高风险最多的因素。",
        "其次是「家庭劳动力不足」、「有患大病成员」，也抬高风险。",
        "「外出务工人数少」降低风险。",
    ]


def test_factors_that_are_not_a_list_or_lack_a_phrase_say_nothing():
    assert explain.plain_sentences(None) == []
    assert explain.plain_sentences("人均纯收入偏低") == []
    assert explain.plain_sentences([{"contribution": 0.3}, "x", {"phrase": "", "contribution": 1}]) == []
    assert explain.plain_sentences([{"phrase": "有部门预警", "contribution": "n/a"}]) == [
        "「有部门预警」是抬高风险最多的因素。"
    ]


def test_factor_phrases_are_translated_when_shown(monkeypatch):
    # stored in Chinese with the score, translated when the page is drawn
    monkeypatch.setattr(explain, "gettext", lambda text: "EN[" + text + "]")
    sentences = explain.plain_sentences([{"phrase": "人均纯收入低于监测标准", "contribution": 0.3}])
    assert "EN[人均纯收入低于监测标准]" in sentences[0]


def test_the_case_page_says_the_factors_in_words(client, county_staff, regions):
    run = make_run()
    made = household(VILLAGE_A, head="王大山", number="A-1")
    score = make_score(run, made, 0.6)  # factors: 人均纯收入低于监测线 0.31, 家中有长期慢性病患者 0.12
    case = make_case(made, score=score)
    client.force_login(county_staff)
    html = client.get(reverse("risk:case", args=[case.pk])).content.decode()
    assert "「人均纯收入低于监测线」是抬高风险最多的因素。" in html
    assert "其次是「家中有长期慢性病患者」，也抬高风险。" in html


def test_another_townships_official_sees_no_case_factors(client, official_b, regions):
    run = make_run()
    made = household(VILLAGE_A, head="王大山", number="A-1")
    case = make_case(made, score=make_score(run, made, 0.6))
    client.force_login(official_b)
    response = client.get(reverse("risk:case", args=[case.pk]))
    assert response.status_code == 404
    assert "抬高风险" not in response.content.decode()


def test_the_list_size_basis_is_said_in_words_naming_only_counties_the_user_sees(county_staff, other_county):
    source = "ReviewCapacity; ReviewQuota 522634000000: 30 per township; otherwise 10% per township"
    assert model_selectors.capacity_words(source, county_staff) == (
        "各乡镇单独设置的核实户数；雷山县每个乡镇 30 户；其余乡镇取评分户数的 10%"
    )
    stranger = user_in(other_county, Role.COUNTY_STAFF, "stranger")
    assert "雷山县" not in model_selectors.capacity_words(source, stranger)
    assert model_selectors.capacity_words("10% per township") == "每个乡镇取评分户数的 10%"
    assert model_selectors.capacity_words("ReviewQuota 522634000000: 12.5% per township") == "雷山县每个乡镇 12.5%"


def test_features_are_shown_in_words_with_their_name_in_the_title(client, county_staff, active_models):
    client.force_login(county_staff)
    html = client.get(MODELS).content.decode()
    assert '<span class="tag" title="income_ratio">人均纯收入偏低</span>' in html
    assert '<span class="tag" title="pc_income">pc_income</span>' in html  # no words known: the name
