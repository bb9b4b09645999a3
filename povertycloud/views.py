from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from povertycloud.regions.selectors import full_name


@login_required
def home(request: HttpRequest) -> HttpResponse:
    region = request.user.region
    return render(
        request,
        "home.html",
        {"region_name": full_name(region) if region else "全部辖区"},
    )
