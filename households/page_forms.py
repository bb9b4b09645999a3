"""Forms that only the township officials' pages use; the shared model forms are in households.forms."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from households import selectors
from households.codes import choices
from households.forms import HouseholdForm
from households.spreadsheets import MAX_UPLOAD_BYTES


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("搜索"), required=False, max_length=50,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": gettext_lazy("姓名、证件号码、户编号或村名"),
                "data-testid": "search-input",
            }
        ),
    )
    village = forms.ChoiceField(label=gettext_lazy("村"), required=False)
    household_type = forms.ChoiceField(label=gettext_lazy("户类型"), required=False)
    monitoring_type = forms.ChoiceField(label=gettext_lazy("监测对象类别"), required=False)
    risk_type = forms.ChoiceField(label=gettext_lazy("风险类型"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        everything = [("", _("全部"))]
        self.fields["village"].choices = everything + list(
            selectors.villages_for_user(user).order_by("code").values_list("code", "name")
        )
        self.fields["household_type"].choices = everything + choices("household_type")
        self.fields["monitoring_type"].choices = [
            *everything,
            ("any", _("监测对象（任一类别）")),
            ("none", _("非监测对象")),
            *choices("monitoring_type"),
        ]
        self.fields["risk_type"].choices = everything + choices("risk_type")

    def filters(self) -> dict[str, Any]:
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}


class SecretInput(forms.TextInput):
    """Shows a stored sensitive value masked (as a placeholder), never in the page; blank keeps it."""

    def __init__(self, secret: str, attrs: dict | None = None):
        super().__init__(attrs)
        self.secret = secret

    def format_value(self, value: Any) -> str | None:
        return None if value == self.secret else super().format_value(value)


class HouseholdEditForm(HouseholdForm):
    reason = forms.CharField(
        label=gettext_lazy("修改原因"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("修改户类型、贫困户属性、监测对象类别或风险类型时必须填写。"),
    )

    class Meta(HouseholdForm.Meta):
        exclude = ("created_at", "updated_at", "village", "number")

    def values(self) -> dict[str, Any]:
        values = super().values()
        values.pop("reason", None)
        return values


class RemoveMemberForm(forms.Form):
    left_on = forms.DateField(
        label=gettext_lazy("离开日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("死亡、迁出等发生的日期；留空为今天。"),
    )
    reason = forms.CharField(
        label=gettext_lazy("移除原因"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("如死亡、婚嫁迁出、户籍迁出。"),
    )


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Excel 文件（.xlsx 或 .csv）"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(_("文件过大：最大 10 MB。"))
        if not upload.name.lower().endswith((".xlsx", ".csv")):
            raise ValidationError(_("只能导入 .xlsx 或 .csv 文件。"))
        return upload
