"""Pages of the county's own settings for the modelling side, and the administrator's override.

- /risk/quota/<county>/ — the county's default review quota (risk.capacity): county staff of that county
  change it; auditors and administrators look (administrators may change it too); a county outside the
  user's region answers 404; a township official or an auditor who posts gets 403.
- /risk/models/<pk>/override/ — an administrator activates a model that did not beat its best baseline,
  with a reason (risk.registry.activate_model; audited, shown on the model page).
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from povertycloud.regions.models import Region
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user, sees_everything
from risk.capacity import can_edit_quota, county_of, quota_of_county, review_quota, set_review_quota

# The built-in defaults that apply while a county has set nothing (risk.evaluation, risk.services).
BUILT_IN_SHARE = Decimal("0.10")
BUILT_IN_HOUSEHOLDS = 30


class QuotaForm(forms.Form):
    households = forms.IntegerField(
        label=gettext_lazy("每个乡镇每轮核实户数"),
        required=False,
        min_value=1,
        max_value=100_000,
        help_text=gettext_lazy("填写则每个乡镇按此户数进入核实名单（单独设置了核实能力的乡镇除外）"),
    )
    share_percent = forms.DecimalField(
        label=gettext_lazy("或：核实比例（%）"),
        required=False,
        min_value=Decimal("0.1"),
        max_value=Decimal("100"),
        decimal_places=1,
        help_text=gettext_lazy("户数留空时，按乡镇评分户数的这一比例（向上取整）"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("households") is None and data.get("share_percent") is None:
            raise ValidationError(_("请填写每个乡镇每轮核实户数，或核实比例。"))
        return data


def _county_for(request: HttpRequest, code: str) -> Region:
    return get_for_user_or_404(Region.objects.filter(level=Region.Level.COUNTY), request.user, code=code)


@login_required
def quota_home(request: HttpRequest) -> HttpResponse:
    """The user's own county's page; administrators choose a county."""
    region = getattr(request.user, "region", None)
    if region is not None and region.level == Region.Level.COUNTY:
        return redirect("risk:quota", code=region.code)
    if not sees_everything(request.user):
        raise PermissionDenied(_("核实名额按县设置，由县级工作人员修改。"))
    counties = scope_for_user(Region.objects.filter(level=Region.Level.COUNTY), request.user)
    return render(request, "risk/quota.html", {"counties": counties})


def _townships(county: Region) -> list[dict[str, Any]]:
    townships = list(Region.objects.filter(level=Region.Level.TOWNSHIP, code__startswith=county.prefix))
    quota = review_quota([t.code for t in townships])
    rows = []
    for township in townships:
        own = quota.townships.get(township.code)
        households, share = quota.counties.get(county_of(township.code), (None, None))
        if own is not None:
            rule = _("%(n)s 户（该乡镇单独设置的核实能力）") % {"n": own}
        elif households is not None:
            rule = _("%(n)s 户（本县设置）") % {"n": households}
        elif share is not None:
            rule = _("评分户数的 %(share)s%%（本县设置）") % {"share": f"{share * 100:g}"}
        else:
            rule = _("评估按评分户数的 %(share)s%%，立案每轮 %(n)s 户（系统默认）") % {
                "share": f"{BUILT_IN_SHARE * 100:g}",
                "n": BUILT_IN_HOUSEHOLDS,
            }
        rows.append({"township": township, "rule": rule})
    return rows


@login_required
def quota_page(request: HttpRequest, code: str) -> HttpResponse:
    county = _county_for(request, code)
    may_edit = can_edit_quota(request.user, county)
    current = quota_of_county(county)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied(_("只有本县的县级工作人员或系统管理员可以修改核实名额。"))
        form = QuotaForm(request.POST)
        if form.is_valid():
            percent = form.cleaned_data["share_percent"]
            households = form.cleaned_data["households"]
            try:
                set_review_quota(
                    by=request.user,
                    county=county,
                    households=households,
                    share=None if households is not None or percent is None else percent / 100,
                )
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("核实名额已保存。"))
                return redirect("risk:quota", code=county.code)
    else:
        initial = {}
        if current is not None:
            initial = {
                "households": current.households,
                "share_percent": None if current.share is None else current.share * 100,
            }
        form = QuotaForm(initial=initial)
    return render(
        request,
        "risk/quota.html",
        {
            "county": county,
            "current": current,
            "form": form if may_edit else None,
            "townships": _townships(county),
            "share_percent": f"{current.share * 100:g}" if current is not None and current.share else "",
            "built_in_share": f"{BUILT_IN_SHARE * 100:g}",
            "built_in_households": BUILT_IN_HOUSEHOLDS,
        },
    )
