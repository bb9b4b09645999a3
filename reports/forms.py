"""Forms of the report pages. They parse input; reports.services.check_request judges region and period."""

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from povertycloud.regions.models import Region
from reports.exports import DEFAULT_FORMAT, FORMATS, KINDS
from reports.services import COUNTY_LEVELS, check_request


def _date(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=True,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": _("请填写%(label)s。") % {"label": label},
            "invalid": _("请输入有效日期，如 2025-01-31。"),
        },
    )


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """This year so far; in January, the whole of last year."""
    today = today or timezone.localdate()
    if today.month == 1:
        return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
    return dt.date(today.year, 1, 1), today


def threshold_period(region_code: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The period the dashboard opens on: the latest period that has a monitoring threshold for the region.
    That is default_period when its year has one; otherwise the whole of the latest earlier year that has
    one; default_period again when no year up to then has one (the page then says there is none)."""
    from households.monitoring import thresholds_for

    start, end = default_period(today)
    years = [year for year in thresholds_for(region_code) if year <= end.year]
    if not years or end.year in years:
        return start, end
    year = max(years)
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def region_choices(user: Any, levels: tuple[int, ...] = COUNTY_LEVELS) -> list[tuple[str, str]]:
    """The regions of `levels` a user may report on (counties and townships unless the page takes more), indented
    by level below the highest offered."""
    from povertycloud.regions.scoping import scope_for_user

    regions = list(scope_for_user(Region.objects.filter(level__in=levels), user).order_by("code"))
    top = min((r.level for r in regions), default=0)
    return [(r.code, "　" * (r.level - top) + r.name) for r in regions]


class PeriodForm(forms.Form):
    """A region and a period; clean() judges them with reports.services.check_request (self.region)."""

    region = forms.CharField(label=_("区划"), max_length=12, error_messages={"required": _("请选择区划。")})
    start = _date(_("统计期起始日"))
    end = _date(_("统计期截止日"))

    def __init__(self, *args: Any, user: Any, levels: tuple[int, ...] = COUNTY_LEVELS, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        self.levels = levels
        self.region: Region | None = None
        choices = region_choices(user, levels)
        self.fields["region"].widget = forms.Select(choices=choices)
        if not self.is_bound:
            start, end = default_period()
            self.initial.setdefault("start", start)
            self.initial.setdefault("end", end)
            if choices:
                self.initial.setdefault("region", choices[0][0])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            self.region = check_request(
                user=self.user,
                region_code=data.get("region") or "",
                start=data.get("start"),
                end=data.get("end"),
                levels=self.levels,
            )
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                if name not in self.errors:
                    self.add_error(name, messages)
        return data


class ExportForm(PeriodForm):
    kind = forms.ChoiceField(label=_("导出内容"), choices=[(k.slug, k.label) for k in KINDS.values()])
    include_sensitive = forms.BooleanField(label=_("包含完整敏感信息（记入审计日志）"), required=False)
    # Not required: a form posted without it (an older page, a script) gets the workbook, as before.
    file_format = forms.ChoiceField(
        label=_("文件格式"),
        choices=list(FORMATS.items()),
        required=False,
        initial=DEFAULT_FORMAT,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("请选择 Excel（XLSX）或 CSV。")},
    )

    def clean_file_format(self) -> str:
        return self.cleaned_data.get("file_format") or DEFAULT_FORMAT

    def format_parameters(self) -> dict[str, str]:
        """What the download records of the chosen format (reports.views.export_page adds it to the download's
        parameters): nothing for the workbook, which a download without a format gets, {"format": "csv"} else."""
        chosen = self.cleaned_data.get("file_format") or DEFAULT_FORMAT
        return {} if chosen == DEFAULT_FORMAT else {"format": chosen}
