"""Small national-format registry exports for tests: a household, a member and an income table."""

import csv
import datetime as dt
from pathlib import Path

from tests.factories import VILLAGE_A, VILLAGE_B, resident_id

HOUSEHOLD_COLUMNS = [
    "户编号", "行政区划代码", "村民小组", "联系电话", "户类型", "贫困户属性", "脱贫年度", "监测对象类别", "风险类型",
    "主要致贫原因", "危房等级", "饮水安全", "耕地面积（亩）",
]
MEMBER_COLUMNS = [
    "户编号", "姓名", "证件号码", "性别", "民族", "与户主关系", "健康状况", "劳动技能", "文化程度", "在校生状况",
    "城乡居民基本医疗保险", "城镇职工基本医疗保险",
]
INCOME_COLUMNS = ["户编号", "年度", "家庭人口", "工资性收入", "种植业收入", "生产经营性支出", "调查日期"]


def household_row(number: str, village: str = VILLAGE_A, **values) -> dict[str, str]:
    row = {
        "户编号": number, "行政区划代码": village, "村民小组": "一组", "联系电话": "", "户类型": "一般农户",
        "贫困户属性": "", "脱贫年度": "", "监测对象类别": "", "风险类型": "", "主要致贫原因": "", "危房等级": "A",
        "饮水安全": "是", "耕地面积（亩）": "2.5",
    }
    row.update(values)
    return row


def member_row(
    number: str, name: str, *, birth=dt.date(1980, 5, 17), sex="1", relation="户主", sequence=None, **values
):
    row = {
        "户编号": number, "姓名": name, "证件号码": resident_id(birth, sex=sex, sequence=sequence),
        "性别": "男" if sex == "1" else "女",
        "民族": "汉族", "与户主关系": relation, "健康状况": "健康", "劳动技能": "普通劳动力", "文化程度": "初中",
        "在校生状况": "", "城乡居民基本医疗保险": "是", "城镇职工基本医疗保险": "否",
    }
    row.update(values)
    return row


def income_row(number: str, year: int, wages: int = 20000, **values) -> dict[str, str]:
    row = {
        "户编号": number, "年度": str(year), "家庭人口": "", "工资性收入": str(wages), "种植业收入": "3000",
        "生产经营性支出": "1000", "调查日期": f"{year}-12-15",
    }
    row.update(values)
    return row


def write_table(path: Path, columns: list[str], rows: list[dict], *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def small_export(directory: Path, *, encoding: str = "utf-8") -> list[Path]:
    """Three households in two townships: a family of three, a 脱贫户 couple, a single man in township B."""
    households = [
        household_row("H001"),
        household_row("H002", 户类型="脱贫户", 贫困户属性="一般脱贫户", 脱贫年度="2018", 主要致贫原因="因病",
                      监测对象类别="脱贫不稳定户", 风险类型="因病、因学"),
        household_row("H003", village=VILLAGE_B),
    ]
    members = [
        member_row("H001", "杨秀英", sex="2", sequence=1),
        member_row("H001", "吴明", birth=dt.date(1978, 3, 2), relation="配偶", sequence=2),
        member_row("H001", "吴小红", birth=dt.date(2012, 9, 1), sex="2", relation="之女", 劳动技能="无劳动力",
                   文化程度="", 在校生状况="七年级", sequence=3),
        member_row("H002", "龙光荣", birth=dt.date(1960, 1, 8), sequence=4),
        member_row("H002", "李桂花", birth=dt.date(1962, 6, 30), sex="2", relation="配偶", 健康状况="长期慢性病",
                   sequence=5),
        member_row("H003", "王强", birth=dt.date(1990, 11, 11), sequence=6),
    ]
    incomes = [
        income_row("H001", 2024), income_row("H001", 2025, wages=22000),
        income_row("H002", 2024, wages=4000), income_row("H002", 2025, wages=4500),
        income_row("H003", 2025, wages=30000),
    ]
    return [
        write_table(directory / "户信息.csv", HOUSEHOLD_COLUMNS, households, encoding=encoding),
        write_table(directory / "成员信息.csv", MEMBER_COLUMNS, members, encoding=encoding),
        write_table(directory / "收支信息.csv", INCOME_COLUMNS, incomes, encoding=encoding),
    ]
