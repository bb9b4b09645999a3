"""A department declared at run time goes through the same pipeline: a declaration and a model, no code."""

import datetime as dt

import pytest
from django.apps import apps
from django.db import connection, models

from exchange.declarations import REGISTRY, Department, FieldSpec, Kind, declare
from exchange.history import records_on
from exchange.models import RejectedRow, SourceRecord
from exchange.pipeline import import_department_file
from povertycloud.regions.services import load_regions_csv
from tests.exchange.files import bad_check, write_csv
from tests.factories import COUNTY, resident_id

A = resident_id(dt.date(1970, 1, 2), sequence=41)
B = resident_id(dt.date(1982, 8, 9), sequence=42)
COLUMNS = ("统计期", "身份证号", "姓名", "危房等级", "鉴定日期", "改造补助（元）", "已改造")


@pytest.fixture
def housing_department(transactional_db, settings):
    """住建 (危房): a SourceRecord model created in the database for this test, and its declaration."""
    load_regions_csv(settings.BASE_DIR / "fixtures" / "regions_leishan.csv")

    class HousingRecord(SourceRecord):
        period = models.CharField(max_length=7)
        housing_grade = models.CharField(max_length=2, blank=True)
        appraised_on = models.DateField(null=True, blank=True)
        subsidy = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
        rebuilt = models.BooleanField(default=False)

        class Meta:
            app_label = "households"
            db_table = "test_feed_housingrecord"
            constraints = [
                models.UniqueConstraint(
                    fields=["id_number"],
                    condition=models.Q(valid_to__isnull=True),
                    name="test_housing_one_current",
                )
            ]

    with connection.schema_editor() as editor:
        editor.create_model(HousingRecord)
    department = declare(
        Department(
            slug="housing_test",
            name="住建",
            model=HousingRecord,
            fields=(
                FieldSpec("统计期", "period", Kind.PERIOD, required=True),
                FieldSpec("身份证号", "id_number", Kind.ID_NUMBER, required=True),
                FieldSpec("姓名", "name", required=True, max_length=50),
                FieldSpec("危房等级", "housing_grade", Kind.CODE, codeset="housing_grade"),
                FieldSpec("鉴定日期", "appraised_on", Kind.DATE),
                FieldSpec("改造补助（元）", "subsidy", Kind.AMOUNT, max_value=100_000),
                FieldSpec("已改造", "rebuilt", Kind.FLAG),
            ),
        )
    )
    yield department
    REGISTRY.pop(department.slug, None)
    with connection.schema_editor() as editor:
        editor.delete_model(HousingRecord)
    apps.all_models["households"].pop("housingrecord", None)
    apps.clear_cache()


def test_a_department_declared_at_run_time_is_imported_with_history_and_rejections(
    housing_department, tmp_path
):
    model = housing_department.model
    rows = [
        ["2025-03", A, "张三", "D", "2025/2/1", "35000", "否"],
        ["2025-03", bad_check(B), "李四", "C", "20250203", "", "否"],
        ["2025-03", B, "李四", "E", "", "", "否"],
    ]
    march = import_department_file(
        department="housing_test",
        path=write_csv(tmp_path / "m.csv", COLUMNS, rows, encoding="gbk"),
        by=None,
        region_code=COUNTY,
    )
    assert (march.total_rows, march.accepted_rows, march.rejected_rows) == (3, 1, 2)
    reasons = dict(RejectedRow.objects.filter(batch=march).values_list("row_number", "reasons"))
    assert reasons[2][0].startswith("证件号码校验位错误")
    assert reasons[3] == ["危房等级“E”不在数据字典中（可填：A 级、B 级、C 级、D 级）。"]
    record = model.objects.get()
    assert (record.housing_grade, record.appraised_on, record.subsidy) == ("D", dt.date(2025, 2, 1), 35000)

    april_rows = [["2025-04", A, "张三", "D", "2025-02-01", "35000", "是"]]
    april = import_department_file(
        department="housing_test",
        path=write_csv(tmp_path / "a.csv", COLUMNS, april_rows),
        by=None,
        region_code=COUNTY,
    )
    assert april.new_versions == 1
    [before] = records_on(department="housing_test", id_number=A, on=dt.date(2025, 3, 15))
    [after] = records_on(department="housing_test", id_number=A, on=dt.date(2025, 4, 15))
    assert (before.rebuilt, before.batch_id) == (False, march.pk)
    assert (after.rebuilt, after.batch_id) == (True, april.pk)
