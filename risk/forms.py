"""Forms of the risk pages. They parse input; the services in risk.services check roles, states and codes."""

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from households.codes import choices
from households.models import Household
from risk import case_selectors, list_selectors
from risk.models import RiskCase, RiskScore, WarningRule
from risk.services import MONITORING_TYPE_FOR_HOUSEHOLD_TYPE as FITS

EVERYTHING = [("", _("全部"))]

CASE_STATUS_CHOICES = [
    ("", _("全部")),
    (list_selectors.OPEN, _("未办结（预警或核实中）")),
    (list_selectors.OVERDUE, _("已超期")),
    *RiskCase.Status.choices,
    (list_selectors.NO_CASE, _("未立核实")),
]


SORT_CHOICES = [
    ("p_return", _("返贫概率")),
    ("p_poor", _("当前致贫概率")),
    ("household", _("户编号")),
    ("village", _("乡镇和村")),
    ("category", _("监测对象类别")),
]
DIRECTION_CHOICES = [
    ("", _("默认顺序")),
    (list_selectors.DESCENDING, _("降序（从高到低）")),
    (list_selectors.ASCENDING, _("升序（从低到高）")),
]


class RiskFilterForm(forms.Form):
    township = forms.ChoiceField(label=_("乡镇"), required=False)
    level = forms.ChoiceField(label=_("风险等级"), required=False)
    monitoring = forms.ChoiceField(label=_("监测对象类别"), required=False)
    hide_monitored = forms.BooleanField(label=_("隐藏已在监测的户"), required=False)
    risk_type = forms.ChoiceField(label=_("风险类型"), required=False)
    rule = forms.ChoiceField(label=_("预警规则"), required=False)
    status = forms.ChoiceField(label=_("核实状态"), required=False, choices=CASE_STATUS_CHOICES)
    sort = forms.ChoiceField(label=_("排序"), required=False, choices=SORT_CHOICES)
    dir = forms.ChoiceField(label=_("顺序"), required=False, choices=DIRECTION_CHOICES)

    def __init__(self, *args: Any, townships: list, rules: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # An unknown order is the default order, not an error (old links, hand-edited addresses).
            data = self.data.copy()
            for name in ("sort", "dir"):
                if data.get(name) not in dict(self.fields[name].choices):
                    data.pop(name, None)
            self.data = data
        self.fields["township"].choices = EVERYTHING + [(t.code, t.name) for t in townships]
        self.fields["level"].choices = EVERYTHING + list(RiskScore.Level.choices)
        self.fields["monitoring"].choices = [
            *EVERYTHING,
            (list_selectors.MONITORED_ANY, _("监测对象（任一类别）")),
            *choices("monitoring_type"),
            (list_selectors.NOT_MONITORED, list_selectors.NOT_MONITORED_LABEL),
        ]
        self.fields["risk_type"].choices = EVERYTHING + choices("risk_type")
        self.fields["rule"].choices = EVERYTHING + sorted(rules.items(), key=lambda item: item[1])
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("data-testid", f"filter-{name}")

    def filters(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value and name not in ("sort", "dir")}

    def sort_key(self) -> str:
        """The order asked for; "" for the default (unknown keys were dropped in __init__)."""
        return (self.data.get("sort") if self.is_bound else "") or ""

    def direction(self) -> str:
        """asc, desc, or "" for the sort's own direction."""
        return self.data.get("dir", "") if self.is_bound else ""


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("状态"), required=False, choices=[c for c in CASE_STATUS_CHOICES if c[0] != list_selectors.NO_CASE]
    )
    township = forms.ChoiceField(label=_("乡镇"), required=False)
    mine = forms.BooleanField(label=_("只看我的"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            (list_selectors.OPEN, _("未办结（预警或核实中）")),
            *[c for c in self.fields["status"].choices if c[0] not in ("", list_selectors.OPEN)],
            ("all", _("全部")),
        ]
        self.fields["township"].choices = EVERYTHING + [
            (t.code, t.name) for t in list_selectors.townships_for(user)
        ]

    def filters(self) -> dict[str, Any]:
        if not self.is_bound:
            return {"status": list_selectors.OPEN}
        self.is_valid()
        values = {name: value for name, value in self.cleaned_data.items() if value}
        values.setdefault("status", list_selectors.OPEN)
        return values


class AssignForm(forms.Form):
    official = forms.ModelChoiceField(
        label=_("核实人（乡镇干部）"), queryset=None, empty_label=_("请选择"), required=True
    )

    def __init__(self, *args: Any, case: RiskCase, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["official"].queryset = case_selectors.officials_for(case)
        self.fields["official"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.username}（{user.region.name if user.region_id else ''}）"
        )


class VisitForm(forms.Form):
    visit_date = forms.DateField(
        label=_("入户核实日期"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    notes = forms.CharField(
        label=_("入户核实情况"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("家庭人口、收入、支出、住房、饮水和风险情况，以及信息比对结果。"),
    )
    consent_signed = forms.BooleanField(label=_("农户已签署授权承诺书"), required=False)

    def __init__(self, *args: Any, case: RiskCase, **kwargs: Any):
        kwargs.setdefault(
            "initial",
            {
                "visit_date": case.visit_date or timezone.localdate(),
                "notes": case.visit_notes,
                "consent_signed": case.consent_signed,
            },
        )
        super().__init__(*args, **kwargs)


class DecisionForm(forms.Form):
    monitoring_type = forms.ChoiceField(label=_("监测对象类别"))
    risk_types = forms.MultipleChoiceField(
        label=_("风险类型"), widget=forms.CheckboxSelectMultiple, help_text=_("最多 5 项。")
    )
    reason = forms.CharField(label=_("决定理由"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, case: RiskCase, household: Household, suggested: list[str], **kwargs: Any):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("risk_types", [*household.risk_type_codes, *suggested])
        super().__init__(*args, **kwargs)
        self.fields["monitoring_type"].choices = [("", _("请选择"))] + [
            (code, label)
            for code, label in choices("monitoring_type")
            if household.household_type in FITS.get(code, {household.household_type})
        ]
        self.fields["risk_types"].choices = choices("risk_type")


class ExcludeForm(forms.Form):
    reason = forms.CharField(
        label=_("排除理由"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("例如：入户核实收入稳定高于监测线、无返贫风险。"),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("auto_id", "id_exclude_%s")  # the decision form on the same page has a reason too
        super().__init__(*args, **kwargs)


def suggested_risk_types(case: RiskCase) -> list[str]:
    """Risk types of the rules that raised the case's warnings: a starting point for the decision."""
    if not case.warning_rules:
        return []
    rules = WarningRule.objects.filter(code__in=case.warning_rules)
    return [code for code in rules.values_list("risk_type", flat=True) if code]


class TrainForm(forms.Form):
    seed = forms.IntegerField(
        label=_("随机种子"),
        initial=0,
        min_value=0,
        max_value=2**31 - 1,
        help_text=_("同一种子、同一数据得到同一模型"),
        error_messages={"invalid": _("随机种子须是非负整数。"), "min_value": _("随机种子须是非负整数。")},
    )


class OverrideForm(forms.Form):
    reason = forms.CharField(
        label=_("强制启用理由"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        error_messages={"required": _("强制启用须填写理由。")},
    )
