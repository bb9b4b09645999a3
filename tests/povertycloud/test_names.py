"""A person's name is shown as it is written: 杨秀英 (family name first, no space), Anna Schmidt (given name
first) — in the header, the admin, the audit trail, the case log and the model pages alike."""

import pytest
from django.test import Client

from povertycloud.accounts.models import Role, User
from povertycloud.accounts.names import person_name
from povertycloud.audit.services import record_event
from tests.conftest import _user
from tests.factories import VILLAGE_A


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("秀英", "杨", "杨秀英"),
        ("国华", "欧阳", "欧阳国华"),
        ("Anna", "Schmidt", "Anna Schmidt"),
        ("민준", "김", "김민준"),
        ("系统管理员", "", "系统管理员"),  # a role label, given whole
        ("", "系统管理员", "系统管理员"),
        ("  秀英 ", " 杨 ", "杨秀英"),
        ("", "", ""),
        (None, None, ""),
    ],
)
def test_a_name_is_shown_in_the_order_its_script_writes_it(first, last, shown):
    assert person_name(first, last) == shown


def test_a_chinese_given_name_with_a_latin_family_field_still_has_no_space():
    # One CJK part is enough to write the name the Chinese way.
    assert person_name("秀英", "Yang") == "Yang秀英"


@pytest.fixture
def yang(regions) -> User:
    user = _user("xijiang", Role.TOWNSHIP_OFFICIAL, "522634101000")
    user.first_name, user.last_name = "秀英", "杨"
    user.save()
    return user


def test_a_users_full_name_is_family_name_then_given_name(yang):
    assert yang.get_full_name() == "杨秀英"
    assert str(yang) == "杨秀英（xijiang）"


def test_a_latin_users_full_name_is_given_name_then_family_name(db):
    assert User(username="anna", first_name="Anna", last_name="Schmidt").get_full_name() == "Anna Schmidt"


def test_a_user_without_a_name_is_shown_by_account(db):
    assert str(User(username="nobody")) == "nobody"


def test_the_header_shows_the_name_in_chinese_order(yang):
    client = Client()
    client.force_login(yang)
    page = client.get("/").content.decode()
    assert "杨秀英 · " in page
    assert "秀英 杨" not in page


def test_the_user_admin_lists_the_name_in_chinese_order(yang, admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/accounts/user/").content.decode()
    assert "杨秀英" in page and "秀英 杨" not in page


def test_the_user_form_asks_for_the_family_name_first(yang, admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/accounts/user/{yang.pk}/change/").content.decode()
    assert page.index('name="last_name"') < page.index('name="first_name"')


def test_the_audit_trail_names_the_actor_in_chinese_order(yang, admin_user):
    record_event(actor=yang, action="update", entity="households.household", object_repr="户 1", note="测试")
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert "杨秀英（xijiang）" in page


def test_the_audit_trail_keeps_the_account_name_of_a_write_without_a_user(admin_user):
    record_event(actor=None, action="login_failed", entity="accounts.user", object_repr="someone")
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert "system" in page


def test_the_risk_case_log_names_people_in_chinese_order(yang, county_staff):
    from risk import services
    from risk.models import CaseEvent
    from tests.risk.review import household, make_case

    county_staff.first_name, county_staff.last_name = "建军", "李"
    county_staff.save()
    case = make_case(household(VILLAGE_A))
    services.assign_for_verification(by=county_staff, case=case, official=yang)
    event = CaseEvent.objects.get(case=case, to_status="verifying")
    assert "杨秀英" in event.note and "秀英 杨" not in event.note
    client = Client()
    client.force_login(county_staff)
    page = client.get(f"/risk/cases/{case.pk}/").content.decode()
    assert "李建军（county_staff）" in page and "建军 李" not in page
    assert "杨秀英（xijiang）" in page


def test_the_model_page_names_who_trained_and_activated_in_chinese_order(admin_user):
    from tests.risk.review import make_model

    admin_user.first_name, admin_user.last_name = "国华", "吴"
    admin_user.save()
    make_model(trained_by=admin_user, activated_by=admin_user)
    client = Client()
    client.force_login(admin_user)
    page = client.get("/risk/models/").content.decode()
    assert "吴国华（administrator）" in page and "国华 吴" not in page
