"""残联's file of the latest period: the disability certificates (残疾证) of the county's registry members, with
the two disability allowances (残疾人两项补贴), read back from the registry export the generator wrote, so that the
file agrees with the county. 残联 is a department declared in code (exchange.departments.DISABILITY); the file goes
in through the same department import as the others. A manifest beside the file counts its rows."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from demo.county import assumptions as A
from demo.county.registry_files import ENCODING as REGISTRY_ENCODING
from demo.county.registry_files import FILE_NAMES as REGISTRY_FILE_NAMES

FILE_NAME = f"disability_{A.PERIOD}.csv"
ENCODING = "utf-8-sig"
COLUMNS = (
    "统计期", "证件号码", "姓名", "残疾证号", "残疾类别", "残疾等级", "发证日期", "证件状态",
    "困难残疾人生活补贴", "重度残疾人护理补贴", "两项补贴月金额（元）",
)  # fmt: skip
# Guizhou's two allowances were about 80 yuan a month each in 2024 (provincial notices); they are data of the
# demo only. The living allowance goes to disabled members of 脱贫户 and monitored households (低收入), the care
# allowance to grades 一级 and 二级.
MONTHLY_LIVING_ALLOWANCE = 80
MONTHLY_CARE_ALLOWANCE = 80
SEVERE_GRADES = ("一级", "二级")
ISSUED_YEARS = (2008, 2025)
EXPIRED_SHARE = 0.03  # certificates past their renewal date (证件状态 过期)


def write_disability_file(*, folder: Path, seed: int) -> dict:
    """Write 残联's file beside the registry export in ``folder``; returns its manifest."""
    folder = Path(folder)
    read = {"dtype": str, "keep_default_na": False, "encoding": REGISTRY_ENCODING}
    members = pd.read_csv(
        folder / REGISTRY_FILE_NAMES["members"],
        usecols=["户编号", "证件号码", "姓名", "残疾类别", "残疾等级", "残疾证号"],
        **read,
    )
    households = pd.read_csv(
        folder / REGISTRY_FILE_NAMES["households"], usecols=["户编号", "户类型", "监测对象类别"], **read
    )
    protected = households.set_index("户编号").eval("户类型 == '脱贫户' or 监测对象类别 != ''")
    holders = members[members["残疾证号"] != ""].reset_index(drop=True)
    rng = np.random.default_rng([seed, 17_018])
    n = len(holders)
    low_income = protected.reindex(holders["户编号"]).fillna(False).to_numpy(dtype=bool)
    severe = holders["残疾等级"].isin(SEVERE_GRADES).to_numpy()
    days = (np.datetime64(f"{ISSUED_YEARS[1]}-12-31") - np.datetime64(f"{ISSUED_YEARS[0]}-01-01")).astype(int)
    issued = np.datetime64(f"{ISSUED_YEARS[0]}-01-01") + rng.integers(0, days, n).astype("timedelta64[D]")
    expired = rng.random(n) < EXPIRED_SHARE
    monthly = low_income * MONTHLY_LIVING_ALLOWANCE + severe * MONTHLY_CARE_ALLOWANCE
    frame = pd.DataFrame(
        {
            "统计期": A.PERIOD,
            "证件号码": holders["证件号码"],
            "姓名": holders["姓名"],
            "残疾证号": holders["残疾证号"],
            "残疾类别": holders["残疾类别"],
            "残疾等级": holders["残疾等级"],
            "发证日期": pd.Series(issued.astype(str)),
            "证件状态": np.where(expired, "过期", "有效"),
            "困难残疾人生活补贴": np.where(low_income, "是", "否"),
            "重度残疾人护理补贴": np.where(severe, "是", "否"),
            "两项补贴月金额（元）": np.where(monthly > 0, monthly.astype(str), ""),
        },
        columns=list(COLUMNS),
    )
    path = folder / FILE_NAME
    frame.to_csv(path, index=False, encoding=ENCODING)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    manifest = {
        "department": "disability",
        "file": path.name,
        "format": "csv",
        "encoding": "UTF-8 with BOM",
        "period": A.PERIOD,
        "seed": seed,
        "columns": list(COLUMNS),
        "rows": n,
        "living_allowance": int(low_income.sum()),
        "care_allowance": int(severe.sum()),
        "faults": {},
        "sha256": digest,
    }
    path.with_name(path.name + ".manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return manifest
