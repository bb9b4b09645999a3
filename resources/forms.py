"""Forms of the assistance pages. They parse input; resources.services and resources.elimination check
roles, states and every rule."""

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from households.codes import choices, codebook
from households.models import Household
from households.page_forms import SecretInput
from households.sensitive import mask
from resources.catalogue import catalogue
from resources.models import AssistanceMeasure, EliminationCase
from resources.selectors import members_for_form

EVERYTHING = [("", _("全部"))]

# 资金来源: the labels of the data dictionary's code set "funding_source" when an administrator has defined
# one; otherwise this list. The measure stores the label (the model keeps its text field, so the ledgers and
# reports that group by source read what they always read); a value stored before the list existed stays
# selectable on its own measure's form.
FUNDING_CODESET = "funding_source"
# Stored as written (Chinese, so that reports group one source under one name); shown translated.
DEFAULT_FUNDING_SOURCES = (
    gettext_noop("中央财政衔接资金"),
    gettext_noop("省级财政衔接资金"),
    gettext_noop("市县财政衔接资金"),
    gettext_noop("行业部门资金"),
    gettext_noop("东西部协作资金"),
    gettext_noop("社会帮扶资金"),
    gettext_noop("金融信贷资金"),
    gettext_noop("其他"),
)


def funding_sources() -> list[str]:
    labels = list(codebook().labels.get(FUNDING_CODESET, {}).values())
    return labels or list(DEFAULT_FUNDING_SOURCES)


class SubtypeSelect(forms.Select):
    """The sub-type select; each option names its category (data-category), so that
    resources/static/resources/js/measure_form.js offers only the sub-types of the chosen category."""

    def __init__(self, *args: Any, category_of: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.category_of = category_of or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        category = self.category_of.get(str(value))
        if category:
            option["attrs"]["data-category"] = category
        return option


def _date(label: str, *, required: bool = True) -> forms.DateField:
    return forms.DateField(
        label=label, required=required, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class MeasureForm(forms.Form):
    category = forms.ChoiceField(label=_("帮扶类别"))
    subtype = forms.ChoiceField(
        label=_("帮扶子类"), required=False, help_text=_("须属于所选类别"), widget=SubtypeSelect
    )
    person = forms.ChoiceField(label=_("帮扶对象（成员）"), required=False, help_text=_("按人落实的措施须选择成员"))
    amount = forms.DecimalField(label=_("金额（元）"), required=False, max_digits=12, decimal_places=2)
    funding_source = forms.ChoiceField(label=_("资金来源"), required=False)
    start_date = _date(_("开始日期"))
    end_date = _date(_("结束日期"), required=False)
    responsible_unit = forms.CharField(label=_("责任单位"), required=False, max_length=100)
    helper_name = forms.CharField(label=_("帮扶责任人"), required=False, max_length=50)
    helper_unit = forms.CharField(label=_("帮扶责任人单位"), required=False, max_length=100)
    helper_phone = forms.CharField(label=_("帮扶责任人电话"), required=False, max_length=20)
    risk_types = forms.MultipleChoiceField(
        label=_("针对的风险类型"), required=False, widget=forms.CheckboxSelectMultiple
    )
    status = forms.ChoiceField(
        label=_("实施状态"), choices=AssistanceMeasure.Status.choices, widget=forms.RadioSelect,
        initial=AssistanceMeasure.Status.PLANNED,
    )
    note = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, household: Household, measure: AssistanceMeasure | None = None, **kwargs: Any):
        if measure is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "category": measure.category_id,
                "subtype": measure.subtype_id or "",
                "person": measure.person_id or "",
                "amount": measure.amount,
                "funding_source": measure.funding_source,
                "start_date": measure.start_date,
                "end_date": measure.end_date,
                "responsible_unit": measure.responsible_unit,
                "helper_name": measure.helper_name,
                "helper_unit": measure.helper_unit,
                "helper_phone": measure.helper_phone,
                "risk_types": measure.risk_type_codes,
                "status": measure.status,
                "note": measure.note,
                "version": measure.version,
            }
        super().__init__(*args, **kwargs)
        book = catalogue()
        self.fields["category"].choices = [("", "—")] + [(c.code, c.name) for c in book.categories.values()]
        groups: dict[str, list[tuple[str, str]]] = {}
        for subtype in book.subtypes.values():
            groups.setdefault(book.categories[subtype.category].name, []).append((subtype.code, subtype.name))
        self.fields["subtype"].choices = [("", "—"), *groups.items()]
        self.fields["subtype"].widget.category_of = {code: sub.category for code, sub in book.subtypes.items()}
        self.fields["subtype"].widget.attrs["data-follows"] = "id_category"
        sources = funding_sources()
        stored = (measure.funding_source or "").strip() if measure is not None else ""
        if stored and stored not in sources:
            sources.append(stored)  # recorded before the list (or since removed from it): kept on its measure
        self.fields["funding_source"].choices = [("", "—"), *((source, gettext(source)) for source in sources)]
        self.fields["person"].choices = [("", _("整户"))] + [
            (str(p.pk), p.name) for p in members_for_form(household)
        ]
        own = household.risk_type_codes
        options = choices("risk_type")
        self.fields["risk_types"].choices = [(c, label) for c, label in options if not own or c in own]
        if measure is not None and measure.helper_phone:
            self.fields["helper_phone"].widget = SecretInput(
                measure.helper_phone, attrs={"placeholder": mask("phone", measure.helper_phone)}
            )
            self.fields["helper_phone"].help_text = _("已脱敏显示；留空表示不修改。")
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("data-testid", f"measure-{name}")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        book = catalogue()
        category, subtype = cleaned.get("category"), cleaned.get("subtype")
        if category and subtype:
            found = book.subtypes.get(subtype)
            if found is not None and found.category != category:
                self.add_error(
                    "subtype",
                    _("帮扶子类“%(subtype)s”不属于“%(category)s”。")
                    % {"subtype": found.name, "category": book.categories[category].name},
                )
        elif category and not subtype and book.subtypes_of(category):
            message = _("“%(category)s”须选择帮扶子类。") % {"category": book.categories[category].name}
            self.add_error("subtype", message)
        return cleaned

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("version", None)
        data["amount"] = data.get("amount") or 0
        return data


class RemoveMeasureForm(forms.Form):
    reason = forms.CharField(label=_("删除原因"), max_length=500, help_text=_("如录入重复、录错户"))


class ApplyForm(forms.Form):
    method = forms.ChoiceField(
        label=_("消除方式"), choices=EliminationCase.Method.choices, widget=forms.RadioSelect,
        initial=EliminationCase.Method.ASSISTED,
    )
    visit_date = _date(_("入户核实日期"))
    reason = forms.CharField(label=_("申请理由"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["visit_date"].initial = timezone.localdate()


DECISIONS = [("approve", _("同意")), ("reject", _("不同意"))]


class TownshipReviewForm(forms.Form):
    decision = forms.ChoiceField(label=_("乡镇审核"), choices=DECISIONS, widget=forms.RadioSelect, initial="approve")
    notice_from = _date(_("村内公示开始"), required=False)
    notice_to = _date(_("村内公示结束"), required=False)
    reason = forms.CharField(label=_("审核意见"), widget=forms.Textarea(attrs={"rows": 2}))


class CountyDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("县级审定"), choices=DECISIONS, widget=forms.RadioSelect, initial="approve")
    reason = forms.CharField(label=_("审定意见"), widget=forms.Textarea(attrs={"rows": 2}))


class TownshipFilterForm(forms.Form):
    township = forms.ChoiceField(label=_("乡镇"), required=False)
    kind = forms.ChoiceField(label=_("问题"), required=False)

    def __init__(self, *args: Any, townships: list, kinds: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["township"].choices = EVERYTHING + [(t.code, t.name) for t in townships]
        if kinds is None:
            del self.fields["kind"]
        else:
            self.fields["kind"].choices = EVERYTHING + list(kinds.items())

    def value(self, name: str) -> str:
        if not self.is_bound or not self.is_valid():
            return ""
        return self.cleaned_data.get(name) or ""


class EliminationFilterForm(TownshipFilterForm):
    status = forms.ChoiceField(
        label=_("状态"), required=False,
        choices=[("open", _("未办结")), *EliminationCase.Status.choices, ("all", _("全部"))],
    )
