"""The admin shows codes as the data dictionary's labels (户主, 女, 脱贫户), not as 01, 2, 1; and /favicon.ico
answers."""

import datetime as dt
import re

import pytest
from django.test import Client

from households.models import StatusChange
from tests.factories import VILLAGE_B, make_household, make_person


def admin_page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def column(page: str, name: str) -> list[str]:
    """The cells of one list_display column (Django marks each with field-<name>)."""
    cells = re.findall(rf'class="field-{name}[^"]*">(.*?)</t[dh]>', page)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


@pytest.fixture
def files(regions):
    poor = make_household(
        number="522634101200000901", household_type="1", monitoring_type="1", risk_types=",01,07,",
        with_head=False,
    )
    make_person(poor, name="王建国", relation="01", sex="1")
    make_person(poor, name="李秀英", relation="02", sex="2", birth_date=dt.date(1982, 2, 3))
    StatusChange.objects.create(
        household=poor, effective_date=dt.date(2024, 3, 1), event="03", household_type="1",
        monitoring_type="1", risk_types=",01,", reason="纳入监测",
    )
    other = make_household(number="522634103200000902", village_id=VILLAGE_B, household_type="2")
    return poor, other


def test_the_household_list_shows_type_monitoring_and_risk_labels(files, admin_user):
    page = admin_page(admin_user, "/admin/households/household/")
    assert "脱贫户" in column(page, "household_type_label")
    assert "一般农户" in column(page, "household_type_label")
    assert "脱贫不稳定户" in column(page, "monitoring_type_label")
    assert "因病、因务工就业不稳" in column(page, "risk_types_label")


def test_the_household_filter_offers_labels_and_filters_by_code(files, admin_user):
    page = admin_page(admin_user, "/admin/households/household/")
    assert '?household_type=1"' in page and ">脱贫户</a>" in page
    filtered = admin_page(admin_user, "/admin/households/household/?household_type=1")
    assert "522634101200000901" in filtered and "522634103200000902" not in filtered


def test_a_filter_by_an_unknown_code_finds_nothing_rather_than_failing(files, admin_user):
    page = admin_page(admin_user, "/admin/households/household/?household_type=zz")
    assert "522634101200000901" not in page


def test_the_member_list_shows_relation_and_sex_labels(files, admin_user):
    page = admin_page(admin_user, "/admin/households/person/")
    assert {"户主", "配偶"} <= set(column(page, "relation_label"))
    assert {"男", "女"} <= set(column(page, "sex_label"))
    assert "01" not in column(page, "relation_label")


def test_the_status_history_shows_event_and_type_labels(files, admin_user):
    page = admin_page(admin_user, "/admin/households/statuschange/")
    assert column(page, "event_label") == ["纳入监测"]
    assert column(page, "household_type_label") == ["脱贫户"]
    assert column(page, "monitoring_type_label") == ["脱贫不稳定户"]


def test_a_code_missing_from_the_dictionary_is_shown_as_stored(regions, admin_user):
    made = make_household(number="522634101200000903", with_head=False)
    make_person(made, relation="77")  # not in the dictionary (an old import): shown, not hidden or crashed
    page = admin_page(admin_user, "/admin/households/person/")
    assert "77" in column(page, "relation_label")


def test_an_empty_code_shows_a_dash(files, admin_user):
    page = admin_page(admin_user, "/admin/households/household/")
    assert "—" in column(page, "monitoring_type_label")


def test_a_township_official_in_the_admin_sees_labels_of_their_own_township_only(files, staff_official_a):
    page = admin_page(staff_official_a, "/admin/households/household/")
    assert "522634101200000901" in page and "522634103200000902" not in page
    assert column(page, "household_type_label") == ["脱贫户"]


def test_warning_rules_show_the_department_and_risk_type_by_name(regions, admin_user):
    from tests.risk.review import make_rule

    make_rule()  # department "health", risk type "01"
    page = admin_page(admin_user, "/admin/risk/warningrule/")
    assert "医保/卫健" in column(page, "department_name")
    assert "因病" in column(page, "risk_type_label")


def test_warnings_show_the_department_by_name(files, admin_user):
    from tests.risk.review import make_rule, make_warning

    make_warning(make_rule(), files[0])
    page = admin_page(admin_user, "/admin/risk/warning/")
    assert column(page, "department_name") == ["医保/卫健"]


def test_expected_measures_show_risk_types_and_catalogue_names(db, admin_user):
    from resources.catalogue import catalogue
    from resources.models import ExpectedMeasure

    measure = ExpectedMeasure.objects.exclude(categories="").first()
    if measure is None:
        pytest.skip("the catalogue migration loads no expectations")
    page = admin_page(admin_user, f"/admin/resources/expectedmeasure/?q=&risk_type={measure.risk_type}")
    names = column(page, "category_names")
    book = catalogue()
    first_code = measure.categories.strip(",").split(",")[0]
    assert any(book.label(first_code) in cell for cell in names)
    assert not any(re.fullmatch(r"[\d,]+", cell) for cell in names)
    assert set(column(page, "risk_type_label")) and "01" not in column(page, "risk_type_label")


# --- /favicon.ico ----------------------------------------------------------------------------------------


def test_favicon_answers_with_the_static_icon(db):
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code in (200, 301, 302)
    if response.status_code != 200:
        icon = client.get(response["Location"])
        assert icon.status_code == 200
        body = b"".join(icon.streaming_content) if icon.streaming else icon.content
        assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_favicon_answers_a_logged_in_user_too(official_a):
    client = Client()
    client.force_login(official_a)
    assert client.get("/favicon.ico").status_code in (200, 301, 302)


def test_favicon_refuses_a_post(db):
    assert Client().post("/favicon.ico").status_code == 405


def test_pages_name_the_icon(official_a):
    client = Client()
    client.force_login(official_a)
    assert 'rel="icon"' in client.get("/").content.decode()
