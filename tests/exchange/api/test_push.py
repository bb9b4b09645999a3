"""Push: a department system posts its records or its file into the import pipeline, and reads its batches."""

import datetime as dt
import hashlib
import io
import threading

import pytest
from django.db import connection
from django.utils import timezone

from exchange.api import push
from exchange.api.models import ApiPush, ApiToken
from exchange.departments import HealthRecord
from exchange.models import ImportBatch
from tests.exchange.api.conftest import Caller
from tests.exchange.files import HEALTH_COLUMNS, health_frame, health_row, write_csv
from tests.factories import COUNTY, VILLAGE_A, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db
BATCHES = "/api/v1/batches/"
FILE = "/api/v1/batches/file/"
A = resident_id(dt.date(1980, 5, 17), sex="1", sequence=21)
B = resident_id(dt.date(1975, 2, 3), sex="2", sequence=22)
C = resident_id(dt.date(2012, 9, 30), sex="1", sequence=23)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def record(id_number: str, name: str, **values) -> dict:
    """A health record as a department system sends it: field names, JSON types."""
    return {
        "id_number": id_number, "name": name, "insured": True, "insurance_type": "城乡居民",
        "critical_illness_insurance": True, "out_of_pocket_ytd": 1200.5, **values,
    }


def send(caller, records, *, period="2025-03", mode=None, key=None, **kwargs):
    body = {"period": period, "records": records}
    if mode is not None:
        body["mode"] = mode
    if key is not None:
        kwargs["HTTP_IDEMPOTENCY_KEY"] = key
    return caller.post(BATCHES, body, **kwargs)


# --- The rule: records go through the pipeline, history kept, linked, counted ---------------------------


def test_pushed_records_are_loaded_linked_and_counted(health_caller):
    person = make_person(make_household(with_head=False, village_id=VILLAGE_A), id_number=A)
    answer = send(health_caller, [record(A, "张三"), {"证件号码": B, "姓名": "李四", "参保状态": "否"}])
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["status"], body["mode"], body["period"]) == ("succeeded", "changes", "2025-03")
    assert (body["replayed"], body["already_imported"]) == (False, False)
    assert body["counts"] == {
        "total": 2, "accepted": 2, "rejected": 0, "new_versions": 2, "closed_versions": 0, "linked": 1, "unlinked": 1,
    }
    assert body["progress"] == {"done": 2, "total": 2, "stage": "succeeded"}
    batch = ImportBatch.objects.get(pk=body["id"])
    assert batch.api_client == health_caller.client and batch.uploaded_by is None
    assert batch.file_name.startswith("api-push-") and batch.full_snapshot is False
    mine = HealthRecord.objects.get(id_number=A)
    assert (mine.person_id, mine.region_code, mine.insured, mine.out_of_pocket_ytd) == (person.pk, VILLAGE_A, True,
                                                                                         pytest.approx(1200.5))
    assert HealthRecord.objects.get(id_number=B).insured is False  # false/否 and 证件号码-style keys alike
    assert health_caller.get(body["status_url"]).json()["counts"] == body["counts"]


def test_a_bad_row_is_rejected_and_readable_while_the_others_load(health_caller):
    answer = send(health_caller, [record(A, "张三"), record("123", "坏号"), record(B, "李四", insured="也许")])
    body = answer.json()
    assert answer.status_code == 201
    counts = body["counts"]
    assert (counts["total"], counts["accepted"], counts["rejected"]) == (3, 1, 2)
    rejected = health_caller.get(body["rejected_url"]).json()
    rows = rejected["results"]
    assert [row["row_number"] for row in rows] == [2, 3]  # row n is records[n - 1]
    assert rows[0]["values"]["证件号码"] == "123" and rows[0]["reasons"]
    assert "参保状态" in " ".join(rows[1]["reasons"])
    english = health_caller.get(body["rejected_url"], HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["results"][0]["row_number"] == 2


def test_history_is_kept_across_pushes(health_caller):
    send(health_caller, [record(A, "张三", out_of_pocket_ytd=100)])
    answer = send(health_caller, [record(A, "张三", out_of_pocket_ytd=900)], period="2025-04")
    assert answer.status_code == 201
    versions = list(HealthRecord.objects.filter(id_number=A).order_by("valid_from"))
    assert [(v.period, v.valid_to) for v in versions] == [("2025-03", dt.date(2025, 4, 1)), ("2025-04", None)]


def test_an_earlier_period_is_refused_whole_with_the_failed_batch(health_caller):
    send(health_caller, [record(A, "张三")], period="2025-04")
    answer = send(health_caller, [record(B, "李四")], period="2025-03")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "file_refused" and "2025-04" in body["message"]
    assert ImportBatch.objects.get(pk=body["batch"]).status == ImportBatch.Status.FAILED
    assert not HealthRecord.objects.filter(id_number=B).exists()
    english = send(health_caller, [record(B, "李四")], period="2025-02", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["code"] == "file_refused" and "earlier" in english["message"]


# --- Changes and snapshots ---------------------------------------------------------------------------------


def test_changes_close_nobody_and_a_snapshot_closes_those_missing(health_caller):
    send(health_caller, [record(A, "张三"), record(B, "李四"), record(C, "王五")], mode="snapshot")
    changes = send(health_caller, [record(A, "张三", out_of_pocket_ytd=5)], period="2025-04").json()
    assert (changes["mode"], changes["counts"]["closed_versions"]) == ("changes", 0)
    assert HealthRecord.objects.filter(valid_to__isnull=True).count() == 3
    snapshot = send(health_caller, [record(A, "张三", out_of_pocket_ytd=5)], period="2025-05", mode="snapshot").json()
    assert (snapshot["status"], snapshot["mode"], snapshot["counts"]["closed_versions"]) == ("succeeded", "snapshot", 2)
    assert list(HealthRecord.objects.filter(valid_to__isnull=True).values_list("id_number", flat=True)) == [A]
    # A snapshot is stored as an upload is (the declaration decides): the same content is one file to the pipeline.
    assert ImportBatch.objects.get(pk=snapshot["id"]).full_snapshot is None


def test_the_same_list_as_changes_and_as_a_snapshot_are_two_imports(health_caller):
    send(health_caller, [record(A, "张三"), record(B, "李四")], mode="snapshot")
    changes = send(health_caller, [record(A, "张三")], period="2025-04")
    assert changes.status_code == 201
    snapshot = send(health_caller, [record(A, "张三")], period="2025-04", mode="snapshot")
    assert snapshot.status_code == 201, snapshot.json()  # the same rows, but this one closes B
    assert snapshot.json()["counts"]["closed_versions"] == 1
    assert send(health_caller, [record(A, "张三")], period="2025-04", mode="snapshot").json()["already_imported"]


def test_changes_are_loaded_each_time_they_are_stated_so_the_last_statement_stands(health_caller):
    """A→x, A→y, A→x: the third push is loaded (not taken for the first), and A's current record is x again."""
    for amount in (100, 200, 100):
        answer = send(health_caller, [record(A, "张三", out_of_pocket_ytd=amount)])
        assert (answer.status_code, answer.json()["already_imported"]) == (201, False)
    current = HealthRecord.objects.get(id_number=A, valid_to__isnull=True)
    assert current.out_of_pocket_ytd == 100
    assert ImportBatch.objects.count() == 3


def test_a_file_loaded_as_a_snapshot_is_already_imported_but_the_same_file_as_changes_loads(health_caller, tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "张三")])
    with path.open("rb") as handle:
        first = health_caller.post(FILE, {"file": handle}, format="multipart").json()
    with path.open("rb") as handle:
        snapshot = health_caller.post(FILE, {"file": handle, "mode": "snapshot"}, format="multipart").json()
    assert (snapshot["id"], snapshot["already_imported"]) == (first["id"], True)
    with path.open("rb") as handle:
        changes = health_caller.post(FILE, {"file": handle, "mode": "changes"}, format="multipart")
    assert (changes.status_code, changes.json()["already_imported"]) == (201, False)
    assert changes.json()["counts"]["new_versions"] == 0  # the same statement: nothing new, nothing closed
    assert ImportBatch.objects.count() == 2


def test_a_snapshot_that_closes_too_many_waits_for_review(health_caller):
    many = [record(resident_id(dt.date(1960, 1, 1) + dt.timedelta(days=i), sequence=30), f"人{i}") for i in range(20)]
    send(health_caller, many, mode="snapshot")
    answer = send(health_caller, many[:2], period="2025-04", mode="snapshot")
    assert answer.status_code == 202
    assert answer.json()["status"] == "review"
    assert HealthRecord.objects.filter(valid_to__isnull=True).count() == 20


# --- Large pushes are queued and polled --------------------------------------------------------------------


def test_a_large_push_is_queued_and_pollable_until_it_succeeds(health_caller, django_capture_on_commit_callbacks):
    frame = health_frame(push.RUN_AT_ONCE_RECORDS + 1, seed=3)
    records = [dict(zip(HEALTH_COLUMNS[1:], row, strict=True)) for row in frame[HEALTH_COLUMNS[1:]].to_numpy().tolist()]
    with django_capture_on_commit_callbacks(execute=True):
        answer = send(health_caller, records)
        assert answer.status_code == 202
        body = answer.json()
        assert (body["status"], body["progress"]["stage"]) == ("received", "received")
    polled = health_caller.get(body["status_url"]).json()
    assert polled["status"] == "succeeded"
    counts = polled["counts"]
    assert counts["total"] == len(records) and counts["accepted"] + counts["rejected"] == counts["total"]
    assert counts["rejected"] > 0  # health_frame makes ~1% of rows faulty
    page = health_caller.get(polled["rejected_url"], data={"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    following = health_caller.get(page["next"]).json()["results"]
    assert following[0]["row_number"] > page["results"][1]["row_number"]


def test_a_file_is_pushed_like_an_upload(health_caller, tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "张三"), health_row(B, "李四")],
                     encoding="gbk")
    with path.open("rb") as handle:
        answer = health_caller.post(FILE, {"file": handle}, format="multipart")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["status"], body["mode"], body["counts"]["accepted"], body["file_name"]) == (
        "succeeded", "snapshot", 2, "h.csv")
    with path.open("rb") as handle:
        again = health_caller.post(FILE, {"file": handle}, format="multipart").json()
    assert again["already_imported"] is True and again["id"] == body["id"]
    assert ImportBatch.objects.count() == 1


def test_a_file_loaded_as_changes_loads_again_as_a_snapshot(health_caller, tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "张三")])
    with path.open("rb") as handle:
        assert health_caller.post(FILE, {"file": handle, "mode": "changes"}, format="multipart").status_code == 201
    with path.open("rb") as handle:
        answer = health_caller.post(FILE, {"file": handle}, format="multipart", HTTP_IDEMPOTENCY_KEY="f1")
    assert (answer.status_code, answer.json()["mode"], answer.json()["already_imported"]) == (201, "snapshot", False)
    assert ImportBatch.objects.count() == 2


def test_a_file_over_the_upload_limit_is_a_413(health_caller, tmp_path, monkeypatch):
    monkeypatch.setattr("exchange.forms.MAX_UPLOAD_BYTES", 100)
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "张三"), health_row(B, "李四")])
    with path.open("rb") as handle:
        answer = health_caller.post(FILE, {"file": handle}, format="multipart")
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")
    assert not ImportBatch.objects.exists()


def test_a_file_missing_required_columns_is_refused_before_any_batch(health_caller, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["姓名", "参保状态"], [["张三", "是"]])
    with path.open("rb") as handle:
        answer = health_caller.post(FILE, {"file": handle}, format="multipart")
    assert answer.status_code == 400
    assert (answer.json()["code"], answer.json()["batch"]) == ("file_refused", None)
    assert not ImportBatch.objects.exists()


def test_a_file_that_is_not_a_table_is_refused(health_caller):
    upload = io.BytesIO(b"PK\x03\x04 not really")
    upload.name = "h.csv"
    answer = health_caller.post(FILE, {"file": upload}, format="multipart")
    assert (answer.status_code, answer.json()["field"]) == (400, "file")


# --- Bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "2025-03", "records": {"id_number": A}}, "records"),
        ({"period": "2025-03", "records": []}, "records"),
        ({"period": "2025-13", "records": [{"id_number": A}]}, "period"),
        ({"period": 202503, "records": [{"id_number": A}]}, "period"),
        ({"records": [{"id_number": A}]}, "period"),
        ({"period": "2025-03", "mode": "all", "records": [{"id_number": A}]}, "mode"),
        ({"period": "2025-03", "mode": ["changes"], "records": [{"id_number": A}]}, "mode"),
        ({"period": "2025-03", "records": [{"id_number": A}, "x"]}, "records[1]"),
        ({"period": "2025-03", "records": [{"id_number": A}, {"foo": 1}]}, "records[1].foo"),
        ({"period": "2025-03", "records": [{"id_number": A, "period": "2025-03"}]}, "records[0].period"),
        ({"period": "2025-03", "records": [{"id_number": A, "统计期": "2025-03"}]}, "records[0].统计期"),
        ({"period": "2025-03", "records": [{"id_number": A, "证件号码": A}]}, "records[0].证件号码"),
        ({"period": "2025-03", "records": [{"name": {"first": "三"}}]}, "records[0].name"),
        ({"period": "2025-03", "records": [{"name": ["张三"]}]}, "records[0].name"),
        ({"period": "2025-03", "records": [{"name": "张\n三"}]}, "records[0].name"),
        ({"period": "2025-03", "records": [{"name": "张\x00三"}]}, "records[0].name"),
        (["not", "an", "object"], None),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(health_caller, body, field):
    answer = health_caller.post(BATCHES, body)
    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"] == field
    assert not ImportBatch.objects.exists() and not ApiPush.objects.exists()


def test_an_unknown_field_has_its_code(health_caller):
    answer = send(health_caller, [record(A, "张三"), record(B, "李四"), record(C, "王"), {"foo": "x"}])
    assert (answer.json()["code"], answer.json()["field"]) == ("unknown_field", "records[3].foo")


def test_a_body_that_is_not_json_is_a_400_and_another_media_type_a_415(health_caller):
    answer = health_caller.http.post(BATCHES, data=b"{not json", content_type="application/json")
    assert (answer.status_code, answer.json()["code"]) == (400, "parse_error")
    answer = health_caller.http.post(BATCHES, data=b'{"period": NaN}', content_type="application/json")
    assert answer.status_code == 400
    answer = health_caller.http.post(BATCHES, data=b"\xff\xfe", content_type="application/json")
    assert answer.status_code == 400
    answer = health_caller.http.post(BATCHES, data="a=1", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415


def test_odd_values_are_rows_the_pipeline_rejects_not_errors(health_caller):
    odd = [
        record(A, "张三", out_of_pocket_ytd=1e300),
        record(B, "李四", out_of_pocket_ytd=-5, insurance_type=None),
        record(C, "\u202e王\ufeff五" + "长" * 500, out_of_pocket_ytd=10**20),
        {"id_number": None, "name": True, "insured": 1},
    ]
    answer = send(health_caller, odd)
    assert answer.status_code == 201, answer.json()
    counts = answer.json()["counts"]
    assert counts["accepted"] + counts["rejected"] == counts["total"] and counts["rejected"] >= 3


def test_too_many_records_and_too_large_bodies(health_caller, monkeypatch):
    monkeypatch.setattr(push, "MAX_RECORDS", 2)
    answer = send(health_caller, [record(A, "a"), record(B, "b"), record(C, "c")])
    assert (answer.status_code, answer.json()["field"]) == (400, "records")
    monkeypatch.setattr(push, "MAX_JSON_BYTES", 200)
    answer = send(health_caller, [record(A, "a" * 300)])
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")


def test_a_json_push_larger_than_djangos_form_limit_is_read(health_caller, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the form limit must not cap a JSON push
    answer = send(health_caller, [record(A, "张三", chronic_diagnosis="高血压" * 30),
                                  record(B, "李四", chronic_diagnosis="糖尿病" * 30)])
    assert answer.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 101, "键", "a\tb"])
def test_a_bad_idempotency_key_is_refused(health_caller, key):
    answer = send(health_caller, [record(A, "张三")], key=key)
    assert (answer.status_code, answer.json()["field"]) == (400, "Idempotency-Key")


# --- Permission --------------------------------------------------------------------------------------------


def test_a_client_without_the_push_scope_is_refused(make_caller):
    caller = make_caller(scopes=["pull:health_premium"])
    answer = send(caller, [record(A, "张三")])
    assert (answer.status_code, answer.json()["code"]) == (403, "scope_missing")
    assert caller.get(BATCHES).status_code == 403
    assert not ImportBatch.objects.exists()


def test_a_client_sees_only_its_own_batches(health_caller, other_county_caller, make_caller):
    mine = send(health_caller, [record(A, "张三")]).json()
    colleague = make_caller(name="县卫健局")
    for caller in (other_county_caller, colleague):
        assert caller.get(f"{BATCHES}{mine['id']}/").json()["code"] == "not_found"
        assert caller.get(f"{BATCHES}{mine['id']}/rejected/").status_code == 404
        assert caller.get(BATCHES).json()["results"] == []
    for missing in ("999999", "99999999999999999999999", "-1", "abc", "١"):
        assert health_caller.get(f"{BATCHES}{missing}/").status_code == 404
    listed = health_caller.get(BATCHES).json()["results"]
    assert [b["id"] for b in listed] == [mine["id"]]
    assert health_caller.get(BATCHES, data={"cursor": "cD1hYmM="}).status_code == 404  # p=abc


def test_a_batch_outside_the_clients_region_is_not_found(health_caller):
    answer = send(health_caller, [record(A, "张三")]).json()
    ImportBatch.objects.filter(pk=answer["id"]).update(region_code="522601000000")
    assert health_caller.get(f"{BATCHES}{answer['id']}/").status_code == 404


def test_an_expired_token_is_refused(health_caller):
    ApiToken.objects.filter(client=health_caller.client).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    answer = send(health_caller, [record(A, "张三")])
    assert (answer.status_code, answer.json()["code"]) == (401, "token_expired")


def test_the_list_is_newest_first_with_cursor_pages(health_caller):
    ids = [send(health_caller, [record(A, "张三", out_of_pocket_ytd=i)], period=f"2025-0{i}").json()["id"]
           for i in (1, 2, 3)]
    first = health_caller.get(BATCHES, data={"page_size": 2}).json()
    assert [b["id"] for b in first["results"]] == ids[::-1][:2]
    assert [b["id"] for b in health_caller.get(first["next"]).json()["results"]] == ids[:1]


# --- Idempotency -------------------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_answers_the_same_batch(health_caller):
    first = send(health_caller, [record(A, "张三")], key="push-2025-03-1")
    assert first.status_code == 201
    # The same records written another way (header keys, "是" for true) are the same body.
    same = {"证件号码": A, "姓名": "张三", "参保状态": "是", "参保类型": "城乡居民", "大病保险": "是",
            "年度累计自付费用（元）": "1200.5"}
    again = send(health_caller, [same], key="push-2025-03-1")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["replayed"]) == (first.json()["id"], True)
    assert ImportBatch.objects.count() == 1 and HealthRecord.objects.count() == 1
    assert ApiPush.objects.get().batch_id == first.json()["id"]


def test_the_same_key_with_another_body_is_a_conflict(health_caller):
    send(health_caller, [record(A, "张三")], key="k1")
    answer = send(health_caller, [record(B, "李四")], key="k1")
    assert (answer.status_code, answer.json()["code"]) == (409, "idempotency_conflict")
    assert ImportBatch.objects.count() == 1
    assert send(health_caller, [record(A, "张三")], key="k1", mode="snapshot").status_code == 409


def test_a_key_still_being_received_is_in_progress_and_an_abandoned_one_is_taken_over(health_caller):
    content = push.records_csv(department=push.get_department("health"), records=[record(A, "张三")],
                               period="2025-03")
    digest = hashlib.sha256(f"changes\x002025-03\x00{content.sha256}".encode()).hexdigest()
    claim = ApiPush.objects.create(client=health_caller.client, idempotency_key="k2", request_sha256=digest)
    answer = send(health_caller, [record(A, "张三")], key="k2")
    assert (answer.status_code, answer.json()["code"]) == (409, "idempotency_in_progress")
    ApiPush.objects.filter(pk=claim.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert send(health_caller, [record(A, "张三")], key="k2").status_code == 201


def test_a_refused_push_is_replayed_as_its_failed_batch_and_keys_are_per_client(health_caller, make_caller):
    ImportBatch.objects.create(
        department="health", file_name="x", sha256="0" * 64, file_format="csv", period="2025-06",
        period_start=dt.date(2025, 6, 1), region_code=COUNTY, status=ImportBatch.Status.SUCCEEDED,
    )
    refused = send(health_caller, [record(A, "张三")], key="k3")
    assert refused.status_code == 400
    replay = send(health_caller, [record(A, "张三")], key="k3")
    assert (replay.status_code, replay.json()["replayed"], replay.json()["status"]) == (200, True, "failed")
    other = make_caller(name="县卫健局")
    assert send(other, [record(A, "张三")], key="k3", period="2025-07").status_code == 201


def test_the_same_snapshot_pushed_twice_without_a_key_is_already_imported(health_caller):
    first = send(health_caller, [record(A, "张三")], mode="snapshot").json()
    again = send(health_caller, [record(A, "张三")], mode="snapshot")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["already_imported"]) == (first["id"], True)
    assert ImportBatch.objects.count() == 1


def test_the_schema_documents_the_push_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("", "file/", "{id}/", "{id}/rejected/"):
        assert f"/api/v1/batches/{path}:" in schema
    assert "Idempotency-Key" in schema


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_at_once_load_once(health_caller):
    """Real concurrent requests (each thread its own connection): the key's unique constraint decides."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL")
    barrier = threading.Barrier(4)
    answers: list = []

    def post() -> None:
        try:
            caller = Caller(health_caller.client, health_caller.secret)
            barrier.wait()
            answers.append(send(caller, [record(A, "张三"), record(B, "李四")], key="at-once"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(answer.status_code for answer in answers)
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, codes
    assert ImportBatch.objects.count() == 1 and HealthRecord.objects.count() == 2
    assert all(a.json()["code"] == "idempotency_in_progress" for a in answers if a.status_code == 409)
    assert ApiPush.objects.get().batch_id == ImportBatch.objects.get().pk
