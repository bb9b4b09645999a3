from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from povertycloud import views
from povertycloud.accounts.views import AdminLoginView

admin.site.site_header = _("扶贫云 管理后台")
admin.site.site_title = _("扶贫云")
admin.site.index_title = _("系统管理")

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/", include("povertycloud.accounts.urls")),
    path("households/", include("households.urls")),
    path("risk/", include("risk.urls")),
    path("resources/", include("resources.urls")),
    path("reports/", include("reports.urls")),
    path("departments/", include("exchange.urls")),
    path("eligibility/", include("eligibility.urls")),
    path("downloads/", include("povertycloud.downloads.urls")),
    path("api/", include("exchange.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin's login is the site's throttled, audited login view (before the admin's own URLs).
    path("admin/login/", AdminLoginView.as_view(), name="admin-login"),
    path("admin/", admin.site.urls),
]
