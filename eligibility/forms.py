"""Forms of the cross-check pages: the hit list's filters, the verification of a hit, the run button."""

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from eligibility.models import CrossCheck, CrossCheckHit
from eligibility.selectors import check_name

REASON_MAX = 500


class HitFilterForm(forms.Form):
    check = forms.TypedChoiceField(label=_("比对规则"), required=False, coerce=int, empty_value=None)
    township = forms.ChoiceField(label=_("乡镇"), required=False)
    status = forms.ChoiceField(label=_("核实状态"), required=False)

    def __init__(self, *args: Any, checks: list[CrossCheck], townships: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["check"].choices = [("", _("全部规则")), *((c.pk, check_name(c)) for c in checks)]
        self.fields["township"].choices = [("", _("全部乡镇")), *townships]
        self.fields["status"].choices = [("", _("全部状态")), *CrossCheckHit.Status.choices]

    def filters(self) -> dict[str, Any]:
        """The filters asked for (an invalid one is ignored: the list shows everything the user may see)."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}


class ConfirmForm(forms.Form):
    note = forms.CharField(
        label=_("核实说明（可不填）"), required=False, max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=_("排除原因"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("排除疑点须填写原因。")},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("排除疑点须填写原因。"))
        return reason


class RunForm(forms.Form):
    """The county and date of a run. County staff run their own county (the field is left out for them)."""

    county = forms.ChoiceField(label=_("县"), required=False)
    as_of = forms.DateField(label=_("比对日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, counties: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if counties is None:
            del self.fields["county"]
        else:
            self.fields["county"].choices = counties
            self.fields["county"].required = True

    def clean_as_of(self):
        as_of = self.cleaned_data.get("as_of") or timezone.localdate()
        if as_of > timezone.localdate():
            raise forms.ValidationError(_("比对日期不能晚于今天。"))
        return as_of
