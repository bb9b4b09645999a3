"""The admin of declared departments: an administrator declares a department with its columns on one page,
through the declaration service (checked, versioned, audited); a bad declaration shows its reasons and writes
nothing; a feed that has records is deactivated, never deleted; nobody but administrators reaches these pages."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from exchange.declarations import get_department
from exchange.feeds.declare import declare_feed
from exchange.feeds.models import DeclaredRecord, DepartmentFeed, FeedColumn
from exchange.models import ImportBatch
from povertycloud.audit.models import AuditEvent
from tests.factories import COUNTY, resident_id

pytestmark = pytest.mark.django_db

ADD = "admin:exchange_departmentfeed_add"
CHANGELIST = "admin:exchange_departmentfeed_changelist"

COLUMNS = [
    {"column": "证件号码", "key": "id_number", "kind": "id_number", "required": "on"},
    {"column": "姓名", "key": "name", "kind": "text", "max_length": "50"},
    {"column": "鉴定等级", "key": "grade", "kind": "code", "codeset": "housing_grade", "required": "on"},
    {"column": "补助（元）", "key": "subsidy", "kind": "amount", "min_value": "0", "max_value": "100000"},
    {"column": "已改造", "key": "rebuilt", "kind": "flag"},
]
DECLARATION = {
    "slug": "housing_check",
    "name": "住建 住房安全鉴定",
    "columns": [
        {"column": "证件号码", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "鉴定等级", "key": "grade", "kind": "code", "codeset": "housing_grade"},
    ],
}


def feed_form(columns=COLUMNS, initial: int = 0, **overrides) -> dict:
    """The add or change page's POST: the feed's fields and the columns' inline formset (prefix "columns")."""
    data = {
        "slug": "housing_check",
        "name": "住建 住房安全鉴定",
        "name_en": "Housing: safety appraisals",
        "description": "",
        "full_snapshot": "on",
        "active": "on",
        "columns-TOTAL_FORMS": str(len(columns)),
        "columns-INITIAL_FORMS": str(initial),
        "columns-MIN_NUM_FORMS": "0",
        "columns-MAX_NUM_FORMS": "1000",
    }
    for index, column in enumerate(columns):
        values = {"position": str(index + 1), "max_length": "100", **column}
        for name, value in values.items():
            data[f"columns-{index}-{name}"] = value
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_an_administrator_declares_a_department_on_the_add_page_and_it_can_be_imported(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse(ADD)).content.decode()
    assert 'name="columns-0-key"' in page and 'name="columns-0-codeset"' in page
    response = client.post(reverse(ADD), feed_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    feed = DepartmentFeed.objects.get()
    assert (feed.slug, feed.version, feed.updated_by) == ("housing_check", 1, admin_user)
    assert list(feed.columns.values_list("key", flat=True)) == ["id_number", "name", "grade", "subsidy", "rebuilt"]
    department = get_department("housing_check")
    assert department.declared_as_data and department.full_snapshot
    grade = next(f for f in department.fields if f.name == "grade")
    assert grade.codeset == "housing_grade" and grade.required
    assert next(f for f in department.fields if f.name == "subsidy").max_value == 100000
    event = AuditEvent.objects.get(entity="exchange.departmentfeed", action="create")
    assert event.actor == admin_user


def test_columns_follow_their_position_and_rows_left_empty_are_not_declared(client, admin_user):
    client.force_login(admin_user)
    columns = [dict(c) for c in COLUMNS[:3]]
    columns[0]["position"], columns[2]["position"] = "3", "1"
    data = feed_form([*columns, {"column": "", "key": "", "kind": "", "position": "0"}])
    data["columns-3-max_length"] = "100"
    assert client.post(reverse(ADD), data).status_code == 302
    assert list(FeedColumn.objects.order_by("position").values_list("key", flat=True)) == ["grade", "name", "id_number"]


def test_a_bad_declaration_shows_every_reason_and_writes_nothing(client, admin_user):
    client.force_login(admin_user)
    columns = [dict(c) for c in COLUMNS]
    columns[2]["codeset"] = ""  # a code column without its table
    columns.append({"column": "补助 (元)", "key": "subsidy2", "kind": "amount"})  # same header as 补助（元）
    columns.append({"column": "备注", "key": "rebuilt", "kind": "text", "max_value": "5"})
    response = client.post(reverse(ADD), feed_form(columns))
    html = response.content.decode()
    assert response.status_code == 200
    for reason in (
        "列“鉴定等级”是代码类型，请指定代码集。",
        "列名“补助 (元)”重复。",
        "字段代码“rebuilt”重复（列“已改造”和“备注”）。",
        "列“备注”不是金额或整数，不能设上下限。",
    ):
        assert reason in html, reason
    assert not DepartmentFeed.objects.exists() and not FeedColumn.objects.exists()
    assert not AuditEvent.objects.filter(entity="exchange.departmentfeed").exists()


def test_a_typed_departments_slug_is_refused_on_the_page(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(ADD), feed_form(slug="health"))
    assert "部门代码“health”已被系统内置的部门使用。" in response.content.decode()
    assert not DepartmentFeed.objects.exists()


def test_a_change_is_a_new_version_with_the_slug_read_only_and_a_summary(client, admin_user):
    feed = declare_feed(declaration=DECLARATION, by=admin_user)
    client.force_login(admin_user)
    change = reverse("admin:exchange_departmentfeed_change", args=[feed.pk])
    page = client.get(change).content.decode()
    assert 'name="slug"' not in page and "当前记录数" in page and "尚无批次" in page
    existing = list(feed.columns.order_by("position"))
    columns = [
        {"id": str(existing[0].pk), "feed": str(feed.pk), **COLUMNS[0]},
        {"id": str(existing[1].pk), "feed": str(feed.pk), **COLUMNS[2], "DELETE": "on"},
        {"feed": str(feed.pk), **COLUMNS[3]},
    ]
    data = feed_form(columns, initial=2, slug=None, active="")
    response = client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    feed.refresh_from_db()
    assert feed.version == 2 and not feed.active and feed.slug == "housing_check"
    assert list(feed.columns.order_by("position").values_list("key", flat=True)) == ["id_number", "subsidy"]
    event = AuditEvent.objects.get(entity="exchange.departmentfeed", action="update")
    before, after = event.changes["declaration"]
    assert before["active"] and not after["active"] and len(before["columns"]) == 2


def test_the_summary_counts_current_records_and_links_the_latest_batch(client, admin_user):
    feed = declare_feed(declaration=DECLARATION, by=admin_user)
    batch = ImportBatch.objects.create(
        department="housing_check", file_name="鉴定.csv", uploaded_by=admin_user, region_code=COUNTY,
        sha256="0" * 64, file_format="csv",
    )
    for sequence, closed in ((1, False), (2, False), (3, True)):
        DeclaredRecord.objects.create(
            department="housing_check", batch=batch, row_number=sequence, name="张三", region_code=COUNTY,
            id_number=resident_id(dt.date(1970, 1, 2), sequence=sequence), row_hash="x", valid_from="2025-01-01",
            valid_to="2025-02-01" if closed else None, data={"grade": "C"},
        )
    client.force_login(admin_user)
    change = reverse("admin:exchange_departmentfeed_change", args=[feed.pk])
    page = client.get(change).content.decode()
    assert reverse("exchange:batch", args=[batch.pk]) in page and "鉴定.csv" in page
    assert '<div class="readonly">2</div>' in page  # the current records (and the version is 1)
    # A feed with records is deactivated, never deleted.
    assert client.get(reverse("admin:exchange_departmentfeed_delete", args=[feed.pk])).status_code == 403
    assert reverse("admin:exchange_departmentfeed_delete", args=[feed.pk]) not in page


def test_a_feed_nothing_was_sent_under_may_be_deleted_and_the_deletion_is_audited(client, admin_user):
    feed = declare_feed(declaration=DECLARATION, by=admin_user)
    client.force_login(admin_user)
    delete = reverse("admin:exchange_departmentfeed_delete", args=[feed.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not DepartmentFeed.objects.exists() and not FeedColumn.objects.exists()
    event = AuditEvent.objects.get(entity="exchange.departmentfeed", action="delete")
    assert event.changes["declaration"]["slug"] == "housing_check"
    # There is no bulk deletion on the list.
    declare_feed(declaration=DECLARATION, by=admin_user)
    assert "delete_selected" not in client.get(reverse(CHANGELIST)).content.decode()


def staff_with_every_feed_permission(user):
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="exchange"))
    return user


@pytest.mark.parametrize("who", ["county_staff", "official_a", "auditor"])
def test_nobody_but_administrators_reaches_the_declarations(client, request, admin_user, who):
    feed = declare_feed(declaration=DECLARATION, by=admin_user)
    user = request.getfixturevalue(who)
    urls = [
        reverse(CHANGELIST),
        reverse(ADD),
        reverse("admin:exchange_departmentfeed_change", args=[feed.pk]),
        reverse("admin:exchange_departmentfeed_delete", args=[feed.pk]),
    ]
    client.force_login(user)
    for url in urls:  # not staff: the admin sends them to its login page
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    staff_with_every_feed_permission(user)
    client.force_login(user)
    for url in urls:  # staff with every permission of the exchange: still refused
        assert client.get(url).status_code == 403, url
    assert client.post(reverse(ADD), feed_form(slug="other_feed")).status_code == 403
    assert "departmentfeed" not in client.get(reverse("admin:index")).content.decode()
    assert DepartmentFeed.objects.count() == 1 and DepartmentFeed.objects.get().version == 1


def test_the_change_list_shows_only_to_administrators(client, admin_user, county_staff):
    declare_feed(declaration=DECLARATION, by=admin_user)
    client.force_login(admin_user)
    assert "housing_check" in client.get(reverse(CHANGELIST)).content.decode()
    assert reverse(CHANGELIST) in client.get(reverse("admin:index")).content.decode()
    client.force_login(staff_with_every_feed_permission(county_staff))
    assert client.get(reverse(CHANGELIST)).status_code == 403
