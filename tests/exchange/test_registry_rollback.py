"""Undoing a registry import: the household file of its region as if the export had never arrived."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.urls import reverse

from exchange.models import ImportBatch, RejectedRow
from exchange.registry.models import RegistryConflict, RegistryRowChange
from exchange.registry.rollback import rollback_registry_batch
from exchange.registry.service import import_registry
from households.models import Household, IncomeRecord, Person, StatusChange
from households.services import update_household, update_person
from povertycloud.audit.models import AuditEvent
from tests.exchange.conftest import OTHER_VILLAGE
from tests.exchange.registry_files import (
    MEMBER_COLUMNS,
    household_row,
    income_row,
    member_row,
    small_export,
    write_table,
)
from tests.exchange.test_registry_import import base_members, next_year
from tests.factories import COUNTY, TOWNSHIP_A, make_household, make_income

pytestmark = pytest.mark.django_db
Status = ImportBatch.Status
AS_OF = dt.date(2025, 12, 31)
LATER = dt.date(2026, 6, 30)
BOOKKEEPING = {"id", "version", "created_at", "updated_at", "source_batch", "net_income", "per_capita_net_income"}


def run(paths, *, region=COUNTY, as_of=AS_OF) -> ImportBatch:
    batch = import_registry(region_code=region, paths=paths, by=None, as_of=as_of)
    assert batch.status == Status.SUCCEEDED
    return batch


def rows(model, manager="_base_manager") -> dict:
    """Every row's values, keyed by its natural key, without the bookkeeping columns."""
    found = {}
    for obj in getattr(model, manager).all():
        values = {k: v for k, v in model_to_dict(obj).items() if k not in BOOKKEEPING}
        if model is Household:
            key = obj.number
        elif model is Person:
            key = obj.id_number
        elif model is IncomeRecord:
            key = (obj.household.number, obj.year)
        else:
            key = (obj.household.number, obj.effective_date, obj.event, obj.reason)
        found[key] = values
    return found


def file_state() -> dict:
    return {model.__name__: rows(model) for model in (Household, Person, IncomeRecord, StatusChange)}


def undo(batch, by, reason="导入了错误的文件", **kwargs):
    return rollback_registry_batch(batch=batch, by=by, reason=reason, **kwargs)


@pytest.fixture
def first(regions, tmp_path) -> ImportBatch:
    (tmp_path / "first").mkdir()
    return run(small_export(tmp_path / "first"))


@pytest.fixture
def second(first, tmp_path) -> tuple[ImportBatch, dict]:
    """A year on: H001 monitored, 杨秀英's health changed, 吴小红 no longer listed (closed), a new member and a
    new household H004, a new income year and a changed one. Returns the batch and the file before it."""
    before = file_state()
    households = [
        household_row("H001", 监测对象类别="边缘易致贫户", 风险类型="因病"),
        household_row("H002", 户类型="脱贫户", 贫困户属性="一般脱贫户", 脱贫年度="2018", 主要致贫原因="因病",
                      监测对象类别="脱贫不稳定户", 风险类型="因病、因学"),
        household_row("H003", village="522634103200"),
        household_row("H004", 村民小组="三组"),
    ]
    members = [m for m in base_members() if m["姓名"] != "吴小红"]
    members[0]["健康状况"] = "患有大病"
    members.append(member_row("H001", "吴新", birth=dt.date(2001, 3, 1), relation="之子", sequence=7))
    members.append(member_row("H004", "潘大", birth=dt.date(1975, 2, 2), sequence=8))
    incomes = [
        income_row("H001", 2024), income_row("H001", 2025, wages=25000), income_row("H001", 2026, wages=9000),
        income_row("H004", 2025, wages=15000),
    ]
    batch = run(next_year(tmp_path / "second", households=households, members=members, incomes=incomes), as_of=LATER)
    return batch, before


# --- What undoing does -----------------------------------------------------------------------------------


def test_undoing_a_first_import_empties_its_region_and_leaves_the_others(first, county_staff, other_county):
    elsewhere = make_household(village_id=OTHER_VILLAGE, number="K001")
    make_income(elsewhere)
    RejectedRow.objects.create(batch=first, row_number=99, values={"户编号": "X"}, reasons=["测试"])
    assert Household.objects.count() == 4

    result = undo(first, county_staff)

    assert result.deleted == {"households": 3, "members": 6, "incomes": 5, "status_changes": 3}
    assert list(Household.objects.values_list("number", flat=True)) == ["K001"]
    assert Person.everyone.get().household == elsewhere and IncomeRecord.objects.get().household == elsewhere
    assert not StatusChange.objects.exists()
    first.refresh_from_db()
    assert first.status == Status.ROLLED_BACK and first.rolled_back_by == county_staff
    assert first.rollback_reason == "导入了错误的文件" and first.rolled_back_at is not None
    assert RejectedRow.objects.filter(batch=first).count() == 1  # kept
    event = AuditEvent.objects.get(entity="exchange.importbatch", object_pk=str(first.pk), action="update")
    assert event.actor == county_staff and "导入了错误的文件" in event.note
    assert event.changes["deleted"]["households"] == 3


def test_the_same_files_can_be_imported_again_after_an_undo(first, county_staff, tmp_path):
    undo(first, county_staff)
    again = run(small_export(tmp_path / "first"))
    assert again.pk != first.pk and Household.objects.count() == 3 and Person.objects.count() == 6


def test_undoing_a_second_import_puts_the_file_back_as_the_first_left_it(second, county_staff):
    batch, before = second
    assert Person.everyone.get(name="吴小红").left_on == LATER  # closed by the second import
    household = Household.objects.get(number="H001")

    result = undo(batch, county_staff)

    assert file_state() == before
    assert result.deleted == {"households": 1, "members": 2, "incomes": 2, "status_changes": 2}
    changed = {e: RegistryRowChange.objects.filter(batch=batch, entity=f"households.{e}").count()
               for e in ("household", "person", "incomerecord")}
    assert (result.restored["households"], result.restored["members"], result.restored["incomes"]) == (
        changed["household"], changed["person"], changed["incomerecord"]
    ) == (1, 2, 1)  # H001; 杨秀英 and 吴小红 (closed); 2025's wages
    assert result.reopened == 1
    assert Person.objects.filter(name="吴小红").exists()  # present again
    assert IncomeRecord.objects.get(household__number="H001", year=2025).wage_income == 22000
    # The first import's rows stay, and name it again; the restored rows are one version up, so a form
    # opened on the second import's values is refused as stale.
    restored = Household.objects.get(pk=household.pk)
    change = RegistryRowChange.objects.get(batch=batch, entity="households.household", object_id=household.pk)
    assert restored.version == change.version_after + 1
    assert restored.source_batch == Person.objects.get(name="杨秀英").source_batch == first_batch_id(batch)
    assert Person.objects.get(name="吴明").source_batch == first_batch_id(batch)
    assert RegistryRowChange.objects.filter(batch=batch).exists()  # kept


def first_batch_id(batch: ImportBatch) -> int:
    return ImportBatch.objects.filter(department="registry").exclude(pk=batch.pk).get().pk


def test_undoing_the_second_then_the_first_empties_the_region(second, county_staff):
    batch, _ = second
    undo(batch, county_staff)
    undo(ImportBatch.objects.get(pk=first_batch_id(batch)), county_staff)
    assert not Household.objects.exists() and not Person.everyone.exists() and not StatusChange.objects.exists()


def test_a_form_opened_before_the_undo_is_refused_as_stale(second, county_staff, official_a):
    batch, _ = second
    household = Household.objects.get(number="H001")
    undo(batch, county_staff)
    with pytest.raises(ValidationError):
        update_household(by=official_a, household=household, data={"group_name": "二组"},
                         expected_version=household.version)


def test_its_open_conflicts_are_closed_and_settled_ones_kept(first, county_staff, official_a, tmp_path):
    person = Person.objects.get(name="吴明")
    update_person(by=official_a, person=person, data={"labour_skill": "3"}, expected_version=person.version)
    members = base_members()
    members[1]["劳动技能"] = "技能劳动力"
    batch = run(next_year(tmp_path / "second", members=members))
    conflict = batch.conflicts.get()
    result = undo(batch, county_staff)
    conflict.refresh_from_db()
    assert result.conflicts_closed == 1
    assert (conflict.status, conflict.settled_by) == (RegistryConflict.Status.KEPT, county_staff)
    assert Person.objects.get(name="吴明").labour_skill == "3"  # the official's value stands


def test_a_dry_run_counts_and_changes_nothing(second, county_staff):
    batch, _ = second
    state, versions = file_state(), sorted(Household.objects.values_list("number", "version"))
    result = undo(batch, county_staff, reason="", dry_run=True)
    assert result.dry_run and result.deleted == {"households": 1, "members": 2, "incomes": 2, "status_changes": 2}
    assert result.reopened == 1 and result.restored_total == 4
    assert file_state() == state and sorted(Household.objects.values_list("number", "version")) == versions
    batch.refresh_from_db()
    assert batch.status == Status.SUCCEEDED
    assert not AuditEvent.objects.filter(entity="exchange.importbatch", action="update").exists()


# --- Refusals --------------------------------------------------------------------------------------------


def refused(batch, by, match, **kwargs):
    state = file_state()
    with pytest.raises(ValidationError, match=match):
        undo(batch, by, **kwargs)
    assert file_state() == state
    batch.refresh_from_db()
    assert batch.status == Status.SUCCEEDED


def test_a_batch_with_a_later_one_of_its_region_is_refused(second, county_staff):
    batch, _ = second
    first = ImportBatch.objects.get(pk=first_batch_id(batch))
    refused(first, county_staff, f"#{batch.pk}")


def test_a_batch_whose_rows_an_official_edited_since_is_refused_naming_the_households(
    second, county_staff, official_a
):
    batch, _ = second
    household = Household.objects.get(number="H001")
    update_household(by=official_a, household=household, data={"group_name": "二组"},
                     expected_version=household.version)
    refused(batch, county_staff, "1 户.*已被修改.*H001")


def test_a_household_it_inserted_that_an_official_edited_is_refused(second, county_staff, official_a):
    batch, _ = second
    household = Household.objects.get(number="H004")
    update_household(by=official_a, household=household, data={"group_name": "二组"},
                     expected_version=household.version)
    refused(batch, county_staff, "已被修改.*H004")


def test_a_household_it_inserted_that_is_scored_is_refused(second, county_staff):
    from tests.risk.review import make_run, make_score

    batch, _ = second
    make_score(make_run(), Household.objects.get(number="H004"), 0.7)
    refused(batch, county_staff, "已有 1 户被风险评分引用，不能撤销")


def test_a_reason_is_required(second, county_staff):
    batch, _ = second
    refused(batch, county_staff, "须填写原因", reason="  ")


def test_a_second_undo_of_the_same_batch_is_a_message(first, county_staff):
    undo(first, county_staff)
    with pytest.raises(ValidationError, match="已撤销"):
        undo(first, county_staff)


def test_a_department_batch_is_not_undone_here(regions, county_staff):
    batch = ImportBatch.objects.create(department="civil_affairs", file_name="x.csv", sha256="0" * 64,
                                       file_format="csv", region_code=COUNTY, status=Status.SUCCEEDED)
    with pytest.raises(ValidationError, match="不是户档案导入批次"):
        undo(batch, county_staff)


# --- Who may ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["official_a", "auditor", "other_county_staff"])
def test_only_county_staff_of_the_region_and_administrators_may_undo(first, who, request):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        undo(first, user)
    with pytest.raises(PermissionDenied):
        undo(first, user, dry_run=True)
    first.refresh_from_db()
    assert first.status == Status.SUCCEEDED and Household.objects.count() == 3


def test_an_administrator_may_undo(first, admin_user):
    undo(first, admin_user)
    assert not Household.objects.exists()


# --- The command -----------------------------------------------------------------------------------------


def test_the_command_dry_runs_by_default_and_applies_with_apply(first, county_staff, capsys):
    call_command("rollback_batch", str(first.pk), "--reason", "错误文件", "--by", county_staff.username)
    assert "试运行" in capsys.readouterr().out and Household.objects.count() == 3
    call_command("rollback_batch", str(first.pk), "--reason", "错误文件", "--by", county_staff.username, "--apply")
    assert "已撤销" in capsys.readouterr().out and not Household.objects.exists()
    with pytest.raises(CommandError, match="已撤销"):
        call_command("rollback_batch", str(first.pk), "--reason", "错误文件", "--by", county_staff.username, "--apply")


def test_the_command_refuses_a_township_official(first, official_a):
    with pytest.raises(CommandError, match="县级工作人员"):
        call_command("rollback_batch", str(first.pk), "--reason", "x", "--by", official_a.username, "--apply")


# --- The page --------------------------------------------------------------------------------------------


def page(client, batch, **params) -> str:
    return client.get(reverse("exchange:registry_batch", args=[batch.pk]), params).content.decode()


def post_undo(client, batch, reason="导入了错误的文件", confirm=True):
    data = {"reason": reason, **({"confirm": "on"} if confirm else {})}
    return client.post(reverse("exchange:registry_rollback", args=[batch.pk]), data, follow=True)


def test_county_staff_see_what_undoing_would_do_and_undo_from_the_page(client, second, county_staff):
    batch, before = second
    client.force_login(county_staff)
    assert 'data-testid="registry-undo"' in page(client, batch)
    preview = page(client, batch, undo="1")
    assert 'data-testid="undo-preview"' in preview and 'data-testid="undo-form"' in preview
    response = post_undo(client, batch)
    html = response.content.decode()
    assert response.status_code == 200 and "批次已撤销" in html and 'data-testid="rollback-facts"' in html
    assert file_state() == before


def test_the_page_says_why_a_batch_cannot_be_undone(client, second, county_staff):
    batch, _ = second
    client.force_login(county_staff)
    first = ImportBatch.objects.get(pk=first_batch_id(batch))
    html = page(client, first, undo="1")
    assert 'data-testid="undo-refused"' in html and f"#{batch.pk}" in html and 'data-testid="undo-form"' not in html


def test_a_reason_and_the_confirmation_are_required_on_the_page(client, first, county_staff):
    client.force_login(county_staff)
    assert "须填写原因" in post_undo(client, first, reason="").content.decode()
    assert "请勾选确认" in post_undo(client, first, confirm=False).content.decode()
    first.refresh_from_db()
    assert first.status == Status.SUCCEEDED


def test_a_second_undo_from_the_page_is_a_message_not_an_error(client, first, county_staff):
    client.force_login(county_staff)
    post_undo(client, first)
    response = post_undo(client, first)
    assert response.status_code == 200 and "已撤销" in response.content.decode()


def test_the_button_is_for_those_who_may_only(client, first, official_a, auditor, admin_user):
    for user in (official_a, auditor):
        client.force_login(user)
        html = page(client, first, undo="1")
        assert 'data-testid="registry-undo"' not in html and 'data-testid="undo-preview"' not in html
    client.force_login(admin_user)
    assert 'data-testid="registry-undo"' in page(client, first)


def test_others_posting_the_undo_are_refused_and_another_regions_batch_is_not_found(
    client, first, official_a, auditor, other_county_staff
):
    for user in (official_a, auditor):
        client.force_login(user)
        assert post_undo(client, first).status_code == 403
    client.force_login(other_county_staff)
    assert post_undo(client, first).status_code == 404
    assert client.get(reverse("exchange:registry_batch", args=[first.pk])).status_code == 404
    first.refresh_from_db()
    assert first.status == Status.SUCCEEDED and Household.objects.count() == 3


def test_the_page_counts_members_the_import_closed(client, second, county_staff):
    batch, _ = second
    client.force_login(county_staff)
    html = page(client, batch)
    assert "离开（关闭）" in html
    assert 'data-testid="members-closed">1<' in html


def test_a_township_batch_is_undone_by_county_staff(regions, tmp_path, county_staff):
    (tmp_path / "a").mkdir()
    paths = small_export(tmp_path / "a")
    write_table(paths[1], MEMBER_COLUMNS, [m for m in base_members() if m["户编号"] != "H003"])
    batch = import_registry(region_code=TOWNSHIP_A, paths=paths, by=None, as_of=AS_OF)
    assert batch.status == Status.SUCCEEDED
    undo(batch, county_staff)
    assert not Household.objects.exists()


def test_members_added_by_hand_to_a_household_it_inserted_refuse(second, county_staff):
    from tests.factories import make_person

    batch, _ = second
    make_person(Household.objects.get(number="H004"), name="手工录入")
    refused(batch, county_staff, "已被修改.*H004")


def test_a_confirmed_link_to_a_member_it_inserted_refuses(second, county_staff):
    from exchange.models import LinkCandidate

    batch, _ = second
    person = Person.objects.get(name="潘大")
    LinkCandidate.objects.create(
        department="civil_affairs", id_number=person.id_number[:-1] + "0", record_name="潘大", record_id=1,
        batch=batch, person=person, matches="substitution", region_code=person.household.village_id,
        status=LinkCandidate.Status.CONFIRMED, decided_by=county_staff, decided_at=person.updated_at,
    )
    refused(batch, county_staff, "已有 1 户被关联候选引用")


def test_department_records_tied_to_a_member_it_inserted_are_untied_not_lost(second, county_staff):
    from exchange.departments import CivilAffairsRecord

    batch, _ = second
    person = Person.objects.get(name="潘大")
    civil = ImportBatch.objects.create(department="civil_affairs", file_name="m.csv", sha256="1" * 64,
                                       file_format="csv", region_code=COUNTY, status=Status.SUCCEEDED)
    record = CivilAffairsRecord.objects.create(
        batch=civil, row_number=1, id_number=person.id_number, name="潘大", person=person,
        region_code=person.household.village_id, row_hash="x", valid_from=dt.date(2026, 1, 1), period="2026-01",
    )
    assert undo(batch, county_staff, dry_run=True).unlinked_records == 1
    result = undo(batch, county_staff)
    record.refresh_from_db()
    assert result.unlinked_records == 1 and record.person_id is None and record.id_number == person.id_number
    assert not Person.everyone.filter(pk=person.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_undos_at_once_end_in_one_undo_and_one_message(regions, tmp_path, county_staff, admin_user):
    import threading

    from django.db import connection

    batch = run(small_export(tmp_path))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def attempt(user):
        try:
            start.wait()
            undo(batch, user)
            outcomes.append("undone")
        except ValidationError as exc:
            outcomes.append("；".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(user,)) for user in (county_staff, admin_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One undoes; the other waits and finds it undone (or, on SQLite, finds the database busy): a message.
    assert outcomes.count("undone") == 1 and len(outcomes) == 2, outcomes
    other = next(o for o in outcomes if o != "undone")
    assert "已撤销" in other or "请稍后重试" in other
    assert not Household.objects.exists()
    events = AuditEvent.objects.filter(entity="exchange.importbatch", action="update", object_pk=str(batch.pk))
    assert events.count() == 1
