"""Forms of the department data pages."""

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exchange.declarations import all_departments
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user, sees_everything

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ALLOWED_SUFFIXES = (".csv", ".xlsx")
ZIP_MAGIC = b"PK\x03\x04"
ENCODINGS = [
    ("", gettext_lazy("自动识别")),
    ("utf-8", "UTF-8"),
    ("utf-8-sig", gettext_lazy("UTF-8（带 BOM）")),
    ("gbk", "GBK / GB18030"),
]


def too_large_message() -> str:
    size = f"{MAX_UPLOAD_BYTES / (1024 * 1024):g}"
    return _("文件过大：部门数据文件最大 %(mb)s MB。请拆分后分别上传。") % {"mb": size}


class SizeLimitHandler(FileUploadHandler):
    """Stops reading a file once it passes the limit, before it is written anywhere we keep."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > MAX_UPLOAD_BYTES:
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_regions(user: Any):
    """The regions a user may upload a file for: their county (or township) and the townships below it."""
    regions = Region.objects.filter(level__in=[Region.Level.COUNTY, Region.Level.TOWNSHIP])
    if not sees_everything(user):
        regions = scope_for_user(regions, user)
    return regions.order_by("code")


class UploadForm(forms.Form):
    department = forms.ChoiceField(label=gettext_lazy("部门"))
    region = forms.ChoiceField(label=gettext_lazy("数据范围（区划）"))
    file = forms.FileField(
        label=gettext_lazy("文件（.csv 或 .xlsx）"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
        help_text=gettext_lazy("CSV 可为 UTF-8、UTF-8（带 BOM）或 GBK 编码；最大 200 MB。"),
    )
    encoding = forms.ChoiceField(label=gettext_lazy("编码"), choices=ENCODINGS, required=False)
    period = forms.RegexField(
        label=gettext_lazy("统计期"), regex=r"^\d{4}-(0[1-9]|1[0-2])$", required=False,
        help_text=gettext_lazy("YYYY-MM；文件有“统计期”列时可不填。没有有效统计期的文件会被拒收。"),
        error_messages={"invalid": gettext_lazy("统计期应写作 YYYY-MM，如 2025-03。")},
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The departments declared in code and the active ones declared as data (a deactivated one is no choice).
        self.fields["department"].choices = [(d.slug, str(d.name)) for d in all_departments()]
        regions = list(upload_regions(user).values_list("code", "name"))
        self.fields["region"].choices = regions
        own = getattr(user, "region_id", None)
        if own and any(code == own for code, _name in regions):
            self.fields["region"].initial = own

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(too_large_message())
        name = upload.name.lower()
        if not name.endswith(ALLOWED_SUFFIXES):
            raise ValidationError(_("只能上传 .csv 或 .xlsx 文件（旧版 .xls 请另存为 .xlsx）。"))
        head = upload.read(8192)
        upload.seek(0)
        if not head:
            raise ValidationError(_("文件是空的。"))
        if name.endswith(".xlsx") and not head.startswith(ZIP_MAGIC):
            raise ValidationError(_("文件扩展名是 .xlsx，但内容不是 Excel 工作簿。"))
        if name.endswith(".csv") and (head.startswith(ZIP_MAGIC) or b"\x00" in head):
            raise ValidationError(_("文件扩展名是 .csv，但内容不是文本表格。"))
        return upload


class RollbackForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("撤销原因"), max_length=1000, widget=forms.TextInput(),
        error_messages={"required": gettext_lazy("撤销批次须填写原因。")},
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("我确认撤销本批次：它写入的记录作废，它终止的记录恢复"),
        error_messages={"required": gettext_lazy("请勾选确认后再撤销。")},
    )


class CancelReviewForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("取消原因"), max_length=1000, required=False, widget=forms.TextInput())


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("排除原因"), max_length=500, widget=forms.TextInput(),
        error_messages={"required": gettext_lazy("排除候选须填写原因。")},
    )


class QualityForm(forms.Form):
    township = forms.ChoiceField(label=gettext_lazy("乡镇"), required=False)
    period = forms.RegexField(
        label=gettext_lazy("统计期"), regex=r"^\d{4}-(0[1-9]|1[0-2])$", required=False,
        help_text=gettext_lazy("YYYY-MM，年龄和低保停止日期按该月第一天计算；默认本月。"),
        error_messages={"invalid": gettext_lazy("统计期应写作 YYYY-MM，如 2025-03。")},
    )

    def __init__(self, *args: Any, townships: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["township"].choices = [("", _("请选择")), *townships]

    def on(self) -> dt.date | None:
        self.is_valid()
        period = self.cleaned_data.get("period")
        return dt.date(int(period[:4]), int(period[5:7]), 1) if period else None
