"""The rules of a declaration (exchange.feeds.declare): what is refused, with every reason, and what a valid
declaration writes: a feed, its columns, a new version that replaces them, an audit event."""

import copy
from pathlib import Path

import pytest
from django.conf import settings

from exchange.declarations import Kind, get_department
from exchange.feeds.declare import (
    DeclarationError,
    check_declaration,
    declare_feed,
    declare_from_file,
    read_declaration_file,
)
from exchange.feeds.models import DepartmentFeed, FeedColumn
from povertycloud.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

FIXTURES = sorted((Path(settings.BASE_DIR) / "fixtures" / "departments").glob("*.json"))

GOOD = {
    "slug": "vehicles",
    "name": "公安 机动车登记",
    "name_en": "Public security: vehicles",
    "full_snapshot": True,
    "columns": [
        {"column": "证件号码", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "姓名", "key": "name", "kind": "text", "max_length": 50},
        {"column": "号牌号码", "key": "plate", "kind": "text", "max_length": 20, "label_en": "Plate"},
        {"column": "车辆类型", "key": "vehicle_type", "kind": "code", "codeset": "vehicle_type"},
        {"column": "登记日期", "key": "registered_on", "kind": "date"},
        {"column": "购置价（元）", "key": "price", "kind": "amount", "min_value": 0, "max_value": 5000000},
        {"column": "已抵押", "key": "mortgaged", "kind": "flag"},
        {"column": "抵押权人", "key": "mortgagee", "kind": "text", "required_when": "mortgaged"},
    ],
}


def declaration(**changes) -> dict:
    made = copy.deepcopy(GOOD)
    made.update(changes)
    return made


def with_column(index: int, **changes) -> dict:
    made = declaration()
    made["columns"][index].update(changes)
    return made


def with_extra(column: dict) -> dict:
    made = declaration()
    made["columns"].append(column)
    return made


def test_a_good_declaration_has_no_errors_and_is_written_with_its_columns_in_order(admin_user):
    assert check_declaration(declaration()) == []
    feed = declare_feed(declaration=declaration(), by=admin_user)
    assert (feed.slug, feed.version, feed.updated_by, feed.active) == ("vehicles", 1, admin_user, True)
    columns = list(feed.columns.order_by("position"))
    assert [c.key for c in columns] == [c["key"] for c in GOOD["columns"]]
    assert [c.position for c in columns] == list(range(1, len(columns) + 1))
    assert columns[3].codeset_id == "vehicle_type" and columns[5].max_value == 5000000
    assert columns[0].required  # the ID column is always required
    event = AuditEvent.objects.get(entity="exchange.departmentfeed", action="create")
    assert event.actor == admin_user and event.changes["declaration"]["slug"] == "vehicles"
    department = get_department("vehicles")
    assert department.declared_as_data and department.full_snapshot
    assert [f.name for f in department.fields][:2] == ["id_number", "name"]


def test_an_unknown_code_table_is_refused():
    errors = check_declaration(with_column(3, codeset="no_such_table"))
    assert errors == ["列“车辆类型”的代码集“no_such_table”不在数据字典中。"]


def test_a_code_column_without_a_code_table_is_refused():
    assert check_declaration(with_column(3, codeset="")) == ["列“车辆类型”是代码类型，请指定代码集。"]


def test_a_duplicate_column_header_is_refused():
    errors = check_declaration(with_extra({"column": "号牌号码", "key": "plate2", "kind": "text"}))
    assert errors == ["列名“号牌号码”重复。"]


def test_headers_that_differ_only_by_full_width_brackets_or_spaces_are_duplicates():
    # Files are read matching headers by exchange.readers.header_key: these would be one column.
    errors = check_declaration(with_extra({"column": "购置价 (元)", "key": "price2", "kind": "amount"}))
    assert errors == ["列名“购置价 (元)”重复。"]
    errors = check_declaration(with_extra({"column": " 号牌 号码", "key": "plate2", "kind": "text"}))
    assert errors == ["列名“号牌 号码”重复。"]


def test_a_duplicate_key_is_refused():
    errors = check_declaration(with_extra({"column": "号牌（新）", "key": "plate", "kind": "text"}))
    assert errors == ["字段代码“plate”重复（列“号牌号码”和“号牌（新）”）。"]


@pytest.mark.parametrize("key", ["person", "region_code", "valid_to", "data", "batch"])
def test_a_reserved_key_is_refused(key):
    errors = check_declaration(with_column(2, key=key))
    assert errors == [f"字段代码“{key}”是系统保留的，请换一个。"]


def test_a_declaration_without_an_id_column_is_refused():
    made = declaration()
    made["columns"] = made["columns"][1:]
    assert check_declaration(made) == ["必须有一列证件号码（字段代码 id_number），按它把记录关联到人。"]


def test_an_id_column_under_another_key_is_refused():
    errors = check_declaration(with_column(0, key="sfzh"))
    assert "证件号码列的字段代码应为 id_number。" in errors
    assert "必须有一列证件号码（字段代码 id_number），按它把记录关联到人。" in errors
    # …and the key id_number on a column that is not an ID number.
    assert check_declaration(with_column(0, kind="text")) == [
        "字段代码“id_number”只能用于对应类型的列。",
        "必须有一列证件号码（字段代码 id_number），按它把记录关联到人。",
    ]


def test_a_minimum_above_the_maximum_is_refused():
    assert check_declaration(with_column(5, min_value=100, max_value=10)) == ["列“购置价（元）”的下限大于上限。"]


def test_limits_on_a_text_column_are_refused():
    assert check_declaration(with_column(2, max_value=10)) == ["列“号牌号码”不是金额或整数，不能设上下限。"]
    assert check_declaration(with_column(5, max_value="many")) == ["列“购置价（元）”的上下限应为数字。"]


def test_required_when_must_name_a_flag_column():
    errors = check_declaration(with_column(7, required_when="plate"))
    assert errors == ["列“抵押权人”的“何时必填”应指向一个是/否列的字段代码，“plate”不是。"]
    assert check_declaration(with_column(7, required_when="nothing"))


def test_a_slug_of_a_typed_department_or_a_bad_slug_is_refused():
    assert check_declaration(declaration(slug="health")) == ["部门代码“health”已被系统内置的部门使用。"]
    assert check_declaration(declaration(slug="registry")) == ["部门代码“registry”已被系统内置的部门使用。"]
    assert check_declaration(declaration(slug="Vehicles-1"))[0].startswith("部门代码“Vehicles-1”无效")


def test_every_reason_is_listed_at_once_and_nothing_is_written(admin_user):
    bad = declaration(slug="health", name="")
    bad["columns"][3]["codeset"] = "no_such_table"
    bad["columns"].append({"column": "号牌号码", "key": "plate", "kind": "text"})
    with pytest.raises(DeclarationError) as refused:
        declare_feed(declaration=bad, by=admin_user)
    assert len(refused.value.messages) == 5, refused.value.messages
    assert not DepartmentFeed.objects.exists() and not FeedColumn.objects.exists()
    assert not AuditEvent.objects.filter(entity="exchange.departmentfeed").exists()


def test_a_new_version_replaces_the_columns_and_is_audited_with_before_and_after(admin_user):
    first = declare_feed(declaration=declaration(), by=admin_user)
    second = declaration(name="公安 车辆登记", full_snapshot=False)
    second["columns"] = [c for c in second["columns"] if c["key"] not in ("price", "mortgaged", "mortgagee")]
    second["columns"].append({"column": "使用性质", "key": "usage", "kind": "text", "max_length": 20})
    feed = declare_feed(declaration=second, by=admin_user)
    assert feed.pk == first.pk and feed.version == 2 and not feed.full_snapshot
    assert list(feed.columns.order_by("position").values_list("key", flat=True)) == [
        "id_number", "name", "plate", "vehicle_type", "registered_on", "usage",
    ]
    assert FeedColumn.objects.count() == 6
    event = AuditEvent.objects.get(entity="exchange.departmentfeed", action="update")
    before, after = event.changes["declaration"]
    assert before["name"] == "公安 机动车登记" and len(before["columns"]) == 8
    assert after["name"] == "公安 车辆登记" and [c["key"] for c in after["columns"]][-1] == "usage"
    assert get_department("vehicles").fields[-1].name == "usage"


def test_a_slug_declared_before_cannot_be_declared_again_as_new():
    DepartmentFeed.objects.create(slug="vehicles", name="x")
    assert check_declaration(declaration()) == ["部门代码“vehicles”已经声明过。"]


def test_an_inactive_feed_is_not_a_department(admin_user):
    declare_feed(declaration=declaration(active=False), by=admin_user)
    assert DepartmentFeed.objects.get().active is False
    with pytest.raises(LookupError):
        get_department("vehicles")


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_fixture_file_declares_cleanly(path, admin_user):
    declarations = read_declaration_file(path)
    for made in declarations:
        assert check_declaration(made) == [], made["slug"]
    feeds = declare_from_file(path=path, by=admin_user)
    assert [f.slug for f in feeds] == [d["slug"] for d in declarations]
    for made in declarations:
        department = get_department(made["slug"])
        assert department.declared_as_data and department.full_snapshot == made["full_snapshot"]
        assert [f.name for f in department.fields] == [c["key"] for c in made["columns"]]
        assert any(f.kind == Kind.ID_NUMBER for f in department.fields)
