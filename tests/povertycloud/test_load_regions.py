"""Any county's official code list loads into the region tree; a faulty list is refused whole."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from povertycloud.regions.models import Region
from povertycloud.regions.services import level_of, load_regions_csv

pytestmark = pytest.mark.django_db

# 河南省 → 信阳市 → 光山县 → two townships → villages, as the statistics bureau publishes them (code, name,
# urban-rural class): levels and parents are read from the codes.
GUANGSHAN = """统计用区划代码,名称,城乡分类代码
410000000000,河南省,
411500000000,信阳市,
411522000000,光山县,
411522100000,紫水街道,
411522100201,东关村,220
411522100202,西关村,220
411522101000,十里镇,
411522101201,十里村,220
"""


def write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "codes.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_levels_are_read_from_the_codes():
    assert [level_of(c) for c in ("410000000000", "411500000000", "411522000000", "411522100000")] == [1, 2, 3, 4]
    assert level_of("411522100201") == 5


def test_a_county_of_another_province_loads_with_its_tree(tmp_path):
    assert load_regions_csv(write(tmp_path, GUANGSHAN)) == 8
    village = Region.objects.get(code="411522101201")
    assert (village.level, village.parent_id, village.name) == (5, "411522101000", "十里村")
    assert Region.objects.get(code="411522000000").parent_id == "411500000000"


def test_a_gbk_list_with_english_headers_loads(tmp_path):
    text = "code,name,level,parent_code\n410000000000,河南省,1,\n411500000000,信阳市,2,410000000000\n"
    assert load_regions_csv(write(tmp_path, text, "gbk")) == 2
    assert Region.objects.get(code="411500000000").name == "信阳市"


def test_loading_again_renames_and_changes_nothing_else(tmp_path):
    load_regions_csv(write(tmp_path, GUANGSHAN))
    load_regions_csv(write(tmp_path, GUANGSHAN.replace("十里村", "十里铺村")))
    assert Region.objects.count() == 8
    assert Region.objects.get(code="411522101201").name == "十里铺村"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("41152210120,短代码,", "必须是 12 位数字"),
        ("411522100201,东关村重复,", "与第 6 行重复"),
        ("411522102201,无上级村,", "既不在本表中"),
        ("411522103000,,", "没有名称"),
    ],
)
def test_a_faulty_list_is_refused_whole_with_the_row_and_the_reason(tmp_path, line, message):
    with pytest.raises(ValidationError) as refused:
        load_regions_csv(write(tmp_path, GUANGSHAN + line + "\n"))
    assert any(message in m for m in refused.value.messages)
    assert not Region.objects.exists()


def test_a_level_that_contradicts_the_code_is_refused(tmp_path):
    text = "code,name,level\n410000000000,河南省,2\n"
    with pytest.raises(ValidationError, match="代码表明是第 1 级"):
        load_regions_csv(write(tmp_path, text))


def test_a_list_without_code_and_name_columns_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="表头须包含代码和名称"):
        load_regions_csv(write(tmp_path, "编号,地名\n1,2\n"))


def test_the_command_needs_a_file_and_reports_every_fault(tmp_path):
    with pytest.raises(CommandError):
        call_command("load_regions")
    with pytest.raises(CommandError, match="未载入任何区划"):
        call_command("load_regions", str(write(tmp_path, GUANGSHAN + "123,坏,\n")))
    call_command("load_regions", str(write(tmp_path, GUANGSHAN)))
    assert Region.objects.count() == 8
