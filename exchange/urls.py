from django.urls import path

from exchange import views
from exchange.api import share_views
from exchange.registry import views as registry_views

app_name = "exchange"

urlpatterns = [
    path("", views.batch_list, name="batches"),
    path("upload/", views.upload, name="upload"),
    path("batches/<int:pk>/", views.batch_detail, name="batch"),
    path("batches/<int:pk>/progress/", views.batch_progress, name="batch_progress"),
    path("batches/<int:pk>/confirm/", views.batch_confirm, name="batch_confirm"),
    path("batches/<int:pk>/cancel/", views.batch_cancel, name="batch_cancel"),
    path("batches/<int:pk>/rollback/", views.batch_rollback, name="batch_rollback"),
    path("batches/<int:pk>/rejected.xlsx", views.rejected_download, name="rejected_download"),
    path("registry/", registry_views.upload, name="registry_upload"),
    path("registry/<int:pk>/", registry_views.batch, name="registry_batch"),
    path("registry/<int:pk>/rejected.csv", registry_views.rejected_csv, name="registry_rejected"),
    path("registry/<int:pk>/rollback/", registry_views.rollback, name="registry_rollback"),
    path("registry/conflicts/", registry_views.conflicts, name="registry_conflicts"),
    path("registry/conflicts/<int:pk>/settle/", registry_views.settle, name="registry_settle"),
    path("linkage/", views.linkage_review, name="linkage"),
    path("linkage/refresh/", views.linkage_refresh, name="linkage_refresh"),
    path("linkage/candidates/<int:pk>/confirm/", views.confirm, name="confirm"),
    path("linkage/candidates/<int:pk>/dismiss/", views.dismiss, name="dismiss"),
    path("quality/", views.quality_issues, name="quality"),
    path("api/", share_views.clients, name="api_clients"),
    path("api/clients/<int:pk>/", share_views.client, name="api_client"),
    path("api/clients/<int:pk>/export/", share_views.export, name="api_export"),
    path("api/shares/<int:pk>/", share_views.share, name="api_share"),
    path("api/persons/<int:pk>/shares/", share_views.person_shares, name="api_person_shares"),
]
