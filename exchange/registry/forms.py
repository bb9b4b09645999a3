"""The registry upload form: the region, the export's date and its files."""

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy

from exchange.forms import ENCODINGS
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user, sees_everything

MAX_FILES = 4


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern for <input type=file multiple>)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".csv,.xlsx"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        files = data if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in files if item] or [single(None, initial)]


def registry_regions(user: Any):
    """Regions a user may import a registry export into: their county and its townships, or their township."""
    regions = Region.objects.filter(level__in=[Region.Level.COUNTY, Region.Level.TOWNSHIP])
    if not sees_everything(user):
        regions = scope_for_user(regions, user)
    return regions.order_by("code")


class RegistryUploadForm(forms.Form):
    region = forms.ChoiceField(label=gettext_lazy("导入范围（县或乡镇）"))
    as_of = forms.DateField(
        label=gettext_lazy("数据截至日期"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("导出数据所反映的日期；导出与系统相比发生的状态变更记在这一天。"),
    )
    files = MultipleFileField(
        label=gettext_lazy("导出文件（.csv 或 .xlsx）"),
        help_text=gettext_lazy(
            "户信息表和成员信息表必需，收支信息表（含年度列）和状态变更表可选：每张表一个文件，或放在同一个工作簿的"
            "不同工作表中。CSV 可为 UTF-8、UTF-8（带 BOM）或 GBK 编码。"
        ),
    )
    encoding = forms.ChoiceField(label=gettext_lazy("CSV 编码"), choices=ENCODINGS, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [(r.code, f"{r.name}（{r.code}）") for r in registry_regions(user)]

    def clean_as_of(self) -> dt.date:
        value = self.cleaned_data["as_of"]
        if value > timezone.localdate():
            raise forms.ValidationError(gettext_lazy("数据截至日期不能晚于今天。"))
        return value

    def clean_files(self) -> list:
        files = self.cleaned_data["files"]
        if len(files) > MAX_FILES:
            raise forms.ValidationError(gettext_lazy("一次最多上传 4 个文件（户信息、成员信息、收支信息、状态变更）。"))
        return files
