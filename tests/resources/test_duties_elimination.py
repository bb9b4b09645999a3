"""Risk elimination keeps duties apart: the official who applied cannot pass the township review (the
service refuses, the page says why and offers no usable button), and only county-level staff give the
county approval, whatever permission a township account holds."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from povertycloud.accounts.models import Role
from resources import elimination
from resources.elimination import apply_for_elimination, county_decision, township_review
from resources.models import EliminationCase, EliminationEvent
from tests.conftest import _user
from tests.factories import TOWNSHIP_A
from tests.resources.builders import today
from tests.resources.eligible import eligible_household

pytestmark = pytest.mark.django_db

SAME_PERSON = "申请人不能审核自己提交的风险消除申请"


@pytest.fixture
def reviewer_a(regions):
    return _user("reviewer_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)


@pytest.fixture
def applied(official_a):
    household = eligible_household()
    case = apply_for_elimination(
        by=official_a, household=household, method="assisted", visit_date=today() - dt.timedelta(days=14),
        reason="收入稳定，三保障无虞",
    )
    return household, case


def approve(by, case, **overrides):
    values = {
        "approve": True, "reason": "公示无异议",
        "notice_from": today() - dt.timedelta(days=12), "notice_to": today() - dt.timedelta(days=6),
    }
    values.update(overrides)
    return township_review(by=by, case=case, **values)


# --- The rule, in the service ------------------------------------------------------------------------


def test_the_applicant_cannot_pass_the_township_review(official_a, applied):
    _, case = applied
    for approve_it in (True, False):
        with pytest.raises(PermissionDenied) as refused:
            approve(official_a, case, approve=approve_it)
        assert SAME_PERSON in str(refused.value) and "不同的人" in str(refused.value)
    case.refresh_from_db()
    assert case.status == "applied" and case.township_by is None
    assert EliminationEvent.objects.filter(case=case).count() == 1  # the application alone


def test_another_official_of_the_township_passes_it(official_a, reviewer_a, applied):
    _, case = applied
    assert elimination.township_refusal(official_a, case) and not elimination.township_refusal(reviewer_a, case)
    case = approve(reviewer_a, case)
    assert case.status == "township_approved" and case.township_by == reviewer_a


def test_an_administrator_who_applied_cannot_review_either(admin_user, regions):
    household = eligible_household()
    case = apply_for_elimination(
        by=admin_user, household=household, method="assisted", visit_date=today() - dt.timedelta(days=14),
        reason="稳定",
    )
    with pytest.raises(PermissionDenied, match=SAME_PERSON):
        approve(admin_user, case)


def test_bad_review_input_is_refused_field_by_field(reviewer_a, applied):
    _, case = applied
    with pytest.raises(ValidationError) as refused:
        approve(reviewer_a, case, reason=" ", notice_to=None)
    assert {"reason", "notice_from"} <= set(refused.value.message_dict)
    with pytest.raises(ValidationError) as refused:
        approve(reviewer_a, case, notice_from=today() - dt.timedelta(days=3), notice_to=today() - dt.timedelta(days=6))
    assert "notice_to" in refused.value.message_dict
    assert EliminationCase.objects.get(pk=case.pk).status == "applied"


# --- The county approval -----------------------------------------------------------------------------


def test_a_township_official_with_extra_permissions_cannot_give_the_county_approval(
    official_a, reviewer_a, county_staff, applied
):
    _, case = applied
    case = approve(reviewer_a, case)
    reviewer_a.is_staff = True
    reviewer_a.save()
    reviewer_a.user_permissions.add(*Permission.objects.filter(content_type__app_label="resources"))
    for user in (official_a, reviewer_a):
        assert not elimination.can_decide(user, case)
        with pytest.raises(PermissionDenied, match="只有县级工作人员"):
            county_decision(by=user, case=case, approve=True, reason="同意")
    assert EliminationCase.objects.get(pk=case.pk).status == "township_approved"
    assert county_decision(by=county_staff, case=case, approve=True, reason="同意").status == "approved"


def test_a_county_staff_role_bound_to_a_township_is_not_county_level(reviewer_a, applied):
    _, case = applied
    case = approve(reviewer_a, case)
    misplaced = _user("misplaced", Role.COUNTY_STAFF, TOWNSHIP_A)
    assert not elimination.can_decide(misplaced, case)
    with pytest.raises(PermissionDenied):
        county_decision(by=misplaced, case=case, approve=True, reason="同意")
    assert EliminationCase.objects.get(pk=case.pk).status == "township_approved"


def test_the_county_decision_needs_a_reason(reviewer_a, county_staff, applied):
    _, case = applied
    case = approve(reviewer_a, case)
    with pytest.raises(ValidationError) as refused:
        county_decision(by=county_staff, case=case, approve=True, reason="  ")
    assert "reason" in refused.value.message_dict


# --- On the page ---------------------------------------------------------------------------------------


def test_the_applicant_sees_why_the_review_button_is_disabled(client, official_a, reviewer_a, applied):
    household, _ = applied
    page = reverse("resources:household", args=[household.pk])
    client.force_login(official_a)
    html = client.get(page).content.decode()
    assert 'data-testid="township-form"' not in html
    assert 'data-testid="township-refused"' in html and SAME_PERSON in html
    assert 'data-testid="township-submit-disabled"' in html and "disabled" in html
    client.force_login(reviewer_a)
    html = client.get(page).content.decode()
    assert 'data-testid="township-form"' in html and 'data-testid="township-refused"' not in html


def test_the_applicant_posting_the_review_anyway_is_refused_with_the_rule(client, official_a, applied):
    household, case = applied
    client.force_login(official_a)
    response = client.post(
        reverse("resources:elimination_township", args=[household.pk, case.pk]),
        {"decision": "approve", "reason": "x", "notice_from": (today() - dt.timedelta(days=12)).isoformat(),
         "notice_to": (today() - dt.timedelta(days=6)).isoformat()},
    )
    assert response.status_code == 403 and SAME_PERSON in response.content.decode()
    assert EliminationCase.objects.get(pk=case.pk).status == "applied"


def test_a_township_official_posting_the_county_approval_is_refused(client, reviewer_a, applied):
    household, case = applied
    case = approve(reviewer_a, case)
    client.force_login(reviewer_a)
    url = reverse("resources:elimination_county", args=[household.pk, case.pk])
    page = client.get(reverse("resources:household", args=[household.pk])).content.decode()
    assert 'data-testid="county-form"' not in page
    assert client.post(url, {"decision": "approve", "reason": "同意"}).status_code == 403
    assert EliminationCase.objects.get(pk=case.pk).status == "township_approved"


def test_an_official_of_another_township_gets_404(client, official_b, applied):
    household, case = applied
    client.force_login(official_b)
    for name in ("resources:elimination_township", "resources:elimination_county"):
        response = client.post(reverse(name, args=[household.pk, case.pk]), {"decision": "approve", "reason": "x"})
        assert response.status_code == 404
    assert EliminationCase.objects.get(pk=case.pk).status == "applied"
