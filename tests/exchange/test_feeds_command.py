"""manage.py declare_departments: the fixture files declared from the command line, all or nothing, and --check."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from exchange.declarations import get_department
from exchange.feeds.declare import read_declaration_file
from exchange.feeds.models import DepartmentFeed, FeedColumn
from povertycloud.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

FIXTURES = sorted((Path(settings.BASE_DIR) / "fixtures" / "departments").glob("*.json"))


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("declare_departments", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "departments": [
                    {"slug": "fine_one", "name": "可以的", "columns": [
                        {"column": "证件号码", "key": "id_number", "kind": "id_number"}]},
                    {"slug": "broken", "name": "有误的", "columns": [
                        {"column": "证件号码", "key": "id_number", "kind": "id_number"},
                        {"column": "等级", "key": "grade", "kind": "code", "codeset": "no_such_table"},
                        {"column": "等级", "key": "grade2", "kind": "text"}]},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def test_the_fixture_files_are_declared_and_printed(admin_user):
    out, _err = run(*map(str, FIXTURES), "--user", admin_user.username)
    slugs = [d["slug"] for path in FIXTURES for d in read_declaration_file(path)]
    assert sorted(DepartmentFeed.objects.values_list("slug", flat=True)) == sorted(slugs)
    assert "ps_deaths" in slugs and "property_registrations" in slugs
    assert out.count("已声明") == len(slugs)
    assert "已声明 ps_deaths 公安 死亡注销 第 1 版：" in out and "死亡日期(death_date:date)" in out
    assert set(DepartmentFeed.objects.values_list("updated_by", flat=True)) == {admin_user.pk}
    assert get_department("ps_vehicles").declared_as_data
    # Declaring again is a new version of each.
    run(str(FIXTURES[0]))
    assert set(DepartmentFeed.objects.filter(slug__in=[d["slug"] for d in read_declaration_file(FIXTURES[0])])
               .values_list("version", flat=True)) == {2}


def test_a_bad_file_prints_every_reason_exits_non_zero_and_changes_nothing(tmp_path):
    with pytest.raises(CommandError):
        call_command("declare_departments", str(FIXTURES[0]), str(bad_file(tmp_path)), stdout=StringIO(),
                     stderr=(err := StringIO()))
    assert "列“等级”的代码集“no_such_table”不在数据字典中。" in err.getvalue()
    assert "列名“等级”重复。" in err.getvalue()
    # Neither the good file before it nor the good declaration in the same file was written.
    assert not DepartmentFeed.objects.exists() and not FeedColumn.objects.exists()
    assert not AuditEvent.objects.filter(entity="exchange.departmentfeed").exists()


def test_check_only_checks(tmp_path):
    out, _err = run(*map(str, FIXTURES), "--check")
    assert "只做了检查，未写入任何内容。" in out and "ps_deaths 无误" in out
    assert not DepartmentFeed.objects.exists()
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("declare_departments", str(bad_file(tmp_path)), "--check", stdout=StringIO(), stderr=err)
    assert "bad.json broken：列名“等级”重复。" in err.getvalue()
    assert not DepartmentFeed.objects.exists()


def test_an_unreadable_file_or_a_user_who_is_not_an_administrator_is_refused(tmp_path, county_staff):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("declare_departments", str(broken), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        run(str(FIXTURES[0]), "--user", "county_staff")
    with pytest.raises(CommandError):
        run(str(FIXTURES[0]), "--user", "nobody")
    assert not DepartmentFeed.objects.exists()
