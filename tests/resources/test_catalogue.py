"""The assistance catalogue and the risk → measure expectations are data loaded from fixtures/."""

import pytest

from resources.catalogue import catalogue, load_catalogue
from resources.models import AssistanceCategory, AssistanceSubtype, ExpectedMeasure

pytestmark = pytest.mark.django_db


def test_fourteen_categories_with_the_four_development_types():
    book = catalogue()
    assert len(book.categories) == 14
    development = {book.categories[c].name for c in book.development_categories}
    assert development == {"产业帮扶", "就业帮扶", "金融帮扶", "公益岗位帮扶"}


def test_micro_credit_limits_are_data():
    loan = catalogue().subtypes["0301"]
    assert loan.name == "脱贫人口小额信贷" and loan.max_amount == 50000 and loan.max_months == 36


def test_mandatory_expectations_are_housing_water_and_disability_allowances():
    mandatory = {(e.risk_type, e.name, e.condition) for e in catalogue().expectations if e.mandatory}
    assert mandatory == {
        ("01", "残疾人两项补贴", "severe_disability"),
        ("02", "残疾人两项补贴", "severe_disability"),
        ("09", "住房安全保障", ""),
        ("10", "饮水安全保障", ""),
    }


def test_loading_again_changes_nothing_and_keeps_what_an_administrator_added():
    AssistanceSubtype.objects.create(code="0199", category_id="01", name="庭院经济")
    before = (AssistanceCategory.objects.count(), AssistanceSubtype.objects.count(), ExpectedMeasure.objects.count())
    load_catalogue()
    after = (AssistanceCategory.objects.count(), AssistanceSubtype.objects.count(), ExpectedMeasure.objects.count())
    assert after == before
    assert "0199" in catalogue().subtypes
