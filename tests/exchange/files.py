"""Department files made in the tests: small ones row by row, large health-like ones vectorised."""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook

from exchange.departments import CIVIL_AFFAIRS, EDUCATION, HEALTH
from households.validation import ID_CHECK_CHARACTERS, ID_WEIGHTS, id_check_character

HEALTH_COLUMNS = HEALTH.columns
CIVIL_COLUMNS = CIVIL_AFFAIRS.columns
EDUCATION_COLUMNS = EDUCATION.columns


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence], *, encoding: str = "utf-8"
) -> Path:
    """A CSV as a department writes it; encoding "gbk", "utf-8" or "utf-8-sig" (with BOM)."""
    frame = pd.DataFrame([["" if v is None else str(v) for v in row] for row in rows], columns=list(header))
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence], *, sheet: str = "Sheet1") -> Path:
    book = Workbook()
    worksheet = book.active
    worksheet.title = sheet
    worksheet.append(list(header))
    for row in rows:
        worksheet.append(list(row))
    book.save(path)
    return path


def with_check(body: str) -> str:
    return body + id_check_character(body)


def bad_check(number: str) -> str:
    wrong = "0" if number[17] != "0" else "1"
    return number[:17] + wrong


def health_row(id_number: str, name: str, **values) -> list[str]:
    row = {
        "统计期": "2025-03",
        "证件号码": id_number,
        "姓名": name,
        "参保状态": "已参保",
        "参保类型": "城乡居民",
        "大病保险": "是",
        "慢性病诊断": "",
        "大病诊断": "",
        "大病确诊日期": "",
        "年度累计自付费用（元）": "0",
        "单次住院最高自付（元）": "0",
        "月均门诊费用（元）": "0",
    }
    row.update(values)
    return [row[c] for c in HEALTH_COLUMNS]


def civil_row(id_number: str, name: str, **values) -> list[str]:
    row = dict.fromkeys(CIVIL_COLUMNS, "")
    row.update(
        {
            "统计期": "2025-03",
            "乡镇（街道）": "西江镇",
            "村（社区）": "西江村",
            "证件号码": id_number,
            "姓名": name,
            "性别": "男",
            "特困供养": "否",
            "本年临时救助次数": "0",
            "孤儿": "否",
            "事实无人抚养儿童": "否",
        }
    )
    row.update(values)
    return [row[c] for c in CIVIL_COLUMNS]


def education_row(id_number: str, name: str, **values) -> list:
    row = {
        "统计期": "2025-03",
        "证件号码": id_number,
        "姓名": name,
        "学校名称": "雷山县第一小学",
        "学段": "小学",
        "年级": "三年级",
        "在校状态": "在读",
        "入学日期": dt.date(2022, 9, 1),
        "控辍保学": "否",
        "资助项目": "",
        "资助金额（元）": 0,
        "就读净成本（元）": 1200,
    }
    row.update(values)
    return [row[c] for c in EDUCATION_COLUMNS]


# --- Large files ---------------------------------------------------------------------------------------


def resident_ids(n: int, rng: np.random.Generator, *, region: str = "522634") -> np.ndarray:
    """n distinct valid ID numbers: birth day and sequence spread so that no two are alike."""
    days = 31_000
    index = rng.permutation(n)
    birth = np.datetime64("1940-01-01") + (index % days).astype("timedelta64[D]")
    sequence = index // days + 100
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    body = np.char.add(np.char.add(region, ymd), np.char.zfill(sequence.astype(str), 3))
    digits = body.astype("U17").view(np.uint32).reshape(n, 17).astype(np.int64) - 48
    check = np.array(list(ID_CHECK_CHARACTERS))[(digits * np.array(ID_WEIGHTS)).sum(axis=1) % 11]
    return np.char.add(body, check)


FAMILY = np.array(
    list(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    )
)
GIVEN = np.array(
    list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅琴云莲珍雪荣爱妹霞香月凤洁琳素云")
)


def health_frame(
    n: int, *, seed: int = 1, period: str = "2025-03", ids: np.ndarray | None = None
) -> pd.DataFrame:
    """A health (医保) file of n people, mostly clean, as strings; ~1% of rows carry a fault."""
    rng = np.random.default_rng(seed)
    ids = resident_ids(n, rng) if ids is None else ids
    names = np.char.add(
        np.char.add(FAMILY[rng.integers(0, len(FAMILY), n)], GIVEN[rng.integers(0, len(GIVEN), n)]),
        np.where(rng.random(n) < 0.6, GIVEN[rng.integers(0, len(GIVEN), n)], ""),
    )
    insured = rng.random(n) < 0.98
    chronic = np.where(
        rng.random(n) < 0.15,
        np.array(["高血压", "糖尿病", "慢性阻塞性肺疾病", "慢性胃炎"])[rng.integers(0, 4, n)],
        "",
    )
    serious = rng.random(n) < 0.02
    diagnosis_day = np.datetime64("2015-01-01") + rng.integers(0, 3650, n).astype("timedelta64[D]")
    self_pay = np.where(rng.random(n) < 0.4, rng.gamma(1.2, 1500, n), 0).astype(np.int64)
    frame = pd.DataFrame(
        {
            "统计期": np.full(n, period),
            "证件号码": ids,
            "姓名": names,
            "参保状态": np.where(insured, "已参保", "未参保"),
            "参保类型": np.where(insured, np.where(rng.random(n) < 0.9, "城乡居民", "城镇职工"), ""),
            "大病保险": np.where(insured & (rng.random(n) < 0.95), "是", "否"),
            "慢性病诊断": chronic,
            "大病诊断": np.where(serious, "恶性肿瘤", ""),
            "大病确诊日期": np.where(serious, np.datetime_as_string(diagnosis_day, unit="D"), ""),
            "年度累计自付费用（元）": self_pay.astype(str),
            "单次住院最高自付（元）": (self_pay // 2).astype(str),
            "月均门诊费用（元）": rng.integers(0, 300, n).astype(str),
        },
        dtype=object,
    )
    faulty = rng.random(n) < 0.01
    frame.loc[faulty, "参保类型"] = "新农合"
    return frame
