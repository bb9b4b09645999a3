"""load_thresholds: a county's monitoring thresholds from its file, checked whole before anything is written,
and no fall-back to another province's values for a year the county has none for."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from households.monitoring import MonitoringThreshold, threshold_for, thresholds_for
from povertycloud.audit.models import AuditEvent
from tests.factories import COUNTY, VILLAGE_A

pytestmark = pytest.mark.django_db


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "thresholds.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_file_loads_and_the_most_specific_region_applies(regions, tmp_path, capsys):
    path = write(
        tmp_path,
        "region_code,year,amount,source\n520000000000,2023,7300,省\n522634000000,2023,7400,县\n522634000000,2025,8000,县\n",
    )
    call_command("load_thresholds", str(path))
    assert "已载入 3 条监测标准" in capsys.readouterr().out
    assert thresholds_for(VILLAGE_A) == {2023: 7400, 2025: 8000}
    assert threshold_for(VILLAGE_A, 2024) is None  # a year without a row has no threshold
    event = AuditEvent.objects.get(entity="households.monitoringthreshold")
    assert "载入监测标准 3 条" in event.note


def test_chinese_headers_and_gbk_are_read(regions, tmp_path):
    path = write(tmp_path, "区划代码,年度,监测标准,来源\n522634000000,2025,8000,县\n", "gbk")
    call_command("load_thresholds", str(path))
    assert threshold_for(COUNTY, 2025) == 8000


def test_loading_again_updates_instead_of_duplicating(regions, tmp_path):
    call_command("load_thresholds", str(write(tmp_path, "region_code,year,amount\n522634000000,2025,8000\n")))
    call_command("load_thresholds", str(write(tmp_path, "region_code,year,amount\n522634000000,2025,8100\n")))
    assert MonitoringThreshold.objects.get().amount == 8100


def test_every_fault_is_listed_and_nothing_is_written(regions, tmp_path):
    path = write(
        tmp_path,
        "region_code,year,amount\n"
        "422823000000,2025,8300\n"  # a region not loaded
        "522634000000,2013,6000\n"  # before the registry began
        "522634000000,2025,-1\n"  # not positive
        "522634000000,2024,abc\n"  # not a number
        "522634000000,2025,8000\n"
        "522634000000,2025,8100\n",  # twice
    )
    with pytest.raises(CommandError) as refused:
        call_command("load_thresholds", str(path))
    message = str(refused.value)
    assert "第 2 行：区划 422823000000 尚未载入" in message
    assert "第 3 行：年度“2013”" in message
    assert "第 4 行：监测标准“-1”" in message and "第 5 行：监测标准“abc”" in message
    assert "第 7 行：区划 522634000000 的 2025 年标准与第 6 行重复" in message
    assert not MonitoringThreshold.objects.exists()


def test_a_file_without_the_columns_is_refused(regions, tmp_path):
    with pytest.raises(CommandError, match="表头须包含"):
        call_command("load_thresholds", str(write(tmp_path, "code,amount\n522634000000,8000\n")))


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="文件不存在"):
        call_command("load_thresholds", str(tmp_path / "none.csv"))
