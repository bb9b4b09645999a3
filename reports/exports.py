"""What auditors export (domain.md §6): household and member lists with identification and exit dates, the
assistance ledger with amounts and payees, the department comparison results, the risk decisions and the
audit trail, for a region and a period.

Every queryset passes through the user's region scope. ID numbers, phones, bank accounts and health details
are masked unless the user's role may reveal them and the user asks for them (households.sensitive); every
text cell a spreadsheet would run as a formula is neutralised; every export is written to the audit trail
(action export) with what was exported and how many rows.

Exports run in the background (povertycloud.downloads, kind "reports.export"): the page records the request
and the file is written row by row to disk (povertycloud.downloads.tables: a streamed XLSX workbook, or a zip
with one CSV per table, as the user chose), so memory does not grow with rows; code labels are looked up once
per export. The whole county's household and member list (~1.3 million rows at 1,000,000 people) is read as
tuples through a server-side cursor (tests/benchmarks/bench_exports.py measures it).
"""

import datetime as dt
import functools
import io
import json
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from eligibility.models import CrossCheck, CrossCheckHit
from exchange import quality
from exchange.declarations import get_department
from exchange.selectors import department_name
from households.codes import codebook
from households.models import Household, Person, StatusChange
from households.sensitive import HIDDEN, MASKS, can_see_health, mask_changes, mask_text, shown
from households.spreadsheets import neutralise_formula
from povertycloud.accounts.permissions import can_reveal_sensitive
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import record_event
from povertycloud.downloads.tables import open_tables
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user
from reports.sources import hits_first_found
from resources.catalogue import catalogue
from resources.models import AssistanceMeasure
from risk.models import CaseEvent, RiskCase

STREAM_ROWS = 2000
COUNTY_STREAM_ROWS = 10_000  # the household and member lists: rows per server-side cursor fetch
PROGRESS_ROWS = 20_000
_LABELS: ContextVar[dict | None] = ContextVar("export_labels", default=None)
ISSUES_PER_RULE = 100_000
EVENT_ENTERED, EVENT_ELIMINATED, EVENT_RETURNED = "03", "05", "06"


@dataclass(frozen=True)
class ExportKind:
    slug: str
    label: Any  # lazy translations, shown in the language of the page
    entity: str
    description: Any


KINDS: dict[str, ExportKind] = {
    kind.slug: kind
    for kind in (
        ExportKind(
            "households",
            gettext_lazy("户和家庭成员名单"),
            "households.household",
            gettext_lazy("区划内的户（含纳入监测和风险消除日期）和家庭成员。"),
        ),
        ExportKind(
            "assistance",
            gettext_lazy("帮扶资金台账"),
            "resources.assistancemeasure",
            gettext_lazy("统计期内开始的帮扶措施：金额、资金来源、收款户（户主、银行账号）和帮扶责任人。"),
        ),
        ExportKind(
            "quality",
            gettext_lazy("部门数据比对结果"),
            "households.person",
            gettext_lazy("截止日部门数据与户档案不一致之处（民政、医保、教育）。"),
        ),
        ExportKind(
            "cross_checks",
            gettext_lazy("资格比对疑点"),
            "eligibility.crosscheckhit",
            gettext_lazy(
                "统计期内首次发现的资格比对疑点：比对规则、人员、证据（部门、批次、记录）、发放日期和金额、"
                "核实状态和后续处理。"
            ),
        ),
        ExportKind(
            "decisions",
            gettext_lazy("风险核实决定"),
            "risk.riskcase",
            gettext_lazy("统计期内作出决定（纳入监测或排除）的风险核实及其办理记录。"),
        ),
        ExportKind(
            "audit",
            gettext_lazy("审计日志"),
            "audit.auditevent",
            gettext_lazy("统计期内谁在何时修改、审核、导出或查看了什么。"),
        ),
    )
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) else value
    if isinstance(value, int | float | dt.date):
        return value
    if hasattr(value, "is_finite"):  # Decimal: a number in the sheet
        return float(value)
    return neutralise_formula(str(value))


class Sheets:
    """The tables of one export, written straight to the file (povertycloud.downloads.tables: a streamed
    XLSX workbook, or a zip of CSV files), every cell through _cell unless the rows are already clean."""

    def __init__(
        self, target: Any, file_format: str = "xlsx", progress: Callable[[int, str], None] | None = None
    ) -> None:
        self.tables = open_tables(target, file_format, many=True)
        self.rows = 0
        self.sheets = 0
        self.progress = progress

    @property
    def suffix(self) -> str:
        return self.tables.suffix

    def sheet(self, title: str, headers: Iterable[str], rows: Iterable[Iterable[Any]], *, clean: bool = True) -> int:
        """Append one table; `clean=False` for rows whose cells the caller made with _cell's rules already."""
        counted = self._counted(rows if not clean else ([_cell(v) for v in row] for row in rows))
        count = self.tables.sheet(title, [_cell(h) for h in headers], counted)
        self.rows += count
        self.sheets += 1
        return count

    def _counted(self, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
        if self.progress is None:
            yield from rows
            return
        every = PROGRESS_ROWS
        for count, row in enumerate(rows, start=1):
            yield row
            if count % every == 0:
                self.progress(min(90, 10 + 40 * self.sheets), _("已写 %(rows)s 行") % {"rows": self.rows + count})

    def close(self) -> None:
        self.tables.close()


def _range(region: Region) -> tuple[str, str]:
    return region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")


def _households(user: Any, region: Region):
    first, last = _range(region)
    return scope_for_user(Household.objects.filter(village_id__gte=first, village_id__lte=last), user)


def _shown(user: Any, field: str, value: Any, revealed: bool) -> Any:
    return str(shown(user, field, value, revealed=revealed))


def _labels(codeset: str, value: str) -> str:
    """The labels of a (comma-separated) coded value; within an export each value is looked up once."""
    memo = _LABELS.get()
    if memo is None:
        memo = {}
    book = None
    labels = []
    for code in (value or "").split(","):
        if not code:
            continue
        key = (codeset, code)
        if key not in memo:
            book = book or codebook()
            memo[key] = book.label(codeset, code)
        labels.append(memo[key])
    return "、".join(labels)


def _status_dates(households, end: dt.date) -> dict[str, dict[int, dt.date]]:
    changes = StatusChange.objects.filter(household__in=households, effective_date__lte=end)
    entered = dict(
        changes.filter(event__in=(EVENT_ENTERED, EVENT_RETURNED))
        .values("household_id")
        .annotate(day=Max("effective_date"))
        .order_by()
        .values_list("household_id", "day")
    )
    eliminated = dict(
        changes.filter(event=EVENT_ELIMINATED)
        .values("household_id")
        .annotate(day=Max("effective_date"))
        .order_by()
        .values_list("household_id", "day")
    )
    return {"entered": entered, "eliminated": eliminated}


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """convert(value), computed once per distinct value within the export (coded values have few)."""
    return functools.cache(convert)


def _sensitive(user: Any, field: str, revealed: bool) -> Callable[[Any], str]:
    """_shown(user, field, ·, revealed) for a sensitive field, without asking who the user is per cell."""
    if revealed and can_reveal_sensitive(user):
        return lambda value: neutralise_formula(str(value))
    masker = MASKS[field]
    return lambda value: neutralise_formula(str(value) if value in (None, "") else masker(str(value)))


def households_export(
    sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool
) -> None:
    """The households and members of the region. A whole county is ~1.3 million rows: read as tuples
    (values_list) through a server-side cursor, each coded value and health detail converted once per export,
    each sensitive value masked without asking the user's role per cell; cells are made here with _cell's
    rules (clean=False)."""
    first, last = _range(region)
    households = _households(user, region)
    dates = _status_dates(households, end)
    entered, eliminated = dates["entered"], dates["eliminated"]
    yes, no = _("是"), _("否")
    text = neutralise_formula
    household_type = _memo(lambda v: _labels("household_type", v))
    monitoring_type = _memo(lambda v: _labels("monitoring_type", v))
    risk_types = _memo(lambda v: _labels("risk_type", v))
    phone = _sensitive(user, "phone", revealed)
    bank_account = _sensitive(user, "bank_account", revealed)
    columns = (
        "pk", "number", "village_id", "village__name", "household_type", "monitoring_type", "risk_types",
        "whole_household_unable_to_work", "phone", "bank_account",
    )  # fmt: skip
    rows = (
        [
            text(number),
            text(village_id),
            text(village_name or ""),
            household_type(h_type),
            monitoring_type(m_type),
            risk_types(r_types),
            yes if unable else no,
            entered.get(pk),
            eliminated.get(pk),
            phone(h_phone),
            bank_account(h_bank),
        ]
        for pk, number, village_id, village_name, h_type, m_type, r_types, unable, h_phone, h_bank in (
            households.order_by("village_id", "number").values_list(*columns).iterator(chunk_size=COUNTY_STREAM_ROWS)
        )
    )
    sheets.sheet(
        _("户"),
        [
            _("户编号"),
            _("村代码"),
            _("村"),
            _("户类型"),
            _("监测对象类别"),
            _("风险类型"),
            _("整户无劳动能力"),
            _("最近纳入监测日期（截止日前）"),
            _("最近风险消除日期（截止日前）"),
            _("联系电话"),
            _("银行账号"),
        ],
        rows,
        clean=False,
    )
    people = scope_for_user(
        Person.objects.filter(household__village_id__gte=first, household__village_id__lte=last), user
    )
    id_number = _sensitive(user, "id_number", revealed)
    sex = _memo(lambda v: _labels("sex", v))
    relation = _memo(lambda v: _labels("relation", v))
    labour_skill = _memo(lambda v: _labels("labour_skill", v))
    health = _memo(lambda v: _shown(user, "health", _labels("health", v), revealed))
    disability_category = _memo(
        lambda v: _shown(user, "disability_category", _labels("disability_category", v), revealed)
    )
    disability_grade = _memo(lambda v: _shown(user, "disability_grade", _labels("disability_grade", v), revealed))
    columns = (
        "household__number", "name", "id_number", "sex", "birth_date", "relation", "health", "disability_category",
        "disability_grade", "labour_skill", "months_worked_away", "public_welfare_job",
    )  # fmt: skip
    member_rows = (
        [
            text(number),
            text(name),
            id_number(p_id),
            sex(p_sex),
            birth_date,
            relation(p_relation),
            health(p_health),
            disability_category(p_category),
            disability_grade(p_grade),
            labour_skill(p_skill),
            "" if months is None else months,
            "" if welfare is None else (yes if welfare else no),
        ]
        for (
            number,
            name,
            p_id,
            p_sex,
            birth_date,
            p_relation,
            p_health,
            p_category,
            p_grade,
            p_skill,
            months,
            welfare,
        ) in (
            people.order_by("household__village_id", "household__number", "relation", "pk")
            .values_list(*columns)
            .iterator(chunk_size=COUNTY_STREAM_ROWS)
        )
    )
    sheets.sheet(
        _("家庭成员"),
        [
            _("户编号"),
            _("姓名"),
            _("证件号码"),
            _("性别"),
            _("出生日期"),
            _("与户主关系"),
            _("健康状况"),
            _("残疾类别"),
            _("残疾等级"),
            _("劳动技能"),
            _("务工时间（月）"),
            _("公益性岗位"),
        ],
        member_rows,
        clean=False,
    )


def assistance_export(
    sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool
) -> None:
    households = _households(user, region)
    heads = dict(
        scope_for_user(Person.objects.filter(household__in=households, relation="01"), user)
        .order_by("household_id", "pk")
        .values_list("household_id", "name")
    )
    measures = scope_for_user(
        AssistanceMeasure.objects.filter(household__in=households, start_date__gte=start, start_date__lte=end), user
    ).select_related("household")
    book = catalogue()
    rows = (
        [
            m.pk,
            m.household.number,
            m.household.village_id,
            heads.get(m.household_id, ""),
            m.person_name,
            book.label(m.category_id),
            book.label(m.category_id, m.subtype_id) if m.subtype_id else "",
            m.amount,
            m.funding_source,
            _shown(user, "bank_account", m.household.bank_account, revealed),
            m.start_date,
            m.end_date,
            m.get_status_display(),
            m.responsible_unit,
            m.helper_name,
            m.helper_unit,
            _shown(user, "phone", m.helper_phone, revealed),
        ]
        for m in measures.order_by("start_date", "pk").iterator(chunk_size=STREAM_ROWS)
    )
    sheets.sheet(
        _("帮扶资金台账"),
        [
            _("措施编号"),
            _("户编号"),
            _("村代码"),
            _("收款户户主"),
            _("帮扶对象（成员）"),
            _("帮扶类别"),
            _("帮扶子类"),
            _("金额（元）"),
            _("资金来源"),
            _("收款银行账号"),
            _("开始日期"),
            _("结束日期"),
            _("实施状态"),
            _("责任单位"),
            _("帮扶责任人"),
            _("帮扶责任人单位"),
            _("帮扶责任人电话"),
        ],
        rows,
    )


def quality_export(sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool) -> None:
    context = quality.build_context(user=user, region=region, on=end)
    rules = quality.applicable_rules(context)
    counts = quality.counts_by_township(context)
    townships = list(
        scope_for_user(
            Region.objects.filter(level=Region.Level.TOWNSHIP, code__startswith=region.prefix), user
        ).order_by("code")
    )
    if region.level == Region.Level.TOWNSHIP:
        townships = [region]
    sheets.sheet(
        _("分乡镇问题数"),
        [_("乡镇"), _("区划代码"), *[str(rule.label) for rule in rules]],
        ([t.name, t.code, *[counts.get(t.code, {}).get(rule.code, 0) for rule in rules]] for t in townships),
    )

    def items():
        for township in townships:
            found = quality.issues_in(context, township, limit=ISSUES_PER_RULE)
            for rule in rules:
                for item in found.get(rule.code, []):
                    person = item.person
                    batch = item.batch
                    yield [
                        township.name,
                        str(rule.label),
                        get_department(rule.department).name,
                        person.household.number,
                        person.household.village_id,
                        person.name,
                        _shown(user, "id_number", person.id_number, revealed),
                        batch.pk if batch else "",
                        batch.file_name if batch else "",
                        batch.period if batch else "",
                    ]

    sheets.sheet(
        _("比对结果"),
        [
            _("乡镇"),
            _("问题"),
            _("部门"),
            _("户编号"),
            _("村代码"),
            _("姓名"),
            _("证件号码"),
            _("来源批次"),
            _("批次文件"),
            _("统计期"),
        ],
        items(),
    )


def cross_checks_export(
    sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool
) -> None:
    """The cross-check hits of the region first found in the period (their first run started within it), one
    row per hit with its evidence and its verification; ID numbers masked, and ID numbers in the officials'
    reasons, unless the user's role may reveal them and the user asked for them."""
    first, last = _range(region)
    hits = hits_first_found(region=region, start=start, end=end, user=user).select_related(
        "cross_check", "evidence_batch", "decided_by", "first_run"
    )
    places = dict(
        Region.objects.filter(code__gte=first, code__lte=last, level__gte=Region.Level.TOWNSHIP).values_list(
            "code", "name"
        )
    )
    id_number = _sensitive(user, "id_number", revealed)
    department = _memo(department_name)
    status_labels = dict(CrossCheckHit.Status.choices)
    outcome_labels = dict(CrossCheck.Outcome.choices)
    rows = (
        [
            h.pk,
            h.cross_check.name,
            places.get(h.township_code, h.township_code),
            h.region_code,
            places.get(h.region_code, "") if h.region_code != h.township_code else "",
            h.name,
            id_number(h.id_number),
            department(h.evidence_department),
            h.evidence_batch_id,
            h.evidence_batch.file_name,
            h.evidence_record_id,
            h.payment_date,
            h.amount,
            timezone.localtime(h.first_run.started_at).date(),
            h.detail if revealed else mask_text(h.detail),
            str(status_labels.get(h.status, h.status)),
            str(outcome_labels.get(h.outcome, h.outcome)),
            h.reason if revealed else mask_text(h.reason),
            h.decided_by.username if h.decided_by else "",
            h.decided_at,
        ]
        for h in hits.order_by("township_code", "cross_check__code", "pk").iterator(chunk_size=STREAM_ROWS)
    )
    sheets.sheet(
        _("资格比对疑点"),
        [
            _("疑点编号"),
            _("比对规则"),
            _("乡镇"),
            _("区划代码"),
            _("村"),
            _("姓名"),
            _("证件号码"),
            _("证据部门"),
            _("证据批次"),
            _("批次文件"),
            _("证据记录"),
            _("发放日期"),
            _("金额（元）"),
            _("发现日期"),
            _("疑点说明"),
            _("核实状态"),
            _("后续处理"),
            _("核实说明"),
            _("核实人"),
            _("核实时间"),
        ],
        rows,
    )


def decisions_export(
    sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool
) -> None:
    first, last = _range(region)
    cases = scope_for_user(
        RiskCase.objects.filter(
            region_code__gte=first, region_code__lte=last, decided_at__date__gte=start, decided_at__date__lte=end
        ),
        user,
    ).select_related("household", "decided_by")
    status_labels = dict(RiskCase.Status.choices)
    rows = (
        [
            c.pk,
            c.household.number,
            c.region_code,
            str(status_labels.get(c.status, c.status)),
            c.opened_on,
            c.due_on,
            c.visit_date,
            c.consent_signed,
            _labels("monitoring_type", c.monitoring_type),
            _labels("risk_type", c.risk_types),
            c.decision_reason,
            c.decided_by.username if c.decided_by else "",
            c.decided_at,
        ]
        for c in cases.order_by("decided_at", "pk").iterator(chunk_size=STREAM_ROWS)
    )
    sheets.sheet(
        _("风险核实决定"),
        [
            _("核实编号"),
            _("户编号"),
            _("区划代码"),
            _("决定"),
            _("首次预警日期"),
            _("办结时限"),
            _("入户核实日期"),
            _("已签署授权承诺"),
            _("监测对象类别"),
            _("风险类型"),
            _("决定理由"),
            _("决定人"),
            _("决定时间"),
        ],
        rows,
    )
    events = CaseEvent.objects.filter(case__in=cases).select_related("by").order_by("case_id", "at", "pk")
    sheets.sheet(
        _("办理记录"),
        [_("核实编号"), _("原状态"), _("新状态"), _("操作人"), _("时间"), _("说明")],
        (
            [
                e.case_id,
                str(status_labels.get(e.from_status, e.from_status)),
                str(status_labels.get(e.to_status, e.to_status)),
                e.by.username if e.by else "",
                e.at,
                e.note,
            ]
            for e in events.iterator(chunk_size=STREAM_ROWS)
        ),
    )


def _masked_changes(user: Any, changes: Any, revealed: bool) -> Any:
    """The changes of an audit event with every sensitive value masked wherever its field name appears (the
    one list, helpers' phones included), health details hidden from those who may not see them, and ID
    numbers and mobile numbers in other text masked."""
    return mask_changes(changes, reveal=revealed, hide_health=not can_see_health(user), hidden=str(HIDDEN))


def audit_export(sheets: Sheets, *, user: Any, region: Region, start: dt.date, end: dt.date, revealed: bool) -> None:
    first, last = _range(region)
    events = scope_for_user(
        AuditEvent.objects.filter(
            Q(region_code__gte=first, region_code__lte=last), at__date__gte=start, at__date__lte=end
        ),
        user,
    )
    action_labels = dict(AuditEvent.Action.choices)
    rows = (
        [
            e.at,
            e.actor_username,
            str(action_labels.get(e.action, e.action)),
            e.entity,
            e.object_pk,
            e.object_repr if revealed else mask_text(e.object_repr),
            e.region_code,
            e.household_id,
            json.dumps(_masked_changes(user, e.changes, revealed), ensure_ascii=False, sort_keys=True),
            e.note if revealed else mask_text(e.note),
        ]
        for e in events.order_by("at", "pk").iterator(chunk_size=STREAM_ROWS)
    )
    sheets.sheet(
        _("审计日志"),
        [
            _("时间"),
            _("操作人"),
            _("操作"),
            _("对象类型"),
            _("对象编号"),
            _("对象"),
            _("区划代码"),
            _("户"),
            _("变更内容"),
            _("说明"),
        ],
        rows,
    )


WRITERS = {
    "households": households_export,
    "assistance": assistance_export,
    "quality": quality_export,
    "cross_checks": cross_checks_export,
    "decisions": decisions_export,
    "audit": audit_export,
}


FORMATS = {"xlsx": gettext_lazy("Excel（XLSX）"), "csv": gettext_lazy("CSV（ZIP 压缩包，每张表一个文件）")}
DEFAULT_FORMAT = "xlsx"
SUFFIXES = {"xlsx": ".xlsx", "csv": ".zip"}


def export_name(*, kind: str, region: Region, start: dt.date, end: dt.date, file_format: str = DEFAULT_FORMAT) -> str:
    return f"{kind}-{region.code}-{start:%Y%m%d}-{end:%Y%m%d}{SUFFIXES[file_format]}"


def export(
    *,
    user: Any,
    kind: str,
    region: Region,
    start: dt.date,
    end: dt.date,
    include_sensitive: bool = False,
    file_format: str = DEFAULT_FORMAT,
) -> tuple[str, bytes]:
    """(file name, bytes) of one export (small exports and tests; the pages use export_to)."""
    out = io.BytesIO()
    name = export_to(
        out,
        user=user,
        kind=kind,
        region=region,
        start=start,
        end=end,
        include_sensitive=include_sensitive,
        file_format=file_format,
    )
    return name, out.getvalue()


def export_to(
    target: Any,
    *,
    user: Any,
    kind: str,
    region: Region,
    start: dt.date,
    end: dt.date,
    include_sensitive: bool = False,
    progress: Callable[[int, str], None] | None = None,
    file_format: str = DEFAULT_FORMAT,
) -> str:
    """Write one export to `target` (a path or a binary file) in `file_format` (FORMATS: a workbook, or a
    zip of one CSV per table) and return its file name; the export is written to the audit trail. The caller
    has checked the region and the period (reports.services.check_request)."""
    described = KINDS[kind]
    revealed = include_sensitive and can_reveal_sensitive(user)
    sheets = Sheets(target, file_format, progress)
    token = _LABELS.set({})
    try:
        WRITERS[kind](sheets, user=user, region=region, start=start, end=end, revealed=revealed)
        if progress is not None:
            progress(95, _("保存文件"))
    finally:
        _LABELS.reset(token)
        sheets.close()
    masking = _("含完整敏感信息") if revealed else _("敏感信息已脱敏")
    record_event(
        actor=user,
        action=AuditEvent.Action.EXPORT,
        entity=described.entity,
        object_repr=_("%(kind)s：%(region)s") % {"kind": described.label, "region": region.name},
        region_code=region.code,
        changes={
            "export": kind,
            "region": region.code,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rows": sheets.rows,
            "sensitive": revealed,
            "format": file_format,
        },
        note=_("导出%(kind)s %(rows)s 行（%(start)s 至 %(end)s，%(masking)s）")
        % {
            "kind": described.label,
            "rows": sheets.rows,
            "start": f"{start:%Y-%m-%d}",
            "end": f"{end:%Y-%m-%d}",
            "masking": masking,
        },
    )
    return export_name(kind=kind, region=region, start=start, end=end, file_format=file_format)


DOWNLOAD_KIND = "reports.export"


def describe_download(parameters: dict) -> str:
    """What an export download holds, on the 我的下载 page (in the page's language)."""
    region = Region.objects.filter(code=parameters["region"]).values_list("name", flat=True).first() or ""
    described = _("%(kind)s：%(region)s（%(start)s 至 %(end)s）") % {
        "kind": KINDS[parameters["kind"]].label,
        "region": region,
        "start": parameters["start"],
        "end": parameters["end"],
    }
    if parameters.get("format") == "csv":
        described += " · CSV"
    return described


def produce_download(download: Any, path: Any, progress: Callable[[int, str], None]) -> str:
    """The background job of an auditor's export (povertycloud.downloads): the parameters were checked
    when it was asked for (reports.views.export_page)."""
    parameters = download.parameters
    region = Region.objects.get(code=parameters["region"])
    return export_to(
        path,
        user=download.requested_by,
        kind=parameters["kind"],
        region=region,
        start=dt.date.fromisoformat(parameters["start"]),
        end=dt.date.fromisoformat(parameters["end"]),
        include_sensitive=bool(parameters.get("include_sensitive")),
        progress=progress,
        # Downloads asked for before there was a choice of format have none: XLSX.
        file_format=parameters.get("format") or DEFAULT_FORMAT,
    )
