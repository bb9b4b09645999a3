"""A database built while the department exchange lived in households keeps its batches and records.

The models moved to the exchange app with their tables (db_table): the migrations move the state only. This
migrates a database back to before the move, writes a batch, a record, a rejected row and a permission the
way the old app did, and migrates forward again.
"""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from exchange.models import HealthRecord, ImportBatch, RejectedRow

pytestmark = pytest.mark.django_db(transaction=True)


BEFORE_THE_MOVE = ("households", "0009_household_list_index")


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def test_batches_records_and_permissions_survive_the_move():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    migrate([("exchange", None)])  # unapplies exchange 0001 and what runs after it, households 0010 included
    old = MigrationExecutor(connection).loader.project_state(BEFORE_THE_MOVE).apps
    assert "importbatch" in old.all_models["households"] and "exchange" not in old.all_models

    content_type = old.get_model("contenttypes", "ContentType")
    permission = old.get_model("auth", "Permission")
    content_type.objects.filter(app_label="exchange").delete()
    batch_type, _ = content_type.objects.get_or_create(app_label="households", model="importbatch")
    permission.objects.filter(content_type=batch_type, codename="view_importbatch").delete()
    permission.objects.create(content_type=batch_type, codename="view_importbatch", name="Can view import batch")

    old_batch = old.get_model("households", "ImportBatch").objects.create(
        department="health", file_name="health-2025-06.csv", sha256="a" * 64, file_format="csv",
        region_code="522634000000", status="succeeded", total_rows=2, accepted_rows=1, rejected_rows=1,
    )
    old.get_model("households", "HealthRecord").objects.create(
        batch=old_batch, row_number=1, id_number="522634199001011234", name="杨秀英", region_code="522634000000",
        row_hash="h" * 32, valid_from=dt.date(2025, 6, 1), period="2025-06", insured=True,
    )
    old.get_model("households", "RejectedRow").objects.create(
        batch=old_batch, row_number=2, values={"姓名": "王"}, reasons=["证件号码校验位错误"]
    )

    migrate(latest)

    batch = ImportBatch.objects.get(pk=old_batch.pk)
    assert batch.file_name == "health-2025-06.csv"
    record = HealthRecord.objects.get(batch=batch)
    assert (record.name, record.insured, record.period) == ("杨秀英", True, "2025-06")
    assert RejectedRow.objects.get(batch=batch).reasons == ["证件号码校验位错误"]

    from django.contrib.auth.models import Permission

    moved = Permission.objects.get(codename="view_importbatch")
    assert moved.content_type.app_label == "exchange"
