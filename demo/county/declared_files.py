"""The declared departments' files of a generated county (issue #17): 公安, 住建, 人社, 市场监管, 财政, 自然资源.

One file per department declared in fixtures/departments/*.json, with the headers as declared there (read from
the declarations, so the two cannot drift apart), in the formats real departments send: GBK CSV (公安, 财政),
UTF-8 CSV with a byte-order mark (人社, 市场监管, 不动产) and one XLSX workbook (住建). Period A.PERIOD.

The people come from the county's registry export in the same folder (户信息.csv and 成员信息.csv, written by
registry_files.py), so the files agree with the county whatever generated it, and can be written again for a
county generated before. Rates are the named assumptions below (plausible, not facts).

The cross-checks (eligibility, fixtures/cross_checks.json) look for a few kinds of case. Natural records never
make one (cars, trading companies, state pay and town property only in households the checks do not protect;
payments stop when a death is registered), and a small, known number of each is planted; the manifest beside each
file counts them by cross-check code and lists their ID numbers, so the demo and the tests can compare the hits
with them. The counts are against the 2025-12 registry export: people who leave the registry later, or households
that enter monitoring later, change what a run finds. A few faulty rows (a wrong ID check character, a code
outside the dictionary or a blank required value) show the rejected-rows path; they are never planted rows.
"""

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from demo.county import assumptions as A
from demo.county.draws import by_age, integers, pick, pick_member, random_dates
from demo.county.ids import check_characters, wrong_check_character
from demo.county.names import FAMILY_NAMES, GIVEN, township_short
from demo.county.registry_files import ENCODING as REGISTRY_ENCODING
from demo.county.registry_files import FILE_NAMES as REGISTRY_FILE_NAMES
from demo.county.xlsx import XlsxWriter

DECLARATIONS = Path(settings.BASE_DIR) / "fixtures" / "departments"

# --- Assumptions (plausible values for a poor mountain county; none of them are facts) ------------------

# 公安 死亡注销: about 0.7% of people a year, far more among the old (relative weights by age).
DEATH_RATE = 0.007
DEATH_AGE_WEIGHTS = ((1, 2.0), (40, 0.15), (60, 0.6), (70, 2.0), (80, 6.0), (200, 18.0))
DEREGISTRATION_DAYS = (3, 45)  # from the death to its deregistration
# 公安 户口迁移: about 1% of people a year, mostly young adults; most move out (work, marriage, school).
MOVE_RATE = 0.01
MOVE_AGE_WEIGHTS = ((16, 0.2), (22, 1.5), (35, 2.0), (46, 1.0), (200, 0.1))
MOVE_OUT_SHARE = 0.8
MOVED_OUT_TO = {  # place and its statistical code
    "广东省东莞市": "441900000000",
    "浙江省宁波市鄞州区": "330212000000",
    "广东省深圳市宝安区": "440306000000",
    "贵州省贵阳市观山湖区": "520115000000",
    "贵州省凯里市": "522601000000",
    "浙江省杭州市萧山区": "330109000000",
    "福建省泉州市晋江市": "350582000000",
}
MOVED_IN_FROM = {
    "贵州省台江县": "522630000000",
    "贵州省剑河县": "522629000000",
    "贵州省榕江县": "522632000000",
    "贵州省丹寨县": "522636000000",
    "贵州省凯里市": "522601000000",
}
# 公安 机动车登记, one vehicle per household at most (its owner an adult member). Small cars in about 8% of the
# households the checks do not protect (一般农户 not monitored), trucks and buses fewer; motorcycles, three-wheelers
# and tractors (not evidence of means) in any household. Cars and trucks of protected households are planted only.
VEHICLES_ORDINARY = {"K3": 0.08, "H3": 0.015, "H1": 0.004, "K2": 0.002, "M1": 0.22, "N1": 0.05, "T1": 0.08}
VEHICLES_PROTECTED = {"M1": 0.18, "N1": 0.04, "T1": 0.06}
PLATE_PREFIX = "贵H"  # 黔东南州's plates
VEHICLE_STATUS = {"正常": 0.93, "逾期未检验": 0.07}
# 住建 农村住房安全鉴定: every registry household (its head), with the household file's 危房等级 where it has one,
# else mostly A/B. C/D houses are in the renovation plan at this rate, with these subsidies (yuan).
HOUSING_GRADES = {"A": 0.70, "B": 0.24, "C": 0.05, "D": 0.01}
IN_RENOVATION_SHARE = 0.5
RENOVATION_SUBSIDY = {"C": 12000, "D": 35000}
# 人社 就业失业登记: working-age (16–59) people able to work and not in school; most are registered. Those neither
# working away nor on a public-welfare job are in flexible work, or registered unemployed at this rate.
EMPLOYMENT_REGISTERED_SHARE = 0.9
UNEMPLOYED_SHARE_AT_HOME = 0.2
MONTHS_WITHOUT_WORK = (1, 18)
# 人社 养老保险: everyone the registry lists as insured; under 60 most pay all year; from 60 they draw a pension.
FULL_YEAR_PAID_SHARE = 0.85
EMPLOYEE_PENSION_MONTHLY = 2600
# 市场监管 市场主体登记, the legal representative or operator an adult member. Shares of households.
INDIVIDUAL_BUSINESS_SHARE = 0.03  # 个体工商户 (ordinary households; most 存续)
COMPANY_SHARE = 0.003  # 有限责任公司
COOPERATIVE_SHARE = 0.005  # 农民专业合作社
CLOSED_BUSINESS_SHARE_PROTECTED = 0.01  # a 个体工商户 of a protected household, deregistered (注销): no evidence
BUSINESS_STATUS = {"1": 0.88, "2": 0.10, "3": 0.02}  # 存续 / 注销 / 吊销 of ordinary households' businesses
# 财政 财政供养人员: teachers, doctors and township staff from ordinary households, and retired ones. The real rate
# among protected households should be about zero: theirs are planted.
PUBLIC_PAYROLL_SHARE = 0.01  # of working-age people of ordinary households, not in school
RETIRED_PAYROLL_SHARE = 0.01  # of people 60 and older of ordinary households
STAFF_TYPES = {"1": 0.3, "2": 0.6, "4": 0.1}  # 公务员 / 事业编制 / 其他财政供养
MONTHLY_PAY = {"1": (4500, 8000), "2": (4000, 8500), "3": (3500, 6500), "4": (2500, 3800)}
# 财政 惠民惠农补贴: each household head with land is paid once in the period (耕地地力保护补贴 per mu of
# cultivated land, 公益林生态补偿 per mu of forest, the rates of assumptions.py), one date per township.
PAYMENT_DAYS = (dt.date(2025, 12, 5), dt.date(2025, 12, 20))
# 自然资源 不动产登记: homesteads (房地一体 certification) of rural households; homes in town for ordinary
# households of the town's 社区; a flat in town for a few other ordinary households (a member other than the head).
HOMESTEAD_REGISTERED_SHARE = 0.75
TOWN_HOME_REGISTERED_SHARE = 0.6
TOWN_FLAT_SHARE = 0.03
HOMESTEAD_AREA = (80, 220)  # m²
TOWN_FLAT_AREA = (60, 140)

# The planted cases: one per this many people of each kind, at least PLANTED_MIN (fewer if the county has too
# few people who fit).
PERSONS_PER_PLANTED = 2500
PLANTED_MIN = 3
PLANTED = (
    "deceased_monitored",  # a member of a monitored household has died (ps_deaths)
    "member_vehicle",  # a member of a protected household owns a small car or a heavy truck (ps_vehicles)
    "member_company",  # … runs a company or business that is 存续 (market_entities)
    "member_public_payroll",  # … is paid by the state (public_payroll)
    "member_property_in_town",  # … owns a home in town (property_registrations)
    "payment_not_in_registry",  # a subsidy paid to a person the registry does not know (subsidy_payments)
    "subsidy_after_death",  # a subsidy paid after the payee's death (subsidy_payments, the death in ps_deaths)
)

# Faulty rows of each kind, a share of a file's rows and at least one (where the file has rows to spare).
FAULT_SHARE = 0.002
UNKNOWN_CODES = {
    "vehicle_type": "小轿车",
    "housing_grade": "E",
    "employment_status": "退休",
    "pension_type": "新农保",
    "entity_type": "分公司",
    "staff_type": "临时工",
    "location_type": "郊区",
    "move_type": "迁移",
}

FORMATS = {  # slug: how the department writes its file
    "ps_deaths": "gbk",
    "ps_moves": "gbk",
    "ps_vehicles": "gbk",
    "housing_appraisals": "xlsx",
    "hr_employment": "utf-8-sig",
    "hr_insurance": "utf-8-sig",
    "market_entities": "utf-8-sig",
    "public_payroll": "gbk",
    "subsidy_payments": "gbk",
    "property_registrations": "utf-8-sig",
}
SHEET = "鉴定名单"
ENCODING_NAMES = {"gbk": "GBK", "utf-8-sig": "UTF-8 with BOM", "xlsx": f"XLSX (sheet {SHEET})"}

INDIVIDUAL_TRADES = ("小卖部", "农家乐", "餐馆", "养殖场", "农资店", "摩托车修理店", "茶叶加工坊", "苗绣坊")
COMPANY_WORDS = ("苗岭", "雷公山", "鑫源", "黔韵", "银球", "清江", "高岩", "丹江")
COMPANY_TRADES = ("农业科技", "茶业", "旅游开发", "建材", "商贸", "食品")
COOPERATIVE_PRODUCTS = ("茶叶种植", "蔬菜种植", "中药材种植", "稻鱼养殖", "食用菌种植", "生猪养殖")
CREDIT_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015
CREDIT_WEIGHTS = np.asarray([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
PLATE_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
PLATE_TAIL = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def file_name(slug: str) -> str:
    return f"{slug}_{A.PERIOD}.{'xlsx' if FORMATS[slug] == 'xlsx' else 'csv'}"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def declared_columns() -> dict[str, list[dict]]:
    """Each declared department's columns (fixtures/departments/*.json), in declared order."""
    columns = {}
    for path in sorted(DECLARATIONS.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        for declaration in content.get("departments", [content]):
            columns[declaration["slug"]] = declaration["columns"]
    return columns


def written(folder: Path) -> bool:
    """Whether every declared department's file and manifest is in the folder."""
    return all(
        (Path(folder) / file_name(slug)).is_file() and manifest_path(Path(folder) / file_name(slug)).is_file()
        for slug in FORMATS
    )


# --- The county, read back from its registry export ------------------------------------------------------


HOUSEHOLD_COLUMNS = ("户编号", "行政区划代码", "村民小组", "户类型", "监测对象类别", "危房等级", "耕地面积（亩）",
                     "林地面积（亩）")  # fmt: skip
MEMBER_COLUMNS = (
    "户编号", "证件号码", "姓名", "性别", "出生日期", "与户主关系", "劳动技能", "在校生状况", "务工时间（月）",
    "务工地点", "务工单位", "公益性岗位", "城镇职工基本医疗保险", "养老保险",
)  # fmt: skip


@dataclass
class County:
    hh: pd.DataFrame  # one row per household, in file order
    pp: pd.DataFrame  # one row per member; "hh" is the household's position
    prefix: str  # the county's 6 digits
    county_name: str
    village_names: dict[str, str]
    township_names: dict[str, str]  # by the township's 9 digits


def read_county(folder: Path, *, regions_file: Path | None = None) -> County:
    folder = Path(folder)
    read = {"dtype": str, "keep_default_na": False, "encoding": REGISTRY_ENCODING}
    hh = pd.read_csv(
        folder / REGISTRY_FILE_NAMES["households"],
        usecols=list(HOUSEHOLD_COLUMNS),
        **read,
    )
    pp = pd.read_csv(
        folder / REGISTRY_FILE_NAMES["members"],
        usecols=list(MEMBER_COLUMNS),
        **read,
    )
    households = pd.DataFrame(
        {
            "number": hh["户编号"].to_numpy(),
            "village": hh["行政区划代码"].to_numpy(),
            "group": hh["村民小组"].to_numpy(),
            "lifted": (hh["户类型"] == "脱贫户").to_numpy(),
            "monitored": (hh["监测对象类别"] != "").to_numpy(),
            "grade": hh["危房等级"].str[:1].to_numpy(),
            "land": pd.to_numeric(hh["耕地面积（亩）"], errors="coerce").fillna(0).to_numpy(),
            "forest": pd.to_numeric(hh["林地面积（亩）"], errors="coerce").fillna(0).to_numpy(),
        }
    )
    households["protected"] = households["lifted"] | households["monitored"]
    birth = pd.to_datetime(pp["出生日期"], errors="coerce").to_numpy().astype("datetime64[D]")
    as_of = np.datetime64(A.AS_OF)
    years = as_of.astype("datetime64[Y]").astype(int) - birth.astype("datetime64[Y]").astype(int)
    before_birthday = (as_of - as_of.astype("datetime64[Y]")) < (birth - birth.astype("datetime64[Y]"))
    people = pd.DataFrame(
        {
            "hh": pd.Index(households["number"]).get_indexer(pp["户编号"]),
            "id": pp["证件号码"].to_numpy(),
            "name": pp["姓名"].to_numpy(),
            "sex": np.where(pp["性别"] == "女", "2", "1"),
            "birth": birth,
            "age": years - before_birthday,
            "head": (pp["与户主关系"] == "户主").to_numpy(),
            "able": pp["劳动技能"].isin(["普通劳动力", "技能劳动力", "弱劳动力或半劳动力"]).to_numpy(),
            "student": (pp["在校生状况"] != "").to_numpy(),
            "months_away": pd.to_numeric(pp["务工时间（月）"], errors="coerce").fillna(0).astype(int).to_numpy(),
            "work_place": pp["务工地点"].to_numpy(),
            "employer": pp["务工单位"].to_numpy(),
            "welfare_job": (pp["公益性岗位"] == "是").to_numpy(),
            "employee_insured": (pp["城镇职工基本医疗保险"] == "是").to_numpy(),
            "pension": (pp["养老保险"] == "是").to_numpy(),
        }
    )
    people = people[people["hh"] >= 0].reset_index(drop=True)
    for name in ("protected", "monitored"):
        people[name] = households[name].to_numpy()[people["hh"].to_numpy()]
    people["village"] = households["village"].to_numpy()[people["hh"].to_numpy()]
    prefix = str(households["village"].iloc[0])[:6] if len(households) else A.COUNTY_PREFIX
    villages, townships, county = _place_names(sorted(set(households["village"])), prefix, regions_file)
    return County(households, people, prefix, county, villages, townships)


def _place_names(villages: list[str], prefix: str, regions_file: Path | None):
    """Village, township and county names: from the county's region list when given, else the region tree."""
    from povertycloud.regions.models import Region
    from povertycloud.regions.services import read_region_rows

    wanted = set(villages) | {v[:9].ljust(12, "0") for v in villages} | {prefix.ljust(12, "0")}
    if regions_file is not None:
        rows = read_region_rows(Path(regions_file).read_bytes())
        names = {r.get("code", "").strip(): r.get("name", "").strip() for r in rows}
        names = {code: name for code, name in names.items() if code in wanted}
    else:
        names = dict(Region.objects.filter(code__in=wanted).values_list("code", "name"))
    townships = {v[:9]: names.get(v[:9].ljust(12, "0"), "") for v in villages}
    return {v: names.get(v, "") for v in villages}, townships, names.get(prefix.ljust(12, "0"), "")


# --- Small vectorised helpers ---------------------------------------------------------------------------


def _dates(rng: np.random.Generator, n: int, start: dt.date, end: dt.date) -> np.ndarray:
    return random_dates(rng.random(n), np.datetime64(start), np.datetime64(end))


def _choose(rng: np.random.Generator, values, u: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    return values[np.minimum((u * len(values)).astype(np.int64), len(values) - 1)]


def _stranger_names(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    family = pick(rng.random(len(sex)), FAMILY_NAMES)
    u = rng.random((3, len(sex)))
    first = np.where(sex == "1", _choose(rng, list(GIVEN[("1", 1)]), u[0]), _choose(rng, list(GIVEN[("2", 1)]), u[0]))
    second = np.where(sex == "1", _choose(rng, list(GIVEN[("1", 1)]), u[1]), _choose(rng, list(GIVEN[("2", 1)]), u[1]))
    return np.char.add(np.char.add(family, first), np.where(u[2] < 0.5, second, ""))


def valid_ids(rng: np.random.Generator, n: int, prefix: str, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n valid resident IDs of the county's region that nobody of ``taken`` has, and their sexes."""
    ids, sexes = np.asarray([], dtype="<U18"), np.asarray([], dtype="<U1")
    region = np.asarray([int(c) for c in prefix], dtype=np.int64)
    while len(ids) < n:
        m = 2 * (n - len(ids)) + 4
        birth = _dates(rng, m, dt.date(1950, 1, 1), dt.date(2003, 12, 31))
        sequence = integers(rng.random(m), 1, 999)
        text = pd.DatetimeIndex(birth).strftime("%Y%m%d").to_numpy().astype("<U8")
        body = np.char.add(np.char.add(prefix, text), np.char.zfill(sequence.astype(str), 3))
        digits = np.concatenate(
            [np.tile(region, (m, 1)), np.asarray([[int(c) for c in b[6:]] for b in body.tolist()], dtype=np.int64)],
            axis=1,
        )
        made = np.char.add(body, check_characters(digits))
        fresh = ~pd.Series(made).isin(taken).to_numpy() & ~np.isin(made, ids)
        _, first = np.unique(made, return_index=True)
        keep = np.zeros(m, dtype=bool)
        keep[first] = True
        made, sequence = made[fresh & keep], sequence[fresh & keep]
        ids = np.concatenate([ids, made])[:n]
        sexes = np.concatenate([sexes, np.where(sequence % 2 == 1, "1", "2")])[:n]
    return ids, sexes


def credit_codes(rng: np.random.Generator, kinds: np.ndarray, prefix: str) -> np.ndarray:
    """Unified social credit codes (GB 32100-2015): 92 个体工商户, 93 合作社, 91 企业; the county's 6 digits; a
    9-character body; the check character."""
    n = len(kinds)
    if n == 0:
        return np.asarray([], dtype="<U18")
    head = np.where(kinds == "4", "92", np.where(kinds == "5", "93", "91"))
    body = rng.integers(0, 10, size=(n, 9))
    values = np.concatenate(
        [
            np.asarray([[int(c) for c in h] for h in head.tolist()], dtype=np.int64),
            np.tile(np.asarray([int(c) for c in prefix], dtype=np.int64), (n, 1)),
            body,
        ],
        axis=1,
    )
    check = (31 - (values @ CREDIT_WEIGHTS) % 31) % 31
    text = ["".join(CREDIT_CHARACTERS[v] for v in row) for row in values.tolist()]
    return np.char.add(np.asarray(text), np.asarray(list(CREDIT_CHARACTERS))[check])


def _plates(rng: np.random.Generator, n: int) -> np.ndarray:
    """n different plates: 贵H + a letter + four letters or digits (an affine bijection of a random start)."""
    space = len(PLATE_CHARACTERS) * len(PLATE_TAIL) ** 4
    k = (int(rng.integers(0, space)) + np.arange(n, dtype=np.int64) * 7_919_131) % space
    letter, rest = np.divmod(k, len(PLATE_TAIL) ** 4)
    parts = [np.asarray(list(PLATE_CHARACTERS))[letter]]
    for power in (3, 2, 1, 0):
        parts.append(np.asarray(list(PLATE_TAIL))[rest // len(PLATE_TAIL) ** power % len(PLATE_TAIL)])
    out = np.full(n, PLATE_PREFIX)
    for part in parts:
        out = np.char.add(out, part)
    return out


def _planted_count(persons: int) -> int:
    return max(PLANTED_MIN, persons // PERSONS_PER_PLANTED)


# --- The files --------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, county: County, seed: int):
        self.c, self.seed = county, seed
        self.hh, self.pp = county.hh, county.pp
        self.period = A.PERIOD
        self.planted: dict[str, np.ndarray] = {}  # kind -> person positions
        self.frames: dict[str, pd.DataFrame] = {}

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 17_017, stream])

    def _frame(self, person: np.ndarray, columns: dict, planted: np.ndarray | None = None) -> pd.DataFrame:
        """Rows keyed by the declared keys; _person (-1: nobody of the registry) and _planted are dropped on
        writing."""
        person = np.asarray(person, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "period": self.period,
                "id_number": self.pp["id"].to_numpy()[np.maximum(person, 0)] if len(person) else [],
                "name": self.pp["name"].to_numpy()[np.maximum(person, 0)] if len(person) else [],
                **columns,
            }
        )
        frame["_person"] = person
        frame["_planted"] = "" if planted is None else planted
        return frame

    # Who is planted, chosen first so that the kinds never share a person.
    def choose_planted(self) -> None:
        rng = self.rng(0)
        pp, n = self.pp, _planted_count(len(self.pp))
        age = pp["age"].to_numpy()
        used = np.zeros(len(pp), dtype=bool)

        def take(candidates: np.ndarray, count: int) -> np.ndarray:
            candidates = candidates[~used[candidates]]
            chosen = np.sort(rng.permutation(candidates)[:count])
            used[chosen] = True
            return chosen

        monitored = np.flatnonzero(pp["monitored"].to_numpy() & (age >= 45))
        self.planted["deceased_monitored"] = take(monitored, n)
        adults = pp["protected"].to_numpy() & (age >= 22) & (age <= 59) & ~pp["student"].to_numpy()
        not_heads = np.flatnonzero(adults & ~pp["head"].to_numpy())
        self.planted["member_property_in_town"] = take(not_heads, n)
        for kind in ("member_vehicle", "member_company", "member_public_payroll"):
            self.planted[kind] = take(np.flatnonzero(adults), n)
        heads = self.pp["head"].to_numpy() & ~pp["monitored"].to_numpy()
        land = (self.hh["land"].to_numpy() + self.hh["forest"].to_numpy())[pp["hh"].to_numpy()] > 0
        self.planted["subsidy_after_death"] = take(np.flatnonzero(heads & land), n)
        self.planted["payment_not_in_registry"] = np.arange(n)  # rows of strangers, made in subsidy_payments

    def deaths(self) -> None:
        rng = self.rng(1)
        pp = self.pp
        weight = by_age(pp["age"].to_numpy(), DEATH_AGE_WEIGHTS)
        p = DEATH_RATE * weight / weight.mean()
        dead = (rng.random(len(pp)) < p) & ~pp["monitored"].to_numpy()
        dead[self._planted_everywhere()] = False
        natural = np.flatnonzero(dead)
        monitored, unpaid = self.planted["deceased_monitored"], self.planted["subsidy_after_death"]
        person = np.concatenate([natural, monitored, unpaid])
        # The deaths behind the payments after death are evidence, kept out of the faulty rows, not a case here.
        kind = np.repeat(
            ["", "deceased_monitored", "evidence:subsidy_after_death"], [len(natural), len(monitored), len(unpaid)]
        )
        death = np.concatenate(
            [
                _dates(rng, len(natural) + len(monitored), dt.date(A.AS_OF.year, 1, 1), dt.date(A.AS_OF.year, 12, 15)),
                _dates(rng, len(unpaid), dt.date(A.AS_OF.year, 9, 1), PAYMENT_DAYS[0] - dt.timedelta(days=10)),
            ]
        )
        deregistered = np.minimum(
            death + integers(rng.random(len(person)), *DEREGISTRATION_DAYS), np.datetime64(A.AS_OF)
        )
        order = np.argsort(death, kind="stable")
        self.death_of = dict(zip(person.tolist(), death.tolist(), strict=True))
        self.dead = np.asarray(sorted(self.death_of), dtype=np.int64)
        self.frames["ps_deaths"] = self._frame(
            person[order],
            {"death_date": death[order], "deregistered_on": deregistered[order], "reason": "死亡"},
            kind[order],
        )

    def moves(self) -> None:
        rng = self.rng(2)
        pp = self.pp
        weight = by_age(pp["age"].to_numpy(), MOVE_AGE_WEIGHTS)
        moving = rng.random(len(pp)) < MOVE_RATE * weight / weight.mean()
        moving[self.dead] = False
        person = np.flatnonzero(moving)
        out = rng.random(len(person)) < MOVE_OUT_SHARE
        to = pick(rng.random(len(person)), dict.fromkeys(MOVED_OUT_TO, 1))
        came = pick(rng.random(len(person)), dict.fromkeys(MOVED_IN_FROM, 1))
        place = np.where(out, to, came)
        codes = {**MOVED_IN_FROM, **MOVED_OUT_TO}
        self.frames["ps_moves"] = self._frame(
            person,
            {
                "move_type": np.where(out, "迁出", "迁入"),
                "moved_on": _dates(rng, len(person), dt.date(A.AS_OF.year, 1, 1), A.AS_OF),
                "place": place,
                "place_code": pd.Series(place).map(codes).to_numpy(),
            },
        )

    def _owners(self, rng: np.random.Generator, low: int, high: int, *, exclude_heads: bool = False) -> np.ndarray:
        """An adult member (low–high years old) per household, -1 where there is none."""
        pp = self.pp
        age = pp["age"].to_numpy()
        weight = ((age >= low) & (age <= high)).astype(float)
        if exclude_heads:
            weight[pp["head"].to_numpy()] = 0
        weight[self.dead] = 0
        return pick_member(rng.random(len(pp)), weight, pp["hh"].to_numpy(), len(self.hh))

    def _heads(self) -> np.ndarray:
        head = np.full(len(self.hh), -1, dtype=np.int64)
        heads = np.flatnonzero(self.pp["head"].to_numpy())
        head[self.pp["hh"].to_numpy()[heads]] = heads
        return head

    def _planted_everywhere(self) -> np.ndarray:
        return np.concatenate([v for k, v in self.planted.items() if k != "payment_not_in_registry"])

    def vehicles(self) -> None:
        rng = self.rng(3)
        protected = self.hh["protected"].to_numpy()
        u = rng.random(len(self.hh))
        kind = np.where(
            protected,
            pick(u, {**VEHICLES_PROTECTED, "": 1 - sum(VEHICLES_PROTECTED.values())}),
            pick(u, {**VEHICLES_ORDINARY, "": 1 - sum(VEHICLES_ORDINARY.values())}),
        )
        owner = self._owners(rng, 18, 70)
        has = (kind != "") & (owner >= 0) & ~np.isin(owner, self.planted["member_vehicle"])
        planted = self.planted["member_vehicle"]
        person = np.concatenate([owner[has], planted])
        types = np.concatenate([kind[has], np.where(rng.random(len(planted)) < 0.7, "K3", "H1")])
        order = np.argsort(person, kind="stable")
        person, types = person[order], types[order]
        marks = np.where(np.isin(person, planted), "member_vehicle", "")
        self.frames["ps_vehicles"] = self._frame(
            person,
            {
                "plate": _plates(rng, len(person)),
                "vehicle_type": types,
                "registered_on": _dates(rng, len(person), dt.date(2008, 1, 1), A.AS_OF),
                "vehicle_status": pick(rng.random(len(person)), VEHICLE_STATUS),
            },
            marks,
        )

    def housing(self) -> None:
        rng = self.rng(4)
        head = self._heads()
        keep = head >= 0
        grade = self.hh["grade"].to_numpy()
        drawn = pick(rng.random(len(grade)), HOUSING_GRADES)
        grade = np.where(np.isin(grade, list(HOUSING_GRADES)), grade, drawn)[keep]
        poor = np.isin(grade, ["C", "D"])
        renovating = poor & (rng.random(len(grade)) < IN_RENOVATION_SHARE)
        subsidy = pd.array(
            np.where(renovating, pd.Series(grade).map(RENOVATION_SUBSIDY).fillna(0).to_numpy(), 0), dtype="Int64"
        )
        subsidy[~renovating] = pd.NA
        self.frames["housing_appraisals"] = self._frame(
            head[keep],
            {
                "appraised_on": _dates(rng, int(keep.sum()), dt.date(2019, 6, 1), dt.date(A.AS_OF.year, 11, 30)),
                "grade": grade,
                "in_renovation": np.where(renovating, "是", "否"),
                "subsidy": subsidy,
            },
        )

    def employment(self) -> None:
        rng = self.rng(5)
        pp = self.pp
        age = pp["age"].to_numpy()
        working_age = (age >= 16) & (age <= 59) & pp["able"].to_numpy() & ~pp["student"].to_numpy()
        working_age &= rng.random(len(pp)) < EMPLOYMENT_REGISTERED_SHARE
        person = np.flatnonzero(working_age)
        away = pp["months_away"].to_numpy()[person] > 0
        welfare = pp["welfare_job"].to_numpy()[person]
        unemployed = ~away & ~welfare & (rng.random(len(person)) < UNEMPLOYED_SHARE_AT_HOME)
        status = np.where(away | welfare, "就业", np.where(unemployed, "失业", "灵活就业"))
        employer = np.where(
            away,
            np.where(pp["employer"].to_numpy()[person] != "", pp["employer"].to_numpy()[person],
                     pp["work_place"].to_numpy()[person]),
            np.where(welfare, "村公益性岗位", np.where(unemployed, "", "本地务农")),
        )  # fmt: skip
        months = np.where(unemployed, integers(rng.random(len(person)), *MONTHS_WITHOUT_WORK), 0)
        self.frames["hr_employment"] = self._frame(
            person,
            {
                "employment_status": status,
                "registered_on": _dates(rng, len(person), dt.date(2018, 1, 1), A.AS_OF),
                "employer": employer,
                "months_without_work": months,
            },
        )

    def insurance(self) -> None:
        rng = self.rng(6)
        pp = self.pp
        age = pp["age"].to_numpy()
        person = np.flatnonzero(pp["pension"].to_numpy() & (age >= 16))
        age = age[person]
        employee = pp["employee_insured"].to_numpy()[person]
        state = np.isin(person, self.planted["member_public_payroll"]) | np.isin(person, self.payroll_people)
        kind = np.where(
            state, "机关事业单位养老保险", np.where(employee, "城镇职工基本养老保险", "城乡居民基本养老保险")
        )
        old = age >= 60
        full = rng.random(len(person)) < FULL_YEAR_PAID_SHARE
        months = np.where(old, 0, np.where(full, 12, integers(rng.random(len(person)), 0, 11)))
        pension = pd.array(
            np.where(kind == "城乡居民基本养老保险", A.PENSION_YEARLY[A.AS_OF.year] // 12, EMPLOYEE_PENSION_MONTHLY),
            dtype="Int64",
        )
        pension[~old] = pd.NA
        self.frames["hr_insurance"] = self._frame(
            person,
            {
                "pension_type": kind,
                "months_paid": months,
                "receiving_pension": np.where(old, "是", "否"),
                "monthly_pension": pension,
            },
        )

    def entities(self) -> None:
        rng = self.rng(7)
        protected = self.hh["protected"].to_numpy()
        u = rng.random(len(self.hh))
        ordinary = pick(
            u,
            {
                "4": INDIVIDUAL_BUSINESS_SHARE,
                "1": COMPANY_SHARE,
                "5": COOPERATIVE_SHARE,
                "": 1 - INDIVIDUAL_BUSINESS_SHARE - COMPANY_SHARE - COOPERATIVE_SHARE,
            },
        )
        kind = np.where(protected, np.where(u < CLOSED_BUSINESS_SHARE_PROTECTED, "4", ""), ordinary)
        owner = self._owners(rng, 20, 65)
        planted = self.planted["member_company"]
        has = (kind != "") & (owner >= 0) & ~np.isin(owner, planted)
        status = np.where(protected, "2", pick(rng.random(len(self.hh)), BUSINESS_STATUS))
        status = np.where(kind == "4", status, "1")
        person = np.concatenate([owner[has], planted])
        types = np.concatenate([kind[has], np.where(rng.random(len(planted)) < 0.6, "1", "4")])
        statuses = np.concatenate([status[has], np.full(len(planted), "1")])
        order = np.argsort(person, kind="stable")
        person, types, statuses = person[order], types[order], statuses[order]
        n = len(person)
        village = self.pp["village"].to_numpy()[person]
        village_name = pd.Series(village).map(self.c.village_names).fillna("").to_numpy().astype(str)
        county = self.c.county_name
        u = rng.random((3, n))
        individual = np.char.add(
            np.char.add(np.char.add(county, village_name), self.pp["name"].to_numpy()[person].astype(str)),
            _choose(rng, INDIVIDUAL_TRADES, u[0]),
        )
        company = np.char.add(
            np.char.add(np.char.add(county, _choose(rng, COMPANY_WORDS, u[0])), _choose(rng, COMPANY_TRADES, u[1])),
            "有限公司",
        )
        cooperative = np.char.add(
            np.char.add(np.char.add(county, village_name), _choose(rng, COOPERATIVE_PRODUCTS, u[1])), "农民专业合作社"
        )
        names = np.where(types == "4", individual, np.where(types == "5", cooperative, company))
        capital = np.where(
            types == "4",
            integers(u[2], 10, 100) * 1000,
            np.where(types == "5", integers(u[2], 10, 100) * 10000, integers(u[2], 50, 500) * 10000),
        )
        self.frames["market_entities"] = self._frame(
            person,
            {
                "credit_code": credit_codes(rng, types, self.c.prefix),
                "entity_name": names,
                "entity_type": pd.Series(types)
                .map({"1": "有限责任公司", "4": "个体工商户", "5": "农民专业合作社"})
                .to_numpy(),
                "capital": capital,
                "established_on": _dates(rng, n, dt.date(2010, 1, 1), A.AS_OF),
                "entity_status": pd.Series(statuses).map({"1": "存续", "2": "注销", "3": "吊销"}).to_numpy(),
            },
            np.where(np.isin(person, planted), "member_company", ""),
        )

    def payroll(self) -> None:
        rng = self.rng(8)
        pp = self.pp
        age = pp["age"].to_numpy()
        ordinary = ~pp["protected"].to_numpy()
        alive = ~np.isin(np.arange(len(pp)), self.dead)
        u = rng.random(len(pp))
        working = ordinary & alive & (age >= 22) & (age <= 59) & ~pp["student"].to_numpy() & (u < PUBLIC_PAYROLL_SHARE)
        retired = ordinary & alive & (age >= 60) & (u < RETIRED_PAYROLL_SHARE)
        planted = self.planted["member_public_payroll"]
        person = np.concatenate([np.flatnonzero(working | retired), planted])
        order = np.argsort(person, kind="stable")
        person = person[order]
        self.payroll_people = person
        n = len(person)
        staff = np.where(age[person] >= 60, "3", pick(rng.random(n), STAFF_TYPES))
        township = pd.Series(self.pp["village"].to_numpy()[person]).str[:9].map(self.c.township_names).fillna("")
        township = township.to_numpy().astype(str)
        short = np.asarray([township_short(t) for t in township.tolist()], dtype=str) if n else township
        county = self.c.county_name
        u = rng.random((2, n))
        in_township = np.char.add(county, township)
        employer = np.where(
            staff == "1",
            np.where(u[0] < 0.6, np.char.add(in_township, "人民政府"), np.char.add(county, "人民政府办公室")),
            np.where(
                u[0] < 0.5,
                np.char.add(np.char.add(county, short), "中心小学"),
                np.where(u[0] < 0.75, np.char.add(county, "人民医院"), np.char.add(in_township, "卫生院")),
            ),
        )
        low = pd.Series(staff).map({k: v[0] for k, v in MONTHLY_PAY.items()}).to_numpy()
        high = pd.Series(staff).map({k: v[1] for k, v in MONTHLY_PAY.items()}).to_numpy()
        pay = (low + np.floor(u[1] * (high - low) / 100) * 100).astype(np.int64)
        self.frames["public_payroll"] = self._frame(
            person,
            {
                "employer": employer,
                "staff_type": pd.Series(staff)
                .map({"1": "公务员", "2": "事业编制人员", "3": "离退休人员", "4": "其他财政供养人员"})
                .to_numpy(),
                "monthly_pay": pay,
            },
            np.where(np.isin(person, planted), "member_public_payroll", ""),
        )

    def payments(self) -> None:
        rng = self.rng(9)
        head = self._heads()
        land, forest = self.hh["land"].to_numpy(), self.hh["forest"].to_numpy()
        paid = (head >= 0) & (land + forest > 0)
        after_death = self.planted["subsidy_after_death"]
        dead = np.isin(head, self.dead) & ~np.isin(head, after_death)
        households = np.flatnonzero(paid & ~dead)
        person = head[households]
        amount = np.round(land[households] * A.LAND_SUBSIDY_PER_MU + forest[households] * A.ECO_COMPENSATION_PER_MU, 2)
        item = np.where(
            forest[households] == 0,
            "耕地地力保护补贴",
            np.where(land[households] == 0, "公益林生态补偿", "耕地地力保护补贴、公益林生态补偿"),
        )
        township = self.hh["village"].to_numpy()[households].astype("<U12")
        township = np.asarray([t[:9] for t in township.tolist()])
        # Strangers: valid IDs of the county that the registry does not know, paid like the others.
        strangers = len(self.planted["payment_not_in_registry"])
        ids, sexes = valid_ids(rng, strangers, self.c.prefix, self.pp["id"].to_numpy())
        stranger_townships = _choose(rng, sorted(self.c.township_names), rng.random(strangers))
        stranger_amounts = np.round(integers(rng.random(strangers), 2, 12) * A.LAND_SUBSIDY_PER_MU * 1.0, 2)
        townships = np.concatenate([township, stranger_townships])
        days = sorted(self.c.township_names)
        day_of = dict(zip(days, _dates(rng, len(days), *PAYMENT_DAYS).tolist(), strict=True))
        frame = self._frame(
            np.concatenate([person, np.full(strangers, -1)]),
            {
                "item": np.concatenate([item, np.full(strangers, "耕地地力保护补贴")]),
                "amount": np.concatenate([amount, stranger_amounts]),
                "paid_on": np.asarray([day_of[t] for t in townships.tolist()], dtype="datetime64[D]"),
                "township_name": pd.Series(townships).map(self.c.township_names).fillna("").to_numpy(),
            },
            np.concatenate(
                [
                    np.where(np.isin(person, after_death), "subsidy_after_death", ""),
                    np.full(strangers, "payment_not_in_registry"),
                ]
            ),
        )
        frame.loc[frame["_person"] < 0, "id_number"] = ids
        frame.loc[frame["_person"] < 0, "name"] = _stranger_names(rng, sexes)
        self.frames["subsidy_payments"] = frame.sample(frac=1, random_state=int(rng.integers(0, 2**31))).sort_values(
            "township_name", kind="stable"
        )

    def property(self) -> None:
        rng = self.rng(10)
        hh, c = self.hh, self.c
        village = hh["village"].to_numpy()
        village_name = pd.Series(village).map(c.village_names).fillna("").to_numpy().astype(str)
        town = np.char.endswith(village_name, "社区")
        protected = hh["protected"].to_numpy()
        head = self._heads()
        u = rng.random((2, len(hh)))
        homestead = (head >= 0) & ~town & (u[0] < HOMESTEAD_REGISTERED_SHARE)
        town_home = (head >= 0) & town & ~protected & (u[0] < TOWN_HOME_REGISTERED_SHARE)
        flat_owner = self._owners(rng, 22, 65, exclude_heads=True)
        flat = (flat_owner >= 0) & ~protected & ~town & (u[1] < TOWN_FLAT_SHARE)
        planted = self.planted["member_property_in_town"]
        rows = [
            (head[homestead], np.flatnonzero(homestead), "2"),
            (head[town_home], np.flatnonzero(town_home), "1"),
            (flat_owner[flat], np.flatnonzero(flat), "flat"),
            (planted, self.pp["hh"].to_numpy()[planted], "flat"),
        ]
        person = np.concatenate([r[0] for r in rows])
        households = np.concatenate([r[1] for r in rows])
        kind = np.concatenate([np.full(len(r[0]), r[2]) for r in rows])
        n = len(person)
        township = np.asarray([v[:9] for v in village[households].tolist()], dtype="<U9")
        town_townships = [t for t, name in sorted(c.township_names.items()) if name.endswith("街道")]
        seat = town_townships[0] if town_townships else (sorted(c.township_names) or [c.prefix + "001"])[0]
        in_town = kind != "2"
        zone = np.where(kind == "flat", seat + "001", village[households].astype("<U12")).astype("<U12")
        parcel = np.zeros(n, dtype=np.int64)
        for value in np.unique(zone):  # numbered within each cadastral zone
            mask = zone == value
            parcel[mask] = np.arange(1, int(mask.sum()) + 1)
        unit = np.char.add(
            np.char.add(np.char.add(zone, np.where(in_town, "GB", "JC")), np.char.zfill(parcel.astype(str), 5)),
            np.where(kind == "flat", np.char.add("F0001", np.char.zfill((parcel % 10000).astype(str), 4)),
                     "F00010001"),
        )  # fmt: skip
        names = pd.Series(village[households]).map(c.village_names).fillna("").to_numpy().astype(str)
        townships = pd.Series(township).map(c.township_names).fillna("").to_numpy().astype(str)
        group = hh["group"].to_numpy()[households].astype(str)
        u = rng.random((3, n))
        estate = np.char.add(_choose(rng, ("幸福", "民族", "银球", "苗疆", "丹江"), u[0]), "小区")
        flat_place = np.char.add(
            np.char.add(c.county_name + c.township_names.get(seat, ""), estate),
            np.char.add(integers(u[1], 1, 12).astype(str), "栋"),
        )
        rural_place = np.char.add(np.char.add(np.char.add(c.county_name, townships), names), group)
        area = np.where(
            kind == "flat",
            integers(u[2], TOWN_FLAT_AREA[0] * 10, TOWN_FLAT_AREA[1] * 10) / 10,
            integers(u[2], HOMESTEAD_AREA[0] * 10, HOMESTEAD_AREA[1] * 10) / 10,
        )
        order = np.argsort(person, kind="stable")
        self.frames["property_registrations"] = self._frame(
            person[order],
            {
                "unit_number": unit[order],
                "location": np.where(kind == "flat", flat_place, rural_place)[order],
                "location_type": np.where(in_town, "城镇", "农村")[order],
                "use": np.full(n, "住宅"),
                "floor_area": area[order],
                "registered_on": _dates(rng, n, dt.date(2019, 1, 1), A.AS_OF),
            },
            np.where(np.isin(person, planted), "member_property_in_town", "")[order],
        )

    def build(self) -> dict[str, pd.DataFrame]:
        self.death_of: dict[int, dt.date] = {}
        self.dead = np.asarray([], dtype=np.int64)
        self.payroll_people = np.asarray([], dtype=np.int64)
        self.choose_planted()
        self.deaths()
        self.moves()
        self.vehicles()
        self.housing()
        self.employment()
        self.payroll()
        self.insurance()
        self.entities()
        self.payments()
        self.property()
        return self.frames


# --- Faults and writing -------------------------------------------------------------------------------


def inject_faults(rng: np.random.Generator, frame: pd.DataFrame, columns: list[dict]) -> dict[str, list[int]]:
    """A few rows made faulty (never a planted one, never a stranger): a wrong check character, and a code outside
    the dictionary (or a blank required value where the file has no code). Returns the row numbers by kind (1 =
    the first data row)."""
    n = len(frame)
    faults: dict[str, list[int]] = {"bad_check_character": []}
    count = max(1, round(n * FAULT_SHARE)) if n else 0
    eligible = np.flatnonzero((frame["_planted"].to_numpy() == "") & (frame["_person"].to_numpy() >= 0))
    chosen = rng.permutation(eligible)[: 2 * count]
    bad, other = np.sort(chosen[:count]), np.sort(chosen[count:])
    ids = frame["id_number"].to_numpy().copy()
    for k, i in enumerate(bad.tolist()):
        ids[i] = wrong_check_character(ids[i], k)
    frame["id_number"] = ids
    faults["bad_check_character"] = (bad + 1).tolist()
    coded = [c for c in columns if c.get("kind") == "code"]
    if coded:
        key = coded[0]["key"]
        values = frame[key].to_numpy().copy()
        values[other] = UNKNOWN_CODES.get(coded[0]["codeset"], "未知")
        frame[key] = values
        faults["unknown_code"] = (other + 1).tolist()
    else:
        key = next(c["key"] for c in columns if c.get("required") and c["key"] not in ("period", "id_number", "name"))
        values = frame[key].to_numpy().copy()
        if np.issubdtype(values.dtype, np.datetime64):
            values[other] = np.datetime64("NaT")
        else:
            values = values.astype(object)
            values[other] = None
        frame[key] = values
        faults["blank_required"] = (other + 1).tolist()
    return faults


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name].dtype):
            out[name] = pd.to_datetime(out[name]).dt.strftime("%Y-%m-%d").fillna("")
    return out


def _xlsx_rows(frame: pd.DataFrame):
    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            columns.append(series.to_numpy().astype("datetime64[D]").tolist())  # NaT → None
        else:
            values = series.astype(object).to_numpy().copy()
            values[series.isna().to_numpy()] = None
            columns.append(values.tolist())
    return [list(row) for row in zip(*columns, strict=True)]


def _write(path: Path, slug: str, frame: pd.DataFrame, headers: list[str]) -> None:
    partial = path.with_name(path.name + ".partial")
    if FORMATS[slug] == "xlsx":
        writer = XlsxWriter(partial, sheet=SHEET, columns=len(headers))
        try:
            writer.append_rows([headers])
            rows = _xlsx_rows(frame)
            for start in range(0, len(rows), 10_000):
                writer.append_rows(rows[start : start + 10_000])
        finally:
            writer.close()
    else:
        out = _for_csv(frame)
        out.columns = headers
        out.to_csv(partial, index=False, encoding=FORMATS[slug], lineterminator="\r\n")
    os.replace(partial, path)


def write_declared_files(*, folder: Path, seed: int, regions_file: Path | None = None) -> dict[str, dict]:
    """Write every declared department's file of the county whose registry export is in ``folder``, each with its
    manifest; returns the manifests by department."""
    folder = Path(folder)
    county = read_county(folder, regions_file=regions_file)
    columns = declared_columns()
    frames = _Builder(county, seed).build()
    manifests = {}
    for number, slug in enumerate(FORMATS):
        frame = frames[slug].reset_index(drop=True)
        declared = columns[slug]
        keys = [c["key"] for c in declared]
        faults = inject_faults(np.random.default_rng([seed, 17_017, 100 + number]), frame, declared)
        path = folder / file_name(slug)
        _write(path, slug, frame[keys], [c["column"] for c in declared])
        manifest = _manifest(slug, path, frame, declared, faults, seed)
        manifest_path(path).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        manifests[slug] = manifest
    return manifests


def _manifest(slug: str, path: Path, frame: pd.DataFrame, declared: list[dict], faults: dict, seed: int) -> dict:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    marks = frame["_planted"].to_numpy()
    planted = {kind: int((marks == kind).sum()) for kind in PLANTED if (marks == kind).any()}
    return {
        "department": slug,
        "file": path.name,
        "format": "xlsx" if FORMATS[slug] == "xlsx" else "csv",
        "encoding": ENCODING_NAMES[FORMATS[slug]],
        "period": A.PERIOD,
        "seed": seed,
        "columns": [c["column"] for c in declared],
        "rows": len(frame),
        "registry_rows": int((frame["_person"] >= 0).sum()),
        "non_registry_rows": int((frame["_person"] < 0).sum()),
        "row_numbering": "1 = the first data row after the one header row",
        "faults": {kind: len(rows) for kind, rows in faults.items()},
        "faulty_rows_total": sum(len(rows) for rows in faults.values()),
        "fault_rows": faults,
        "planted": planted,
        "planted_ids": {kind: sorted(frame.loc[marks == kind, "id_number"].tolist()) for kind in planted},
        "planted_rule": "cases of the cross-check of that code, against the 2025-12 registry export; "
        "no natural record makes one",
        "sha256": digest,
    }
