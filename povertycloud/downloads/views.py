"""我的下载: the user's downloads prepared in the background, and the files themselves.

A download's file is served to the user who asked for it and to administrators; anyone else gets 404, as
for an object outside their region. Each file served is written to the audit trail. The page lists the
user's own downloads, through the region scope like every list (a download asked for in a region the user
no longer has is not shown).
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from povertycloud.audit.services import record_event
from povertycloud.downloads import registry, services
from povertycloud.downloads.models import Download
from povertycloud.regions.scoping import scope_for_user, sees_everything

LISTED = 100
CONTENT_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
    ".zip": "application/zip",
}


@login_required
@require_GET
def download_list(request: HttpRequest) -> HttpResponse:
    downloads = list(
        scope_for_user(Download.objects.filter(requested_by=request.user), request.user).order_by(
            "-created_at", "-pk"
        )[:LISTED]
    )
    for download in downloads:
        download.label = registry.label_of(download.kind, download.parameters)
        download.ready = services.stored_file(download) is not None
    response = render(
        request,
        "downloads/list.html",
        {
            "downloads": downloads,
            "refreshing": any(d.active for d in downloads),
            "retention_hours": int(services.retention().total_seconds() // 3600),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def download_file(request: HttpRequest, pk: int) -> FileResponse:
    user = request.user
    found = scope_for_user(Download.objects.all(), user)
    if not sees_everything(user):
        found = found.filter(requested_by=user)
    download = found.filter(pk=pk).first()
    if download is None:
        raise Http404
    path = services.stored_file(download)
    if path is None:
        raise Http404
    label = registry.label_of(download.kind, download.parameters)
    record_event(
        actor=user,
        action="export",
        entity=Download._meta.label_lower,
        object_pk=download.pk,
        object_repr=_("下载 #%(pk)s %(name)s") % {"pk": download.pk, "name": download.file_name},
        region_code=download.region_code,
        changes={"kind": download.kind, "file": download.file_name, "sha256": download.sha256, "size": download.size},
        note=_("下载%(kind)s文件 %(name)s") % {"kind": label, "name": download.file_name},
    )
    if download.requested_by_id == user.pk:
        services.mark_fetched(download)
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=download.file_name,
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
    response["Cache-Control"] = "no-store"
    return response
