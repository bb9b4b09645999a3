"""Data-quality rules of the household file (domain.md §2), written once.

Forms, spreadsheet imports, department feeds and any API call these same functions. Each rule returns
Issues with a message for the person who must correct the data, in the active language (gettext; Chinese is
the source); an "error" blocks a save, a "warning" marks data as suspicious and is shown but saved.

The functions here are pure: they take plain values and a CodeBook (the data dictionary), never the
database, so a bulk import can run them on thousands of rows without a query per row.
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
# ASCII only: a Unicode \d would also accept full-width (１２３) and other scripts' digits.
ID_PATTERN = re.compile(r"^\d{17}[\dX]$", re.ASCII)
# GB 11643-1999 itself prints a number of someone born in 1880; earlier years are typing errors.
EARLIEST_BIRTH_YEAR = 1800

# Codes that the rules themselves name (national codes; the data dictionary gives their labels).
SEX_MALE, SEX_FEMALE = "1", "2"
RELATION_HEAD, RELATION_SPOUSE = "01", "02"
HEALTH_HEALTHY, HEALTH_DISABLED = "1", "4"
LABOUR_LOST, LABOUR_NONE = "4", "5"
HOUSEHOLD_LIFTED, HOUSEHOLD_ORDINARY = "1", "2"
RISK_NATURAL_DISASTER = "04"
MAX_RISK_TYPES = 5
MAX_OTHER_POVERTY_CAUSES = 2


@dataclass(frozen=True)
class Issue:
    field: str
    message: str
    severity: Literal["error", "warning"] = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class CodeBook:
    """The data dictionary as plain dicts: {codeset: {code: label}} and {codeset: {code: attributes}}.

    `labels` are the Chinese labels, the ones files are read and written in; `labels_en` the English ones
    where the dictionary gives them. label() and display_labels() are for showing: English when the active
    language is English and the code has an English label."""

    labels: dict[str, dict[str, str]]
    attributes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    labels_en: dict[str, dict[str, str]] = field(default_factory=dict)

    def label(self, codeset: str, code: str) -> str:
        if _english():
            english = self.labels_en.get(codeset, {}).get(code)
            if english:
                return english
        return self.label_zh(codeset, code)

    def label_zh(self, codeset: str, code: str) -> str:
        """The Chinese label whatever the language: what a file written for re-import holds."""
        return self.labels.get(codeset, {}).get(code, code)

    def display_labels(self, codeset: str) -> dict[str, str]:
        """{code: label} in dictionary order, in the active language (Chinese where no English is given)."""
        return {code: self.label(codeset, code) for code in self.labels.get(codeset, {})}

    def code_for(self, codeset: str, text: str) -> str | None:
        """The code that a cell means: the code itself, its Chinese label or its English label."""
        labels = self.labels.get(codeset, {})
        if text in labels:
            return text
        for code, label in labels.items():
            if label == text:
                return code
        for code, label in self.labels_en.get(codeset, {}).items():
            if label and label.casefold() == text.casefold():
                return code
        return None

    def has(self, codeset: str, code: str) -> bool:
        return code in self.labels.get(codeset, {})

    def attrs(self, codeset: str, code: str) -> dict[str, Any]:
        return self.attributes.get(codeset, {}).get(code, {})


def _english() -> bool:
    return (get_language() or "").startswith("en")


def split_codes(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


def join_codes(codes: Iterable[str]) -> str:
    """Multi-valued codes as stored: wrapped in commas so that ',05,' matches one code exactly."""
    unique = sorted(dict.fromkeys(code for code in codes if code))
    return f",{','.join(unique)}," if unique else ""


# --- Resident ID numbers (GB 11643-1999) -------------------------------------------------------------


@dataclass(frozen=True)
class ResidentId:
    number: str
    region_code: str
    birth_date: dt.date
    sequence: str

    @property
    def sex(self) -> str:
        return SEX_MALE if int(self.sequence[-1]) % 2 == 1 else SEX_FEMALE


def id_check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def _looks_like_placeholder(number: str) -> bool:
    body = number[:17]
    return (
        len(set(body)) <= 2
        or body in "0123456789012345678901234567890"
        or body in "9876543210987654321098765432109"
        or number[:6] == "000000"
    )


def parse_resident_id(value: str, *, today: dt.date | None = None) -> ResidentId:
    number = (value or "").strip().upper()
    if not number:
        raise ValidationError(_("证件号码不能为空。"), code="id_blank")
    if len(number) != 18:
        raise ValidationError(
            _("证件号码应为 18 位，这里是 %(length)s 位。") % {"length": len(number)}, code="id_length"
        )
    if not ID_PATTERN.match(number):
        raise ValidationError(_("证件号码前 17 位必须是数字，最后一位是数字或 X。"), code="id_characters")
    if _looks_like_placeholder(number):
        raise ValidationError(
            _("证件号码看起来是占位号码（如全部相同或连续的数字），请填写真实号码。"), code="id_placeholder"
        )
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise ValidationError(
            _("证件号码中的出生日期 %(date)s 不是有效日期。") % {"date": number[6:14]}, code="id_birth_date"
        ) from exc
    today = today or dt.date.today()
    if birth > today or birth.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(
            _("证件号码中的出生日期 %(date)s 不合理。") % {"date": f"{birth:%Y-%m-%d}"}, code="id_birth_date"
        )
    expected = id_check_character(number[:17])
    if number[17] != expected:
        raise ValidationError(
            _("证件号码校验位错误：最后一位应为 %(expected)s，实际为 %(actual)s，请核对号码。")
            % {"expected": expected, "actual": number[17]},
            code="id_check",
        )
    return ResidentId(number=number, region_code=number[:6], birth_date=birth, sequence=number[14:17])


def validate_id_number(value: str) -> None:
    """Django field validator for an 18-digit resident ID number."""
    parse_resident_id(value)


def validate_disability_certificate(value: str, *, id_number: str | None = None) -> None:
    """A disability certificate number is the 18-character ID plus category (1–7) and grade (1–4)."""
    number = (value or "").strip().upper()
    if len(number) != 20:
        raise ValidationError(
            _("残疾证号应为 20 位（证件号码 + 残疾类别 + 残疾等级），这里是 %(length)s 位。") % {"length": len(number)}
        )
    parse_resident_id(number[:18])
    if number[18] not in "1234567":
        raise ValidationError(_("残疾证号第 19 位是残疾类别，应为 1–7，实际为 %(actual)s。") % {"actual": number[18]})
    if number[19] not in "1234":
        raise ValidationError(_("残疾证号第 20 位是残疾等级，应为 1–4，实际为 %(actual)s。") % {"actual": number[19]})
    if id_number and number[:18] != id_number.strip().upper():
        raise ValidationError(_("残疾证号的前 18 位应与本人证件号码一致。"))


def age_on(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


# --- A person ----------------------------------------------------------------------------------------

PERSON_CODED_FIELDS = {
    "sex": ("sex", gettext_lazy("性别")),
    "ethnicity": ("ethnicity", gettext_lazy("民族")),
    "relation": ("relation", gettext_lazy("与户主关系")),
    "disability_category": ("disability_category", gettext_lazy("残疾类别")),
    "disability_grade": ("disability_grade", gettext_lazy("残疾等级")),
    "labour_skill": ("labour_skill", gettext_lazy("劳动技能")),
    "education": ("education", gettext_lazy("文化程度")),
    "school_status": ("school_status", gettext_lazy("在校生状况")),
    "dibao": ("dibao_type", gettext_lazy("低保")),
}


def _code_issues(values: Mapping[str, Any], fields: Mapping[str, tuple[str, str]], codes: CodeBook) -> list[Issue]:
    issues = []
    for name, (codeset, label) in fields.items():
        value = values.get(name) or ""
        if value and not codes.has(codeset, str(value)):
            issues.append(Issue(name, _("%(label)s代码“%(value)s”不在数据字典中。") % {"label": label, "value": value}))
    return issues


def person_issues(person: Mapping[str, Any], *, codes: CodeBook, on: dt.date | None = None) -> list[Issue]:
    """Every rule about one person. `person` holds the Person model's field values by name."""
    on = on or dt.date.today()
    issues = _code_issues(person, PERSON_CODED_FIELDS, codes)

    resident: ResidentId | None = None
    try:
        resident = parse_resident_id(person.get("id_number") or "", today=on)
    except ValidationError as exc:
        issues.append(Issue("id_number", exc.messages[0]))

    birth = person.get("birth_date")
    sex = person.get("sex") or ""
    if not sex:
        issues.append(Issue("sex", _("性别不能为空。")))
    if resident is not None:
        if sex and sex != resident.sex:
            said = codes.label("sex", resident.sex)
            issues.append(Issue("sex", _("性别与证件号码第 17 位不符：号码表明是%(sex)s性。") % {"sex": said}))
        if birth and birth != resident.birth_date:
            said = f"{resident.birth_date:%Y-%m-%d}"
            issues.append(
                Issue("birth_date", _("出生日期与证件号码不符：号码中的出生日期是 %(date)s。") % {"date": said})
            )
        birth = birth or resident.birth_date
    if not birth:
        issues.append(Issue("birth_date", _("出生日期不能为空。")))
        return issues
    age = age_on(birth, on)

    if not person.get("relation"):
        issues.append(Issue("relation", _("与户主关系不能为空。")))
    if not person.get("labour_skill"):
        issues.append(Issue("labour_skill", _("劳动技能不能为空。")))

    education, school = person.get("education") or "", person.get("school_status") or ""
    if education and school:
        issues.append(
            Issue("school_status", _("文化程度与在校生状况只能填写一项：在校生填在校生状况，其他人填文化程度。"))
        )
    elif not education and not school:
        issues.append(Issue("education", _("文化程度与在校生状况必须填写其中一项。")))

    labour = person.get("labour_skill") or ""
    if age < 16 and labour and labour != LABOUR_NONE:
        issues.append(
            Issue(
                "labour_skill",
                _("未满 16 周岁（%(age)s 岁）的劳动技能应为“%(skill)s”。")
                % {"age": age, "skill": codes.label("labour_skill", LABOUR_NONE)},
            )
        )

    health = split_codes(person.get("health"))
    if not health:
        issues.append(Issue("health", _("健康状况不能为空。")))
    for code in health:
        if not codes.has("health", code):
            issues.append(Issue("health", _("健康状况代码“%(code)s”不在数据字典中。") % {"code": code}))
    if HEALTH_HEALTHY in health and len(health) > 1:
        issues.append(Issue("health", _("“健康”不能与长期慢性病、大病或残疾同时填写。")))

    if 16 <= age <= 60 and health == [HEALTH_HEALTHY] and not school and labour in {LABOUR_LOST, LABOUR_NONE}:
        issues.append(
            Issue(
                "labour_skill",
                _("%(age)s 岁、身体健康且不在校，却登记为“%(skill)s”，请核实。")
                % {"age": age, "skill": codes.label("labour_skill", labour)},
                "warning",
            )
        )

    if school:
        stage = codes.attrs("school_status", school)
        low, high = stage.get("min_age"), stage.get("max_age")
        if (low is not None and age < low) or (high is not None and age > high):
            span = _("%(low)s–%(high)s 岁") % {
                "low": low if low is not None else "",
                "high": high if high is not None else "",
            }
            issues.append(
                Issue(
                    "school_status",
                    _("%(age)s 岁与在校阶段“%(stage)s”不符（通常 %(span)s）。")
                    % {"age": age, "stage": codes.label("school_status", school), "span": span},
                )
            )

    resident_insured = bool(person.get("resident_medical_insurance"))
    employee_insured = bool(person.get("employee_medical_insurance"))
    if resident_insured and employee_insured:
        issues.append(
            Issue("employee_medical_insurance", _("城乡居民基本医疗保险与城镇职工基本医疗保险只能参加一项。"))
        )
    elif not resident_insured and not employee_insured:
        issues.append(
            Issue("resident_medical_insurance", _("未参加基本医疗保险：城乡居民医保或城镇职工医保须参加一项。"))
        )

    disabled = HEALTH_DISABLED in health
    category, grade = person.get("disability_category") or "", person.get("disability_grade") or ""
    if disabled and not (category and grade):
        issues.append(Issue("disability_category", _("健康状况为残疾时，须填写残疾类别和残疾等级。")))
    if not disabled and (category or grade):
        issues.append(Issue("disability_category", _("填写了残疾类别或等级，健康状况中应包含“残疾”。")))
    certificate = person.get("disability_certificate") or ""
    if certificate:
        try:
            validate_disability_certificate(certificate, id_number=person.get("id_number"))
        except ValidationError as exc:
            issues.append(Issue("disability_certificate", exc.messages[0]))
        else:
            if category and certificate[18] != category:
                issues.append(Issue("disability_certificate", _("残疾证号中的残疾类别与所填残疾类别不一致。")))
            if grade and certificate[19] != grade:
                issues.append(Issue("disability_certificate", _("残疾证号中的残疾等级与所填残疾等级不一致。")))

    welfare_months = int(person.get("public_welfare_months") or 0)
    if welfare_months and not person.get("public_welfare_job"):
        issues.append(Issue("public_welfare_months", _("填写了公益性岗位月数，但未勾选公益性岗位。")))
    if int(person.get("months_worked_away") or 0) > 12 or welfare_months > 12:
        issues.append(Issue("months_worked_away", _("务工或公益性岗位月数不能超过 12 个月。")))
    return issues


# --- Members of one household ------------------------------------------------------------------------


def household_member_issues(members: Sequence[Mapping[str, Any]], *, codes: CodeBook) -> list[Issue]:
    """Rules across the members of one household: one 户主, at most one 配偶 of the other sex, no ID twice."""
    issues = []
    heads = [m for m in members if m.get("relation") == RELATION_HEAD]
    spouses = [m for m in members if m.get("relation") == RELATION_SPOUSE]
    if len(heads) == 0:
        issues.append(Issue("relation", _("每户必须有一名户主。")))
    elif len(heads) > 1:
        names = "、".join(str(m.get("name") or "") for m in heads)
        issues.append(
            Issue(
                "relation",
                _("每户只能有一名户主，现有 %(count)s 名：%(names)s。") % {"count": len(heads), "names": names},
            )
        )
    if len(spouses) > 1:
        issues.append(Issue("relation", _("每户最多一名配偶，现有 %(count)s 名。") % {"count": len(spouses)}))
    if len(heads) == 1 and len(spouses) == 1:
        head_sex, spouse_sex = heads[0].get("sex"), spouses[0].get("sex")
        if head_sex and head_sex == spouse_sex:
            issues.append(Issue("sex", _("户主与配偶的性别相同，请核对证件号码和性别。")))
    seen: dict[str, str] = {}
    for member in members:
        number = (member.get("id_number") or "").upper()
        if number and number in seen:
            names = f"{seen[number]}、{member.get('name')}"
            issues.append(
                Issue(
                    "id_number",
                    _("证件号码 %(number)s 在本户重复出现（%(names)s）。") % {"number": number, "names": names},
                )
            )
        seen[number] = str(member.get("name") or "")
    return issues


def duplicate_id_issue(
    number: str, *, holder_household: str, holder_visible: bool, holder_in_same_county: bool
) -> Issue:
    """The ID number is already registered to a member of another household.

    The message names that household only when the user may see it (holder_visible); otherwise it says
    no more than that the number is registered elsewhere, and whom to ask: county staff find a number
    registered in their county by searching the household list with the full number, and a registration
    in another county only that county's staff can see.
    """
    if holder_visible:
        message = _("证件号码 %(number)s 已登记在户 %(household)s，同一人不能在两户登记。") % {
            "number": number,
            "household": holder_household,
        }
    elif holder_in_same_county:
        message = _("该证件号码已在其他地区登记，同一人不能在两户登记。如需核实，请县级工作人员按完整证件号码查询。")
    else:
        message = _(
            "该证件号码已在其他地区登记，同一人不能在两户登记。登记地不在本县：如需核实，请联系县级工作人员，"
            "由登记地所在县的工作人员查询。"
        )
    return Issue("id_number", message)


# --- The household itself ----------------------------------------------------------------------------

HOUSEHOLD_CODED_FIELDS = {
    "household_type": ("household_type", gettext_lazy("户类型")),
    "poverty_attribute": ("poverty_attribute", gettext_lazy("贫困户属性")),
    "monitoring_type": ("monitoring_type", gettext_lazy("监测对象类别")),
    "disaster_subtype": ("disaster_subtype", gettext_lazy("自然灾害类型")),
    "main_poverty_cause": ("poverty_cause", gettext_lazy("主要致贫原因")),
    "housing_grade": ("housing_grade", gettext_lazy("危房等级")),
    "fuel": ("fuel", gettext_lazy("燃料")),
}


def household_issues(household: Mapping[str, Any], *, codes: CodeBook) -> list[Issue]:
    issues = _code_issues(household, HOUSEHOLD_CODED_FIELDS, codes)
    kind = household.get("household_type") or ""
    if not kind:
        issues.append(Issue("household_type", _("户类型不能为空。")))
    attribute = household.get("poverty_attribute") or ""
    lifted_year = household.get("lifted_year")
    if kind == HOUSEHOLD_LIFTED:
        if not attribute:
            issues.append(Issue("poverty_attribute", _("脱贫户须填写贫困户属性。")))
        if not lifted_year:
            issues.append(Issue("lifted_year", _("脱贫户须填写脱贫年度（2014–2020）。")))
        if not household.get("main_poverty_cause"):
            issues.append(Issue("main_poverty_cause", _("脱贫户须填写主要致贫原因。")))
    elif kind == HOUSEHOLD_ORDINARY:
        if attribute or lifted_year:
            issues.append(Issue("poverty_attribute", _("一般农户不填贫困户属性和脱贫年度。")))
        if household.get("main_poverty_cause") or split_codes(household.get("other_poverty_causes")):
            target = "main_poverty_cause" if household.get("main_poverty_cause") else "other_poverty_causes"
            issues.append(Issue(target, _("一般农户不填致贫原因（致贫原因只登记脱贫户的）；风险请填在风险类型中。")))
    if lifted_year and not 2014 <= int(lifted_year) <= 2020:
        issues.append(Issue("lifted_year", _("脱贫年度应在 2014–2020 年之间。")))

    risks = split_codes(household.get("risk_types"))
    for code in risks:
        if not codes.has("risk_type", code):
            issues.append(Issue("risk_types", _("风险类型代码“%(code)s”不在数据字典中。") % {"code": code}))
    if len(risks) > MAX_RISK_TYPES:
        issues.append(
            Issue(
                "risk_types",
                _("风险类型最多 %(limit)s 项，现有 %(count)s 项。") % {"limit": MAX_RISK_TYPES, "count": len(risks)},
            )
        )
    if household.get("monitoring_type") and not risks:
        issues.append(Issue("risk_types", _("监测对象须至少填写一项风险类型。")))
    disaster = household.get("disaster_subtype") or ""
    if RISK_NATURAL_DISASTER in risks and not disaster:
        issues.append(Issue("disaster_subtype", _("风险类型含“因自然灾害”时须填写灾害类型。")))
    if disaster and RISK_NATURAL_DISASTER not in risks:
        issues.append(Issue("disaster_subtype", _("填写了灾害类型，但风险类型中没有“因自然灾害”。")))

    others = split_codes(household.get("other_poverty_causes"))
    if len(others) > MAX_OTHER_POVERTY_CAUSES:
        issues.append(
            Issue("other_poverty_causes", _("其他致贫原因最多 %(limit)s 项。") % {"limit": MAX_OTHER_POVERTY_CAUSES})
        )
    for code in others:
        if not codes.has("poverty_cause", code):
            issues.append(Issue("other_poverty_causes", _("致贫原因代码“%(code)s”不在数据字典中。") % {"code": code}))
    if household.get("main_poverty_cause") and household.get("main_poverty_cause") in others:
        issues.append(Issue("other_poverty_causes", _("其他致贫原因不能与主要致贫原因重复。")))

    phone = (household.get("phone") or "").strip()
    if phone and not re.fullmatch(r"(1\d{10}|0\d{2,3}-?\d{7,8})", phone):
        issues.append(Issue("phone", _("联系电话应为 11 位手机号或带区号的固定电话。")))
    bank = (household.get("bank_account") or "").replace(" ", "")
    if bank and not re.fullmatch(r"\d{12,30}", bank):
        issues.append(Issue("bank_account", _("银行账号应为 12–30 位数字。")))
    return issues


# --- A year's income ---------------------------------------------------------------------------------


def income_issues(income: Mapping[str, Any], *, amount_fields: Iterable[str], on: dt.date | None = None) -> list[Issue]:
    on = on or dt.date.today()
    issues = []
    year = income.get("year")
    if not year:
        issues.append(Issue("year", _("年度不能为空。")))
    elif int(year) > on.year:
        issues.append(Issue("year", _("不能录入未来年度（%(year)s）的收支。") % {"year": year}))
    size = income.get("household_size")
    if not size or int(size) < 1:
        issues.append(Issue("household_size", _("家庭人口至少为 1 人。")))
    for name in amount_fields:
        value = income.get(name)
        if value in (None, ""):
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            issues.append(Issue(name, _("金额“%(value)s”不是有效数字。") % {"value": value}))
            continue
        if amount < 0:
            issues.append(Issue(name, _("金额不能为负数；支出请填在生产经营性支出中。")))
    return issues


def shared_phone_issue(phone: str, other_household_numbers: Sequence[str]) -> Issue | None:
    if phone and other_household_numbers:
        listed = "、".join(other_household_numbers[:3])
        return Issue(
            "phone",
            _("联系电话 %(phone)s 也登记在其他户（%(households)s），请核实。") % {"phone": phone, "households": listed},
            "warning",
        )
    return None


def errors_only(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.is_error]


def raise_for_errors(issues: Iterable[Issue]) -> None:
    """Turn error issues into a Django ValidationError keyed by field, for forms and services."""
    by_field: dict[str, list[str]] = {}
    for issue in errors_only(issues):
        by_field.setdefault(issue.field, []).append(issue.message)
    if by_field:
        raise ValidationError(by_field)
