from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from exchange.api import pull, push
from exchange.api.views import DocsView, MeView

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    path("v1/me/", MeView.as_view(), name="me"),
    *push.urlpatterns,
    *pull.urlpatterns,
]
