"""The admin of the modelling side: monitoring thresholds, warning rules and their regional thresholds, review
capacities, stored models (activated through the registry), and read-only warnings, runs and scores.

Every queryset that carries a region goes through RegionScopedAdmin. Thresholds, rules, capacities and
models are administrators' data (domain.md §1): others may look, only administrators write, and each
write is audited.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from exchange.declarations import all_departments
from exchange.selectors import get_department_or_none
from households.admin import code_label
from households.monitoring import MonitoringThreshold
from povertycloud.audit.admin_mixins import audited_formset_save
from povertycloud.audit.services import diff, record_event, snapshot
from povertycloud.regions.admin_mixins import AuditorReadOnlyAdmin, RegionScopedAdmin
from povertycloud.regions.scoping import sees_everything
from risk.models import (
    ReviewCapacity,
    ReviewQuota,
    RiskModel,
    RiskScore,
    ScoringRun,
    Warning,
    WarningRule,
    WarningThreshold,
)
from risk.registry import activate_model
from risk.rules import DepartmentNotDeclared, RuleError, check_rule_field


class AdministratorsWrite:
    """Everyone with admin access may look; only administrators add, change or delete. Writes are audited."""

    def has_add_permission(self, request, *args):
        return sees_everything(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user) and super().has_delete_permission(request, obj)

    def _region_of(self, obj) -> str:
        return getattr(obj, "region_id", "") or ""

    def save_model(self, request, obj, form, change):
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        record_event(
            actor=request.user,
            action="update" if change else "create",
            entity=obj._meta.label_lower,
            object_pk=obj.pk,
            object_repr=str(obj),
            region_code=self._region_of(obj),
            changes=diff(before, snapshot(obj)),
            note="管理后台",
        )

    def delete_model(self, request, obj):
        before, pk = snapshot(obj), obj.pk
        super().delete_model(request, obj)
        record_event(
            actor=request.user,
            action="delete",
            entity=obj._meta.label_lower,
            object_pk=pk,
            object_repr=str(obj),
            region_code=self._region_of(obj),
            changes=diff(before, {}),
            note="管理后台",
        )

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        # Inline rows (a rule's regional thresholds) are audited one by one, as their own admin does.
        audited_formset_save(
            request, formset, lambda: super(AdministratorsWrite, self).save_formset(request, form, formset, change)
        )


@admin.display(description=_("部门"), ordering="department")
def department_name(obj) -> str:
    """民政, not civil_affairs: the department as declared (exchange.departments)."""
    found = get_department_or_none(obj.department)
    return found.name if found else obj.department


class ReadOnly:
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MonitoringThreshold)
class MonitoringThresholdAdmin(AdministratorsWrite, RegionScopedAdmin):
    list_display = ("region", "year", "amount", "source")
    list_filter = ("year",)
    search_fields = ("region__code", "region__name", "source")
    raw_id_fields = ("region",)
    ordering = ("region_id", "year")


class WarningThresholdInline(admin.TabularInline):
    model = WarningThreshold
    extra = 0
    raw_id_fields = ("region",)

    def has_add_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)


def department_choices(current: str = "") -> list[tuple[str, str]]:
    """Every department the county receives, typed or declared as data (and a rule's own department while it
    is not declared, so that the rule can still be edited)."""
    choices = [(d.slug, f"{d.name}（{d.slug}）") for d in all_departments()]
    if current and current not in {slug for slug, _label in choices}:
        choices.append((current, gettext("%(slug)s（尚未声明）") % {"slug": current}))
    return choices


class WarningRuleForm(forms.ModelForm):
    """A rule written against any department: the department chosen among the declared ones, the field
    checked against its declaration (a declared column's key, or a typed record's field) and the operator
    against the column's kind."""

    department = forms.ChoiceField(label=_("部门"))

    class Meta:
        model = WarningRule
        fields = [
            "code", "name", "department", "field", "operator", "population", "default_threshold", "values",
            "risk_type", "phrase", "active",
        ]  # fmt: skip
        help_texts = {
            "field": _("部门声明的字段代码（例如住建鉴定等级 grade），内置部门为记录的字段名"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = department_choices(self.instance.department if self.instance else "")

    def clean(self):
        cleaned = super().clean()
        rule = WarningRule(
            code=cleaned.get("code") or "",
            department=cleaned.get("department") or "",
            field=cleaned.get("field") or "",
            operator=cleaned.get("operator") or "",
            values=cleaned.get("values") or "",
        )
        if rule.department and rule.field and rule.operator:
            try:
                check_rule_field(rule)
            except DepartmentNotDeclared:
                pass  # a rule kept for a department not declared yet: it waits (risk.rules)
            except RuleError as exc:
                self.add_error("field", str(exc))
        return cleaned


@admin.register(WarningRule)
class WarningRuleAdmin(AdministratorsWrite, admin.ModelAdmin):
    form = WarningRuleForm
    list_display = (
        "code",
        "name",
        department_name,
        "field",
        "operator",
        "population",
        "default_threshold",
        code_label("risk_type", "risk_type", WarningRule._meta.get_field("risk_type").verbose_name),
        "active",
    )
    list_filter = ("department", "active")
    search_fields = ("code", "name")
    inlines = [WarningThresholdInline]


@admin.register(WarningThreshold)
class WarningThresholdAdmin(AdministratorsWrite, RegionScopedAdmin):
    list_display = ("rule", "region", "value")
    list_filter = ("rule",)
    raw_id_fields = ("region",)


@admin.register(ReviewCapacity)
class ReviewCapacityAdmin(AdministratorsWrite, RegionScopedAdmin):
    list_display = ("region", "households")
    raw_id_fields = ("region",)


@admin.register(ReviewQuota)
class ReviewQuotaAdmin(AdministratorsWrite, RegionScopedAdmin):
    """A county's default review quota; county staff change it on /risk/quota/ (risk.capacity)."""

    list_display = ("region", "households", "share", "updated_by", "updated_at")
    raw_id_fields = ("region",)
    readonly_fields = ("updated_by", "updated_at")


@admin.register(Warning)
class WarningAdmin(ReadOnly, RegionScopedAdmin):
    list_display = (
        "as_of",
        "rule",
        "household",
        "value",
        "threshold",
        department_name,
        "batch",
    )
    list_filter = ("as_of", "rule")
    raw_id_fields = ("household", "person", "batch")
    show_full_result_count = False


@admin.register(RiskModel)
class RiskModelAdmin(AuditorReadOnlyAdmin):
    list_display = (
        "version",
        "target",
        "kind",
        "test_year",
        "roc_auc",
        "pr_auc",
        "beats_baseline",
        "active",
        "trained_at",
    )
    list_filter = ("target", "kind", "active", "beats_baseline")
    exclude = ("artifact",)
    actions = ["activate"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RiskModel._meta.fields if f.name != "artifact"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="ROC-AUC")
    def roc_auc(self, obj):
        value = (obj.metrics or {}).get("roc_auc")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="PR-AUC")
    def pr_auc(self, obj):
        value = (obj.metrics or {}).get("pr_auc")
        return "—" if value is None else f"{value:.3f}"

    # Models below their best baseline are refused here: the override (with a reason) is on /risk/models/.
    @admin.action(description=_("启用所选模型（每个预测目标一个）"))
    def activate(self, request, queryset):
        for model in queryset.order_by("target", "-trained_at"):
            try:
                activate_model(by=request.user, model=model)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(
                    request,
                    gettext("%(version)s：%(reason)s") % {"version": model.version, "reason": exc},
                    messages.ERROR,
                )
            else:
                self.message_user(request, gettext("已启用 %(version)s") % {"version": model.version}, messages.SUCCESS)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact")


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnly, RegionScopedAdmin):
    list_display = (
        "id",
        "as_of",
        "region_code",
        "poor_model",
        "return_model",
        "households_scored",
        "explained",
        "finished_at",
    )


@admin.register(RiskScore)
class RiskScoreAdmin(ReadOnly, RegionScopedAdmin):
    list_display = ("run", "household", "p_poor", "p_return", "level")
    list_filter = ("level",)
    raw_id_fields = ("run", "household")
    show_full_result_count = False
