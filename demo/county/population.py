"""Households and members: composition, names, IDs, health, schooling, work, insurance, living conditions.

Every draw is a per-chunk numpy array. Only the household composition walks the households one by one, and it
takes its randomness from a pre-drawn matrix, so the result depends on the seed alone.
"""

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import (
    Table,
    any_per_household,
    by_age,
    integers,
    pick,
    pick_index,
    sum_per_household,
    year_start,
)
from demo.county.ids import IdAllocator
from demo.county.names import (
    EMPLOYERS,
    FAMILY_NAMES,
    GIVEN,
    SHUI_FAMILY_NAMES,
    TWO_CHARACTER_SHARE,
    WORK_PLACES,
    city_of,
)
from demo.county.villages import VillageBook

HEAD_FAMILY, OWN_FAMILY, SECOND_FAMILY = 0, 1, 2
MALE, FEMALE = "1", "2"

TEMPLATES_BY_SIZE = {
    2: {"elderly_couple": 0.60, "young_couple": 0.10, "single_parent": 0.15, "skipped": 0.15},
    3: {"nuclear": 0.55, "single_parent": 0.12, "skipped": 0.08, "widowed": 0.10, "with_parents": 0.15},
    4: {
        "nuclear": 0.45,
        "with_parents": 0.15,
        "three_gen": 0.20,
        "skipped": 0.05,
        "single_parent": 0.05,
        "widowed": 0.10,
    },
    5: {"nuclear": 0.25, "with_parents": 0.25, "three_gen": 0.35, "skipped": 0.05, "widowed": 0.10},
    6: {"nuclear": 0.10, "with_parents": 0.25, "three_gen": 0.55, "widowed": 0.10},
}
TEMPLATES = (
    "single",
    "elderly_couple",
    "young_couple",
    "nuclear",
    "single_parent",
    "skipped",
    "widowed",
    "with_parents",
    "three_gen",
)
DRAWS_PER_HOUSEHOLD = 48

# Health stored as comma-wrapped codes, indexed by chronic (1) + serious (2) + disabled (4).
HEALTH_BY_MASK = np.asarray([",1,", ",2,", ",3,", ",2,3,", ",4,", ",2,4,", ",3,4,", ",2,3,4,"])
EDUCATION_BY_COHORT = (  # (age from, weights of 文化程度 1–6)
    (70, {"1": 0.55, "2": 0.38, "3": 0.06, "4": 0.01}),
    (55, {"1": 0.30, "2": 0.50, "3": 0.17, "4": 0.03}),
    (40, {"1": 0.10, "2": 0.45, "3": 0.38, "4": 0.06, "5": 0.01}),
    (23, {"1": 0.03, "2": 0.20, "3": 0.52, "4": 0.15, "5": 0.07, "6": 0.03}),
)


class _Draws:
    """Hands out a household's pre-drawn uniforms one at a time."""

    __slots__ = ("i", "values")

    def __init__(self, values: list[float]):
        self.values, self.i = values, 0

    def p(self) -> float:
        value = self.values[self.i % DRAWS_PER_HOUSEHOLD]
        self.i += 1
        return value

    def int(self, low: int, high: int) -> int:
        return low + int(self.p() * (high - low + 1))

    def sex(self, male_share: float) -> str:
        return MALE if self.p() < male_share else FEMALE


def _other(sex: str) -> str:
    return FEMALE if sex == MALE else MALE


def _children(d: _Draws, mother_age: int, count: int, son: str, daughter: str, family: int) -> list[tuple]:
    out, age = [], mother_age - d.int(20, 30)
    for k in range(count):
        if k:
            age -= d.int(1, 4)
        age = max(age, 0)
        sex = d.sex(0.52)
        out.append((son if sex == MALE else daughter, age, sex, family))
    return out


def _couple(d: _Draws, low: int, high: int, male_head: float) -> tuple[list[tuple], int]:
    """Head and spouse; returns them and the wife's age (children are counted from it)."""
    head_age, head_sex = d.int(low, high), d.sex(male_head)
    spouse_age = min(max(head_age - d.int(-3, 6) if head_sex == MALE else head_age + d.int(-3, 6), 19), 95)
    wife_age = spouse_age if head_sex == MALE else head_age
    return [
        ("01", head_age, head_sex, HEAD_FAMILY),
        ("02", spouse_age, _other(head_sex), OWN_FAMILY),
    ], wife_age


def household_members(size: int, template: str, d: _Draws) -> list[tuple]:
    """(relation, age at AS_OF, sex, family key) of each member, head first."""
    if template == "single":
        if d.p() < 0.6:
            return [("01", d.int(60, 90), d.sex(0.45), HEAD_FAMILY)]
        return [("01", d.int(25, 59), d.sex(0.75), HEAD_FAMILY)]
    if template == "elderly_couple":
        return _couple(d, 55, 85, 0.9)[0]
    if template == "young_couple":
        return _couple(d, 22, 40, 0.9)[0]
    if template == "nuclear":
        members, wife = _couple(d, max(25, 20 + 2 * (size - 2)), 55, 0.88)
        return members + _children(d, wife, size - 2, "03", "04", HEAD_FAMILY)
    if template == "single_parent":
        head_age, sex = d.int(28, 55), d.sex(0.4)
        return [
            ("01", head_age, sex, HEAD_FAMILY),
            *_children(d, head_age, size - 1, "03", "04", HEAD_FAMILY),
        ]
    if template == "skipped":
        head_age, sex = d.int(55, 80), d.sex(0.6)
        members = [("01", head_age, sex, HEAD_FAMILY)]
        if size >= 3 and d.p() < 0.7:
            members.append(("02", min(max(head_age + d.int(-5, 5), 50), 95), _other(sex), OWN_FAMILY))
        for _ in range(size - len(members)):
            child_sex = d.sex(0.52)
            members.append(("07" if child_sex == MALE else "08", d.int(1, 16), child_sex, HEAD_FAMILY))
        return members
    if template == "widowed":
        head_age = d.int(55, 82)
        son_age = max(head_age - d.int(22, 32), 20)
        wife_age = max(son_age - d.int(-3, 4), 19)
        members = [
            ("01", head_age, d.sex(0.35), HEAD_FAMILY),
            ("03", son_age, MALE, HEAD_FAMILY),
            ("05", wife_age, FEMALE, OWN_FAMILY),
        ]
        return members + _children(d, wife_age, size - 3, "07", "08", HEAD_FAMILY)
    if template == "with_parents":
        members, wife = _couple(d, 28, 50, 0.85)
        head_age = members[0][1]
        parents = 1 if size == 3 else (2 if d.p() < (0.3 if size == 4 else 0.6) else 1)
        mother_first = d.p() < 0.6
        for k in range(parents):
            age = min(head_age + d.int(22, 32), 95)
            members.append(
                ("12", age, FEMALE, OWN_FAMILY)
                if (k == 0) == mother_first
                else ("11", age, MALE, HEAD_FAMILY)
            )
        return members + _children(d, wife, size - 2 - parents, "03", "04", HEAD_FAMILY)
    # three generations: the head's couple, a married child and their spouse, grandchildren
    members, wife = _couple(d, 50, 75, 0.88)
    child_age = max(wife - d.int(20, 30), 20)
    partner_age = max(child_age - d.int(-3, 4), 19)
    grandchildren = size - 4
    if size >= 7:
        grandchildren -= 1
        sex = d.sex(0.5)
        members.append(("03" if sex == MALE else "04", max(child_age - d.int(2, 8), 14), sex, HEAD_FAMILY))
    if d.p() < 0.12:  # a son-in-law who married into the household (上门女婿)
        members += [("04", child_age, FEMALE, HEAD_FAMILY), ("06", partner_age + 2, MALE, SECOND_FAMILY)]
        return members + _children(d, child_age, grandchildren, "09", "10", SECOND_FAMILY)
    members += [("03", child_age, MALE, HEAD_FAMILY), ("05", partner_age, FEMALE, OWN_FAMILY)]
    return members + _children(d, partner_age, grandchildren, "07", "08", HEAD_FAMILY)


def _templates_for(sizes: np.ndarray, u: np.ndarray) -> np.ndarray:
    templates = np.full(len(sizes), "single", dtype="<U16")
    for size, weights in TEMPLATES_BY_SIZE.items():
        mask = (sizes == size) if size < 6 else (sizes >= 6)
        templates[mask] = pick(u[mask], weights)
    return templates


def _family_names(u: np.ndarray, shui: np.ndarray) -> np.ndarray:
    names = pick(u, FAMILY_NAMES)
    shui_names = pick(u, SHUI_FAMILY_NAMES)
    return np.where(shui, shui_names, names)


def _given_names(rng: np.random.Generator, sex: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    n = len(sex)
    cohort = np.where(birth_year < 1970, 0, np.where(birth_year < 1995, 1, 2))
    first = np.empty(n, dtype="<U1")
    second = np.full(n, "", dtype="<U1")
    u = rng.random((3, n))
    for (s, c), pool in GIVEN.items():
        chars = np.asarray(list(pool))
        mask = (sex == s) & (cohort == c)
        first[mask] = chars[(u[0][mask] * len(chars)).astype(np.int64)]
        two = mask & (u[2] < TWO_CHARACTER_SHARE[c])
        second[two] = chars[(u[1][two] * len(chars)).astype(np.int64)]
    return np.char.add(first, second)


def compose(
    rng: np.random.Generator, persons: int, villages: VillageBook, serials: np.ndarray, ids: IdAllocator
) -> tuple[Table, Table]:
    """Households and members until `persons` people; the last household is cut to fit exactly."""
    weights = np.asarray(list(A.HOUSEHOLD_SIZE_WEIGHTS.values()))
    sizes = rng.choice(np.asarray(list(A.HOUSEHOLD_SIZE_WEIGHTS)), size=int(persons / 3.0) + 8, p=weights)
    total = np.cumsum(sizes)
    count = int(np.searchsorted(total, persons)) + 1
    sizes = sizes[:count].copy()
    sizes[-1] -= int(total[count - 1] - persons)

    uniforms = rng.random((count, DRAWS_PER_HOUSEHOLD))
    templates = _templates_for(sizes, rng.random(count))
    relation, age, sex, family, household = [], [], [], [], []
    for index, (size, row, template) in enumerate(
        zip(sizes.tolist(), uniforms.tolist(), templates.tolist(), strict=True)
    ):
        for rel, a, s, f in household_members(size, template, _Draws(row)):
            relation.append(rel)
            age.append(a)
            sex.append(s)
            family.append(f)
            household.append(index)

    village = np.searchsorted(np.cumsum(villages.weights), rng.random(count) * villages.weights.sum())
    village = np.minimum(village, len(villages.codes) - 1)
    hh: Table = {
        "size": sizes.astype(np.int64),
        "template": np.asarray([TEMPLATES.index(t) for t in templates.tolist()], dtype=np.int64),
        "village": village,
        "village_id": villages.codes[village],
        "urban": villages.urban[village],
        "tourism": villages.tourism[village],
        "kind": villages.kinds[village],
    }
    hh["number"] = _household_numbers(village, villages, serials)
    pp: Table = {
        "hh": np.asarray(household, dtype=np.int64),
        "relation": np.asarray(relation, dtype="<U2"),
        "age": np.asarray(age, dtype=np.int64),
        "sex": np.asarray(sex, dtype="<U1"),
        "family": np.asarray(family, dtype=np.int64),
    }
    _identities(rng, hh, pp, ids)
    return hh, pp


def _household_numbers(village: np.ndarray, villages: VillageBook, serials: np.ndarray) -> np.ndarray:
    """户编号: village code + a 5-digit serial that runs on across chunks (serials is updated in place)."""
    order = np.argsort(village, kind="stable")
    counts = np.bincount(village, minlength=len(villages.codes))
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    serial = np.empty(len(village), dtype=np.int64)
    serial[order] = serials[village[order]] + (np.arange(len(village)) - starts) + 1
    serials += counts
    return np.asarray(
        [f"{code}{s:05d}" for code, s in zip(villages.codes[village].tolist(), serial.tolist(), strict=True)]
    )


def _identities(rng: np.random.Generator, hh: Table, pp: Table, ids: IdAllocator) -> None:
    n, h = len(pp["age"]), len(hh["size"])
    birth_year = A.AS_OF.year - pp["age"]
    days = 365 + ((birth_year % 4 == 0) & ((birth_year % 100 != 0) | (birth_year % 400 == 0)))
    pp["birth_date"] = year_start(birth_year) + np.floor(rng.random(n) * days).astype(np.int64)
    pp["birth_year"] = birth_year

    shui = hh["kind"] == "shui"
    shui_pool = shui & (rng.random(h) < 0.5)
    head_family = _family_names(rng.random(h), shui_pool)
    second_family = _family_names(rng.random(h), shui_pool)
    own_family = _family_names(rng.random(n), shui_pool[pp["hh"]])
    family = np.select(
        [pp["family"] == HEAD_FAMILY, pp["family"] == SECOND_FAMILY],
        [head_family[pp["hh"]], second_family[pp["hh"]]],
        own_family,
    )
    pp["name"] = np.char.add(family, _given_names(rng, pp["sex"], birth_year))

    household_ethnicity = np.empty(h, dtype="<U2")
    u = rng.random(h)
    for kind, weights in A.ETHNICITY_WEIGHTS.items():
        mask = hh["kind"] == kind
        household_ethnicity[mask] = pick(u[mask], weights)
    married_in = pp["family"] != HEAD_FAMILY
    other = np.empty(n, dtype="<U2")
    u = rng.random(n)
    for kind, weights in A.ETHNICITY_WEIGHTS.items():
        mask = hh["kind"][pp["hh"]] == kind
        other[mask] = pick(u[mask], weights)
    switch = married_in & (rng.random(n) < A.SPOUSE_OTHER_ETHNICITY)
    pp["ethnicity"] = np.where(switch, other, household_ethnicity[pp["hh"]])
    pp["id_number"] = ids.allocate(pp["birth_date"], pp["sex"])


# --- People ------------------------------------------------------------------------------------------


def describe_people(rng: np.random.Generator, hh: Table, pp: Table, *, home_place: str = A.HOME_PLACE) -> None:
    """Health, disability, schooling, labour, work away and insurance of every member (in place)."""
    _health(rng, pp)
    _schooling(rng, pp)
    _labour(rng, pp)
    _work(rng, pp, home_place=home_place)
    _insurance(rng, pp)


def _health(rng: np.random.Generator, pp: Table) -> None:
    n, age = len(pp["age"]), pp["age"]
    u = rng.random((6, n))
    chronic = u[0] < by_age(age, A.CHRONIC_BY_AGE)
    disabled = u[1] < by_age(age, A.DISABILITY_BY_AGE)
    serious = u[2] < A.SERIOUS_ILLNESS_BASE * np.where(age >= 60, 2.0, 1.0)
    pp["chronic"], pp["serious"], pp["disabled"] = chronic, serious, disabled
    pp["serious_base"] = serious.copy()  # long-standing serious illness, apart from the shocks of incomes.py
    category = np.where(disabled, pick(u[3], A.DISABILITY_CATEGORY_WEIGHTS), "")
    grade = np.where(disabled, pick(u[4], A.DISABILITY_GRADE_WEIGHTS), "")
    pp["disability_category"], pp["disability_grade"] = category, grade
    certified = disabled & (u[5] < A.DISABILITY_CERTIFICATE_SHARE)
    pp["disability_certificate"] = np.where(
        certified, np.char.add(np.char.add(pp["id_number"], category), grade), ""
    )
    set_health_codes(pp)


def set_health_codes(pp: Table) -> None:
    mask = pp["chronic"].astype(np.int64) + 2 * pp["serious"] + 4 * pp["disabled"]
    pp["health"] = HEALTH_BY_MASK[mask]


def _schooling(rng: np.random.Generator, pp: Table) -> None:
    age, sex = pp["age"], pp["sex"]
    n = len(age)
    school = np.full(n, "", dtype="<U2")
    education = np.full(n, "", dtype="<U1")
    u = rng.random((6, n))
    behind = (u[0] < 0.10).astype(np.int64)

    school[age <= 2] = "01"
    pre = (age >= 3) & (age <= 5)
    school[pre] = np.where(u[1][pre] < 0.9, "02", "01")

    primary = (age >= 6) & (age <= 11)
    school[primary] = np.char.add("1", np.clip(age - 5 - behind, 1, 6)[primary].astype(str))
    junior_age = (age >= 12) & (age <= 14)
    grade = age - 11 - behind
    school[junior_age & (grade <= 0)] = "16"
    junior = junior_age & (grade >= 1)
    school[junior] = np.char.add("2", grade[junior].astype(str))

    fifteen = age == 15
    school[fifteen] = pick(u[1][fifteen], {"23": 0.25, "31": 0.40, "41": 0.25, "": 0.10})
    older_teen = (age >= 16) & (age <= 17)
    track = pick(u[1], {"3": 0.55, "4": 0.30, "": 0.15})
    teen_grade = np.clip(age - 14 - behind, 1, 3).astype(str)
    enrolled = older_teen & (track != "")
    school[enrolled] = np.char.add(track[enrolled], teen_grade[enrolled])
    education[(fifteen | older_teen) & (school == "")] = "3"

    college_age = (age >= 18) & (age <= 22)
    still_high = (age == 18) & (u[2] < 0.10)
    school[still_high] = "33"
    college = college_age & ~still_high & (u[3] < 0.32)
    vocational = college & (u[4] < 0.55)
    school[vocational] = np.char.add("5", np.clip(age - 17, 1, 3)[vocational].astype(str))
    school[college & ~vocational] = "61"
    young = (age >= 18) & (age <= 20) & (school == "")
    education[young] = pick(u[5][young], {"3": 0.55, "4": 0.40, "2": 0.05})
    twenties = (age >= 21) & (age <= 22) & (school == "")
    education[twenties] = pick(u[5][twenties], {"3": 0.45, "4": 0.30, "5": 0.17, "6": 0.06, "2": 0.02})

    late = (age >= 23) & (age <= 26)
    school[late & (u[3] < 0.02)] = "61"
    school[late & (u[3] >= 0.02) & (u[3] < 0.035)] = "71"

    for low, weights in EDUCATION_BY_COHORT:
        mask = (age >= low) & (school == "") & (education == "")
        education[mask] = pick(u[5][mask], weights)
    # Older women more often never went to school.
    illiterate = (age >= 55) & (sex == FEMALE) & (education == "2") & (u[4] < 0.3)
    education[illiterate] = "1"

    # 控辍保学: a few children of compulsory age have left school before finishing junior middle school.
    compulsory = (
        (age >= 10) & (age <= 15) & (np.char.startswith(school, "1") | np.char.startswith(school, "2"))
    )
    dropout = compulsory & (u[2] < 0.012)
    school[dropout] = ""
    education[dropout] = "2"
    pp["school_status"], pp["education"], pp["dropout"] = school, education, dropout


def _labour(rng: np.random.Generator, pp: Table) -> None:
    age, n = pp["age"], len(pp["age"])
    u = rng.random((3, n))
    labour = np.full(n, "5", dtype="<U1")
    adult = (age >= 16) & (age <= 60) & (pp["school_status"] == "")
    skilled_share = np.where(np.isin(pp["education"], ["4", "5", "6"]), 0.30, 0.15)
    labour[adult] = np.where(u[0] < skilled_share, "2", np.where(u[0] < skilled_share + 0.75, "1", "3"))[
        adult
    ]
    sixties = (age > 60) & (age <= 70)
    labour[sixties] = pick(u[1][sixties], {"1": 0.30, "3": 0.55, "4": 0.15})
    old = age > 70
    labour[old] = pick(u[1][old], {"3": 0.25, "4": 0.35, "5": 0.40})

    working = (age >= 16) & (pp["school_status"] == "")
    weak = working & pp["chronic"] & (u[2] < 0.45) & np.isin(labour, ["1", "2"])
    labour[weak] = "3"
    grade = pp["disability_grade"]
    severe = working & np.isin(grade, ["1", "2"])
    labour[severe] = np.where(u[2][severe] < 0.8, "4", "3")
    mild = working & np.isin(grade, ["3", "4"]) & np.isin(labour, ["1", "2"]) & (u[1] < 0.6)
    labour[mild] = "3"
    sick = working & pp["serious"]
    labour[sick] = np.where(u[2][sick] < 0.5, "4", "3")
    pp["labour_skill"] = labour


def _work(rng: np.random.Generator, pp: Table, *, home_place: str = A.HOME_PLACE) -> None:
    age, n = pp["age"], len(pp["age"])
    u = rng.random((6, n))
    able = np.isin(pp["labour_skill"], ["1", "2"]) & (pp["school_status"] == "")
    share = np.where(pp["sex"] == MALE, A.MIGRANT_SHARE["1"], A.MIGRANT_SHARE["2"])
    migrant = able & (age >= 18) & (age <= 55) & (u[0] < share)
    months = np.where(u[1] < 0.45, 12, np.where(u[1] < 0.70, integers(u[2], 10, 11), integers(u[2], 6, 9)))
    pp["usual_months"] = np.where(migrant, months, 0)
    place = pick_index(u[3], WORK_PLACES)
    # Work at home is in the generated county itself (WORK_PLACES names the demo county).
    known = [home_place if name == A.HOME_PLACE else name for name in WORK_PLACES]
    places = np.asarray(known)[place]
    cities = np.asarray([city_of(name) for name in known])[place]
    employers = np.char.add(cities, np.asarray(EMPLOYERS)[(u[4] * len(EMPLOYERS)).astype(np.int64)])
    pp["usual_work_place"] = np.where(migrant, places, "")
    pp["usual_employer"] = np.where(migrant, employers, "")
    base = np.where(pp["labour_skill"] == "2", A.MIGRANT_MONTHLY_WAGE["2"], A.MIGRANT_MONTHLY_WAGE["1"])
    pp["monthly_wage"] = np.where(
        migrant, base * np.exp(rng.normal(0, 0.25, n)) * np.where(pp["sex"] == MALE, 1, 0.85), 0
    )
    local_able = np.isin(pp["labour_skill"], ["1", "2", "3"]) & ~migrant & (age >= 16) & (age <= 64)
    local_able &= pp["school_status"] == ""
    local = local_able & (u[5] < A.LOCAL_WORK_SHARE)
    weak = np.where(pp["labour_skill"] == "3", 0.5, 1.0)
    pp["local_wage"] = np.where(local, A.LOCAL_ANNUAL_WAGE * np.exp(rng.normal(0, 0.35, n)) * weak, 0)
    pp["public_welfare_job"] = np.zeros(n, dtype=bool)
    pp["public_welfare_months"] = np.zeros(n, dtype=np.int64)


def _insurance(rng: np.random.Generator, pp: Table) -> None:
    n = len(pp["age"])
    u = rng.random((3, n))
    skilled_away = (pp["labour_skill"] == "2") & (pp["usual_months"] >= 10)
    employee = skilled_away & (u[0] < A.EMPLOYEE_INSURANCE_SHARE_SKILLED_MIGRANT)
    pp["employee_medical_insurance"] = employee
    pp["resident_medical_insurance"] = ~employee
    pp["critical_illness_insurance"] = u[1] < np.where(employee, 0.90, A.CRITICAL_ILLNESS_INSURANCE_SHARE)
    adult = (pp["age"] >= 16) & (pp["school_status"] == "")
    pp["pension_insurance"] = (adult & (u[2] < A.PENSION_INSURANCE_SHARE)) | (pp["age"] >= 60)


# --- Households --------------------------------------------------------------------------------------


def describe_households(rng: np.random.Generator, hh: Table, pp: Table) -> None:
    """Household type, history of poverty, living conditions, land, phone; public-welfare jobs (in place)."""
    h, member_of = len(hh["size"]), pp["hh"]
    u = rng.random((16, h))
    disabled = any_per_household(pp["disabled"], member_of, h)
    ill = any_per_household(pp["chronic"] | pp["serious"], member_of, h)
    able = sum_per_household(np.isin(pp["labour_skill"], ["1", "2", "3"]).astype(float), member_of, h)
    strong = sum_per_household(np.isin(pp["labour_skill"], ["1", "2"]).astype(float), member_of, h)
    elderly_only = ~any_per_household(pp["age"] < 60, member_of, h)
    hh["whole_household_unable_to_work"] = able == 0
    hh["strong_workers"] = strong
    hh["elderly_only"] = elderly_only

    weight = (
        1 + 1.0 * disabled + 0.8 * ill + 1.0 * (strong == 0) + 0.5 * elderly_only + 0.3 * (hh["size"] >= 6)
    )
    weight = weight * np.where(hh["urban"], 0.4, 1.0)
    lifted = u[0] < np.clip(A.LIFTED_SHARE * weight / weight.mean(), 0, 0.95)
    hh["lifted"] = lifted
    hh["household_type"] = np.where(lifted, "1", "2")
    hh["lifted_year"] = np.where(
        lifted, pick(u[1], {str(k): v for k, v in A.LIFTED_YEAR_WEIGHTS.items()}), ""
    )
    attribute = np.where(lifted, pick(u[2], A.POVERTY_ATTRIBUTE_WEIGHTS), "")
    # 特困供养 is for people alone who cannot work; a larger household lifted under 兜底 was a 低保 one.
    hh["poverty_attribute"] = np.where((attribute == "3") & ((hh["size"] > 1) | (strong > 0)), "2", attribute)
    main = pick(u[3], A.POVERTY_CAUSE_WEIGHTS)
    main = np.where(disabled & (u[4] < 0.4), "02", np.where(ill & (u[4] < 0.3), "01", main))
    hh["main_poverty_cause"] = np.where(lifted, main, "")
    first, second = pick(u[5], A.POVERTY_CAUSE_WEIGHTS), pick(u[6], A.POVERTY_CAUSE_WEIGHTS)
    others = []
    for m, a, b, k, is_lifted in zip(
        main.tolist(),
        first.tolist(),
        second.tolist(),
        (u[7] * 3).astype(int).tolist(),
        lifted.tolist(),
        strict=True,
    ):
        chosen = [c for c in dict.fromkeys((a, b)) if c != m][:k] if is_lifted else []
        others.append(f",{','.join(sorted(chosen))}," if chosen else "")
    hh["other_poverty_causes"] = np.asarray(others)

    urban = hh["urban"]
    poor = lifted | (strong == 0)
    hh["housing_grade"] = np.where(
        poor,
        pick(u[8], {"A": 0.62, "B": 0.30, "C": 0.06, "D": 0.02}),
        pick(u[8], {"A": 0.75, "B": 0.21, "C": 0.03, "D": 0.01}),
    )
    hh["safe_drinking_water"] = u[9] >= 0.02
    hh["sanitary_toilet"] = u[10] < np.where(urban, 0.95, 0.68)
    hh["road_to_door"] = u[11] < np.where(urban, 0.99, 0.94)
    hh["fuel"] = np.where(
        urban,
        pick(u[12], {"3": 0.55, "4": 0.40, "1": 0.05}),
        pick(u[12], {"1": 0.38, "3": 0.38, "4": 0.14, "2": 0.05, "5": 0.03, "9": 0.02}),
    )
    land = np.round(np.exp(rng.normal(np.log(2.5), 0.5, h)) * np.where(urban, 0.15, 1.0), 1)
    forest = np.round(np.exp(rng.normal(np.log(8.0), 0.8, h)) * np.where(urban, 0.0, 1.0), 1)
    hh["cultivated_land_mu"], hh["forest_land_mu"] = land, forest
    hh["has_livestock"] = u[13] < np.where(urban, 0.05, 0.45)
    hh["has_business"] = u[14] < np.where(hh["tourism"], 0.20, 0.05)
    hh["group_name"] = np.where(
        urban,
        np.char.add(np.char.add("第", integers(u[15], 1, 6).astype(str)), "居民小组"),
        np.char.add(np.char.add("第", integers(u[15], 1, 12).astype(str)), "村民小组"),
    )
    prefix = np.asarray(["13", "15", "17", "18", "19"])[rng.integers(0, 5, size=h)]
    phones = np.char.add(prefix, np.char.zfill(rng.integers(0, 10**9, size=h).astype(str), 9))
    hh["phone"] = np.where(rng.random(h) < 0.9, phones, "")
    banks = np.char.add("62170", np.char.zfill(rng.integers(0, 10**14, size=h).astype(str), 14))
    hh["bank_account"] = np.where(rng.random(h) < 0.92, banks, "")
    _public_welfare_jobs(rng, hh, pp)


def _public_welfare_jobs(rng: np.random.Generator, hh: Table, pp: Table) -> None:
    n = len(pp["age"])
    u = rng.random((3, n))
    lifted = hh["lifted"][pp["hh"]]
    candidates = (pp["age"] >= 40) & (pp["age"] <= 65) & np.isin(pp["labour_skill"], ["1", "3"])
    candidates &= pp["usual_months"] == 0
    share = np.where(lifted, A.PUBLIC_WELFARE_JOB_SHARE["lifted"], A.PUBLIC_WELFARE_JOB_SHARE["ordinary"])
    job = candidates & (u[0] < share)
    pp["public_welfare_job"] = job
    pp["public_welfare_months"] = np.where(job, np.where(u[1] < 0.7, 12, integers(u[2], 6, 11)), 0)
    pp["local_wage"] = np.where(job, 0, pp["local_wage"])
