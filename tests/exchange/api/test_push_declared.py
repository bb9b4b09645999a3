"""Push for a department declared as data: its API client sends JSON changes or its whole list, the records land
in DeclaredRecord with history; a client of another department, or of a deactivated one, is refused."""

import datetime as dt

import pytest

from exchange.feeds.declare import declare_feed
from exchange.feeds.models import DeclaredRecord, DepartmentFeed
from exchange.history import records_on
from exchange.models import ImportBatch
from tests.factories import VILLAGE_A, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db
BATCHES = "/api/v1/batches/"
A = resident_id(dt.date(1980, 5, 17), sex="1", sequence=71)
B = resident_id(dt.date(1975, 2, 3), sex="2", sequence=72)
C = resident_id(dt.date(1990, 9, 30), sex="1", sequence=73)

VEHICLES = {
    "slug": "vehicles",
    "name": "公安 机动车登记",
    "name_en": "Public security: vehicles",
    "full_snapshot": True,
    "columns": [
        {"column": "统计期", "key": "period", "kind": "period", "required": True},
        {"column": "证件号码", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "姓名", "key": "name", "kind": "text", "max_length": 50},
        {"column": "号牌号码", "key": "plate", "kind": "text", "max_length": 20, "required": True},
        {"column": "车辆类型", "key": "vehicle_type", "kind": "code", "codeset": "vehicle_type", "required": True},
        {"column": "登记日期", "key": "registered_on", "kind": "date"},
        {"column": "已注销", "key": "cancelled", "kind": "flag"},
        {"column": "核定载客", "key": "seats", "kind": "integer", "min_value": 1, "max_value": 60},
    ],
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def vehicles(admin_user):
    return declare_feed(declaration=VEHICLES, by=admin_user)


@pytest.fixture
def vehicles_caller(make_caller, vehicles):
    return make_caller(department="vehicles", scopes=["push:vehicles"], name="县公安局")


def send(caller, records, *, period="2025-03", mode=None):
    body = {"period": period, "records": records}
    if mode is not None:
        body["mode"] = mode
    return caller.post(BATCHES, body)


def test_pushed_changes_of_a_declared_department_land_in_declared_records(vehicles_caller):
    person = make_person(make_household(with_head=False, village_id=VILLAGE_A), id_number=A)
    answer = send(
        vehicles_caller,
        [
            {"id_number": A, "name": "张三", "plate": "贵H12345", "vehicle_type": "K3", "registered_on": "2020-05-01",
             "cancelled": False, "seats": 5},
            {"证件号码": B, "姓名": "李四", "号牌号码": "贵H54321", "车辆类型": "H1", "核定载客": 3},
            {"id_number": C, "plate": "贵H00001", "vehicle_type": "ZZ"},
        ],
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["status"], body["mode"], body["department"]) == ("succeeded", "changes", "vehicles")
    assert body["counts"]["total"] == 3 and body["counts"]["accepted"] == 2 and body["counts"]["rejected"] == 1
    assert (body["counts"]["linked"], body["counts"]["unlinked"]) == (1, 1)
    rejected = vehicles_caller.get(body["rejected_url"]).json()["results"]
    assert rejected[0]["row_number"] == 3 and "车辆类型“ZZ”不在数据字典中" in rejected[0]["reasons"][0]
    mine = DeclaredRecord.objects.get(id_number=A)
    assert (mine.department, mine.period, mine.person_id, mine.region_code) == ("vehicles", "2025-03", person.pk,
                                                                                VILLAGE_A)
    assert mine.data == {"plate": "贵H12345", "vehicle_type": "K3", "registered_on": "2020-05-01", "cancelled": False,
                         "seats": 5}
    assert DeclaredRecord.objects.get(id_number=B).data["vehicle_type"] == "H1"
    batch = ImportBatch.objects.get(pk=body["id"])
    assert batch.api_client == vehicles_caller.client and batch.full_snapshot is False


def test_a_pushed_whole_list_keeps_history_and_closes_those_not_listed(vehicles_caller):
    march = send(vehicles_caller, [
        {"id_number": A, "plate": "贵H12345", "vehicle_type": "K3"},
        {"id_number": B, "plate": "贵H54321", "vehicle_type": "H1"},
    ])
    assert march.status_code == 201, march.json()
    april = send(
        vehicles_caller, [{"id_number": A, "plate": "贵H12345", "vehicle_type": "K3", "cancelled": True}],
        period="2025-04", mode="snapshot",
    )
    assert april.status_code == 201, april.json()
    counts = april.json()["counts"]
    assert (april.json()["mode"], counts["new_versions"], counts["closed_versions"]) == ("snapshot", 1, 1)
    [before] = records_on(department="vehicles", id_number=A, on=dt.date(2025, 3, 15))
    [after] = records_on(department="vehicles", id_number=A, on=dt.date(2025, 4, 15))
    assert (before.data["cancelled"], before.batch_id) == (False, march.json()["id"])
    assert (after.data["cancelled"], after.batch_id) == (True, april.json()["id"])
    assert DeclaredRecord.objects.filter(id_number=B, valid_to__isnull=True).count() == 0
    assert DeclaredRecord.all_versions.filter(department="vehicles").count() == 3


def test_me_names_the_declared_department(vehicles_caller):
    me = vehicles_caller.get("/api/v1/me/").json()
    assert (me["department"], me["department_name"]) == ("vehicles", "公安 机动车登记")


def test_a_client_of_another_department_cannot_push_the_declared_departments_records(make_caller, vehicles):
    health = make_caller(department="health", scopes=["push:vehicles"], name="县医保局")
    answer = send(health, [{"id_number": A, "plate": "贵H12345", "vehicle_type": "K3"}])
    assert answer.status_code == 403 and answer.json()["code"] == "scope_missing"
    assert not DeclaredRecord.objects.exists() and not ImportBatch.objects.exists()


def test_a_client_of_a_deactivated_department_is_refused_but_reads_its_batches(vehicles_caller):
    first = send(vehicles_caller, [{"id_number": A, "plate": "贵H12345", "vehicle_type": "K3"}])
    assert first.status_code == 201
    DepartmentFeed.objects.filter(slug="vehicles").update(active=False)
    answer = send(vehicles_caller, [{"id_number": B, "plate": "贵H54321", "vehicle_type": "K3"}], period="2025-04")
    assert answer.status_code == 403 and answer.json()["code"] == "department_inactive"
    assert ImportBatch.objects.count() == 1 and not DeclaredRecord.objects.filter(id_number=B).exists()
    status = vehicles_caller.get(first.json()["status_url"])
    assert status.status_code == 200 and status.json()["mode"] == "changes"
    assert vehicles_caller.get("/api/v1/me/").json()["department_name"] == "公安 机动车登记"
