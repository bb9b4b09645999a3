from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from povertycloud.regions.selectors import full_name


@login_required
def home(request: HttpRequest) -> HttpResponse:
    region = request.user.region
    return render(
        request,
        "home.html",
        {"region_name": full_name(region) if region else _("全部辖区")},
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: a refused form post gets the site's 403 page (with its navigation), in the
    user's language, instead of Django's English one. Django logs the refusal itself, as one warning line."""
    context = {
        "csrf_failure": True,
        "no_cookie": reason == REASON_NO_CSRF_COOKIE,
        "exception": _("页面已过期或表单来源无法验证（CSRF 校验失败），提交未被接受。"),
    }
    return render(request, "403.html", context, status=403)


@require_safe
@cache_control(max_age=24 * 3600, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for whatever the page says: the site's icon among the static files."""
    return HttpResponseRedirect(staticfiles_storage.url("favicon.ico"))

