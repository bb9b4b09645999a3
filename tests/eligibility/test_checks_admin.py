"""A cross-check is data that administrators declare in the admin: checked against the declared departments (every
reason shown), audited; nobody else reaches it. Runs and hits are read-only there."""

import pytest
from django.test import Client

from eligibility.checks import check_cross_check
from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from eligibility.services import CrossCheckError, save_cross_check
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from tests.eligibility.builders import declare_departments, load_checks
from tests.factories import COUNTY

pytestmark = pytest.mark.django_db

VALID = {
    "code": "member_pension_staff",
    "name": "家庭成员领取机关事业单位养老金",
    "name_en": "Member receives a civil-service pension",
    "description": "",
    "subject": "members",
    "department": "hr_insurance",
    "condition": "value_in",
    "field": "pension_type",
    "values": "3",
    "threshold": "",
    "payment_department": "",
    "payment_date_field": "",
    "payment_amount_field": "",
    "outcome": "exit_review",
    "active": "on",
}


@pytest.fixture
def departments(admin_user):
    declare_departments(admin_user)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_administrator_adds_a_valid_check_and_it_is_audited(departments, admin_user):
    response = logged_in(admin_user).post("/admin/eligibility/crosscheck/add/", VALID)

    assert response.status_code == 302, response.content.decode()[:2000]
    check = CrossCheck.objects.get(code="member_pension_staff")
    assert (check.department, check.field, check.values, check.active) == ("hr_insurance", "pension_type", "3", True)
    event = AuditEvent.objects.get(entity="eligibility.crosscheck", object_pk=str(check.pk))
    assert event.action == "create" and event.actor == admin_user


def test_a_bad_check_shows_every_reason_and_is_not_saved(departments, admin_user):
    bad = {**VALID, "department": "ps_vehicles", "field": "colour", "values": "", "payment_department": "x"}

    response = logged_in(admin_user).post("/admin/eligibility/crosscheck/add/", bad)

    page = response.content.decode()
    assert response.status_code == 200
    assert "部门“ps_vehicles”没有字段“colour”。" in page
    assert "条件“字段取值属于”需要填写取值（逗号分隔）。" in page
    assert "只有比对对象为部门发放名单时才填写发放名单部门及其字段。" in page
    assert not CrossCheck.objects.filter(code="member_pension_staff").exists()


def test_a_check_of_an_undeclared_department_is_refused_in_the_admin(admin_user):
    response = logged_in(admin_user).post("/admin/eligibility/crosscheck/add/", VALID)
    assert response.status_code == 200
    assert "部门“hr_insurance”没有声明。" in response.content.decode()


@pytest.mark.parametrize("role", [Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF, Role.AUDITOR])
def test_other_roles_with_admin_access_are_denied(departments, admin_user, role):
    user = User.objects.create(username=f"staff_{role}", role=role, region_id=COUNTY, is_staff=True)
    load_checks(admin_user)
    check = CrossCheck.objects.get(code="member_vehicle")
    client = logged_in(user)

    assert client.get("/admin/eligibility/crosscheck/").status_code == 403
    assert client.get(f"/admin/eligibility/crosscheck/{check.pk}/change/").status_code == 403
    assert client.post("/admin/eligibility/crosscheck/add/", VALID).status_code == 403
    assert client.get("/admin/eligibility/crosscheckhit/").status_code == 403
    assert not CrossCheck.objects.filter(code="member_pension_staff").exists()


def test_runs_and_hits_are_read_only_for_administrators(departments, admin_user):
    client = logged_in(admin_user)
    run = CrossCheckRun.objects.create(county_code=COUNTY, as_of="2025-12-31")
    assert client.get("/admin/eligibility/crosscheckrun/").status_code == 200
    assert client.get("/admin/eligibility/crosscheckhit/").status_code == 200
    assert client.get(f"/admin/eligibility/crosscheckrun/{run.pk}/change/").status_code == 200
    assert client.get("/admin/eligibility/crosscheckhit/add/").status_code == 403
    assert client.post(f"/admin/eligibility/crosscheckrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CrossCheckRun.objects.filter(pk=run.pk).exists() and not CrossCheckHit.objects.exists()


# --- The check as data ----------------------------------------------------------------------------------------


def test_the_checks_of_the_fixture_are_all_valid_and_loading_again_updates_them(departments, admin_user):
    first = load_checks(admin_user)
    assert len(first) == 9 and all(created for _check, created in first)
    assert all(check_cross_check(check) == [] for check in CrossCheck.objects.all())
    again = load_checks(admin_user)
    assert not any(created for _check, created in again)
    assert CrossCheck.objects.count() == 9
    assert AuditEvent.objects.filter(entity="eligibility.crosscheck").count() == 9  # unchanged: not audited again


@pytest.mark.parametrize(
    ("values", "reasons"),
    [
        (
            {"condition": "value_gte", "field": "vehicle_type", "values": "K3"},
            ["条件“字段不小于”需要填写阈值。", "字段“vehicle_type”不是金额或整数，不能与阈值比较。",
             "只有条件“字段取值属于”才填写取值。"],
        ),
        (
            {"condition": "paid_after_date"},
            ["条件“发放日期晚于该部门记录的日期”不适用于比对对象“户档案在册成员”。",
             "条件“发放日期晚于该部门记录的日期”需要指定字段。"],
        ),
        (
            {"subject": "payment_list", "condition": "not_in_registry", "department": "subsidy_payments",
             "payment_department": "subsidy_payments", "payment_date_field": "item", "payment_amount_field": ""},
            ["发放日期字段“item”不是日期。", "请填写发放金额字段。"],
        ),
        ({"condition": "flag_true", "field": "plate"}, ["字段“plate”不是是/否字段。"]),
    ],
)
def test_a_check_that_does_not_fit_lists_every_reason(departments, values, reasons):
    check = CrossCheck(
        code="x", name="x", subject="members", department="ps_vehicles", condition="has_record", outcome="exit_review"
    )
    for name, value in values.items():
        setattr(check, name, value)
    assert check_cross_check(check) == reasons


def test_saving_a_bad_check_from_a_file_is_refused_with_its_reasons(departments, admin_user):
    with pytest.raises(CrossCheckError) as refused:
        save_cross_check(values={**VALID, "department": "nowhere", "active": True}, by=admin_user)
    assert refused.value.messages == ["member_pension_staff：部门“nowhere”没有声明。"]
    assert not CrossCheck.objects.exists()
