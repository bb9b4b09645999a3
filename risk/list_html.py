"""The risk list's table rows, written in Python.

The list is the page county staff and township officials open most, and under twenty users at once on two
processors its rows were the largest share of its time: eleven cells a row, fifty rows, each value looked up
and escaped by the template engine (about 15 ms a page). Here each row is one format_html call (under 2 ms a
page), which escapes every value as the template did. The markup is the template's own: the cells, their
data-label (the column name shown above a cell on a phone) and the data-testid attributes the tests and the
browser tests read. risk/_case_state.html and risk/_days_left.html say the same for the case page and the
case list.
"""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from risk.list_selectors import RiskRow

DASH = "—"


@dataclass(frozen=True)
class Labels:
    """The column names and state words of one page, translated once."""

    number: str
    head: str
    village: str
    p_poor: str
    p_return: str
    level: str
    category: str
    factors: str
    rules: str
    state: str
    due: str
    overdue: str
    no_case: str
    decided: str
    no_return_model: str


def page_labels(no_return_model: str) -> Labels:
    return Labels(
        number=_("户编号"),
        head=_("户主"),
        village=_("村"),
        p_poor=_("当前致贫概率"),
        p_return=_("返贫概率"),
        level=_("风险等级"),
        category=_("监测对象类别"),
        factors=_("主要因素"),
        rules=_("预警规则"),
        state=_("核实状态"),
        due=_("办结时限"),
        overdue=_("已超期"),
        no_case=_("未立核实"),
        decided=_("已办结"),
        no_return_model=str(no_return_model),
    )


def _tags(values: list[str], css: str) -> SafeString:
    if not values:
        return mark_safe(DASH)
    return format_html_join("", '<span class="tag {}">{}</span>', ((css, value) for value in values))


def _household_link(row: RiskRow) -> SafeString:
    case = row.state.case
    if case is not None:
        return format_html(
            '<a href="{}" data-testid="case-link">{}</a>', reverse("risk:case", args=[case.pk]), row.household.number
        )
    return format_html(
        '<a href="{}" data-testid="household-link">{}</a>',
        reverse("households:detail", args=[row.household.pk]),
        row.household.number,
    )


def _village(row: RiskRow) -> SafeString:
    if row.township_name:
        return format_html('{}<br><span class="muted">{}</span>', row.village_name, row.township_name)
    return format_html("{}", row.village_name)


def _p_return(row: RiskRow, has_return_model: bool, labels: Labels) -> SafeString:
    if has_return_model:
        return format_html("{}", row.p_return)
    return format_html('<span class="muted" title="{}">{}</span>', labels.no_return_model, DASH)


def _category(row: RiskRow) -> SafeString:
    if row.monitored:
        return format_html('<span class="tag risk">{}</span>', row.monitoring_label)
    return format_html('<span class="muted">{}</span>', row.monitoring_label)


def _case_state(row: RiskRow, labels: Labels) -> SafeString:
    state = row.state
    if state.case is None:
        return format_html('<span class="muted" data-testid="case-status">{}</span>', labels.no_case)
    status = format_html(
        '<span class="tag status-{}" data-testid="case-status">{}</span>', state.case.status, state.label
    )
    if state.overdue:
        return format_html('{} <span class="tag overdue" data-testid="overdue">{}</span>', status, labels.overdue)
    return status


def _due(row: RiskRow, labels: Labels) -> SafeString:
    state = row.state
    due_on = format_html("{}<br>", state.case.due_on.isoformat()) if state.case is not None else ""
    if state.days_left is None:
        left = format_html('<span class="muted">{}</span>', labels.decided) if state.decided else DASH
    elif state.overdue:
        left = format_html(
            '<span class="overdue-text" data-testid="days-left">{}</span>',
            _("超期 %(days)s 天") % {"days": state.overdue_days},
        )
    else:
        left = format_html('<span data-testid="days-left">{}</span>', _("剩 %(days)s 天") % {"days": state.days_left})
    return format_html("{}{}", due_on, left)


ROW = (
    '<tr data-testid="risk-row" data-household-id="{}"{}>'
    '<td data-label="{}" class="nowrap">{}</td>'
    '<td data-label="{}" class="nowrap">{}</td>'
    '<td data-label="{}">{}</td>'
    '<td data-label="{}" class="num" data-testid="p-poor">{}</td>'
    '<td data-label="{}" class="num" data-testid="p-return">{}</td>'
    '<td data-label="{}"><span class="tag level-{}" data-testid="level">{}</span></td>'
    '<td data-label="{}" data-testid="monitoring">{}</td>'
    '<td data-label="{}"><span class="tags">{}</span></td>'
    '<td data-label="{}"><span class="tags">{}</span></td>'
    '<td data-label="{}">{}</td>'
    '<td data-label="{}" class="nowrap">{}</td>'
    "</tr>"
)


def row_html(row: RiskRow, *, has_return_model: bool, labels: Labels) -> SafeString:
    return format_html(
        ROW,
        row.household.pk,
        mark_safe(' class="overdue"') if row.state.overdue else "",
        labels.number, _household_link(row),
        labels.head, row.head_name or DASH,
        labels.village, _village(row),
        labels.p_poor, row.p_poor,
        labels.p_return, _p_return(row, has_return_model, labels),
        labels.level, row.score.level, row.level_label,
        labels.category, _category(row),
        labels.factors, _tags(row.factors, "factor"),
        labels.rules, _tags(row.rules, "risk"),
        labels.state, _case_state(row, labels),
        labels.due, _due(row, labels),
    )  # fmt: skip


def rows_html(rows: list[RiskRow], *, has_return_model: bool, no_return_model: str) -> list[SafeString]:
    labels = page_labels(no_return_model)
    return [row_html(row, has_return_model=has_return_model, labels=labels) for row in rows]
