"""Pages of where the data went (去向可查): department clients, their shares, the persons each share read, and
the export of a client's shares as CSV or XLSX (prepared in the background: povertycloud.downloads).

For county staff, auditors and administrators (township officials are refused: department clients are the
county's business). Everything is read through the region scope (share_selectors): another region's client,
share or person answers 404.
"""

import datetime as dt
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from exchange.api import share_selectors as selectors
from exchange.api.models import ApiClient, Share
from households.spreadsheets import neutralise_formula
from povertycloud.accounts.permissions import can_reveal_sensitive
from povertycloud.audit.services import record_event
from povertycloud.downloads import registry
from povertycloud.downloads.services import request_download
from povertycloud.downloads.tables import open_tables
from povertycloud.paging import query_without_keys
from povertycloud.regions.scoping import get_for_user_or_404

DOWNLOAD_KIND = "exchange.api.shares"
FORMATS = (("xlsx", "Excel (.xlsx)"), ("csv", "CSV"))
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2099, 12, 31)
DEFAULT_DAYS = 30


def require_client_viewer(user: Any) -> None:
    if not selectors.may_see_clients(user):
        raise PermissionDenied(_("只有县级工作人员、审计人员和系统管理员可以查看部门接口的共享记录。"))


def _checked_id(pk: int) -> int:
    """A path id the database can hold (an int converter takes any run of digits)."""
    if not 0 < pk <= selectors.MAX_ID:
        raise Http404
    return pk


# --- Pages -----------------------------------------------------------------------------------------------


@login_required
@require_GET
def clients(request: HttpRequest) -> HttpResponse:
    require_client_viewer(request.user)
    return render(request, "exchange/api/clients.html", {"rows": selectors.client_rows(request.user)})


class ExportForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("开始日期"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("结束日期"), widget=forms.DateInput(attrs={"type": "date"}))
    file_format = forms.ChoiceField(label=gettext_lazy("格式"), choices=FORMATS, initial="xlsx")
    full_ids = forms.BooleanField(
        label=gettext_lazy("含完整证件号码"), required=False,
        help_text=gettext_lazy("导出完整证件号码会记入审计日志。"),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_reveal_sensitive(user):
            del self.fields["full_ids"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name in ("start", "end"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, _("日期应在 %(first)s 至 %(last)s 之间。") % {"first": EARLIEST, "last": LATEST})
        if start and end and end < start:
            self.add_error("end", _("结束日期不能早于开始日期。"))
        return data


def _export_form(user: Any, data: Any = None) -> ExportForm:
    today = timezone.localdate()
    initial = {"start": today - dt.timedelta(days=DEFAULT_DAYS), "end": today, "file_format": "xlsx"}
    return ExportForm(data, user=user, initial=initial)


def _client_page(request: HttpRequest, pk: int, form: ExportForm, status: int = 200) -> HttpResponse:
    user = request.user
    summary = selectors.client_summary(user, pk)
    page = selectors.shares_page(user, summary.client, after=request.GET.get("after"), before=request.GET.get("before"))
    return render(
        request,
        "exchange/api/client.html",
        {"row": summary, "client": summary.client, "page": page, "query": query_without_keys(request.GET),
         "form": form},
        status=status,
    )


@login_required
@require_GET
def client(request: HttpRequest, pk: int) -> HttpResponse:
    require_client_viewer(request.user)
    return _client_page(request, pk, _export_form(request.user))


@login_required
@require_POST
def export(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    require_client_viewer(user)
    found = selectors.client_summary(user, pk).client
    form = _export_form(user, request.POST)
    if not form.is_valid():
        return _client_page(request, pk, form, status=400)
    data = form.cleaned_data
    with transaction.atomic():
        request_download(
            by=user,
            kind=DOWNLOAD_KIND,
            region_code=found.region_id,
            parameters={
                "client": found.pk,
                "start": data["start"].isoformat(),
                "end": data["end"].isoformat(),
                "format": data["file_format"],
                "full_ids": bool(data.get("full_ids")),
            },
        )
    messages.success(request, _("导出已在后台生成，完成后可在“我的下载”中下载。"))
    return redirect("downloads:list")


@login_required
@require_GET
def share(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    require_client_viewer(user)
    found = selectors.share_for(user, _checked_id(pk))
    page = selectors.persons_page(user, found, after=request.GET.get("after"), before=request.GET.get("before"))
    return render(
        request,
        "exchange/api/share.html",
        {"row": selectors.share_detail(user, found), "share": found, "page": page,
         "query": query_without_keys(request.GET)},
    )


@login_required
@require_GET
def person_shares(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    require_client_viewer(user)
    person = selectors.person_for(user, _checked_id(pk))
    page = selectors.person_shares_page(
        user, person.pk, after=request.GET.get("after"), before=request.GET.get("before")
    )
    return render(
        request,
        "exchange/api/person_shares.html",
        {"person": person, "page": page, "query": query_without_keys(request.GET)},
    )


# --- The export (a background download) ------------------------------------------------------------------

HEADERS = ("时间", "客户端", "接口", "数据集", "用途", "字段", "姓名", "证件号码", "所在村")


def _period(parameters: dict) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(parameters["start"]), dt.date.fromisoformat(parameters["end"])


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def write_export(target: Any, *, user: Any, client: ApiClient, start: dt.date, end: dt.date, file_format: str,
                 full_ids: bool, progress: Any = None) -> int:
    """Write a client's shares from start to end (whole days, both included), one row per person read, and
    record the export in the audit trail. Every text cell a spreadsheet would run as a formula is neutralised."""
    full_ids = full_ids and can_reveal_sensitive(user)
    rows = selectors.export_rows(
        user, client, start=_local_midnight(start), end=_local_midnight(end + dt.timedelta(days=1)), full_ids=full_ids
    )
    count = 0

    def cells():
        nonlocal count
        for row in rows:
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(50, _("已写 %(rows)s 行") % {"rows": count})
            yield [neutralise_formula(value) for value in row]

    # The sheet's name and headers are the file format: not translated, like the household export's.
    with open_tables(target, file_format) as tables:
        tables.sheet("共享记录", HEADERS, cells(), bold_header=True, freeze_header=True)
    kind = _("含完整证件号码") if full_ids else _("证件号码已脱敏")
    record_event(
        actor=user,
        action="export",
        entity=Share._meta.label_lower,
        object_pk=client.pk,
        object_repr=_("%(client)s 的共享记录") % {"client": client.name},
        region_code=client.region_id,
        changes={
            "client": client.pk,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rows": count,
            "full_ids": full_ids,
            "format": file_format,
        },
        note=_("导出共享记录 %(rows)s 行（%(start)s 至 %(end)s，%(kind)s）")
        % {"rows": count, "start": start.isoformat(), "end": end.isoformat(), "kind": kind},
    )
    return count


def produce_download(download: Any, path: Path, progress: Any) -> str:
    """The background job of a share export: as the user who asked, through their scope again (a client moved
    out of it since, or a role changed, fails the download rather than leaking)."""
    user = download.requested_by
    parameters = download.parameters
    require_client_viewer(user)
    found = get_for_user_or_404(ApiClient.objects.all(), user, pk=parameters["client"])
    start, end = _period(parameters)
    file_format = parameters.get("format") if parameters.get("format") in dict(FORMATS) else "xlsx"
    write_export(path, user=user, client=found, start=start, end=end, file_format=file_format,
                 full_ids=bool(parameters.get("full_ids")), progress=progress)
    return f"shares-{found.pk}-{start:%Y%m%d}-{end:%Y%m%d}.{file_format}"


def describe_download(parameters: dict) -> str:
    name = ApiClient.objects.filter(pk=parameters["client"]).values_list("name", flat=True).first() or ""
    described = _("接口共享记录：%(client)s（%(start)s 至 %(end)s）") % {
        "client": name, "start": parameters["start"], "end": parameters["end"]
    }
    return described + " · CSV" if parameters.get("format") == "csv" else described


def register_share_pages() -> None:
    """Called from exchange's AppConfig.ready(): the export's producer and the household page's section."""
    from households.panels import register_member_section

    registry.register(DOWNLOAD_KIND, produce_download, label=gettext_lazy("接口共享记录"),
                      describe=describe_download)
    register_member_section(
        key="api_shares", template="exchange/api/_household_shares.html", context=selectors.member_shares
    )
