"""Excel export and import of household files (one row per member, household columns repeated).

Export: the households in the user's scope, sensitive values masked unless the role may reveal them and
asked to, spreadsheet formulas neutralised. Import: a dry run first (every row goes through the services
inside a transaction that is rolled back, so the preview shows exactly what saving would say), then, on
confirmation, the same run for real: all rows or none.

Export → edit → import: the default (masked) export imports back unchanged. A masked cell (phone,
bank account, ID number, disability certificate number; the masks of povertycloud.masking) means
"unchanged": equal to the mask of the stored value, the stored value is kept; any other masked value is
an error of its row (a masked value cannot be a new value). A member whose ID number is masked is found
within the household of the row by name and masked ID (the mask keeps the region and the birth year, so
two members of one household with the same name, region and birth year would be ambiguous, and are
reported as such); the file carries no internal key, so a file edited or re-sorted by hand still matches,
and nothing in it points outside the household that its 户编号 names. Changing a member's name (or adding a
member) needs the full ID number.
"""

import csv
import datetime as dt
import io
import operator
import re
import zipfile
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

import openpyxl
import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connections, transaction
from django.db.models import BooleanField, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader
from import_export.results import Result, RowResult

from households import services
from households.codes import codebook
from households.models import Household, Person
from households.sensitive import HEALTH_FIELDS, MASKS, SENSITIVE_FIELDS, mask, mask_id_number, shown
from households.validation import join_codes, parse_resident_id, split_codes
from povertycloud.accounts.permissions import can_reveal_sensitive, can_see_health
from povertycloud.audit.services import record_event
from povertycloud.downloads.tables import open_tables
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user, user_may_see_code

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_IMPORT_ROWS = 2000  # data rows in one upload
MAX_SHEET_ROWS = 2 * MAX_IMPORT_ROWS + 1  # lines read at most (blank lines included): a sheet declaring more is refused
MAX_COLUMNS = 200
PREVIEW_ROWS = 100  # rows listed in each part of the import preview (changed, rejected); the counts cover all
MAX_CELL_CHARS = 500  # longer than any column of the household file
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # an XLSX is a zip: what it unpacks to is bounded too
ROW_NUMBER_COLUMN = "行号"
READ_ERROR_COLUMN = "读取错误"


def neutralise_formula(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _unquote(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


# --- Cell widgets with Chinese messages ----------------------------------------------------------------


# Within one export, each coded value's label is looked up once (a dict), not once per cell.
_EXPORT_LABELS: ContextVar[dict | None] = ContextVar("household_export_labels", default=None)
EXPORT_PROGRESS_ROWS = 5000


class TextWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return _unquote(str(value).strip())

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class CodeWidget(TextWidget):
    """A coded value: written as its Chinese label in every UI language (the file format, like the headers),
    read as a code, its Chinese label or its English label; unknown ones reach the validators."""

    def __init__(self, codeset: str, *, multi: bool = False):
        super().__init__()
        self.codeset, self.multi = codeset, multi

    def _code(self, text: str) -> str:
        code = codebook().code_for(self.codeset, text)
        return text if code is None else code

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs)
        if not self.multi:
            return self._code(text)
        parts = split_codes(text.replace("、", ",").replace("；", ",").replace(";", ","))
        return join_codes(self._code(part) for part in parts)

    def render(self, value, obj=None, **kwargs):
        memo = _EXPORT_LABELS.get()
        if memo is None:
            book = codebook()
            return "、".join(book.label_zh(self.codeset, code) for code in split_codes(value or ""))
        labels = []
        for code in split_codes(value or ""):
            key = (self.codeset, code)
            if key not in memo:
                memo[key] = codebook().label_zh(self.codeset, code)
            labels.append(memo[key])
        return "、".join(labels)

    def display(self, value) -> str:
        """The value as a page shows it: labels in the active language."""
        book = codebook()
        return "、".join(book.label(self.codeset, code) for code in split_codes(value or ""))


class YesNoWidget(widgets.Widget):
    TRUE = {"是", "1", "true", "y", "yes", "√", "有"}
    FALSE = {"否", "0", "false", "n", "no", "×", "无", ""}

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        text = "" if value is None else str(value).strip().lower()
        if text.endswith(".0"):
            text = text[:-2]
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(_("“%(value)s”不是“是”或“否”。") % {"value": value})

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return _("是") if value else _("否")


class WholeNumberWidget(widgets.Widget):
    def __init__(self, *, default: int | None = None):
        super().__init__()
        self.default = default

    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            return self.default
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(_("“%(value)s”不是整数。") % {"value": value}) from exc
        if number != number.to_integral_value():
            raise ValueError(_("“%(value)s”不是整数。") % {"value": value})
        return int(number)

    def render(self, value, obj=None, **kwargs):
        return value


class AmountWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            return Decimal("0")
        try:
            return Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation as exc:
            raise ValueError(_("“%(value)s”不是有效数字。") % {"value": value}) from exc

    def render(self, value, obj=None, **kwargs):
        return value


class DayWidget(widgets.Widget):
    FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")

    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        for pattern in self.FORMATS:
            try:
                return dt.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise ValueError(_("“%(value)s”不是有效日期（应为 2024-05-17 这样的格式）。") % {"value": value})

    def render(self, value, obj=None, **kwargs):
        return value


# --- The sheet -----------------------------------------------------------------------------------------


def _h(name: str, column: str, widget: widgets.Widget | None = None, **kwargs: Any) -> fields.Field:
    return fields.Field(
        attribute=f"household__{name}", column_name=column, widget=widget or TextWidget(), **kwargs
    )


def _p(name: str, column: str, widget: widgets.Widget | None = None) -> fields.Field:
    return fields.Field(attribute=f"person__{name}", column_name=column, widget=widget or TextWidget())


@dataclass
class SheetRow:
    """One member of one household (person is None for a household without members)."""

    household: Any
    person: Any


# Column headers are the file format, the same in every UI language, so they are not translated.
class HouseholdMemberResource(resources.Resource):
    number = _h("number", "户编号")
    village_id = _h("village_id", "村代码")
    village_name = _h("village__name", "村", readonly=True)
    group_name = _h("group_name", "村民小组")
    phone = _h("phone", "联系电话")
    bank_account = _h("bank_account", "银行账号")
    household_type = _h("household_type", "户类型", CodeWidget("household_type"))
    poverty_attribute = _h("poverty_attribute", "贫困户属性", CodeWidget("poverty_attribute"))
    lifted_year = _h("lifted_year", "脱贫年度", WholeNumberWidget())
    monitoring_type = _h("monitoring_type", "监测对象类别", CodeWidget("monitoring_type"))
    whole_household_unable_to_work = _h("whole_household_unable_to_work", "整户无劳动能力", YesNoWidget())
    risk_types = _h("risk_types", "风险类型", CodeWidget("risk_type", multi=True))
    disaster_subtype = _h("disaster_subtype", "自然灾害类型", CodeWidget("disaster_subtype"))
    main_poverty_cause = _h("main_poverty_cause", "主要致贫原因", CodeWidget("poverty_cause"))
    other_poverty_causes = _h("other_poverty_causes", "其他致贫原因", CodeWidget("poverty_cause", multi=True))
    housing_grade = _h("housing_grade", "危房等级", CodeWidget("housing_grade"))
    safe_drinking_water = _h("safe_drinking_water", "饮水安全", YesNoWidget())
    sanitary_toilet = _h("sanitary_toilet", "卫生厕所", YesNoWidget())
    road_to_door = _h("road_to_door", "通入户路", YesNoWidget())
    fuel = _h("fuel", "主要燃料", CodeWidget("fuel"))
    cultivated_land_mu = _h("cultivated_land_mu", "耕地面积（亩）", AmountWidget())
    forest_land_mu = _h("forest_land_mu", "林地面积（亩）", AmountWidget())

    id_number = _p("id_number", "证件号码")
    name = _p("name", "姓名")
    sex = _p("sex", "性别", CodeWidget("sex"))
    birth_date = _p("birth_date", "出生日期", DayWidget())
    ethnicity = _p("ethnicity", "民族", CodeWidget("ethnicity"))
    relation = _p("relation", "与户主关系", CodeWidget("relation"))
    health = _p("health", "健康状况", CodeWidget("health", multi=True))
    disability_category = _p("disability_category", "残疾类别", CodeWidget("disability_category"))
    disability_grade = _p("disability_grade", "残疾等级", CodeWidget("disability_grade"))
    disability_certificate = _p("disability_certificate", "残疾证号")
    labour_skill = _p("labour_skill", "劳动技能", CodeWidget("labour_skill"))
    education = _p("education", "文化程度", CodeWidget("education"))
    school_status = _p("school_status", "在校生状况", CodeWidget("school_status"))
    months_worked_away = _p("months_worked_away", "务工时间（月）", WholeNumberWidget(default=0))
    work_place = _p("work_place", "务工地点")
    employer = _p("employer", "务工单位")
    public_welfare_job = _p("public_welfare_job", "公益性岗位", YesNoWidget())
    public_welfare_months = _p("public_welfare_months", "公益性岗位（月）", WholeNumberWidget(default=0))
    resident_medical_insurance = _p("resident_medical_insurance", "城乡居民基本医疗保险", YesNoWidget())
    employee_medical_insurance = _p("employee_medical_insurance", "城镇职工基本医疗保险", YesNoWidget())
    critical_illness_insurance = _p("critical_illness_insurance", "大病保险", YesNoWidget())
    pension_insurance = _p("pension_insurance", "养老保险", YesNoWidget())
    dibao = _p("dibao", "低保", CodeWidget("dibao_type"))
    tekun = _p("tekun", "特困供养", YesNoWidget())

    REQUIRED_COLUMNS = ("户编号", "村代码", "户类型", "证件号码", "姓名", "与户主关系")

    class Meta:
        # Rows are matched to households and members in save_instance (by 户编号, 证件号码), no loader.
        instance_loader_class = BaseInstanceLoader
        import_id_fields = ()
        skip_diff = True
        store_row_values = True
        use_transactions = True

    def __init__(self, *, user: Any, include_sensitive: bool = False):
        super().__init__()
        self.user = user
        self.include_sensitive = include_sensitive and can_reveal_sensitive(user)
        self._households: dict[str, _SeenHousehold] = {}
        self._villages: dict[str, Region | None] = {}
        self._outcome = ""
        self._changes: list[tuple[str, str, str]] = []

    @classmethod
    def column_of(cls, name: str) -> str:
        """The column header of a model field name, for showing errors against their column."""
        name = "village_id" if name == "village" else name
        for resource_field in cls.fields.values():
            if resource_field.readonly:
                continue  # 村 (the village's name) is shown, never written: an error on "name" is 姓名's
            if name in (resource_field.attribute, resource_field.attribute.split("__")[-1]):
                return resource_field.column_name
        return "" if name == NON_FIELD_ERRORS else name

    # --- Export

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        name = field.attribute.split("__")[-1]
        value = shown(self.user, name, value, revealed=self.include_sensitive)
        return neutralise_formula(str(value) if isinstance(value, Promise) else value)

    # --- Import

    def before_import(self, dataset, **kwargs):
        self._households.clear()
        self._villages.clear()

    def before_import_row(self, row, **kwargs):
        problem = row.get(READ_ERROR_COLUMN)
        if problem:
            raise ValidationError({NON_FIELD_ERRORS: str(problem)})

    def get_or_init_instance(self, instance_loader, row):
        return SheetRow(household=SimpleNamespace(), person=SimpleNamespace()), True

    def save_instance(self, instance, is_create, row, **kwargs):
        line = row.get(ROW_NUMBER_COLUMN) or kwargs.get("row_number")
        self._changes = []
        with transaction.atomic():
            household, household_outcome = self._save_household(vars(instance.household), line)
            person_outcome = self._save_person(household, vars(instance.person))
        self._outcome = max(household_outcome, person_outcome, key=OUTCOME_ORDER.index)

    def after_import_row(self, row, row_result, **kwargs):
        row_result.import_type = self._outcome
        row_result.changed_fields = list(self._changes) if self._outcome == RowResult.IMPORT_TYPE_UPDATE else []
        self._changes = []

    def _note_changes(self, instance: Any, changed: dict[str, Any]) -> None:
        """The changed columns of the row, as the preview lists them (sensitive values masked)."""
        for name, value in changed.items():
            before = getattr(instance, name)
            self._changes.append(
                (self.column_of(name), _display(self.user, name, before), _display(self.user, name, value))
            )

    def _unmask(self, instance: Any, values: dict[str, Any], names: tuple[str, ...]) -> None:
        """A masked cell keeps the stored value if it is that value's mask; any other masked value is refused."""
        errors: dict[str, str] = {}
        for name in names:
            value = values.get(name)
            if not _is_masked(value):
                continue
            stored = getattr(instance, name, "") if instance is not None else ""
            if stored and mask(name, stored) == value:
                values[name] = stored
            else:
                errors[name] = _masked_mismatch(self.column_of(name), value, known=bool(stored))
        if errors:
            raise ValidationError(errors)

    def _village(self, code: str) -> Region:
        if code not in self._villages:
            self._villages[code] = Region.objects.filter(code=code).first()
        village = self._villages[code]
        if not code:
            raise ValidationError({"village": _("村代码不能为空。")})
        if village is None or not village.is_village:
            raise ValidationError({"village": _("村代码 %(code)s 不是村一级的区划代码。") % {"code": code}})
        if not user_may_see_code(self.user, code):
            message = _("村代码 %(code)s 不在您的辖区内，不能导入。") % {"code": code}
            raise ValidationError({"village": message})
        return village

    def _save_household(self, values: dict[str, Any], line: Any) -> tuple[Household, str]:
        number = values.pop("number", "")
        code = values.pop("village_id", "")
        if not number:
            raise ValidationError({"number": _("户编号不能为空。")})
        village = self._village(code)
        existing = Household.objects.filter(number=number).first()
        if existing is not None and not user_may_see_code(self.user, existing.village_id):
            message = _("户编号 %(number)s 已被使用，不能导入到本辖区。") % {"number": number}
            raise ValidationError({"number": message})
        seen = self._households.get(number)
        if seen is None:
            original = {name: getattr(existing, name) for name in values} if existing is not None else None
            seen = self._households[number] = _SeenHousehold(line=line, village=code, original=original)
        if seen.village != code:
            message = _("户编号 %(number)s 的户信息与第 %(line)s 行不一致，同一户各行的户信息应相同。")
            raise ValidationError({NON_FIELD_ERRORS: message % {"number": number, "line": seen.line}})
        values = self._resolve(seen, number, values, line)
        if existing is None:
            created = services.create_household(
                by=self.user,
                data={**values, "number": number, "village": village},
                reason=_("Excel 导入新建"),
            )
            return created, RowResult.IMPORT_TYPE_NEW
        if existing.village_id != code:
            raise ValidationError(
                {"village": _("户编号 %(number)s 登记在村代码 %(old)s，导入不能把户迁到 %(new)s。")
                 % {"number": number, "old": existing.village_id, "new": code}}
            )
        changed = {name: value for name, value in values.items() if getattr(existing, name) != value}
        if not changed:
            return existing, RowResult.IMPORT_TYPE_SKIP
        self._note_changes(existing, changed)
        updated = services.update_household(
            by=self.user, household=existing, data=changed, expected_version=existing.version,
            reason=_("Excel 导入修改"),
        )
        return updated, RowResult.IMPORT_TYPE_UPDATE

    def _resolve(self, seen: "_SeenHousehold", number: str, values: dict[str, Any], line: Any) -> dict[str, Any]:
        """The household values that a row means. The household columns repeat on every member row, so
        an edit is made in one row: in a household already on file, a cell equal to the value stored
        before the import (or to its mask) means "unchanged" and takes whatever another row of the
        household changed the field to; two rows changing a field to different values are an error, as
        are two rows of a new household that differ at all. A masked value that is not the stored value's
        mask is refused."""
        resolved: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, value in values.items():
            masked = name in MASKED_HOUSEHOLD_FIELDS and _is_masked(value)
            if seen.original is not None:
                stored = seen.original.get(name)
                if value == stored or (masked and stored and mask(name, stored) == value):
                    resolved[name] = seen.agreed.get(name, stored)
                    continue
            if masked:
                errors[name] = _masked_mismatch(self.column_of(name), value, known=bool(
                    seen.original is not None and seen.original.get(name)
                ))
                continue
            if name in seen.agreed and seen.agreed[name] != value:
                message = _("户编号 %(number)s 的户信息与第 %(line)s 行不一致，同一户各行的户信息应相同。")
                raise ValidationError(
                    {NON_FIELD_ERRORS: message % {"number": number, "line": seen.edited_at[name]}}
                )
            seen.agreed.setdefault(name, value)
            seen.edited_at.setdefault(name, line)
            resolved[name] = value
        if errors:
            raise ValidationError(errors)
        return resolved

    def _save_person(self, household: Household, values: dict[str, Any]) -> str:
        if not any(value not in ("", None, False, 0) for value in values.values()):
            return RowResult.IMPORT_TYPE_SKIP  # a household without members: its row has no member columns
        number = (values.get("id_number") or "").upper()
        values["id_number"] = number
        if _is_masked(number):
            existing = self._member_by_mask(household, number, values.get("name") or "")
        else:
            existing = Person.objects.filter(id_number=number, household=household).first() if number else None
        self._unmask(existing, values, MASKED_PERSON_FIELDS)
        number = values["id_number"]
        try:
            resident = parse_resident_id(number)
        except ValidationError:
            resident = None
        if resident is not None:
            values["birth_date"] = values.get("birth_date") or resident.birth_date
            values["sex"] = values.get("sex") or resident.sex
        if existing is None:
            services.add_person(by=self.user, household=household, data=values)
            return RowResult.IMPORT_TYPE_NEW
        changed = {name: value for name, value in values.items() if getattr(existing, name) != value}
        if not changed:
            return RowResult.IMPORT_TYPE_SKIP
        self._note_changes(existing, changed)
        services.update_person(by=self.user, person=existing, data=changed, expected_version=existing.version)
        return RowResult.IMPORT_TYPE_UPDATE

    def _member_by_mask(self, household: Household, masked: str, name: str) -> Person | None:
        """The member of this household with this name whose ID number has this mask (see the module text)."""
        candidates = [
            person for person in Person.objects.filter(household=household, name=name)
            if mask_id_number(person.id_number) == masked
        ]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            message = _(
                "本户有不止一名姓名为“%(name)s”、证件号码脱敏后为“%(id)s”的成员，无法区分；请填写完整证件号码。"
            )
        else:
            message = _(
                "证件号码“%(id)s”是脱敏值，本户中没有姓名为“%(name)s”且证件号码与之相符的成员。"
                "新成员或修改姓名时请填写完整证件号码。"
            )
        raise ValidationError({"id_number": message % {"name": name, "id": masked}})


MASKED_HOUSEHOLD_FIELDS = ("phone", "bank_account")
MASKED_PERSON_FIELDS = ("id_number", "disability_certificate")


@dataclass
class _SeenHousehold:
    """A household met in the file: its first row, its values before the import (None: a new household),
    the values its rows changed and the line that first changed each."""

    line: Any
    village: str
    original: dict[str, Any] | None
    agreed: dict[str, Any] = field(default_factory=dict)
    edited_at: dict[str, Any] = field(default_factory=dict)


def _masked_mismatch(column: str, value: str, *, known: bool) -> str:
    if not known:
        return _("%(column)s“%(value)s”是脱敏值，系统中没有可对照的原值；请填写完整的%(column)s。") % {
            "column": column, "value": value,
        }
    return _(
        "%(column)s“%(value)s”是脱敏值，但与系统中登记的不符；不修改请保留导出时的脱敏值，修改请填写完整的%(column)s。"
    ) % {"column": column, "value": value}


def _is_masked(value: Any) -> bool:
    return isinstance(value, str) and "*" in value


def _display(user: Any, name: str, value: Any) -> str:
    """A value as the import preview shows it: sensitive values masked, codes as their labels."""
    if name in MASKS:
        return mask(name, value) or "—"
    for resource_field in HouseholdMemberResource.fields.values():
        if resource_field.attribute.split("__")[-1] == name and not resource_field.readonly:
            widget = resource_field.widget
            shown_value = shown(user, name, getattr(widget, "display", widget.render)(value))
            text = "" if shown_value is None else str(shown_value)
            return text or "—"
    return str(value) if value not in (None, "") else "—"


OUTCOME_ORDER = [RowResult.IMPORT_TYPE_SKIP, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_NEW]


def _region_code(user: Any) -> str:
    region = getattr(user, "region", None)
    return region.code if region is not None else ""


def sheet_rows(households: QuerySet[Household], user: Any):
    """The export's rows: each member of each household in (village, number) order, read in chunks."""
    members = scope_for_user(Person.objects.order_by("relation", "birth_date"), user)
    queryset = (
        households.select_related("village")
        .prefetch_related(Prefetch("members", queryset=members))
        .order_by("village_id", "number")
    )
    for household in queryset.iterator(chunk_size=500):
        people = list(household.members.all())
        if not people:
            yield SheetRow(household=household, person=None)
        for person in people:
            yield SheetRow(household=household, person=person)


def export_workbook(*, user: Any, households: QuerySet[Household], include_sensitive: bool = False) -> bytes:
    """The households (already filtered) as XLSX bytes (small exports and tests; the page uses write_workbook
    in the background). The export is recorded in the audit trail."""
    out = io.BytesIO()
    write_workbook(out, user=user, households=households, include_sensitive=include_sensitive)
    return out.getvalue()


EXPORT_FORMATS = ("xlsx", "csv")
EXPORT_CHUNK = 2000  # households per read (their members are read per chunk)
_IDENTITY_WIDGETS = (WholeNumberWidget, AmountWidget, DayWidget)


def _cell_converter(resource: HouseholdMemberResource, field: fields.Field) -> Callable[[Any], Any] | None:
    """What resource.export_field does to one stored value of `field`, as a function of the value alone (the
    writer calls it once per distinct value of a column): None where the stored value is the cell as it is
    (numbers and dates that are neither sensitive nor health details), plain formula neutralising for other
    text. Whether this user sees a sensitive field masked is settled here once, as households.sensitive.shown
    settles it per value (tests/households/test_export_cells.py holds the two to agreeing); a health detail
    hidden from this user goes through shown itself."""
    name = field.attribute.split("__")[-1]
    widget = field.widget
    user, revealed = resource.user, resource.include_sensitive

    def convert(value: Any) -> Any:
        value = shown(user, name, widget.render(value), revealed=revealed)
        return neutralise_formula(str(value) if isinstance(value, Promise) else value)

    if name in HEALTH_FIELDS and not can_see_health(user):
        return convert
    if name in SENSITIVE_FIELDS and not (revealed and can_reveal_sensitive(user)):
        render = widget.render

        def masked(value: Any) -> Any:
            return neutralise_formula(mask(name, render(value)))

        return masked
    if isinstance(widget, CodeWidget | YesNoWidget):
        return convert
    if type(widget) in _IDENTITY_WIDGETS:
        return None
    if type(widget) is TextWidget:
        return lambda value: "" if value is None else neutralise_formula(str(value))
    return convert


def export_converters(resource: HouseholdMemberResource) -> list[Callable[[Any], Any] | None]:
    """For each column of the file, in order, what turns its stored value into its cell (None: the stored value
    is the cell). Each depends on the stored value alone (the user and include_sensitive are the resource's),
    which lets the writer work each distinct value of a column out once."""
    return [_cell_converter(resource, export_field) for export_field in resource.get_export_fields()]


def _export_plan(resource: HouseholdMemberResource):
    """The household and member columns of the export, in the file's order: (position, stored column) for each,
    household fields read once per household."""
    household, person = [], []
    for position, export_field in enumerate(resource.get_export_fields()):
        owner, _sep, attribute = export_field.attribute.partition("__")
        (household if owner == "household" else person).append((position, attribute))
    return household, person


def export_rows(resource: HouseholdMemberResource, households: QuerySet[Household]):
    """The export's rows as (household id, stored values in the file's column order; export_converters makes
    them cells) in sheet_rows' order: each household in (village, number) order, then its present members by
    relation and birth date, a household without members as one row with empty member columns. Read as tuples:
    households through a server-side cursor, their members per chunk of EXPORT_CHUNK households. Memory holds
    one chunk, whatever the number of rows. (Reading the next chunk on a thread with its own connection was
    tried: at a county of 1,000,000 people on the shared 2-core machine it cost 4-6 s more CPU, from the two
    threads taking the GIL in turn, and saved no time: the waits for PostgreSQL are a few seconds in all.)"""
    household_plan, person_plan = _export_plan(resource)
    width = len(household_plan) + len(person_plan)
    order = [p for p, _a in household_plan + person_plan]
    # The file's columns are the household's then the member's (HouseholdMemberResource's order): a row is the
    # two tuples added; otherwise each row is put in the file's order.
    arrange = None if order == list(range(width)) else operator.itemgetter(*[order.index(i) for i in range(width)])
    household_columns = [a for _p, a in household_plan]
    person_columns = [a for _p, a in person_plan]
    no_member = (None,) * len(person_plan)
    # The present members (Person.objects) of the households read, which the caller scoped with
    # scope_for_user: a member's region is its household's village, so scoping the members again would only
    # join the household table into every chunk's query (measured at a county of 1,000,000 people: 180 ms a
    # chunk instead of 35 ms, half the export's time). The ids go as one array parameter, not 2,000.
    members = Person.objects.order_by("household_id", "relation", "birth_date", "pk")

    def flush(chunk: list[tuple]) -> Any:
        by_household: dict[int, list[tuple]] = {}
        ids = [row[0] for row in chunk]
        if connections[members.db].vendor == "postgresql":
            column = f'"{Person._meta.db_table}"."household_id"'
            in_chunk = RawSQL(f"{column} = ANY(%s)", (ids,), output_field=BooleanField())
        else:
            in_chunk = Q(household_id__in=ids)
        for values in members.filter(in_chunk).values_list("household_id", *person_columns):
            found = by_household.get(values[0])
            if found is None:
                by_household[values[0]] = [values[1:]]
            else:
                found.append(values[1:])
        for values in chunk:
            household_id, house = values[0], values[1:]
            for person in by_household.get(household_id) or (no_member,):
                row = house + person
                yield household_id, row if arrange is None else arrange(row)

    chunk: list[tuple] = []
    for row in (
        households.order_by("village_id", "number")
        .values_list("pk", *household_columns)
        .iterator(chunk_size=EXPORT_CHUNK)
    ):
        chunk.append(row)
        if len(chunk) >= EXPORT_CHUNK:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)


def write_workbook(
    target: Any,
    *,
    user: Any,
    households: QuerySet[Household],
    include_sensitive: bool = False,
    progress: Callable[[int, str], None] | None = None,
    expected_households: int | None = None,
    file_format: str = "xlsx",
) -> int:
    """Write the households (already filtered) to `target` (a path or a binary file), one row per member, as
    XLSX (the sheet 户档案, continued on 户档案（续2）… past Excel's 1,048,576 rows) or as one CSV file, and
    return the number of rows. Rows go to disk as they are made (povertycloud.downloads.tables), so memory
    does not grow with the rows. The export is recorded in the audit trail."""
    resource = HouseholdMemberResource(user=user, include_sensitive=include_sensitive)
    kind = _("含完整敏感信息") if resource.include_sensitive else _("敏感信息已脱敏")
    count = 0
    seen_households = 0
    previous = None

    def counted():
        nonlocal count, seen_households, previous
        for household_id, row in export_rows(resource, scope_for_user(households, user)):
            yield row
            count += 1
            if household_id != previous:
                previous = household_id
                seen_households += 1
            if progress is not None and count % EXPORT_PROGRESS_ROWS == 0:
                done = 90 * seen_households // expected_households if expected_households else 50
                progress(max(1, done), _("已写 %(rows)s 行") % {"rows": count})

    token = _EXPORT_LABELS.set({})
    try:
        with open_tables(target, file_format) as tables:
            # The sheet's name and headers are the file format, like the headers: not translated. The rows are
            # stored values; the writer makes them cells with the converters, once per distinct value.
            tables.sheet(
                "户档案",
                resource.get_export_headers(),
                counted(),
                bold_header=True,
                freeze_header=True,
                converters=export_converters(resource),
            )
            if progress is not None:
                progress(95, _("保存文件"))
    finally:
        _EXPORT_LABELS.reset(token)
    record_event(
        actor=user,
        action="export",
        entity="households.household",
        object_repr=_("户档案 Excel 导出") if file_format == "xlsx" else _("户档案 CSV 导出"),
        region_code=_region_code(user),
        note=_("导出 %(rows)s 行（%(kind)s）") % {"rows": count, "kind": kind},
    )
    return count


# --- Import --------------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


class _Rows:
    """The rows of an upload, read with bounds: at most MAX_SHEET_ROWS lines, MAX_IMPORT_ROWS of them with
    data, MAX_COLUMNS columns. A line that cannot be read (a NUL byte, an unbalanced quote, an over-long
    cell) is kept as a line with a reason, so that it is reported against its line and the others are read.
    """

    def __init__(self) -> None:
        self.headers: list[str] = []
        self.lines: list[tuple[int, list[Any], str]] = []  # (line number, cells, reason it cannot be read)
        self.data_lines = 0

    def add(self, line: int, cells: list[Any], problem: str = "") -> None:
        if not problem and not any(_cell_text(cell) for cell in cells):
            return  # a blank line
        if not problem:
            problem = _long_cell(cells)
        self.data_lines += 1
        if self.data_lines > MAX_IMPORT_ROWS:
            message = _("一次最多导入 %(max)s 行，文件超过 %(max)s 行，请分批导入。")
            raise ValidationError(message % {"max": MAX_IMPORT_ROWS})
        self.lines.append((line, [] if problem else cells, problem))


def _long_cell(cells: list[Any]) -> str:
    for column, cell in enumerate(cells, start=1):
        if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
            return _("第 %(column)s 列的内容过长（%(length)s 个字符，最多 %(max)s 个），这一行未读取。") % {
                "column": column, "length": len(cell), "max": MAX_CELL_CHARS,
            }
    return ""


def _too_many_lines(declared: int) -> ValidationError:
    message = _("工作表声明有 %(rows)s 行，一次最多导入 %(max)s 行，请分批导入。文件未读取。")
    return ValidationError(message % {"rows": declared, "max": MAX_IMPORT_ROWS})


def _read_xlsx(content: bytes) -> _Rows:
    """The first sheet, refused from its declared size (the <dimension> element that openpyxl's read-only
    mode reads without loading a row) before any row is read; a sheet without one is read no further than
    the bounds allow."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    if sum(member.file_size for member in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise ValidationError(
            _("文件解压后超过 %(max)s MB，不能导入。") % {"max": MAX_UNPACKED_BYTES // (1024 * 1024)}
        )
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        sheet = workbook.active
        if sheet is None:
            raise ValidationError(_("文件中没有工作表。"))
        if (sheet.max_row or 0) > MAX_SHEET_ROWS:
            raise _too_many_lines(sheet.max_row)
        if (sheet.max_column or 0) > MAX_COLUMNS:
            message = _("工作表声明有 %(columns)s 列，最多 %(max)s 列。文件未读取。")
            raise ValidationError(message % {"columns": sheet.max_column, "max": MAX_COLUMNS})
        rows = _Rows()
        width = min(sheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
        cells = sheet.iter_rows(min_row=1, max_row=MAX_SHEET_ROWS + 1, max_col=width, values_only=True)
        for line, row in enumerate(cells, start=1):
            if line > MAX_SHEET_ROWS:
                raise _too_many_lines(line)
            values = list(row)
            if line == 1:
                while values and values[-1] is None:
                    values.pop()
                rows.headers = [_cell_text(cell) for cell in values]
                continue
            rows.add(line, values[: len(rows.headers)])
        return rows
    finally:
        workbook.close()


def _read_csv(content: bytes) -> _Rows:
    """CSV in UTF-8 (with or without BOM) or GB18030, one row a line, each line parsed on its own so that
    a NUL byte, an unbalanced quote or an over-long field rejects that line only."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("gb18030")
    rows = _Rows()
    for line, raw in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if line > MAX_SHEET_ROWS:
            raise _too_many_lines(line)
        problem, cells = "", []
        if "\x00" in raw:
            problem = _("这一行含有空字符（NUL），未读取。")
        else:
            try:
                cells = next(csv.reader([raw], strict=True), [])
            except csv.Error:
                if len(raw) > csv.field_size_limit():
                    problem = _("这一行的内容过长，未读取。")
                else:
                    problem = _("这一行的引号不成对（或引号后缺少分隔符），未读取。")
        if line == 1:
            if problem:
                raise ValidationError(_("第 1 行（表头）无法读取：%(problem)s") % {"problem": problem})
            rows.headers = [_cell_text(cell) for cell in cells[:MAX_COLUMNS]]
            continue
        if not problem and len(cells) > MAX_COLUMNS:
            problem = _("这一行超过 %(max)s 列，未读取。") % {"max": MAX_COLUMNS}
        if not problem:
            width = len(rows.headers)
            cells = (cells + [""] * width)[:width]
        rows.add(line, cells, problem)
    return rows


def read_sheet(content: bytes, filename: str) -> tablib.Dataset:
    """The uploaded file as a dataset: each household's 户主 first, every row numbered as in the file.

    Reading is bounded: the upload's size (MAX_UPLOAD_BYTES), an XLSX's unpacked size and declared
    dimensions (checked before a row is read), the number of lines and of data rows. A line that cannot
    be read gets its reason in READ_ERROR_COLUMN and is reported as an error of its line.

    Raises ValidationError (in the user's language) for a file that cannot be read or lacks columns.
    """
    if len(content) > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ValidationError(_("文件过大：最大 %(max)s MB。") % {"max": limit})
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    try:
        if suffix == "xlsx":
            source = _read_xlsx(content)
        elif suffix == "csv":
            source = _read_csv(content)
        else:
            raise ValidationError(_("只能导入 .xlsx 或 .csv 文件。"))
    except ValidationError:
        raise
    except (zipfile.BadZipFile, StopIteration, KeyError, OSError, ValueError, TypeError, EOFError) as e:
        raise ValidationError(_("无法读取文件：请上传由本系统导出的 Excel (.xlsx) 或 CSV 文件。")) from e
    headers = source.headers
    missing = [column for column in HouseholdMemberResource.REQUIRED_COLUMNS if column not in headers]
    if missing:
        raise ValidationError(_("文件缺少必需的列：%(columns)s。") % {"columns": "、".join(missing)})
    if not source.lines:
        raise ValidationError(_("文件中没有数据行。"))
    width = len(headers)
    numbered = [(line, (cells + [""] * width)[:width], problem) for line, cells, problem in source.lines]
    number_at, relation_at = headers.index("户编号"), headers.index("与户主关系")
    heads = {"01", codebook().label_zh("relation", "01"), codebook().label("relation", "01")}
    first_seen: dict[str, int] = {}
    for position, (_line, row, _problem) in enumerate(numbered):
        first_seen.setdefault(_cell_text(row[number_at]), position)

    def order(item: tuple[int, tuple[int, list, str]]) -> tuple[int, int, int]:
        position, (_line, row, _problem) = item
        is_head = _cell_text(row[relation_at]) in heads
        return first_seen[_cell_text(row[number_at])], 0 if is_head else 1, position

    dataset = tablib.Dataset(headers=[*headers, ROW_NUMBER_COLUMN, READ_ERROR_COLUMN])
    for _position, (line, row, problem) in sorted(enumerate(numbered), key=order):
        dataset.append([*row, line, problem])
    return dataset


@dataclass
class RowReport:
    line: Any
    number: str
    name: str
    id_number: str
    village: str
    outcome: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (column, before, after)

    @property
    def outcome_label(self) -> str:
        return str(OUTCOME_LABELS.get(self.outcome, self.outcome))


@dataclass
class ImportReport:
    rows: list[RowReport]
    file_errors: list[str]
    saved: bool

    @property
    def error_rows(self) -> list[RowReport]:
        return [row for row in self.rows if row.errors]

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.error_rows

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome and not row.errors)

    @property
    def count_new(self) -> int:
        return self.count(RowResult.IMPORT_TYPE_NEW)

    @property
    def count_update(self) -> int:
        return self.count(RowResult.IMPORT_TYPE_UPDATE)

    @property
    def count_skip(self) -> int:
        return self.count(RowResult.IMPORT_TYPE_SKIP)

    @property
    def count_rejected(self) -> int:
        return len(self.error_rows)

    @property
    def changed_rows(self) -> list[RowReport]:
        return [row for row in self.rows if row.outcome == RowResult.IMPORT_TYPE_UPDATE and not row.errors]

    @property
    def shown_rejected(self) -> list[RowReport]:
        """The rejected rows the preview lists (at most PREVIEW_ROWS; the counts cover them all)."""
        return self.error_rows[:PREVIEW_ROWS]

    @property
    def shown_changed(self) -> list[RowReport]:
        return self.changed_rows[:PREVIEW_ROWS]

    @property
    def more_rejected(self) -> int:
        return max(0, self.count_rejected - PREVIEW_ROWS)

    @property
    def more_changed(self) -> int:
        return max(0, len(self.changed_rows) - PREVIEW_ROWS)


OUTCOME_LABELS = {
    RowResult.IMPORT_TYPE_NEW: gettext_lazy("新增"),
    RowResult.IMPORT_TYPE_UPDATE: gettext_lazy("修改"),
    RowResult.IMPORT_TYPE_SKIP: gettext_lazy("无变化"),
    RowResult.IMPORT_TYPE_INVALID: gettext_lazy("有错误"),
    RowResult.IMPORT_TYPE_ERROR: gettext_lazy("有错误"),
}


def _row_errors(row_result: RowResult) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if row_result.validation_error is not None:
        error = row_result.validation_error
        by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for name, messages in by_field.items():
            column = HouseholdMemberResource.column_of(name)
            errors.extend((column, str(message)) for message in messages)
    for failure in row_result.errors:
        message = _("这一行无法保存（%(kind)s），请检查数据。") % {"kind": type(failure.error).__name__}
        errors.append(("", message))
    return errors


def _report(result: Result, *, saved: bool) -> ImportReport:
    rows = []
    for row_result in result.rows:
        values = row_result.row_values or {}
        rows.append(
            RowReport(
                line=values.get(ROW_NUMBER_COLUMN, ""),
                number=_cell_text(values.get("户编号")),
                name=_cell_text(values.get("姓名")),
                id_number=mask_id_number(_cell_text(values.get("证件号码"))),
                village=_cell_text(values.get("村代码")),
                outcome=row_result.import_type,
                errors=_row_errors(row_result),
                changes=getattr(row_result, "changed_fields", []),
            )
        )
    file_errors = [str(error.error) for error in result.base_errors]
    return ImportReport(rows=rows, file_errors=file_errors, saved=saved)


def preview_import(*, user: Any, dataset: tablib.Dataset) -> ImportReport:
    """Run every row through the services and roll everything back: what saving would do, saving nothing."""
    resource = HouseholdMemberResource(user=user)
    result = resource.import_data(dataset, dry_run=True, use_transactions=True)
    return _report(result, saved=False)


def confirm_import(*, user: Any, dataset: tablib.Dataset, filename: str, sha256: str) -> ImportReport:
    """Save every row through the services, or nothing if any row fails."""
    resource = HouseholdMemberResource(user=user)
    with transaction.atomic():
        result = resource.import_data(
            dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True
        )
        report = _report(result, saved=False)
        if report.ok:
            report.saved = True
            record_event(
                actor=user,
                action="import",
                entity="households.household",
                object_repr=filename,
                region_code=_region_code(user),
                note=_("导入 %(rows)s 行：新增 %(new)s，修改 %(updated)s，无变化 %(same)s。SHA-256 %(sha)s")
                % {
                    "rows": len(report.rows),
                    "new": report.count(RowResult.IMPORT_TYPE_NEW),
                    "updated": report.count(RowResult.IMPORT_TYPE_UPDATE),
                    "same": report.count(RowResult.IMPORT_TYPE_SKIP),
                    "sha": sha256,
                },
            )
    return report
